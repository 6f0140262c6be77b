"""Signing in to the inbox with OpenID Connect, against a real provider on 127.0.0.1.

The browser's part is played by two clients: the app's TestClient (cookies of
vardmote.test) and httpx for the provider's authorization endpoint. The provider checks
the client secret, the redirect address and PKCE; Vårdmöte checks the state, the ID
token's signature and claims, and the personnummer claim.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from inbox_helpers import text_of
from oidc_provider import CLIENT_ID, Provider, running_provider, signing_in_with
from sqlalchemy import select

from booking_helpers import count
from machine import free_tcp_port
from vardmote.app import create_app
from vardmote.audit.models import AuditEntry
from vardmote.context import Context
from vardmote.patients.models import Patient, PatientSession
from vardmote.settings import Settings

RESTART = "Inloggningen kunde inte slutföras. Börja om och logga in igen."
NO_NUMBER = "Inloggningen gav inget giltigt personnummer."


@pytest.fixture
def provider() -> Iterator[Provider]:
    with running_provider() as p:
        yield p


@pytest.fixture
def settings(settings: Settings, provider: Provider) -> Settings:
    """settings are production settings (demo off) with the test provider as the e-identification."""
    return signing_in_with(settings, provider)


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


def _at_provider(address: str) -> str:
    """_at_provider opens the provider's address, as the browser does, and returns where it sends us back."""
    response = httpx.get(address, follow_redirects=False)
    assert response.status_code == 302, response.text
    back = urlsplit(response.headers["location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == "http://vardmote.test/inkorg/oidc/klar"
    return f"{back.path}?{back.query}"


def test_signing_in_with_e_identification_opens_the_inbox(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    address = _start(client)
    query = parse_qs(urlsplit(address).query)
    assert address.startswith(provider.issuer + "/authorize?")
    assert query["client_id"] == [CLIENT_ID]
    assert query["response_type"] == ["code"]
    assert query["scope"] == ["openid"]
    assert query["redirect_uri"] == ["http://vardmote.test/inkorg/oidc/klar"]
    assert query["code_challenge_method"] == ["S256"]
    assert len(query["code_challenge"][0]) == 43
    assert len(query["state"][0]) >= 32
    assert len(query["nonce"][0]) >= 32
    assert query["state"] != query["nonce"]

    response = client.get(_at_provider(address), follow_redirects=False)

    assert response.status_code == 303, response.text
    assert response.headers["location"] == "/inkorg"
    (token_request,) = provider.seen
    assert token_request["grant_type"] == "authorization_code"
    assert len(token_request["code_verifier"]) >= 43
    assert "client_id" not in token_request  # the secret went by Basic authentication
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


def test_the_claim_named_in_the_settings_is_read(ctx: Context, provider: Provider) -> None:
    provider.claim = "https://id.example/personnummer"
    provider.person = "198705212382"
    settings = dataclasses.replace(ctx.settings, patient_oidc_personnummer_claim=provider.claim)
    with TestClient(
        create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test"
    ) as client:
        assert client.get(_at_provider(_start(client)), follow_redirects=False).status_code == 303
    with ctx.db.session() as s:
        assert s.scalars(select(Patient.personnummer)).all() == ["198705212382"]


@pytest.mark.parametrize(
    ("tamper", "message"),
    [
        pytest.param({"nonce": "en-annan-nonce"}, RESTART, id="wrong-nonce"),
        pytest.param({"aud": "någon-annan"}, RESTART, id="other-audience"),
        pytest.param({"iss": "http://127.0.0.1:1"}, RESTART, id="other-issuer"),
        pytest.param({"exp": 1_000_000}, RESTART, id="expired"),
        pytest.param({"key": "other"}, RESTART, id="signed-by-another-key"),
        pytest.param({"personal_identity_number": "19900602-2398"}, NO_NUMBER, id="bad-checksum"),
        pytest.param({"personal_identity_number": 199006022397}, NO_NUMBER, id="not-a-string"),
        pytest.param({"deny": True}, "Inloggningen avbröts. Du kan försöka igen.", id="cancelled"),
    ],
)
def test_a_token_that_is_not_right_signs_nobody_in(
    ctx: Context, client: TestClient, provider: Provider, tamper: dict[str, object], message: str
) -> None:
    provider.tamper = tamper
    response = client.get(_at_provider(_start(client)), follow_redirects=False)
    assert response.status_code == 400
    assert message in text_of(response.text)
    assert "Till inloggningen" in response.text
    assert count(ctx, PatientSession) == 0
    assert count(ctx, Patient) == 0


def test_a_token_without_the_personnummer_claim_signs_nobody_in(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    provider.person = None
    response = client.get(_at_provider(_start(client)), follow_redirects=False)
    assert response.status_code == 400
    assert NO_NUMBER in text_of(response.text)
    assert count(ctx, PatientSession) == 0


def test_a_wrong_or_missing_state_is_refused(ctx: Context, client: TestClient, provider: Provider) -> None:
    back = _at_provider(_start(client))
    code = parse_qs(urlsplit(back).query)["code"][0]
    for query in (f"code={code}&state=fel", f"code={code}", "state=x"):
        response = client.get(f"/inkorg/oidc/klar?{query}")
        assert response.status_code == 400
        assert RESTART in text_of(response.text)
    stranger = TestClient(client.app, base_url="http://vardmote.test")  # the redirect without our cookie
    assert stranger.get(back).status_code == 400
    assert count(ctx, PatientSession) == 0
    assert provider.seen == []  # nothing was exchanged


def test_a_code_is_exchanged_once(ctx: Context, client: TestClient, provider: Provider) -> None:
    address = _start(client)
    back = _at_provider(address)
    cookie = client.cookies["vm_patient_oidc"]
    assert client.get(back, follow_redirects=False).status_code == 303
    client.cookies.set("vm_patient_oidc", cookie, domain="vardmote.test", path="/inkorg/oidc")
    again = client.get(back, follow_redirects=False)
    assert again.status_code == 400
    assert RESTART in text_of(again.text)
    assert count(ctx, PatientSession) == 1


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
