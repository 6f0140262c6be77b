"""A staff sign-in the real provider (tests/oidc_provider.py) answers wrongly signs nobody in: a
token for another audience, from another issuer, with another nonce, another signature, expired,
at a lower assurance level, without an HSA-id; a cancelled sign-in and an unreachable provider are
told plainly. Each is the sign-in page with a Swedish message, nothing stored but the audit."""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest
from fastapi.testclient import TestClient
from staff_oidc_support import (
    START,
    audit,
    sign_in,
    staff_fixtures,
    text_of,
)

from booking_helpers import count
from oidc_provider import CLINICIAN, LOA2, NO_HSA_ID, Provider, path_of
from vardmote.accounts.models import StaffSession, User
from vardmote.context import Context
from vardmote.lib import oidc_discovery

RESTART = "Inloggningen kunde inte slutföras. Börja om och logga in igen."
LOW_ASSURANCE = (
    "Inloggningen gav inte den säkerhetsnivå som Vårdmöte kräver för vårdpersonal. Logga in "
    "med ditt SITHS-kort eller Mobilt SITHS och försök igen."
)
NO_HSA_ID_TEXT = "Inloggningen gav inget giltigt HSA-id. Kontakta din administratör om felet finns kvar."
UNAVAILABLE = "Inloggningstjänsten svarar inte just nu. Försök igen om en stund."

running, provider, settings = staff_fixtures()


def _refused(ctx: Context) -> list[tuple[str, str]]:
    """_refused are the kinds and reasons of the audited refusals."""
    return [(d["kind"], d["reason"]) for _, d in audit(ctx, "user.signin_refused")]


def _nothing_signed_in(ctx: Context, client: TestClient) -> None:
    assert count(ctx, User) == 0
    assert count(ctx, StaffSession) == 0
    assert client.cookies.get("vm_session") is None
    assert audit(ctx, "user.signed_in") == []


@pytest.mark.parametrize(
    ("tamper", "reason"),
    [
        pytest.param({"claims": {"aud": "någon-annan"}}, "wrong_audience", id="wrong-audience"),
        pytest.param({"claims": {"iss": "http://127.0.0.1:1"}}, "wrong_issuer", id="wrong-issuer"),
        pytest.param({"claims": {"nonce": "en-annan-nonce"}}, "wrong_nonce", id="wrong-nonce"),
        pytest.param({"key": "other"}, "bad_signature", id="signed-by-another-key"),
        pytest.param({"claims": {"exp": 1_000_060, "iat": 1_000_000}}, "expired", id="expired"),
        pytest.param(
            {"claims": {"aud": ["vardmote-personal", "annan"], "azp": "annan"}}, "wrong_azp", id="other-azp"
        ),
        pytest.param({"remove": ["nonce"]}, "wrong_nonce", id="no-nonce"),
        pytest.param({"claims": {"iat": int(time.time()) + 3600}}, "wrong_iat", id="issued-in-the-future"),
    ],
)
def test_a_token_that_is_not_right_signs_nobody_in(
    ctx: Context, client: TestClient, provider: Provider, tamper: dict[str, Any], reason: str
) -> None:
    provider.tamper_next(**tamper)
    response = sign_in(client, provider)
    assert response.status_code == 400
    assert RESTART in text_of(response.text)
    assert (
        '<a class="button" href="/logga-in/oidc/start">Logga in med SITHS</a>' in response.text
    )  # try again
    _nothing_signed_in(ctx, client)
    assert _refused(ctx) == [("token_refused", reason)]


