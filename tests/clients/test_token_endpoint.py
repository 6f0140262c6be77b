"""/oauth/token through the app: a journal system's signed assertion gets a token, and every way
an assertion or request can be wrong is refused with RFC 6749's error, nothing issued, and audited."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

import pytest
from client_helpers import audit_of
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from booking_helpers import count
from fhir_clients import JournalSystem, ec_key, register_journal_system, rsa_key
from same_moment import at_the_same_moment
from vardmote.app import create_app
from vardmote.clients.models import AccessToken, UsedAssertion
from vardmote.clients.service import revoke_client
from vardmote.clients.token import ASSERTION_TYPE, TokenIssued, TokenRefused, issue_token
from vardmote.context import Context
from vardmote.lib.tokens import hash_token

TOKEN = "/oauth/token"
UNKNOWN_CLIENT = "The client (the assertion's iss) is not registered, or has been revoked."


@pytest.fixture
def cosmic(ctx: Context) -> JournalSystem:
    """cosmic is the region's journal system, registered with an RSA key and every Appointment scope."""
    return register_journal_system(ctx, "Cosmic Region Västmanland")


def test_a_signed_assertion_gets_a_bearer_token_with_every_scope_of_the_client(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    response = client.post(TOKEN, data=cosmic.token_form())
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}
    assert (body["token_type"], body["expires_in"], body["scope"]) == (
        "bearer",
        300,
        "system/Appointment.cruds",
    )
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["pragma"] == "no-cache"
    with ctx.db.session() as s:
        (row,) = s.scalars(select(AccessToken))
        assert row.token_hash == hash_token(body["access_token"])
        assert row.scopes == "system/Appointment.cruds"
        assert 295 <= (row.expires_at - row.created_at).total_seconds() <= 300
    assert audit_of(ctx, "client.token_issued") == [
        (
            "client:Cosmic Region Västmanland",
            {
                "client": "Cosmic Region Västmanland",
                "scopes": "system/Appointment.cruds",
                "address": "testclient",
            },
        )
    ]
    audit_text = json.dumps(audit_of(ctx, "client.token_issued"))
    assert body["access_token"] not in audit_text


def test_the_token_lives_as_long_as_the_setting_says(ctx: Context, cosmic: JournalSystem) -> None:
    shorter = Context(dataclasses.replace(ctx.settings, oauth_token_seconds=60), ctx.db)
    with TestClient(create_app(shorter.settings, shorter), base_url="http://vardmote.test") as client:
        assert client.post(TOKEN, data=cosmic.token_form()).json()["expires_in"] == 60
    with ctx.db.session() as s:
        row = s.scalars(select(AccessToken)).one()
        assert 55 <= (row.expires_at - row.created_at).total_seconds() <= 60


@pytest.mark.parametrize(
    ("asked", "granted"),
    [
        pytest.param("system/Appointment.rs", "system/Appointment.rs", id="v2-read-and-search"),
        pytest.param("system/Appointment.read", "system/Appointment.read", id="v1-read"),
        pytest.param(
            "system/Appointment.c system/Appointment.rs",
            "system/Appointment.c system/Appointment.rs",
            id="two",
        ),
        pytest.param("  system/Appointment.cruds  ", "system/Appointment.cruds", id="spaces"),
    ],
)
def test_a_client_gets_the_scopes_it_asks_for_within_its_own(
    client: TestClient, ctx: Context, cosmic: JournalSystem, asked: str, granted: str
) -> None:
    response = client.post(TOKEN, data=cosmic.token_form(asked))
    assert response.status_code == 200, response.text
    assert response.json()["scope"] == granted
    with ctx.db.session() as s:
        assert s.scalars(select(AccessToken.scopes)).one() == granted


@pytest.mark.parametrize(
    ("key", "alg"),
    [
        pytest.param("rsa", "RS256", id="RS256"),
        pytest.param("rsa", "RS512", id="RS512"),
        pytest.param("rsa", "PS256", id="PS256"),
        pytest.param("rsa", "PS384", id="PS384"),
        pytest.param("P-256", "ES256", id="ES256"),
        pytest.param("P-384", "ES384", id="ES384"),
    ],
)
def test_every_accepted_algorithm_gets_a_token(client: TestClient, ctx: Context, key: str, alg: str) -> None:
    signing = rsa_key() if key == "rsa" else ec_key(curve=key)
    system = register_journal_system(ctx, "Cosmic", key=signing, alg=alg)
    response = client.post(TOKEN, data=system.token_form())
    assert response.status_code == 200, response.text


