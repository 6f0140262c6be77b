"""The patient inbox in Chromium on a small old phone (360 × 640): a guardian joins her son's meeting.

Annika (clinician, demo account) books a protected meeting for tomorrow and sends the join
link to Olle's inbox with "Skicka anslutningslänk" (Olle is nine: the message goes to his
inbox). Maria, his mother, signs in with the test e-identification, acts as ombud for
Olle, sees the unread message, opens it (OLÄST disappears), and follows "» Anslut till
videomötet" to the guest page. Every step is a screenshot under
``test-artifacts/e2e/patient-inbox/`` and is checked with axe and for sideways scrolling.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, Playwright, expect

from servers import Server, book_protected_meeting

from .axe import assert_accessible
from .conftest import NewContext, Steps

pytestmark = pytest.mark.e2e

MARIA = "19870521-2382"
OLLE = "20170101-2393"
CLINIC = "Allergimottagning barn, Västerås"


def _old_phone(playwright: Playwright) -> dict[str, Any]:
    """_old_phone is a 360 × 640 touch phone (Playwright's Galaxy S5)."""
    return {k: v for k, v in playwright.devices["Galaxy S5"].items() if k != "default_browser_type"}


def _check(page: Page, shots: Steps, name: str) -> None:
    """_check screenshots the page and checks it with axe and for sideways scrolling."""
    shots.shot(page, name)
    assert_accessible(page, name)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert page.viewport_size is not None
    assert width <= page.viewport_size["width"], f"{name} is {width}px wide on a {page.viewport_size}"


def _send_to_olle(demo_server: Server, new_context: NewContext) -> str:
    """_send_to_olle books a meeting as annika and sends its link to Olle's inbox from the
    meeting page, as a clinician does; returns the meeting's id."""
    booking = book_protected_meeting(demo_server, "Uppföljning allergi", days=1)
    staff = new_context(viewport={"width": 1280, "height": 900})
    staff.add_cookies([{"name": "vm_session", "value": booking.session, "url": demo_server.url}])
    desk = staff.new_page()
    desk.goto(f"/moten/{booking.meeting_id}")
    form = desk.locator("#skicka-inkorg")
    form.get_by_label("Personnummer").fill(OLLE)
    form.get_by_role("button", name="Skicka meddelande").click()
    expect(desk.get_by_text("Meddelandet är skickat till barnets inkorg")).to_be_visible()
    return booking.meeting_id


def test_a_guardian_joins_her_sons_meeting_from_his_inbox_as_ombud(
    demo_server: Server,
    new_context: NewContext,
    steps: Callable[[str], Steps],
    playwright: Playwright,
) -> None:
    shots = steps("patient-inbox")
    _send_to_olle(demo_server, new_context)
    page = new_context(**_old_phone(playwright)).new_page()

    page.goto("/inkorg")
    expect(page).to_have_url(re.compile(r"/inkorg/logga-in$"))
    expect(page.get_by_role("heading", name="Logga in i inkorgen")).to_be_visible()
    _check(page, shots, "logga-in")
    page.get_by_label("Personnummer").fill("19870521-2383")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_have_text(
        "Personnumret är inte giltigt: kontrollsiffran stämmer inte."
    )
    _check(page, shots, "fel-personnummer")
    page.get_by_label("Personnummer").fill(MARIA)
    page.get_by_role("button", name="Logga in").click()

    expect(page.get_by_role("heading", name="Start", exact=True)).to_be_visible()
    expect(page.get_by_text("Maria Andersson")).to_be_visible()
    expect(page.get_by_role("link", name="Se inkorg", exact=True)).to_be_visible()  # her own inbox: nothing
    ombud = page.get_by_role("button", name="Agera ombud för Olle")
    expect(ombud).to_be_visible()
    _check(page, shots, "start-maria")

    ombud.click()
    expect(page.get_by_text("Du agerar ombud för Olle och ser barnets inkorg.")).to_be_visible()
    expect(page.get_by_text("Du agerar ombud för Olle just nu.")).to_be_visible()
    expect(page.get_by_role("button", name="Agera ombud för Olle")).to_have_count(0)
    expect(page.get_by_role("link", name="Se inkorg 1 oläst")).to_be_visible()
    expect(
        page.get_by_role("navigation", name="Inkorgens meny").get_by_role("link", name="Inkorg 1 oläst")
    ).to_be_visible()
    _check(page, shots, "start-ombud-for-olle")

    page.get_by_role("link", name="Se inkorg 1 oläst").click()
    expect(page.get_by_role("heading", name="Inkorg", exact=True)).to_be_visible()
    expect(page.get_by_text("Visar 1-1 av 1")).to_be_visible()
    item = page.locator(".msg")
    expect(item).to_have_count(1)
    expect(item).to_contain_text("Skyddat digitalt vårdmöte OLÄST")
    expect(item).to_contain_text(f"Information | {CLINIC}")
    _check(page, shots, "inkorg-olast")

    item.get_by_role("link").click()
    expect(page.get_by_role("heading", name="Skyddat digitalt vårdmöte", level=1)).to_be_visible()
    expect(page.get_by_role("navigation", name="Du är här")).to_have_text(
        "Du är här: Start / Inkorg / Skyddat digitalt vårdmöte"
    )
    expect(page.get_by_text("Tid: klockan 09:00")).to_be_visible()
    join = page.get_by_role("link", name="» Anslut till videomötet")
    expect(join).to_be_visible()
    _check(page, shots, "meddelandet")

    page.get_by_role("navigation", name="Du är här").get_by_role("link", name="Inkorg").click()
    expect(page.locator(".msg")).to_have_count(1)
    expect(page.locator(".msg")).not_to_contain_text("OLÄST")
    expect(page.get_by_text("0 olästa")).to_be_visible()
    _check(page, shots, "inkorg-last")

    page.get_by_role("navigation", name="Inkorgens meny").get_by_role("link", name="Bokade tider").click()
    expect(page.get_by_role("heading", name="Bokade tider")).to_be_visible()
    expect(page.locator(".booked li")).to_have_count(1)
    expect(page.locator(".booked li")).to_contain_text(CLINIC)
    _check(page, shots, "bokade-tider")

    page.get_by_role("link", name="Läs meddelandet med anslutningslänken").click()
    page.get_by_role("link", name="» Anslut till videomötet").click()
    expect(page).to_have_url(re.compile(r"/m/[A-Za-z0-9_-]{43}$"))
    expect(
        page.get_by_role("heading", name="Välkommen till ditt videomöte med Region Västmanland")
    ).to_be_visible()
    shots.shot(page, "anslut")


def test_signing_out_of_the_inbox_on_a_phone(
    demo_server: Server, new_context: NewContext, steps: Callable[[str], Steps], playwright: Playwright
) -> None:
    shots = steps("patient-inbox-logga-ut")
    page = new_context(**_old_phone(playwright)).new_page()
    page.goto("/inkorg/logga-in")
    page.get_by_label("Personnummer").fill("19900602-2397")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_text("Johan Lind")).to_be_visible()
    expect(page.get_by_role("heading", name="Agera ombud")).to_have_count(0)
    page.get_by_role("button", name="Logga ut").click()
    expect(page.get_by_role("status")).to_have_text("Du är utloggad.")
    _check(page, shots, "utloggad")
    page.goto("/inkorg")
    expect(page).to_have_url(re.compile(r"/inkorg/logga-in$"))
