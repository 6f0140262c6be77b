"""Booking a protected meeting in Chromium, as a newcomer would, against a running server.

Annika (a clinician, demo account) signs in, books a "Vårdmöte patient" for
tomorrow 10:00–10:30, finds it in the week calendar, downloads it for her
calendar program and cancels it; the patient's guest link then stops working.
Every step is saved as a screenshot under ``test-artifacts/e2e/``.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar
from playwright.sync_api import Dialog, Locator, Page, Playwright, expect

from .conftest import NewContext, Steps

pytestmark = pytest.mark.e2e

STOCKHOLM = ZoneInfo("Europe/Stockholm")
WEEKDAYS = ["måndag", "tisdag", "onsdag", "torsdag", "fredag", "lördag", "söndag"]
MONTHS = [
    "januari",
    "februari",
    "mars",
    "april",
    "maj",
    "juni",
    "juli",
    "augusti",
    "september",
    "oktober",
    "november",
    "december",
]
LOCATION = "Skyddat videomöte med Region Västmanland"


def tomorrow_at(hour: int, minute: int = 0) -> dt.datetime:
    """tomorrow_at is tomorrow's wall-clock time in Stockholm, as an aware datetime."""
    tomorrow = dt.datetime.now(STOCKHOLM).date() + dt.timedelta(days=1)
    return dt.datetime.combine(tomorrow, dt.time(hour, minute), STOCKHOLM)


def field_value(moment: dt.datetime) -> str:
    """field_value is moment as a datetime-local value, YYYY-MM-DDTHH:MM."""
    return moment.strftime("%Y-%m-%dT%H:%M")


def sign_in(page: Page, username: str, password: str) -> None:
    """sign_in opens / (which sends a stranger to the sign-in page) and signs in."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/logga-in"))
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    page.get_by_label("Användarnamn").fill(username)
    page.get_by_label("Lösenord").fill(password)
    page.get_by_role("button", name="Logga in").click()


def expect_week_calendar(page: Page) -> None:
    """expect_week_calendar checks the calendar's heading and week navigation."""
    this_week = dt.datetime.now(STOCKHOLM).date().isocalendar().week
    expect(page.get_by_role("heading", name=f"Vecka {this_week}", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="I dag", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Föregående vecka", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Nästa vecka", exact=True)).to_be_visible()


def open_week_of(page: Page, day: dt.date) -> None:
    """open_week_of goes to the calendar and, if day is in next week, presses "Nästa vecka"."""
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Kalender", exact=True).click()
    today = dt.datetime.now(STOCKHOLM).date()
    if day.isocalendar()[:2] != today.isocalendar()[:2]:
        page.get_by_role("link", name="Nästa vecka", exact=True).click()
    week = day.isocalendar().week
    expect(page.get_by_role("heading", name=f"Vecka {week}", exact=True)).to_be_visible()


def day_in_calendar(page: Page, day: dt.date) -> Locator:
    """day_in_calendar is the calendar's list item for day, found by its heading."""
    name = f"{WEEKDAYS[day.weekday()]} {day.day} {MONTHS[day.month - 1]}"
    heading = page.get_by_role("heading", level=2, name=re.compile("^" + name + r"\b"))
    return page.get_by_role("listitem").filter(has=heading)


def open_new_meeting(page: Page) -> None:
    """open_new_meeting presses the calendar's "Nytt möte" button."""
    page.get_by_role("main").get_by_role("link", name="Nytt möte").click()
    expect(page.get_by_role("heading", name="Nytt möte", exact=True)).to_be_visible()


def fill_meeting_form(page: Page, title: str, start: dt.datetime, end: dt.datetime) -> None:
    page.get_by_label("Rubrik").fill(title)
    page.get_by_label("Starttid").fill(field_value(start))
    page.get_by_label("Sluttid").fill(field_value(end))


def open_type_dialog(page: Page) -> Locator:
    """open_type_dialog presses "Skyddat vårdmöte" and returns the "Välj mötestyp" dialog."""
    page.get_by_role("button", name="Skyddat vårdmöte", exact=True).click()
    dialog = page.get_by_role("dialog", name="Välj mötestyp")
    expect(dialog).to_be_visible()
    return dialog


