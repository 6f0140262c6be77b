"""Roles are the page's own marks, never a guest's text: in Chromium, on the media server.

A name with a bidi override is refused on the name step; a guest who calls
themselves "Annika Berg (mötesorganisatör)" is sent back to the name step with
the server's reason; under a plain name, their row in the
host's participant list and their chat messages carry no host mark, while the
host's do: the mark is an element of its own (``.role-mark``, its
``data-role`` from the protocol's role field) beside the name (``bdi.display-name``).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, Playwright, expect

from name_texts import INVISIBLE, LOOKS_LIKE_ROLE
from servers import Server, book_protected_meeting

from .axe import assert_accessible
from .conftest import NewContext
from .test_meeting_controls import _admit, _guest_asks_to_join, _host_joins, _row
from .test_meeting_pages import _context, _phone


@pytest.fixture
def host_page(new_media_context: NewContext) -> Page:
    """host_page is the clinician's desktop browser."""
    return _context(new_media_context, viewport={"width": 1366, "height": 860}).new_page()


@pytest.fixture
def phone_page(new_media_context: NewContext, playwright: Playwright) -> Callable[[], Page]:
    """phone_page() opens a new patient's phone browser (its own cookies: a new person)."""
    return lambda: _context(new_media_context, **_phone(playwright)).new_page()


def test_a_guest_cannot_take_a_hosts_role_and_only_a_host_carries_the_mark(
    media_server: Server, host_page: Page, phone_page: Callable[[], Page]
) -> None:
    booking = book_protected_meeting(media_server, "Roller i mötet")
    host, olle = host_page, phone_page()
    _host_joins(host, booking.meeting_id)

    # A name with a right-to-left override: refused on the name step already, in the server's words.
    olle.goto(booking.guest_url)
    olle.get_by_label("Ditt namn").fill("Olle\u202eelo")
    olle.get_by_role("button", name="Nästa").click()
    expect(olle.get_by_text(INVISIBLE)).to_be_visible()
    expect(olle.get_by_label("Ditt namn")).to_have_attribute("aria-invalid", "true")

    # A name that reads as the host's role: the server refuses it, the page goes back to the name.
    _guest_asks_to_join(olle, booking.guest_url, "Annika Berg （Mötesorganisatör）")
    expect(olle.get_by_text(LOOKS_LIKE_ROLE)).to_be_visible()
    name = olle.get_by_label("Ditt namn")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(name).to_be_focused()
    expect(host.locator("#lista-lobby li")).to_have_count(0)
    assert_accessible(olle, "the guest whose name was refused")

    name.fill("Olle")
    olle.get_by_role("button", name="Nästa").click()
    expect(olle.get_by_role("button", name="Anslut nu")).to_be_enabled()
    olle.get_by_role("button", name="Anslut nu").click()
    expect(olle.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()
    _admit(host, olle, "Olle")

    # The participant list: the name and the role are two elements; only the host's is "host".
    olle_row = _row(host, "Olle")
    expect(olle_row.locator(".display-name")).to_have_text("Olle")
    expect(olle_row.locator(".role-mark")).to_have_attribute("data-role", "guest")
    expect(olle_row.locator(".role-mark")).to_have_text("(gäst)")
    expect(olle_row.locator("[data-role='host']")).to_have_count(0)
    annika_row = _row(host, "Annika Berg")
    expect(annika_row.locator(".display-name")).to_have_text("Annika Berg")
    expect(annika_row.locator(".role-mark")).to_have_attribute("data-role", "host")
    expect(annika_row.locator(".role-mark")).to_have_text("(mötesorganisatör, du)")

    # The chat: the guest's message names the guest only; the host's has the host mark beside the name.
    olle.get_by_role("button", name="Chatt").click()
    olle.get_by_label("Meddelande").fill("Hej!")
    olle.get_by_label("Meddelande").press("Enter")
    olle_log = olle.locator("#chatt-lista li")
    expect(olle_log).to_have_count(1)
    host.get_by_role("button", name="Chatt 1 nytt").click()
    host.get_by_label("Meddelande").fill("Välkommen, Olle.")
    host.get_by_label("Meddelande").press("Enter")
    expect(olle_log).to_have_count(2)
    for page in (olle, host):
        log = page.locator("#chatt-lista li")
        expect(log).to_have_count(2)
        from_olle, from_annika = log.nth(0).locator(".chat-who"), log.nth(1).locator(".chat-who")
        expect(from_olle.locator(".display-name")).to_have_text("Olle")
        expect(from_olle.locator(".role-mark")).to_have_count(0)
        expect(from_olle).to_have_text("Olle")
        expect(from_annika.locator(".display-name")).to_have_text("Annika Berg")
        expect(from_annika.locator(".role-mark[data-role='host']")).to_have_text("(mötesorganisatör)")
    assert_accessible(olle, "the guest's chat with role marks")
