"""The tests' OpenID provider (tests/oidc_provider.py, oidc-provider run by node) does what the
sign-in tests rely on: a code flow with PKCE by plain httpx gets an ID token signed with the
provider's key whose claims follow the plan, userinfo gives the scope's claims, tampering signs again,
a cancelled sign-in gives access_denied, RP-initiated logout asks and sends back, and the provider
can be taken away and brought back on its port."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, quote_plus, urlencode, urlsplit

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import KeySet

from oidc_provider import (
    ADMINISTRATOR,
    CLINICIAN,
    LOA2,
    LOA3,
    LOA4,
    NATURAL_PERSON_NUMBER,
    NO_HSA_ID,
    NONCE,
    PATIENT,
    PATIENT_CLIENT,
    STAFF_CLIENT,
    STATE,
    Client,
    Provider,
    running_provider,
)


@pytest.fixture(scope="module")
def running() -> Iterator[Provider]:
    with running_provider() as p:
        yield p


@pytest.fixture
def provider(running: Provider) -> Provider:
    """provider is the module's provider, reset for each test (and started again if one stopped it)."""
    return running.fresh()


def _basic(client: Client) -> tuple[str, str]:
    """_basic is client_secret_basic as RFC 6749 2.3.1 says: both parts form-encoded first."""
    assert client.secret is not None
    return quote_plus(client.client_id), quote_plus(client.secret)


def _exchange(provider: Provider, client: Client, back: str, verifier: str) -> httpx.Response:
    code = parse_qs(urlsplit(back).query)["code"][0]
    return httpx.post(
        f"{provider.issuer}/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": client.redirect_uris[0],
            "code_verifier": verifier,
        },
        auth=_basic(client),
    )


def _sign_in(
    provider: Provider, client: Client = STAFF_CLIENT, scope: str = "openid profile", **extra: str
) -> dict[str, Any]:
    """_sign_in runs the whole code flow and returns the token response."""
    address, verifier = provider.authorization_address(client, scope, **extra)
    back = provider.at_provider(address)
    response = _exchange(provider, client, back, verifier)
    assert response.status_code == 200, response.text
    tokens: dict[str, Any] = response.json()
    return tokens


def _claims(provider: Provider, id_token: str) -> dict[str, Any]:
    """_claims are the claims of an ID token whose signature the provider's published keys verify."""
    published = KeySet.import_key_set(httpx.get(provider.discovery()["jwks_uri"]).json())
    token = jwt.decode(id_token, published)
    assert token.header == {"alg": "RS256", "kid": "test-1"}
    return dict(token.claims)


def test_discovery_names_the_endpoints_on_loopback(provider: Provider) -> None:
    document = provider.discovery()
    assert document["issuer"] == provider.issuer == f"http://127.0.0.1:{provider.port}"
    assert document["authorization_endpoint"] == f"{provider.issuer}/auth"
    assert document["token_endpoint"] == f"{provider.issuer}/token"
    assert document["userinfo_endpoint"] == f"{provider.issuer}/me"
    assert document["end_session_endpoint"] == f"{provider.issuer}/session/end"
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["acr_values_supported"] == [LOA3, LOA4, LOA2]
    assert document["claims_parameter_supported"] is True
    assert NATURAL_PERSON_NUMBER in document["scopes_supported"]
    keys = httpx.get(document["jwks_uri"]).json()["keys"]
    assert [(k["kid"], k["kty"]) for k in keys] == [("test-1", "RSA")]
    assert "d" not in keys[0]  # the public half only


