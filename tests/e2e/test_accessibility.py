"""Every page a person can reach, on a desktop and on a phone, checked by axe-core (WCAG 2.1 AA).

A stranger sees the sign-in page (also with a wrong password), the help and
privacy pages and a broken meeting link; Annika (a clinician) her calendar,
the new-meeting form (also refused), a booked meeting with the "Välj
mötestyp" dialog open, its edit form and her calendar subscription; the
administrator the meeting types (also refused) and the audit log. Each state
is saved as a screenshot under ``test-artifacts/e2e/accessibility-<device>/``.

The guest's welcome page and the host's meeting page are checked with the
meeting room's own tests.
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

DEVICES = ["desktop", "phone"]


def _device(playwright: Playwright, name: str) -> dict[str, Any]:
    """_device is new_context's options for a desktop (the defaults) or a Pixel 5 phone."""
    if name == "desktop":
        return {}
    return {k: v for k, v in playwright.devices["Pixel 5"].items() if k != "default_browser_type"}


def _page_as(new_context: NewContext, server: Server, options: dict[str, Any], username: str) -> Page:
    """_page_as is a page in a new context signed in as username (demo password) by an API session."""
    context = new_context(**options)
    context.add_cookies([{"name": "vm_session", "value": server.sign_in(username), "url": server.url}])
    return context.new_page()


def _check(page: Page, shots: Steps, name: str) -> None:
    """_check saves a screenshot, runs axe-core and checks that the page reflows to the screen's
    width (WCAG 1.4.10): a wide table scrolls in its own region, the page does not."""
    shots.shot(page, name)
    assert_accessible(page, name)
    width = page.evaluate("document.documentElement.scrollWidth")
    assert page.viewport_size is not None
    assert width <= page.viewport_size["width"], f"{name} is {width}px wide on a {page.viewport_size}"


@pytest.mark.parametrize("device", DEVICES)
def test_the_pages_a_stranger_reaches_are_accessible(
    device: str, playwright: Playwright, new_context: NewContext, steps: Callable[[str], Steps]
) -> None:
    shots = steps(f"accessibility-{device}-stranger")
    page = new_context(**_device(playwright, device)).new_page()

    page.goto("/logga-in")
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    _check(page, shots, "sign-in")

    page.get_by_label("Användarnamn").fill("annika")
    page.get_by_label("Lösenord").fill("fel-lösenord")
    page.get_by_role("button", name="Logga in").click()
    expect(page.get_by_role("alert")).to_have_text("Fel användarnamn eller lösenord.")
    _check(page, shots, "sign-in-wrong-password")

    page.goto("/sa-fungerar-det")
    expect(page.get_by_role("heading", name="Så fungerar det", level=1)).to_be_visible()
    _check(page, shots, "how-it-works")

    page.goto("/personuppgifter")
    expect(page.get_by_role("heading", name="Så behandlar vi dina personuppgifter")).to_be_visible()
    _check(page, shots, "privacy")

    response = page.goto("/m/ingen-sadan-lank")
    assert response is not None
    assert response.status == 404
    expect(page.get_by_role("heading", name="Länken fungerar inte")).to_be_visible()
    _check(page, shots, "link-not-found")


@pytest.mark.parametrize("device", DEVICES)
def test_a_clinicians_pages_are_accessible(
    device: str,
    playwright: Playwright,
    demo_server: Server,
    new_context: NewContext,
    steps: Callable[[str], Steps],
) -> None:
    shots = steps(f"accessibility-{device}-clinician")
    page = _page_as(new_context, demo_server, _device(playwright, device), "annika")
    booking = book_protected_meeting(demo_server, f"Tillgänglighet {device}")

    page.goto("/kalender")
    expect(page.get_by_role("link", name="Nästa vecka")).to_be_visible()
    _check(page, shots, "calendar")

    page.goto("/moten/ny")
    expect(page.get_by_role("heading", name="Nytt möte", exact=True)).to_be_visible()
    _check(page, shots, "new-meeting")
    page.get_by_role("button", name="Skyddat vårdmöte", exact=True).click()
    expect(page.get_by_role("dialog", name="Välj mötestyp")).to_be_visible()
    _check(page, shots, "new-meeting-type-dialog")
    page.get_by_role("dialog").get_by_role("button", name="Avbryt").click()

    page.get_by_role("button", name="Spara utan videomöte").click()
    expect(page.get_by_role("alert")).to_contain_text("Mötet är inte sparat.")
    _check(page, shots, "new-meeting-refused")

    page.goto(f"/moten/{booking.meeting_id}")
    expect(page.get_by_role("heading", name=f"Tillgänglighet {device}", level=1)).to_be_visible()
    _check(page, shots, "meeting")
    page.get_by_role("button", name="Välj om mötestyp").click()
    expect(page.get_by_role("dialog", name="Välj mötestyp")).to_be_visible()
    _check(page, shots, "meeting-type-dialog")

    page.goto(f"/moten/{booking.meeting_id}/andra")
    expect(page.get_by_role("heading", name="Ändra möte")).to_be_visible()
    _check(page, shots, "edit-meeting")

    response = page.goto("/moten/finns-inte")
    assert response is not None
    assert response.status == 404
    _check(page, shots, "meeting-not-found")

    page.goto("/kalenderprenumeration")
    expect(page.get_by_role("heading", name="Kalenderprenumeration")).to_be_visible()
    _check(page, shots, "subscription")
    page.once("dialog", lambda confirm: confirm.accept())  # "The old address stops working", if any
    page.get_by_role("button", name=re.compile("^Skapa (ny )?adress$")).click()
    expect(page.get_by_label("Din adress")).to_be_visible()
    _check(page, shots, "subscription-made")


@pytest.mark.parametrize("device", DEVICES)
def test_the_administrators_pages_are_accessible(
    device: str,
    playwright: Playwright,
    demo_server: Server,
    new_context: NewContext,
    steps: Callable[[str], Steps],
) -> None:
    shots = steps(f"accessibility-{device}-admin")
    page = _page_as(new_context, demo_server, _device(playwright, device), "admin")

    page.goto("/admin/motestyper")
    expect(page.get_by_role("heading", name="Mötestyper")).to_be_visible()
    _check(page, shots, "meeting-types")
    field = page.get_by_role("textbox").first
    field.fill("många")
    page.get_by_role("button", name="Spara").first.click()
    expect(page.get_by_role("alert")).to_be_visible()
    _check(page, shots, "meeting-types-refused")

    page.goto("/admin/granskning")
    expect(page.get_by_role("heading", name="Granskningslogg")).to_be_visible()
    _check(page, shots, "audit-log")


def test_keyboard_focus_is_visible(new_context: NewContext) -> None:
    page = new_context().new_page()
    page.goto("/logga-in")
    for _ in range(10):
        page.keyboard.press("Tab")
        if page.evaluate("() => document.activeElement.tagName") == "BUTTON":
            break
    focused = page.locator(":focus")
    expect(focused).to_have_text("Logga in")
    style = focused.evaluate(
        "(e) => { const s = getComputedStyle(e); return [s.outlineStyle, s.outlineWidth, s.outlineColor]; }"
    )
    assert style[0] != "none", f"the focused button has no outline: {style}"
    assert style[1] != "0px", f"the focused button has no outline: {style}"