def test_a_redirect_naming_another_provider_is_refused_before_its_code_is_used(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    back = urlsplit(provider.follow_sign_in(client, START))
    query = dict(parse_qsl(back.query))
    assert query["iss"] == provider.issuer  # RFC 9207: the provider names itself
    query["iss"] = "http://127.0.0.1:1"  # a mix-up: another provider's answer
    response = client.get(f"{back.path}?{urlencode(query)}", follow_redirects=False)
    assert response.status_code == 400
    assert RESTART in text_of(response.text)
    assert provider.seen().token == []
    _nothing_signed_in(ctx, client)
    assert _refused(ctx) == [("token_refused", "wrong_issuer")]


def test_a_redirect_without_the_issuer_is_refused_when_the_provider_always_names_itself(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    assert provider.discovery()["authorization_response_iss_parameter_supported"] is True
    back = urlsplit(provider.follow_sign_in(client, START))
    query = dict(parse_qsl(back.query))
    del query["iss"]  # stripped on the way, as a mix-up attack would
    response = client.get(f"{back.path}?{urlencode(query)}", follow_redirects=False)
    assert response.status_code == 400
    assert RESTART in text_of(response.text)
    assert provider.seen().token == []
    _nothing_signed_in(ctx, client)
    assert _refused(ctx) == [("token_refused", "no_issuer")]


@pytest.mark.parametrize(
    "acr", [pytest.param(LOA2, id="a-lower-level"), pytest.param("", id="no-level-said")]
)
def test_a_lower_assurance_level_signs_nobody_in(
    ctx: Context, client: TestClient, provider: Provider, acr: str
) -> None:
    provider.next_sign_in(account=CLINICIAN, acr=acr)
    response = sign_in(client, provider)
    assert response.status_code == 400
    assert LOW_ASSURANCE in text_of(response.text)
    _nothing_signed_in(ctx, client)
    assert _refused(ctx) == [("low_assurance", "low_assurance")]


@pytest.mark.parametrize(
    "hsa_id",
    [
        pytest.param(None, id="missing"),
        pytest.param("SE232100001-1003", id="nine-digits"),
        pytest.param("SE2321000016-Åsa", id="swedish-letter"),
        pytest.param(["SE2321000016-1003"], id="a-list"),
    ],
)
def test_a_sign_in_without_a_valid_hsa_id_is_refused(
    ctx: Context, client: TestClient, provider: Provider, hsa_id: object
) -> None:
    person: dict[str, Any] = {"name": "Nils Utan-Hsa"}
    if hsa_id is not None:
        person["employeeHsaId"] = hsa_id
    provider.put_accounts({NO_HSA_ID: person})
    provider.next_sign_in(account=NO_HSA_ID)
    response = sign_in(client, provider)
    assert response.status_code == 400
    assert NO_HSA_ID_TEXT in text_of(response.text)
    _nothing_signed_in(ctx, client)
    assert _refused(ctx) == [("no_hsa_id", "no_hsa_id")]
    assert len(provider.seen().userinfo) == 1  # the ID token lacked it: userinfo was asked too


def test_a_sign_in_without_a_name_is_refused(ctx: Context, client: TestClient, provider: Provider) -> None:
    provider.put_accounts({NO_HSA_ID: {"employeeHsaId": "SE2321000016-2000"}})
    provider.next_sign_in(account=NO_HSA_ID)
    response = sign_in(client, provider)
    assert response.status_code == 400
    assert "Inloggningen gav inget namn. Kontakta din administratör om felet finns kvar." in text_of(
        response.text
    )
    _nothing_signed_in(ctx, client)
    assert [d for _, d in audit(ctx, "user.signin_refused")] == [
        {
            "method": "oidc",
            "kind": "no_name",
            "reason": "no_name",
            "address": "testclient",
            "hsa_id": "SE2321000016-2000",
        }
    ]


def test_a_cancelled_sign_in_is_told_plainly(ctx: Context, client: TestClient, provider: Provider) -> None:
    provider.next_sign_in(deny=True)
    response = sign_in(client, provider)
    assert response.status_code == 400
    assert "Inloggningen avbröts. Du kan försöka igen." in text_of(response.text)
    assert provider.seen().token == []
    _nothing_signed_in(ctx, client)
    assert _refused(ctx) == [("cancelled", "cancelled")]


def test_a_refused_sign_in_keeps_the_page_the_person_was_going_to(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    # A clinician follows an Appointment's addressUrl, and cancels at the provider the first time.
    provider.next_sign_in(deny=True)
    response = sign_in(client, provider, START + "?nasta=/moten/abc%3Fvard%3D1")
    assert response.status_code == 400
    assert "Inloggningen avbröts. Du kan försöka igen." in text_of(response.text)
    retry = '<a class="button" href="/logga-in/oidc/start?nasta=%2Fmoten%2Fabc%3Fvard%3D1">'
    assert retry in response.text
    assert '<a href="/logga-in?reserv=1&amp;nasta=%2Fmoten%2Fabc%3Fvard%3D1">' in response.text

    provider.next_sign_in(account=CLINICIAN)
    again = sign_in(client, provider, "/logga-in/oidc/start?nasta=%2Fmoten%2Fabc%3Fvard%3D1")

    assert (again.status_code, again.headers["location"]) == (303, "/moten/abc?vard=1")


def test_a_refusal_without_the_state_cookie_offers_the_calendar(
    client: TestClient, provider: Provider
) -> None:
    response = client.get("/logga-in/oidc/klar?code=x&state=y", follow_redirects=False)
    assert response.status_code == 400
    assert '<a class="button" href="/logga-in/oidc/start">Logga in med SITHS</a>' in response.text


def test_an_unreachable_provider_is_told_plainly(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    provider.stop()
    response = client.get(START, follow_redirects=False)
    assert response.status_code == 502
    assert UNAVAILABLE in text_of(response.text)
    assert client.cookies.get("vm_staff_oidc") is None
    assert _refused(ctx) == [("provider_unavailable", "get_failed")]


def test_a_provider_found_unreachable_is_not_asked_again_for_thirty_seconds(
    ctx: Context, client: TestClient, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    now = [time.monotonic()]
    monkeypatch.setattr(oidc_discovery, "_clock", lambda: now[0])
    provider.stop()
    assert client.get(START, follow_redirects=False).status_code == 502
    provider.start()  # back, but the failure is remembered: no worker thread waits on it again
    # Another person (another address: one address's later refusals are counted, not audited).
    colleague = TestClient(client.app, base_url="http://vardmote.test", client=("192.0.2.9", 50000))

    meanwhile = colleague.get(START, follow_redirects=False)

    assert meanwhile.status_code == 502
    assert UNAVAILABLE in text_of(meanwhile.text)
    assert provider.seen().authorization == []
    now[0] += 31
    assert colleague.get(START, follow_redirects=False).status_code == 303
    assert _refused(ctx) == [
        ("provider_unavailable", "get_failed"),
        ("provider_unavailable", "unreachable_recently"),
    ]


def test_the_providers_keys_are_fetched_once_for_many_sign_ins(
    ctx: Context, client: TestClient, provider: Provider, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="vardmote.oidc")
    assert sign_in(client, provider).status_code == 303
    assert sign_in(TestClient(client.app, base_url="http://vardmote.test"), provider).status_code == 303
    fetched = [r.getMessage() for r in caplog.records if "signing keys fetched" in r.getMessage()]
    assert fetched == ["staff provider: 1 signing keys fetched"]


def test_a_provider_gone_during_the_sign_in_is_told_plainly(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    back = provider.follow_sign_in(client, START)
    provider.stop()
    response = client.get(path_of(back), follow_redirects=False)
    assert response.status_code == 502
    assert UNAVAILABLE in text_of(response.text)
    _nothing_signed_in(ctx, client)
    assert _refused(ctx) == [("provider_unavailable", "token_request_failed")]


def test_the_claims_are_read_from_the_id_token_when_it_has_them(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    provider.tamper_next(
        claims={"employeeHsaId": "SE2321000016-1003", "name": "Annika Token", "groups": ["vardmote-admin"]}
    )
    assert sign_in(client, provider).status_code == 303
    assert provider.seen().userinfo == []  # nothing was missing
    with ctx.db.session() as s:
        user = s.query(User).one()
        assert (user.display_name, user.role) == ("Annika Token", "admin")


def test_the_id_token_wins_over_userinfo(ctx: Context, client: TestClient, provider: Provider) -> None:
    provider.tamper_next(claims={"name": "Annika Token"})  # the HSA-id and groups are still missing
    provider.tamper_next_userinfo(claims={"name": "Annika Userinfo"})
    assert sign_in(client, provider).status_code == 303
    assert len(provider.seen().userinfo) == 1
    with ctx.db.session() as s:
        assert s.query(User).one().display_name == "Annika Token"


def test_userinfo_about_another_person_is_refused(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    provider.tamper_next_userinfo(claims={"sub": "någon-annan"})
    response = sign_in(client, provider)
    assert response.status_code == 400
    assert RESTART in text_of(response.text)
    _nothing_signed_in(ctx, client)
    assert _refused(ctx) == [("token_refused", "userinfo_other_subject")]


def test_no_token_or_claim_value_reaches_the_audit(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    provider.tamper_next(claims={"aud": "någon-annan"})
    assert sign_in(client, provider).status_code == 400
    assert sign_in(TestClient(client.app, base_url="http://vardmote.test"), provider).status_code == 303
    entries = [
        e for a in ("user.signin_refused", "user.provisioned", "user.signed_in") for e in audit(ctx, a)
    ]
    assert len(entries) == 3
    for actor, details in entries:
        words = " ".join([actor, *map(str, details.values())])
        assert "Annika" not in words  # the name is the account's, not the audit's
        assert "eyJ" not in words  # no JWT
