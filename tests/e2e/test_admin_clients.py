"""Registering a journal system in Chromium, against a running demo server.

The administrator (demo account ``admin``) opens "Journalsystem" from the menu, pastes a
JWKS with a private key by mistake (refused, the field left empty), then the public half,
and registers the journal system; the page shows its client_id, with which the journal
system (here httpx with the private key) gets a token at the server's /oauth/token; then the
administrator revokes it and the token endpoint refuses it. Every step is a screenshot under
``test-artifacts/e2e/admin-clients/``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

import httpx
import pytest
from playwright.sync_api import expect

from fhir_clients import JournalSystem, private_jwks, public_jwks, rsa_key
from servers import Server

from .axe import assert_accessible
from .conftest import NewContext, Steps
from .test_template_admin import sign_in_as_admin

pytestmark = pytest.mark.e2e


def test_an_administrator_registers_a_journal_system_that_then_gets_a_token(
    new_context: NewContext, steps: Callable[[str], Steps], demo_server: Server
) -> None:
    shots = steps("admin-clients")
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    sign_in_as_admin(page)
    name = f"Cosmic {uuid.uuid4().hex[:6]}"  # the demo server is shared by the package's tests
    key = rsa_key()

    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Journalsystem").click()
    expect(page.get_by_role("heading", name="Journalsystem", level=1)).to_be_visible()
    expect(page.get_by_label("Behörigheter")).to_have_value("system/Appointment.cruds")
    shots.shot(page, "empty-form")
    assert_accessible(page, "the journal systems page")

    page.get_by_label("Namn", exact=True).fill(name)
    page.get_by_label("Publika nycklar (JWKS)").fill(private_jwks(key))
    page.get_by_role("button", name="Registrera").click()
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Journalsystemet är inte registrerat.")
    expect(summary).to_contain_text("Nyckeln 'cosmic-1' innehåller en privat del.")
    expect(page.get_by_label("Publika nycklar (JWKS)")).to_have_value("")
    expect(page.get_by_label("Namn", exact=True)).to_have_value(name)
    shots.shot(page, "private-key-refused")
    assert_accessible(page, "the form with a refused private key")

    page.get_by_label("Publika nycklar (JWKS)").fill(public_jwks(key))
    page.get_by_role("button", name="Registrera").click()
    expect(page.get_by_role("status")).to_contain_text(f"Journalsystemet {name} är registrerat.")
    client_id = page.locator("#nytt-klient-id").inner_text()
    assert re.fullmatch(r"[0-9a-f-]{36}", client_id)
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name))
    expect(row).to_contain_text(client_id)
    expect(row).to_contain_text("Aktivt")
    shots.shot(page, "registered")

    system = JournalSystem(name, client_id, key, f"{demo_server.url}/oauth/token")
    with httpx.Client(base_url=demo_server.url) as http:
        answer = http.post("/oauth/token", data=system.token_form())
        assert answer.status_code == 200, answer.text
        assert answer.json()["scope"] == "system/Appointment.cruds"

        row.get_by_role("button", name=f"Återkalla {name}").click()
        expect(page.get_by_role("status")).to_contain_text(f"Journalsystemet {name} är återkallat")
        expect(row).to_contain_text("Återkallat")
        shots.shot(page, "revoked")
        refused = http.post("/oauth/token", data=system.token_form())
        assert (refused.status_code, refused.json()["error"]) == (401, "invalid_client")