def expect_cards_fit(dialog: Locator) -> None:
    """expect_cards_fit checks that no text sticks out of its meeting-type card."""
    overflow = dialog.locator("label").evaluate_all(
        """cards => cards.map(card => {
            const edge = card.getBoundingClientRect().right;
            const parts = [...card.querySelectorAll("*")];
            const widest = Math.max(...parts.map(e => e.getBoundingClientRect().right));
            return [card.querySelector(".typename").textContent, Math.round(widest - edge)];
        }).filter(([, px]) => px > 0)"""
    )
    assert overflow == [], f"text sticks out of these cards (pixels): {overflow}"


def expect_no_sideways_scrolling(page: Page) -> None:
    """expect_no_sideways_scrolling checks that the page is no wider than the screen."""
    width = page.evaluate("document.documentElement.scrollWidth")
    assert page.viewport_size is not None
    assert width <= page.viewport_size["width"], f"page is {width}px wide on a {page.viewport_size}"


def choose_vardmote_patient(dialog: Locator) -> None:
    """choose_vardmote_patient checks the "Vårdmöte patient" card and its limit, then picks it."""
    card = dialog.locator("label").filter(has=dialog.page.get_by_text("Vårdmöte patient", exact=True))
    expect(card).to_have_count(1)
    expect(card).to_contain_text("Deltagarbegränsning: max 15 personer")
    expect_cards_fit(dialog)
    radio = dialog.get_by_role("radio", name="Vårdmöte patient", exact=True)
    expect(radio).to_have_accessible_description(re.compile("^Deltagarbegränsning: max 15 personer"))
    radio.check()
    expect(radio).to_be_checked()


def test_a_newcomer_books_downloads_and_cancels_a_protected_meeting(
    new_context: NewContext, steps: Callable[[str], Steps]
) -> None:
    shots = steps("booking")
    page = new_context().new_page()
    title = f"Uppföljning astma {uuid.uuid4().hex[:6]}"
    start, end = tomorrow_at(10), tomorrow_at(10, 30)
    day = start.date()

    page.goto("/")
    expect(page).to_have_url(re.compile(r"/logga-in"))
    shots.shot(page, "sign-in")
    sign_in(page, "annika", "demo")
    expect(page).to_have_url(re.compile(r"/kalender$"))
    expect_week_calendar(page)
    shots.shot(page, "calendar")

    open_new_meeting(page)
    shots.shot(page, "new-meeting-form")
    fill_meeting_form(page, title, start, end)
    shots.shot(page, "new-meeting-filled")
    dialog = open_type_dialog(page)
    shots.shot(page, "type-dialog")
    choose_vardmote_patient(dialog)
    shots.shot(page, "type-chosen")
    dialog.get_by_role("button", name="Skapa möte").click()

    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_have_text("Mötet är bokat.")
    expect(page.get_by_text(LOCATION, exact=True)).to_be_visible()
    join = page.get_by_role("link", name="» Anslut till videomötet", exact=True)
    expect(join).to_be_visible()
    expect(page.get_by_role("link", name="» Så fungerar det", exact=True)).to_be_visible()
    expect(
        page.get_by_role("link", name="» Så behandlar vi dina personuppgifter", exact=True)
    ).to_be_visible()
    expect(page.get_by_role("link", name="Starta möte", exact=True)).to_be_visible()
    meeting_url = page.url
    guest_url = join.get_attribute("href")
    assert guest_url is not None, guest_url
    assert guest_url.startswith(page.url.split("/moten/")[0] + "/m/"), guest_url
    shots.shot(page, "meeting-booked")

    open_week_of(page, day)
    booked = day_in_calendar(page, day).get_by_role("link", name=title)
    expect(booked).to_be_visible()
    expect(booked).to_contain_text("10:00–10:30")
    expect(booked).to_contain_text("Vårdmöte patient")
    shots.shot(page, "calendar-with-meeting")

    guest = new_context().new_page()
    response = guest.goto(guest_url)
    assert response is not None
    assert response.status == 200
    expect(
        guest.get_by_role("heading", name="Välkommen till ditt videomöte med Region Västmanland")
    ).to_be_visible()
    shots.shot(guest, "guest-welcome")

    booked.click()
    expect(page).to_have_url(meeting_url.split("?")[0])
    with page.expect_download() as info:
        page.get_by_role("link", name="Ladda ned till kalendern (.ics)").click()
    download = info.value
    assert download.suggested_filename.endswith(".ics")
    calendar = Calendar.from_ical(Path(download.path()).read_bytes())
    events = list(calendar.walk("VEVENT"))
    assert len(events) == 1
    event = events[0]
    assert str(event["SUMMARY"]) == title
    assert event.decoded("DTSTART") == start.astimezone(dt.UTC)
    assert event.decoded("DTSTART").utcoffset() == dt.timedelta(0)
    assert event.decoded("DTEND") == end.astimezone(dt.UTC)
    assert str(event["LOCATION"]) == LOCATION
    assert guest_url in str(event["DESCRIPTION"])

    questions: list[str] = []

    def accept(confirm: Dialog) -> None:
        questions.append(confirm.message)
        confirm.accept()

    page.once("dialog", accept)
    page.get_by_role("button", name="Avboka möte").click()
    expect(page.get_by_text("Mötet är avbokat.")).to_be_visible()
    assert questions == ["Avboka mötet?"]
    expect(page.get_by_role("link", name="Starta möte")).to_have_count(0)
    shots.shot(page, "meeting-cancelled")

    open_week_of(page, day)
    expect(day_in_calendar(page, day)).to_have_count(1)
    expect(page.get_by_role("link", name=title)).to_have_count(0)
    shots.shot(page, "calendar-without-meeting")

    response = guest.goto(guest_url)
    assert response is not None
    assert response.status == 410
    expect(guest.get_by_role("heading", name="Länken fungerar inte")).to_be_visible()
    shots.shot(guest, "guest-link-gone")


