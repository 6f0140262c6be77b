"""The state cookie of the staff sign-in against the real provider (tests/oidc_provider.py): it
lasts ten minutes, and one made for the patients' sign-in is worth nothing here, even with the
patients' own redirect. Each refusal asks the provider for nothing."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from fastapi.testclient import TestClient
from staff_oidc_support import START, audit, staff_fixtures, text_of

from booking_helpers import count
from oidc_provider import Provider, path_of, patients_sign_in_with
from vardmote.accounts.models import StaffSession, User
from vardmote.app import create_app
from vardmote.context import Context
from vardmote.lib import oidc
from vardmote.patients.models import PatientSession

RESTART = "Inloggningen kunde inte slutföras. Börja om och logga in igen."

running, provider, settings = staff_fixtures()


def _refused(ctx: Context) -> list[tuple[str, str]]:
    return [(d["kind"], d["reason"]) for _, d in audit(ctx, "user.signin_refused")]


def test_a_sign_in_that_took_too_long_must_be_started_again(
    ctx: Context, client: TestClient, provider: Provider, monkeypatch: pytest.MonkeyPatch
) -> None:
    back = provider.follow_sign_in(client, START)
    monkeypatch.setattr(oidc, "STATE_SECONDS", 0)  # the ten minutes have passed

    response = client.get(path_of(back), follow_redirects=False)

    assert response.status_code == 400
    assert RESTART in text_of(response.text)
    assert provider.seen().token == []  # the code was not exchanged
    assert count(ctx, User) == 0
    assert count(ctx, StaffSession) == 0
    assert _refused(ctx) == [("state_mismatch", "state_expired")]


def test_a_state_cookie_of_the_patients_sign_in_is_refused_at_the_staff_sign_in(
    ctx: Context, provider: Provider
) -> None:
    settings = patients_sign_in_with(ctx.settings, provider)  # both sign-ins at the same provider
    app = create_app(settings, Context(settings, ctx.db))
    with TestClient(app, base_url="http://vardmote.test") as browser:
        back = provider.follow_sign_in(browser, "/inkorg/oidc/start")
        assert back.startswith("http://vardmote.test/inkorg/oidc/klar?"), back
        patients_cookie = browser.cookies["vm_patient_oidc"]
        # The patients' cookie and redirect (its state matches the cookie) brought to the staff's door.
        browser.cookies.set("vm_staff_oidc", patients_cookie, domain="vardmote.test", path="/logga-in/oidc")

        response = browser.get(f"/logga-in/oidc/klar?{urlsplit(back).query}", follow_redirects=False)

    assert response.status_code == 400
    assert RESTART in text_of(response.text)
    assert provider.seen().token == []  # the patients' code was never sent with the staff's client
    assert count(ctx, User) == 0
    assert count(ctx, StaffSession) == 0
    assert count(ctx, PatientSession) == 0
    assert _refused(ctx) == [("state_mismatch", "wrong_sign_in")]


def test_a_state_cookie_of_the_staff_sign_in_is_refused_at_the_inbox(
    ctx: Context, provider: Provider
) -> None:
    settings = patients_sign_in_with(ctx.settings, provider)
    app = create_app(settings, Context(settings, ctx.db))
    with TestClient(app, base_url="http://vardmote.test") as browser:
        back = provider.follow_sign_in(browser, START)
        browser.cookies.set(
            "vm_patient_oidc", browser.cookies["vm_staff_oidc"], domain="vardmote.test", path="/inkorg/oidc"
        )
        response = browser.get(f"/inkorg/oidc/klar?{urlsplit(back).query}", follow_redirects=False)
    assert response.status_code == 400
    assert RESTART in text_of(response.text)
    assert provider.seen().token == []
    assert count(ctx, PatientSession) == 0
