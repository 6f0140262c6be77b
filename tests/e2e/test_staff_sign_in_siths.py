"""A clinician signs in with "Logga in med SITHS" in Debian's Chromium: ``vardmote serve`` with the
region's identity provider set to the tests' real OpenID provider (oidc-provider by node,
tests/oidc_provider.py), both on 127.0.0.1. The sign-in passes the provider, lands on the
calendar, and signing out ends the session at the provider too (its confirm page)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import expect

from machine import free_tcp_port
from oidc_provider import ACCOUNTS, ACR_VALUES, CLINICIAN, SCOPES_CLAIMS, Provider, staff_client
from servers import Server, serve

from .axe import describe, violations
from .conftest import NewContext

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def provider_port() -> int:
    """provider_port is where the provider will listen: Vårdmöte must know its issuer before the
    provider knows Vårdmöte's address (its registered redirect URI)."""
    return free_tcp_port()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, provider_port: int) -> Iterator[Server]:
    client = staff_client()
    assert client.secret is not None
    env = {
        "VARDMOTE_STAFF_OIDC_ISSUER": f"http://127.0.0.1:{provider_port}",
        "VARDMOTE_STAFF_OIDC_CLIENT_ID": client.client_id,
        "VARDMOTE_STAFF_OIDC_CLIENT_SECRET": client.secret,
        "VARDMOTE_STAFF_OIDC_ADMIN_CLAIM": "groups=vardmote-admin",
        "VARDMOTE_BREAK_GLASS_ADMIN": "admin",  # the demo's administrator
    }
    with serve(tmp_path_factory.mktemp("e2e-siths") / "var", env=env) as running:
        yield running


@pytest.fixture(scope="module")
def provider(server: Server, provider_port: int) -> Iterator[Provider]:
    """provider is the region's identity provider, with Vårdmöte at server.url registered."""
    p = Provider(
        clients=[staff_client(server.url)],
        accounts=ACCOUNTS,
        acr_values=ACR_VALUES,
        scopes_claims=SCOPES_CLAIMS,
        port=provider_port,
    )
    try:
        p.start()
        yield p
    finally:
        p.close()


def test_a_clinician_signs_in_with_siths_and_out_again(
    server: Server, provider: Provider, new_context: NewContext, tmp_path: Path
) -> None:
    provider.fresh()
    provider.next_sign_in(account=CLINICIAN)
    page = new_context(base_url=server.url).new_page()

    page.goto("/logga-in")
    button = page.get_by_role("link", name="Logga in med SITHS")
    expect(button).to_be_visible()
    expect(page.get_by_label("Lösenord")).to_have_count(0)  # local passwords are off
    found = violations(page)
    assert not found, describe(found)
    page.screenshot(path=str(tmp_path / "01-logga-in.png"), full_page=True)
    page.get_by_role("link", name="Reservinloggning för administratör").click()
    expect(page.get_by_role("heading", name="Reservinloggning för administratör")).to_be_visible()
    expect(page.get_by_label("Lösenord")).to_be_visible()
    found = violations(page)
    assert not found, describe(found)
    page.screenshot(path=str(tmp_path / "02-reservinloggning.png"), full_page=True)
    button = page.get_by_role("link", name="Logga in med SITHS")

    button.click()

    page.wait_for_url(f"{server.url}/kalender")
    expect(page.get_by_text("Annika Läkare")).to_be_visible()
    page.screenshot(path=str(tmp_path / "03-kalender.png"), full_page=True)
    (asked,) = provider.seen().authorization
    assert asked["redirect_uri"] == f"{server.url}/logga-in/oidc/klar"

    page.get_by_role("button", name="Logga ut").click()  # ended here, then on to the provider
    page.get_by_role("button", name="Yes, sign me out").click()

    page.wait_for_url(f"{server.url}/logga-in?state=*")
    expect(page.get_by_role("link", name="Logga in med SITHS")).to_be_visible()
    page.screenshot(path=str(tmp_path / "04-utloggad.png"), full_page=True)
    assert provider.seen().signed_out == [{"logout": True, "status": 303}]
    page.goto("/kalender")
    page.wait_for_url(f"{server.url}/logga-in**")  # signed out here too