def test_an_audience_list_holding_the_token_url_is_accepted(
    client: TestClient, cosmic: JournalSystem
) -> None:
    form = cosmic.token_form(aud=["https://annan.example/token", cosmic.audience])
    assert client.post(TOKEN, data=form).status_code == 200


def test_a_client_id_field_equal_to_the_issuer_is_accepted(client: TestClient, cosmic: JournalSystem) -> None:
    form = cosmic.token_form() | {"client_id": cosmic.client_id}
    assert client.post(TOKEN, data=form).status_code == 200


def _refused(
    client: TestClient, ctx: Context, form: dict[str, Any], status: int, error: str, description: str
) -> None:
    before = audit_of(ctx, "client.token_refused")
    response = client.post(TOKEN, data=form)
    assert (response.status_code, response.json()) == (
        status,
        {"error": error, "error_description": description},
    )
    assert response.headers["cache-control"] == "no-store"
    assert count(ctx, AccessToken) == 0
    assert len(audit_of(ctx, "client.token_refused")) == len(before) + 1


def _reason(ctx: Context) -> tuple[str, dict[str, Any]]:
    return audit_of(ctx, "client.token_refused")[-1]


def _signed_with_hmac(system: JournalSystem) -> str:
    from joserfc.jwk import OctKey

    secret = OctKey.import_key("hemlig-nyckel-som-ar-lang-nog-0123456789")
    return jwt_encode({"alg": "HS256", "kid": system.key.kid}, system.claims(), secret, "HS256")


def jwt_encode(header: dict[str, Any], claims: dict[str, Any], key: Any, alg: str) -> str:
    from joserfc import jwt

    return jwt.encode(header, claims, key, algorithms=[alg])


def _unsigned(system: JournalSystem) -> str:
    import base64

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'kid': system.key.kid})}.{part(system.claims())}."