def test_a_code_flow_gives_a_signed_id_token_for_the_planned_account(provider: Provider) -> None:
    provider.next_sign_in(account=CLINICIAN)
    address, verifier = provider.authorization_address(
        STAFF_CLIENT, "openid profile", acr_values=f"{LOA3} {LOA4}"
    )

    back = provider.at_provider(address)

    assert back.startswith("http://vardmote.test/logga-in/oidc/klar?")
    query = parse_qs(urlsplit(back).query)
    assert query["state"] == [STATE]
    assert query["iss"] == [provider.issuer]  # RFC 9207
    response = _exchange(provider, STAFF_CLIENT, back, verifier)
    assert response.status_code == 200, response.text
    claims = _claims(provider, response.json()["id_token"])
    assert claims["iss"] == provider.issuer
    assert claims["aud"] == "vardmote-personal"
    assert claims["sub"] == CLINICIAN
    assert claims["nonce"] == NONCE
    assert claims["acr"] == LOA3  # the first level asked for
    assert 0 < claims["exp"] - time.time() <= 3600
    assert "employeeHsaId" not in claims  # scope claims go to userinfo in the code flow
    seen = provider.seen()
    (asked,) = seen.authorization
    assert (asked["client_id"], asked["scope"], asked["acr_values"]) == (
        "vardmote-personal",
        "openid profile",
        f"{LOA3} {LOA4}",
    )
    assert (asked["nonce"], asked["state"], asked["code_challenge_method"]) == (True, True, "S256")
    (token,) = seen.token
    assert token == {
        "grant_type": "authorization_code",
        "client_auth_method": "client_secret_basic",
        "client_id": "vardmote-personal",
        "client_id_in_body": False,
        "redirect_uri": "http://vardmote.test/logga-in/oidc/klar",
        "code_verifier": True,
        "status": 200,
        "error": None,
    }


