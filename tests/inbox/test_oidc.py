"""Signing in to the inbox with OpenID Connect, against a real OpenID provider on 127.0.0.1
(oidc-provider run by node, tests/oidc_provider.py).

The browser's part is played by two clients: the app's TestClient (cookies of
vardmote.test) and the provider's browser (httpx, cookies of the provider). The provider
checks the client secret, the redirect address and PKCE and releases the personnummer at
its userinfo endpoint (the Swedish profile's scope); Vårdmöte checks the state, the ID
token's signature and claims, and the personnummer claim.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from fastapi.testclient import TestClient
from inbox_helpers import text_of
from sqlalchemy import select

from booking_helpers import count
from machine import free_tcp_port
from oidc_provider import (
    NATURAL_PERSON_NUMBER,
    PATIENT_CLIENT,
    Provider,
    path_of,
    patients_sign_in_with,
    running_provider,
)
from vardmote.app import create_app
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.lib.oidc_discovery import forget_providers
from vardmote.patients.models import Patient, PatientSession
from vardmote.settings import Settings

RESTART = "Inloggningen kunde inte slutföras. Börja om och logga in igen."
NO_NUMBER = "Inloggningen gav inget giltigt personnummer."


@pytest.fixture(scope="module")
def running() -> Iterator[Provider]:
    with running_provider() as p:
        yield p


@pytest.fixture
def provider(running: Provider) -> Provider:
    """provider is the module's provider, reset: the patient signs in unless a test says otherwise.
    Vårdmöte forgets what it discovered (another module's provider may have had the port)."""
    forget_providers()
    return running.fresh()


@pytest.fixture
def settings(settings: Settings, provider: Provider) -> Settings:
    """settings are production settings (demo off) with the test provider as the e-identification."""
    return patients_sign_in_with(settings, provider)


@contextmanager
def _served(ctx: Context, **changes: Any) -> Iterator[TestClient]:
    """_served serves the same database with settings changed."""
    settings = dataclasses.replace(ctx.settings, **changes)
    with TestClient(
        create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test"
    ) as client:
        yield client


def _start(client: TestClient) -> str:
    """_start presses "Logga in med e-legitimation" and returns the provider's address."""
    page = client.get("/inkorg/logga-in")
    assert 'href="/inkorg/oidc/start">Logga in med e-legitimation</a>' in page.text
    response = client.get("/inkorg/oidc/start", follow_redirects=False)
    assert response.status_code == 303, response.text
    cookie = next(c for c in response.headers.get_list("set-cookie") if c.startswith("vm_patient_oidc="))
    assert "HttpOnly" in cookie
    assert "Path=/inkorg/oidc" in cookie
    assert "Max-Age=600" in cookie
    location: str = response.headers["location"]
    return location


def _at_provider(provider: Provider, address: str) -> str:
    """_at_provider opens the provider's address, as the browser does, and returns where it sends us back."""
    back = provider.at_provider(address)
    assert back.startswith("http://vardmote.test/inkorg/oidc/klar?"), back
    return path_of(back)


def test_signing_in_with_e_identification_opens_the_inbox(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    address = _start(client)
    query = parse_qs(urlsplit(address).query)
    assert address.startswith(provider.issuer + "/auth?")
    assert query["client_id"] == [PATIENT_CLIENT.client_id]
    assert query["response_type"] == ["code"]
    assert query["scope"] == [f"openid {NATURAL_PERSON_NUMBER}"]
    assert query["redirect_uri"] == ["http://vardmote.test/inkorg/oidc/klar"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32
    assert len(query["nonce"][0]) >= 32
    assert query["state"] != query["nonce"]

    response = client.get(_at_provider(provider, address), follow_redirects=False)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/inkorg"
    seen = provider.seen()
    (token_request,) = seen.token
    assert token_request["grant_type"] == "authorization_code"
    assert token_request["code_verifier"]
    assert token_request["status"] == 200
    # The secret (":&=+%" and a space in it) went form-encoded by Basic authentication.
    assert token_request["client_auth_method"] == "client_secret_basic"
    assert not token_request["client_id_in_body"]
    # The ID token has no personnummer (scope claims stay at userinfo), so userinfo was asked.
    assert [(u["status"], u["claims"]) for u in seen.userinfo] == [(200, ["personal_identity_number", "sub"])]
    start = client.get("/inkorg")
    assert start.status_code == 200
    assert "19900602-2397 Logga ut" in text_of(start.text)
    with ctx.db.session() as s:
        row = s.scalars(select(PatientSession)).one()
        assert row.method == "oidc"
        assert row.patient.personnummer == "199006022397"
        assert not row.patient.is_demo
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "inbox.signed_in")).one()
    assert (entry.actor, json.loads(entry.details)) == ("patient:19900602-****", {"method": "oidc"})
    assert client.cookies.get("vm_patient_oidc") is None  # used once


def test_the_sign_in_page_offers_only_e_identification_outside_demo_mode(client: TestClient) -> None:
    page = client.get("/inkorg/logga-in")
    assert "Logga in med e-legitimation" in page.text
    assert 'name="personnummer"' not in page.text
    assert "Test-e-legitimationen är inte tillgänglig" in text_of(page.text)


def test_the_claim_named_in_the_settings_is_read(ctx: Context) -> None:
    # A provider that follows the Swedish OpenID Connect profile to the letter: its scope
    # releases the claim https://id.oidc.se/claim/personalIdentityNumber.
    claim = "https://id.oidc.se/claim/personalIdentityNumber"
    with running_provider(
        accounts={"pnr": {claim: "19870521-2382"}},
        scopes_claims={"openid": ["sub"], NATURAL_PERSON_NUMBER: [claim]},
    ) as profile:
        settings = dataclasses.replace(
            patients_sign_in_with(ctx.settings, profile), patient_oidc_personnummer_claim=claim
        )
        with TestClient(
            create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test"
        ) as client:
            response = client.get(_at_provider(profile, _start(client)), follow_redirects=False)
            assert response.status_code == 303, response.text
    with ctx.db.session() as s:
        assert s.scalars(select(Patient.personnummer)).all() == ["198705212382"]


def _patient_with(number: object) -> Callable[[Provider], None]:
    """_patient_with makes the next sign-in a person whose personnummer claim is number."""

    def arrange(provider: Provider) -> None:
        provider.put_accounts({"annan": {"personal_identity_number": number}})
        provider.next_sign_in(account="annan")

    return arrange


@pytest.mark.parametrize(
    ("arrange", "message"),
    [
        pytest.param(lambda p: p.tamper_next(claims={"nonce": "en-annan-nonce"}), RESTART, id="wrong-nonce"),
        pytest.param(lambda p: p.tamper_next(claims={"aud": "någon-annan"}), RESTART, id="other-audience"),
        pytest.param(
            lambda p: p.tamper_next(claims={"iss": "http://127.0.0.1:1"}), RESTART, id="other-issuer"
        ),
        pytest.param(
            lambda p: p.tamper_next(claims={"exp": 1_000_060, "iat": 1_000_000}), RESTART, id="expired"
        ),
        pytest.param(lambda p: p.tamper_next(key="other"), RESTART, id="signed-by-another-key"),
        pytest.param(
            lambda p: p.tamper_next_userinfo(claims={"sub": "någon-annan"}),
            RESTART,
            id="userinfo-about-another-person",
        ),
        pytest.param(_patient_with("19900602-2398"), NO_NUMBER, id="bad-checksum"),
        pytest.param(_patient_with(199006022397), NO_NUMBER, id="not-a-string"),
        pytest.param(
            lambda p: p.next_sign_in(deny=True), "Inloggningen avbröts. Du kan försöka igen.", id="cancelled"
        ),
    ],
)
def test_a_token_that_is_not_right_signs_nobody_in(
    ctx: Context,
    client: TestClient,
    provider: Provider,
    arrange: Callable[[Provider], None],
    message: str,
) -> None:
    arrange(provider)
    response = client.get(_at_provider(provider, _start(client)), follow_redirects=False)
    assert response.status_code == 400
    assert message in text_of(response.text)
    assert "Till inloggningen" in response.text
    assert count(ctx, PatientSession) == 0
    assert count(ctx, Patient) == 0


def test_a_person_without_a_personnummer_signs_nobody_in(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    provider.put_accounts({"utan": {"name": "Utan Nummer"}})
    provider.next_sign_in(account="utan")
    response = client.get(_at_provider(provider, _start(client)), follow_redirects=False)
    assert response.status_code == 400
    assert NO_NUMBER in text_of(response.text)
    assert count(ctx, PatientSession) == 0
    assert [u["claims"] for u in provider.seen().userinfo] == [["sub"]]  # asked, and nothing there


def test_a_wrong_or_missing_state_is_refused(ctx: Context, client: TestClient, provider: Provider) -> None:
    back = _at_provider(provider, _start(client))
    code = parse_qs(urlsplit(back).query)["code"][0]
    for query in (f"code={code}&state=fel", f"code={code}", "state=x"):
        response = client.get(f"/inkorg/oidc/klar?{query}")
        assert response.status_code == 400
        assert RESTART in text_of(response.text)
    stranger = TestClient(client.app, base_url="http://vardmote.test")  # the redirect without our cookie
    assert stranger.get(back).status_code == 400
    assert count(ctx, PatientSession) == 0
    assert provider.seen().token == []  # nothing was exchanged


def test_a_code_is_exchanged_once(ctx: Context, client: TestClient, provider: Provider) -> None:
    address = _start(client)
    back = _at_provider(provider, address)
    cookie = client.cookies["vm_patient_oidc"]
    assert client.get(back, follow_redirects=False).status_code == 303
    client.cookies.set("vm_patient_oidc", cookie, domain="vardmote.test", path="/inkorg/oidc")
    again = client.get(back, follow_redirects=False)
    assert again.status_code == 400
    assert RESTART in text_of(again.text)
    assert count(ctx, PatientSession) == 1
    assert [(t["status"], t["error"]) for t in provider.seen().token] == [(200, None), (400, "invalid_grant")]


def test_a_provider_gone_during_the_sign_in_is_told_plainly(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    back = _at_provider(provider, _start(client))
    provider.stop()
    response = client.get(back, follow_redirects=False)
    assert response.status_code == 502
    assert "E-legitimationen svarar inte just nu. Försök igen om en stund." in text_of(response.text)
    assert count(ctx, PatientSession) == 0


def test_an_unreachable_provider_is_told_plainly(ctx: Context) -> None:
    settings = dataclasses.replace(ctx.settings, patient_oidc_issuer=f"http://127.0.0.1:{free_tcp_port()}")
    with TestClient(
        create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test"
    ) as client:
        response = client.get("/inkorg/oidc/start", follow_redirects=False)
    assert response.status_code == 502
    assert "E-legitimationen svarar inte just nu. Försök igen om en stund." in text_of(response.text)


def test_without_an_issuer_there_is_no_e_identification(ctx: Context) -> None:
    settings = dataclasses.replace(ctx.settings, patient_oidc_issuer="")
    with TestClient(
        create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test"
    ) as client:
        assert "Logga in med e-legitimation" not in client.get("/inkorg/logga-in").text
        for path in ("/inkorg/oidc/start", "/inkorg/oidc/klar?code=x&state=y"):
            response = client.get(path, follow_redirects=False)
            assert response.status_code == 404
            assert "Inloggning med e-legitimation är inte inställd här." in text_of(response.text)