def test_booking_pages_fit_a_phone(
    playwright: Playwright, new_context: NewContext, steps: Callable[[str], Steps]
) -> None:
    shots = steps("booking-mobile")
    phone = {k: v for k, v in playwright.devices["Pixel 5"].items() if k != "default_browser_type"}
    page = new_context(**phone).new_page()
    title = f"Samtal med närstående {uuid.uuid4().hex[:6]}"

    page.goto("/")
    shots.shot(page, "sign-in")
    expect_no_sideways_scrolling(page)
    sign_in(page, "annika", "demo")
    expect_week_calendar(page)
    shots.shot(page, "calendar")
    expect_no_sideways_scrolling(page)
    open_new_meeting(page)
    fill_meeting_form(page, title, tomorrow_at(14), tomorrow_at(14, 45))
    shots.shot(page, "new-meeting-filled")
    expect_no_sideways_scrolling(page)
    dialog = open_type_dialog(page)
    shots.shot(page, "type-dialog")
    expect_no_sideways_scrolling(page)
    choose_vardmote_patient(dialog)
    dialog.get_by_role("button", name="Skapa möte").click()
    expect(page.get_by_role("heading", name=title, level=1)).to_be_visible()
    expect(page.get_by_role("link", name="» Anslut till videomötet", exact=True)).to_be_visible()
    expect(page.get_by_role("link", name="Starta möte", exact=True)).to_be_visible()
    shots.shot(page, "meeting-booked")
    expect_no_sideways_scrolling(page)


def test_wrong_password_and_end_before_start_are_refused_in_swedish(
    new_context: NewContext, steps: Callable[[str], Steps]
) -> None:
    shots = steps("booking-errors")
    page = new_context().new_page()
    title = f"Felaktig tid {uuid.uuid4().hex[:6]}"

    sign_in(page, "annika", "fel-lösenord")
    expect(page.get_by_role("alert")).to_have_text("Fel användarnamn eller lösenord.")
    expect(page.get_by_role("heading", name="Logga in")).to_be_visible()
    expect(page.get_by_label("Användarnamn")).to_have_value("annika")
    shots.shot(page, "wrong-password")

    page.get_by_label("Lösenord").fill("demo")
    page.get_by_role("button", name="Logga in").click()
    expect_week_calendar(page)
    open_new_meeting(page)
    fill_meeting_form(page, title, tomorrow_at(11), tomorrow_at(10))
    choose_vardmote_patient(open_type_dialog(page))
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.get_by_role("button", name="Skapa möte").click()
    assert posted.value.status == 422

    message = "Sluttiden måste vara efter starttiden."
    summary = page.get_by_role("alert")
    expect(summary).to_contain_text("Mötet är inte sparat.")
    expect(summary.get_by_role("link", name=message)).to_be_visible()
    expect(page.get_by_label("Sluttid")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#fel-end")).to_have_text(message)
    expect(page.get_by_label("Rubrik")).to_have_value(title)
    expect(
        page.get_by_role("radio", name="Vårdmöte patient", exact=True, include_hidden=True)
    ).to_be_checked()
    shots.shot(page, "end-before-start")

    open_week_of(page, tomorrow_at(11).date())
    expect(page.get_by_role("link", name=title)).to_have_count(0)