def test_userinfo_gives_the_claims_of_the_scopes_asked_for(provider: Provider) -> None:
    provider.next_sign_in(account=ADMINISTRATOR)
    tokens = _sign_in(provider)
    answer = httpx.get(
        f"{provider.issuer}/me", headers={"authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert answer == {
        "sub": ADMINISTRATOR,
        "employeeHsaId": "SE2321000016-1004",
        "name": "Åsa Administratör",
        "given_name": "Åsa",
        "family_name": "Administratör",
        "groups": ["vardmote-personal", "vardmote-admin"],
    }
    provider.next_sign_in(account=PATIENT)
    tokens = _sign_in(provider, PATIENT_CLIENT, f"openid {NATURAL_PERSON_NUMBER}")
    answer = httpx.get(
        f"{provider.issuer}/me", headers={"authorization": f"Bearer {tokens['access_token']}"}
    ).json()
    assert answer == {"sub": PATIENT, "personal_identity_number": "199006022397"}
    assert [u["claims"] for u in provider.seen().userinfo] == [
        ["employeeHsaId", "family_name", "given_name", "groups", "name", "sub"],
        ["personal_identity_number", "sub"],
    ]


def test_the_claims_parameter_puts_claims_in_the_id_token(provider: Provider) -> None:
    provider.next_sign_in(account=NO_HSA_ID)
    tokens = _sign_in(provider, claims='{"id_token": {"name": null, "employeeHsaId": null}}')
    claims = _claims(provider, tokens["id_token"])
    assert claims["name"] == "Nils Utan-Hsa"
    assert "employeeHsaId" not in claims  # this person has none


@pytest.mark.parametrize(
    ("acr", "expected"),
    [
        pytest.param(LOA2, LOA2, id="a-lower-level"),
        pytest.param(LOA3 + "x", LOA3 + "x", id="a-level-the-provider-does-not-list"),
        pytest.param("", None, id="no-acr-claim"),
    ],
)
def test_the_plan_decides_the_assurance_level(provider: Provider, acr: str, expected: str | None) -> None:
    provider.next_sign_in(acr=acr)
    claims = _claims(provider, _sign_in(provider, acr_values=LOA3)["id_token"])
    assert claims.get("acr") == expected
    assert claims["sub"] == PATIENT  # the first account unless the plan names one


def test_a_cancelled_sign_in_gives_access_denied(provider: Provider) -> None:
    provider.next_sign_in(deny=True)
    address, _ = provider.authorization_address(STAFF_CLIENT, "openid profile")
    back = provider.at_provider(address)
    query = parse_qs(urlsplit(back).query)
    assert query["error"] == ["access_denied"]
    assert query["state"] == [STATE]
    assert "code" not in query


def test_the_token_endpoint_refuses_a_wrong_verifier_and_a_secret_left_unencoded(
    provider: Provider,
) -> None:
    address, verifier = provider.authorization_address(STAFF_CLIENT, "openid profile")
    wrong = _exchange(provider, STAFF_CLIENT, provider.at_provider(address), verifier + "x")
    assert (wrong.status_code, wrong.json()["error"]) == (400, "invalid_grant")
    address, verifier = provider.authorization_address(STAFF_CLIENT, "openid profile")
    code = parse_qs(urlsplit(provider.at_provider(address)).query)["code"][0]
    assert STAFF_CLIENT.secret is not None
    raw = httpx.post(
        f"{provider.issuer}/token",
        data={"grant_type": "authorization_code", "code": code, "code_verifier": verifier},
        auth=(STAFF_CLIENT.client_id, STAFF_CLIENT.secret),
    )
    assert raw.status_code == 400
    assert raw.json()["error_description"] == (
        "client_id and client_secret in the authorization header are not properly encoded"
    )


def test_pkce_is_required_of_every_client(provider: Provider) -> None:
    address, _ = provider.authorization_address(STAFF_CLIENT, "openid profile")
    without = address.replace("code_challenge_method=S256", "").replace("code_challenge=", "x=")
    back = provider.at_provider(without)
    query = parse_qs(urlsplit(back).query)
    assert query["error"] == ["invalid_request"]
    assert query["error_description"] == [
        "Authorization Server policy requires PKCE to be used for this request"
    ]


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        pytest.param({"claims": {"aud": "någon-annan"}}, {"aud": "någon-annan"}, id="audience"),
        pytest.param({"claims": {"iss": "http://127.0.0.1:1"}}, {"iss": "http://127.0.0.1:1"}, id="issuer"),
        pytest.param({"claims": {"nonce": "fel"}}, {"nonce": "fel"}, id="nonce"),
        pytest.param({"claims": {"exp": 1_000_060, "iat": 1_000_000}}, {"exp": 1_000_060}, id="expired"),
        pytest.param({"claims": {"acr": [LOA3]}}, {"acr": [LOA3]}, id="acr-of-another-type"),
        pytest.param({"remove": ["nonce", "acr"]}, {"nonce": None, "acr": None}, id="removed"),
    ],
)
def test_tampering_changes_the_next_id_token_and_signs_it_again(
    provider: Provider, change: dict[str, Any], expected: dict[str, Any]
) -> None:
    provider.tamper_next(**change)
    claims = _claims(provider, _sign_in(provider, acr_values=LOA3)["id_token"])
    assert {name: claims.get(name) for name in expected} == expected
    untouched = _claims(provider, _sign_in(provider, acr_values=LOA3)["id_token"])
    assert untouched["aud"] == "vardmote-personal"
    assert untouched["nonce"] == NONCE


def test_tampering_with_the_other_key_gives_a_signature_the_provider_keys_refuse(provider: Provider) -> None:
    provider.tamper_next(key="other")
    id_token = _sign_in(provider)["id_token"]
    with pytest.raises(BadSignatureError):
        _claims(provider, id_token)
    assert jwt.decode(id_token, provider.other_key).claims["aud"] == "vardmote-personal"