ASSERTION_REFUSALS = [
    pytest.param(
        lambda c: c.token_form(aud="https://annan.example/oauth/token"),
        "wrong_audience",
        "The assertion's aud must be this token endpoint's URL, http://vardmote.test/oauth/token.",
        id="wrong-aud",
    ),
    pytest.param(
        lambda c: c.token_form(aud="http://vardmote.test/oauth/token/"),
        "wrong_audience",
        "The assertion's aud must be this token endpoint's URL, http://vardmote.test/oauth/token.",
        id="aud-with-a-trailing-slash",
    ),
    pytest.param(
        lambda c: c.token_form(aud=None),
        "wrong_audience",
        "The assertion's aud must be this token endpoint's URL, http://vardmote.test/oauth/token.",
        id="no-aud",
    ),
    pytest.param(
        lambda c: c.token_form(sub="someone-else"),
        "sub_mismatch",
        "The assertion's sub must equal its iss (the client_id).",
        id="iss-is-not-sub",
    ),
    pytest.param(
        lambda c: c.token_form(sub=None),
        "sub_mismatch",
        "The assertion's sub must equal its iss (the client_id).",
        id="no-sub",
    ),
    pytest.param(
        lambda c: c.token_form(exp=int(time.time()) - 60),
        "expired",
        "The assertion has expired: its exp is in the past.",
        id="expired",
    ),
    pytest.param(
        lambda c: c.token_form(exp=int(time.time()) + 600),
        "exp_too_far",
        "The assertion's exp is more than 5 minutes ahead: make it short-lived.",
        id="exp-ten-minutes-ahead",
    ),
    pytest.param(
        lambda c: c.token_form(exp=None),
        "no_exp",
        "The assertion has no exp (a NumericDate).",
        id="no-exp",
    ),
    pytest.param(
        lambda c: c.token_form(exp="snart"),
        "no_exp",
        "The assertion has no exp (a NumericDate).",
        id="exp-as-text",
    ),
    pytest.param(
        lambda c: c.token_form(nbf=int(time.time()) + 120),
        "not_yet_valid",
        "The assertion's nbf is not a NumericDate in the past.",
        id="nbf-ahead",
    ),
    pytest.param(
        lambda c: c.token_form(iat=int(time.time()) + 120),
        "not_yet_valid",
        "The assertion's iat is not a NumericDate in the past.",
        id="iat-ahead",
    ),
    pytest.param(
        lambda c: c.token_form(jti=None),
        "no_jti",
        "The assertion has no jti (a unique id of 1-255 characters).",
        id="no-jti",
    ),
    pytest.param(
        lambda c: c.token_form(jti="x" * 256),
        "no_jti",
        "The assertion has no jti (a unique id of 1-255 characters).",
        id="jti-too-long",
    ),
    pytest.param(
        lambda c: c.token_form(header={"kid": "okänd-nyckel"}),
        "unknown_kid",
        "No key with the assertion's kid is registered for this client.",
        id="unknown-kid",
    ),
    pytest.param(
        lambda c: c.token_form(header={"kid": None}),
        "no_kid",
        "The assertion's header has no kid naming the key it was signed with.",
        id="no-kid",
    ),
    pytest.param(
        lambda c: c.token_form(key=rsa_key("cosmic-1", fresh=True)),
        "bad_signature",
        "The assertion's signature does not verify with the registered key its kid names.",
        id="signed-by-another-key-with-the-same-kid",
    ),
    pytest.param(
        lambda c: c.token_form() | {"client_assertion": _retagged(c, "ES384")},
        "bad_signature",
        "The assertion's signature does not verify with the registered key its kid names.",
        id="an-ec-alg-over-the-rsa-key",
    ),
    pytest.param(
        lambda c: c.token_form() | {"client_assertion": _unsigned(c)},
        "algorithm",
        "The assertion's alg is not accepted: sign with RS384 or ES384 (RS256, RS512, PS256, PS384, PS512 "
        "and ES256 are accepted too; none and HS* never).",
        id="alg-none",
    ),
    pytest.param(
        lambda c: c.token_form() | {"client_assertion": _signed_with_hmac(c)},
        "algorithm",
        "The assertion's alg is not accepted: sign with RS384 or ES384 (RS256, RS512, PS256, PS384, PS512 "
        "and ES256 are accepted too; none and HS* never).",
        id="alg-HS256",
    ),
    pytest.param(
        lambda c: c.token_form() | {"client_assertion": "inte.en.jwt"},
        "malformed",
        "client_assertion is not a signed JWT in compact serialization.",
        id="not-a-jwt",
    ),
    pytest.param(
        lambda c: c.token_form() | {"client_assertion": c.token_form()["client_assertion"][:-4] + "AAAA"},
        "bad_signature",
        "The assertion's signature does not verify with the registered key its kid names.",
        id="signature-changed",
    ),
    pytest.param(
        lambda c: c.token_form() | {"client_assertion": _tampered(c)},
        "bad_signature",
        "The assertion's signature does not verify with the registered key its kid names.",
        id="claims-changed-after-signing",
    ),
    pytest.param(
        lambda c: c.token_form() | {"client_id": "00000000-0000-4000-8000-000000000000"},
        "client_id_mismatch",
        "client_id does not match the assertion's iss.",
        id="client-id-field-differs",
    ),
    pytest.param(
        lambda c: {k: v for k, v in c.token_form().items() if k != "client_assertion"},
        "no_assertion",
        "client_assertion is missing: send a JWT signed with the client's private key.",
        id="no-assertion",
    ),
    pytest.param(
        lambda c: (
            c.token_form()
            | {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}
        ),
        "assertion_type",
        f"client_assertion_type must be {ASSERTION_TYPE}.",
        id="wrong-assertion-type",
    ),
    pytest.param(
        lambda c: {k: v for k, v in c.token_form().items() if k != "client_assertion_type"},
        "assertion_type",
        f"client_assertion_type must be {ASSERTION_TYPE}.",
        id="no-assertion-type",
    ),
]


def _retagged(system: JournalSystem, alg: str) -> str:
    """_retagged is a good assertion whose header claims alg instead (its signature then fails)."""
    import base64

    head, claims, signature = system.assertion().split(".")
    header = json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
    header["alg"] = alg
    new = base64.urlsafe_b64encode(json.dumps(header).encode()).rstrip(b"=").decode()
    return f"{new}.{claims}.{signature}"


def _tampered(system: JournalSystem) -> str:
    """_tampered is a good assertion whose claims were changed after signing (a later exp)."""
    import base64

    head, body, signature = system.assertion().split(".")
    claims = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["exp"] += 60
    new = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()
    return f"{head}.{new}.{signature}"


@pytest.mark.parametrize(("make", "reason", "description"), ASSERTION_REFUSALS)
def test_an_assertion_that_does_not_hold_is_refused_as_invalid_client(
    client: TestClient, ctx: Context, cosmic: JournalSystem, make: Any, reason: str, description: str
) -> None:
    _refused(client, ctx, make(cosmic), 401, "invalid_client", description)
    actor, details = _reason(ctx)
    assert details["reason"] == reason
    if reason in {"malformed", "algorithm", "assertion_type", "no_assertion"}:
        assert (actor, details["client"]) == ("anonym", None)
    else:
        assert (actor, details["client"]) == ("client:Cosmic Region Västmanland", "Cosmic Region Västmanland")


