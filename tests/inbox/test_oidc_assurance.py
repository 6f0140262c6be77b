"""The inbox's OpenID Connect sign-in asks for an assurance level (``acr_values``) and accepts
only an ID token whose ``acr`` is one of them: Swedish LoA3 unless the setting says otherwise.
Against the real OpenID provider on 127.0.0.1 (tests/oidc_provider.py), as tests/inbox/test_oidc.py;
its plan says at which level the person signs in."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi.testclient import TestClient
from inbox_helpers import text_of

from booking_helpers import count
from oidc_provider import LOA2, LOA4, Provider, path_of, patients_sign_in_with, running_provider
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.lib.oidc_discovery import forget_providers
from vardmote.patients.models import Patient, PatientSession
from vardmote.settings import LOA3, Settings, load_settings

LOW = "Inloggningen gav inte den säkerhetsnivå som inkorgen kräver."


@pytest.fixture(scope="module")
def running() -> Iterator[Provider]:
    with running_provider() as p:
        yield p


@pytest.fixture
def provider(running: Provider) -> Provider:
    """provider is the module's provider, reset: the patient signs in at the first level asked for.
    Vårdmöte forgets what it discovered (another module's provider may have had the port)."""
    forget_providers()
    return running.fresh()


@pytest.fixture
def settings(settings: Settings, provider: Provider) -> Settings:
    """settings have the test provider as the e-identification."""
    return patients_sign_in_with(settings, provider)


def _sign_in(client: TestClient, provider: Provider) -> httpx.Response:
    back = provider.follow_sign_in(client, "/inkorg/oidc/start")
    response: httpx.Response = client.get(path_of(back), follow_redirects=False)
    return response


def test_the_sign_in_asks_for_loa3_and_accepts_it(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    assert ctx.settings.patient_oidc_acr == LOA3 == "http://id.elegnamnden.se/loa/1.0/loa3"
    start = client.get("/inkorg/oidc/start", follow_redirects=False)
    assert parse_qs(urlsplit(start.headers["location"]).query)["acr_values"] == [LOA3]
    client.cookies.clear()
    assert _sign_in(client, provider).status_code == 303
    assert provider.seen().authorization[-1]["acr_values"] == LOA3
    assert count(ctx, PatientSession) == 1


@pytest.mark.parametrize(
    "acr",
    [
        pytest.param(LOA2, id="lower-level"),
        pytest.param("", id="no-acr-claim"),
        pytest.param(LOA3 + "x", id="other"),
    ],
)
def test_a_token_at_another_level_signs_nobody_in(
    ctx: Context, client: TestClient, provider: Provider, acr: str
) -> None:
    provider.next_sign_in(acr=acr)
    response = _sign_in(client, provider)
    assert response.status_code == 400
    assert LOW in text_of(response.text)
    assert "Till inloggningen" in response.text
    assert count(ctx, PatientSession) == 0
    assert count(ctx, Patient) == 0


def test_a_token_claiming_the_level_through_a_claim_of_another_type_is_refused(
    ctx: Context, client: TestClient, provider: Provider
) -> None:
    provider.tamper_next(claims={"acr": [LOA3]})
    response = _sign_in(client, provider)
    assert response.status_code == 400
    assert LOW in text_of(response.text)


def test_the_setting_may_name_several_levels(ctx: Context, provider: Provider) -> None:
    settings = dataclasses.replace(ctx.settings, patient_oidc_acr=f"{LOA3} {LOA4}")
    with TestClient(create_app(settings, Context(settings, ctx.db)), base_url="http://vardmote.test") as c:
        provider.next_sign_in(acr=LOA4)
        assert _sign_in(c, provider).status_code == 303
        assert provider.seen().authorization[-1]["acr_values"] == f"{LOA3} {LOA4}"
        provider.next_sign_in(acr=LOA2)
        assert _sign_in(c, provider).status_code == 400


def test_the_setting_defaults_to_loa3() -> None:
    assert load_settings({}).patient_oidc_acr == LOA3
    assert load_settings({"VARDMOTE_PATIENT_OIDC_ACR": LOA4}).patient_oidc_acr == LOA4