def test_tampering_with_userinfo_changes_the_next_answer(provider: Provider) -> None:
    provider.next_sign_in(account=CLINICIAN)
    provider.tamper_next_userinfo(claims={"sub": "någon-annan"}, remove=["employeeHsaId"])
    tokens = _sign_in(provider)
    answer = httpx.get(f"{provider.issuer}/me", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert answer.json()["sub"] == "någon-annan"
    assert "employeeHsaId" not in answer.json()


def test_accounts_can_be_changed_until_reset(provider: Provider) -> None:
    provider.put_accounts({"ny": {"employeeHsaId": "SE2321000016-2000", "name": "Nora Ny"}})
    provider.next_sign_in(account="ny")
    tokens = _sign_in(provider)
    answer = httpx.get(f"{provider.issuer}/me", headers={"authorization": f"Bearer {tokens['access_token']}"})
    assert answer.json() == {"sub": "ny", "employeeHsaId": "SE2321000016-2000", "name": "Nora Ny"}
    provider.reset()
    with pytest.raises(ValueError, match="no such test account: 'ny'"):
        provider.next_sign_in(account="ny")


def test_rp_initiated_logout_asks_and_sends_back_to_the_client(provider: Provider) -> None:
    tokens = _sign_in(provider)
    assert provider.signed_in_at_provider()
    query = urlencode(
        {
            "id_token_hint": tokens["id_token"],
            "post_logout_redirect_uri": "http://vardmote.test/logga-in",
            "state": "ut",
        }
    )
    page = provider.browser.get(f"{provider.issuer}/session/end?{query}")
    assert "Yes, sign me out" in page.text
    assert "googleapis" not in page.text  # nothing loads from outside the machine

    back = provider.sign_out(f"{provider.issuer}/session/end?{query}")

    assert back == "http://vardmote.test/logga-in?state=ut"
    assert not provider.signed_in_at_provider()
    seen = provider.seen()
    assert seen.end_session[-1] == {
        "client_id": None,
        "id_token_hint": True,
        "post_logout_redirect_uri": "http://vardmote.test/logga-in",
        "state": True,
    }
    assert seen.signed_out == [{"logout": True, "status": 303}]


def test_a_stopped_provider_is_unreachable_and_comes_back_on_its_port(provider: Provider) -> None:
    port = provider.port
    provider.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{provider.issuer}/.well-known/openid-configuration")
    provider.start()
    assert provider.port == port
    assert provider.discovery()["issuer"] == provider.issuer
    assert _claims(provider, _sign_in(provider)["id_token"])["sub"] == PATIENT


def test_logout_by_client_id_alone_asks_too_and_sends_back(provider: Provider) -> None:
    _sign_in(provider)
    query = urlencode(
        {"client_id": "vardmote-personal", "post_logout_redirect_uri": "http://vardmote.test/logga-in"}
    )
    back = provider.sign_out(f"{provider.issuer}/session/end?{query}")
    assert back == "http://vardmote.test/logga-in"
    assert not provider.signed_in_at_provider()
    assert provider.seen().end_session == [
        {
            "client_id": "vardmote-personal",
            "id_token_hint": False,
            "post_logout_redirect_uri": "http://vardmote.test/logga-in",
            "state": False,
        }
    ]


def test_staying_signed_in_keeps_the_session_at_the_provider(provider: Provider) -> None:
    _sign_in(provider)
    query = urlencode(
        {"client_id": "vardmote-personal", "post_logout_redirect_uri": "http://vardmote.test/logga-in"}
    )
    back = provider.sign_out(f"{provider.issuer}/session/end?{query}", confirm=False)
    assert back == "http://vardmote.test/logga-in"
    assert provider.seen().signed_out == [{"logout": False, "status": 303}]
    assert provider.signed_in_at_provider()


def test_logout_without_a_session_at_the_provider_sends_back_all_the_same(provider: Provider) -> None:
    query = urlencode(
        {"client_id": "vardmote-personal", "post_logout_redirect_uri": "http://vardmote.test/logga-in"}
    )
    page = provider.browser.get(f"{provider.issuer}/session/end?{query}")
    assert "Yes, sign me out" not in page.text  # nobody to sign out: the form submits itself
    back = provider.sign_out(f"{provider.issuer}/session/end?{query}")
    assert back == "http://vardmote.test/logga-in"


def test_a_post_logout_address_not_registered_is_refused(provider: Provider) -> None:
    query = urlencode(
        {"client_id": "vardmote-personal", "post_logout_redirect_uri": "http://elsewhere.test/"}
    )
    page = provider.browser.get(f"{provider.issuer}/session/end?{query}")
    assert page.status_code == 400
    assert "post_logout_redirect_uri not registered" in page.text