def test_an_assertion_used_once_is_refused_the_second_time(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    form = cosmic.token_form()
    assert client.post(TOKEN, data=form).status_code == 200
    response = client.post(TOKEN, data=form)
    assert (response.status_code, response.json()) == (
        401,
        {
            "error": "invalid_client",
            "error_description": "The assertion's jti has been used before: make a new assertion, with a new "
            "jti, for every token request.",
        },
    )
    assert count(ctx, AccessToken) == 1
    assert _reason(ctx)[1]["reason"] == "replayed"


def test_a_new_assertion_that_repeats_a_jti_is_a_replay_too(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    assert client.post(TOKEN, data=cosmic.token_form(jti="samma-jti")).status_code == 200
    response = client.post(TOKEN, data=cosmic.token_form(jti="samma-jti"))
    assert response.status_code == 401
    assert _reason(ctx)[1]["reason"] == "replayed"


def test_another_client_may_use_the_same_jti(client: TestClient, ctx: Context, cosmic: JournalSystem) -> None:
    other = register_journal_system(ctx, "Melior", key=rsa_key("melior-1"))
    assert client.post(TOKEN, data=cosmic.token_form(jti="samma-jti")).status_code == 200
    assert client.post(TOKEN, data=other.token_form(jti="samma-jti")).status_code == 200
    assert count(ctx, UsedAssertion) == 2


def test_an_unknown_client_is_refused(client: TestClient, ctx: Context, cosmic: JournalSystem) -> None:
    stranger = JournalSystem("Okänd", "11111111-2222-4333-8444-555555555555", cosmic.key, cosmic.audience)
    _refused(client, ctx, stranger.token_form(), 401, "invalid_client", UNKNOWN_CLIENT)
    assert _reason(ctx) == ("anonym", {"reason": "unknown_client", "client": None, "address": "testclient"})


def test_a_revoked_client_gets_no_token_and_hears_the_same_as_an_unknown_one(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    with ctx.db.session() as s:
        revoke_client(s, cosmic.name, actor="user:admin")
    _refused(client, ctx, cosmic.token_form(), 401, "invalid_client", UNKNOWN_CLIENT)
    assert _reason(ctx)[1]["reason"] == "revoked_client"


SCOPE_REFUSALS = [
    pytest.param(
        "system/Appointment.cruds",
        "system/Appointment.rs",
        "scope_not_allowed",
        "The requested scope is not within this client's scopes (system/Appointment.rs).",
        id="more-than-the-client-has",
    ),
    pytest.param(
        "system/Appointment.write",
        "system/Appointment.read",
        "scope_not_allowed",
        "The requested scope is not within this client's scopes (system/Appointment.read).",
        id="v1-write-for-a-reader",
    ),
    pytest.param(
        "system/Patient.rs",
        "system/Appointment.cruds",
        "malformed_scope",
        "The requested scope is malformed, or names a resource this server does not serve; use e.g. "
        "system/Appointment.cruds.",
        id="unknown-resource",
    ),
    pytest.param(
        "user/Appointment.rs",
        "system/Appointment.cruds",
        "malformed_scope",
        "The requested scope is malformed, or names a resource this server does not serve; use e.g. "
        "system/Appointment.cruds.",
        id="user-scope",
    ),
    pytest.param(
        "system/Appointment.sr",
        "system/Appointment.cruds",
        "malformed_scope",
        "The requested scope is malformed, or names a resource this server does not serve; use e.g. "
        "system/Appointment.cruds.",
        id="letters-out-of-order",
    ),
]


@pytest.mark.parametrize(("asked", "registered", "reason", "description"), SCOPE_REFUSALS)
def test_a_scope_beyond_the_clients_own_is_refused_as_invalid_scope(
    client: TestClient, ctx: Context, asked: str, registered: str, reason: str, description: str
) -> None:
    system = register_journal_system(ctx, "Cosmic", scopes=registered)
    _refused(client, ctx, system.token_form(asked), 400, "invalid_scope", description)
    assert _reason(ctx) == ("client:Cosmic", {"reason": reason, "client": "Cosmic", "address": "testclient"})


REQUEST_REFUSALS = [
    pytest.param(
        lambda c: c.token_form() | {"grant_type": "authorization_code"},
        {},
        "unsupported_grant_type",
        "Only grant_type client_credentials is supported.",
        "grant_type",
        id="authorization-code",
    ),
    pytest.param(
        lambda c: c.token_form() | {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer"},
        {},
        "unsupported_grant_type",
        "Only grant_type client_credentials is supported.",
        "grant_type",
        id="jwt-bearer-grant",
    ),
    pytest.param(
        lambda c: {k: v for k, v in c.token_form().items() if k != "grant_type"},
        {},
        "invalid_request",
        "grant_type is missing; use client_credentials.",
        "no_grant_type",
        id="no-grant-type",
    ),
    pytest.param(
        lambda c: c.token_form() | {"client_secret": "hemligt"},
        {},
        "invalid_request",
        "Authenticate with a client assertion (private_key_jwt) only, not with a client secret or HTTP "
        "Basic as well.",
        "several_methods",
        id="a-client-secret-too",
    ),
    pytest.param(
        lambda c: c.token_form(),
        {"Authorization": "Basic Y29zbWljOmhlbWxpZ3Q="},
        "invalid_request",
        "Authenticate with a client assertion (private_key_jwt) only, not with a client secret or HTTP "
        "Basic as well.",
        "several_methods",
        id="http-basic-too",
    ),
]


@pytest.mark.parametrize(("make", "headers", "error", "description", "reason"), REQUEST_REFUSALS)
def test_a_request_that_is_not_client_credentials_with_an_assertion_is_refused(
    client: TestClient,
    ctx: Context,
    cosmic: JournalSystem,
    make: Any,
    headers: dict[str, str],
    error: str,
    description: str,
    reason: str,
) -> None:
    before = len(audit_of(ctx, "client.token_refused"))
    response = client.post(TOKEN, data=make(cosmic), headers=headers)
    assert (response.status_code, response.json()) == (
        400,
        {"error": error, "error_description": description},
    )
    assert count(ctx, AccessToken) == 0
    assert len(audit_of(ctx, "client.token_refused")) == before + 1
    assert _reason(ctx) == ("anonym", {"reason": reason, "client": None, "address": "testclient"})


def test_a_repeated_parameter_is_refused(client: TestClient, ctx: Context, cosmic: JournalSystem) -> None:
    form = cosmic.token_form()
    body = (
        "&".join(f"{k}={v}" for k, v in form.items())
        + "&scope=system/Appointment.r&scope=system/Appointment.s"
    )
    response = client.post(TOKEN, content=body, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert (response.status_code, response.json()) == (
        400,
        {"error": "invalid_request", "error_description": "The parameter scope was given more than once."},
    )
    assert count(ctx, AccessToken) == 0


def test_a_body_that_is_not_a_form_is_refused(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    response = client.post(TOKEN, json=cosmic.token_form())
    assert (response.status_code, response.json()) == (
        400,
        {
            "error": "invalid_request",
            "error_description": "Send the token request as application/x-www-form-urlencoded.",
        },
    )
    assert response.headers["cache-control"] == "no-store"
    assert count(ctx, AccessToken) == 0


def test_a_body_too_large_is_refused_as_json(client: TestClient, ctx: Context, cosmic: JournalSystem) -> None:
    form = cosmic.token_form() | {"padding": "x" * (1024 * 1024 + 1)}
    response = client.post(TOKEN, data=form)
    assert (response.status_code, response.json()) == (
        400,
        {"error": "invalid_request", "error_description": "The token request is too large."},
    )


def test_an_assertion_too_long_is_refused_before_it_is_parsed(
    client: TestClient, ctx: Context, cosmic: JournalSystem
) -> None:
    form = cosmic.token_form(padding="x" * 16_000)
    _refused(
        client,
        ctx,
        form,
        401,
        "invalid_client",
        "client_assertion is not a signed JWT in compact serialization.",
    )


def test_two_requests_with_one_assertion_at_the_same_moment_give_one_token(
    ctx: Context, cosmic: JournalSystem
) -> None:
    form = {name: [value] for name, value in cosmic.token_form().items()}

    def request(s: Session) -> TokenIssued | TokenRefused:
        return issue_token(ctx, s, form, "127.0.0.1")

    # The second waits for the first's transaction: on PostgreSQL at the insert of the same jti
    # (the primary key), on SQLite at its BEGIN IMMEDIATE.
    first, outcome = at_the_same_moment(ctx, request, request)
    assert isinstance(first, TokenIssued)
    assert outcome == TokenRefused(
        "invalid_client",
        "The assertion's jti has been used before: make a new assertion, with a new jti, for every token "
        "request.",
        "replayed",
    )
    assert count(ctx, AccessToken) == 1
    assert [details["reason"] for _, details in audit_of(ctx, "client.token_refused")] == ["replayed"]
