"""The Skype migration in Chromium: the demo administrator uploads an Outlook export, sees the Skype
meetings after the cut-off with their personal data flags, and rebooks them.

A Latin-1 file is tried first and refused beside the file field. Every step is
saved as a screenshot under ``test-artifacts/e2e/skype-import/`` and checked with axe.
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.sync_api import Page, expect

from .axe import assert_accessible
from .conftest import NewContext, Steps

pytestmark = pytest.mark.e2e

STOCKHOLM = ZoneInfo("Europe/Stockholm")
CUTOFF = dt.datetime.now(STOCKHOLM).date() + dt.timedelta(days=2)
SKYPE = (
    'X-MICROSOFT-ONLINEMEETINGINFORMATION:{"OnlineMeetingChannelId":null\\,"OnlineMeetingProvider":1}\r\n'
    "X-MICROSOFT-ONLINEMEETINGCONFLINK:conf:sip:annika@regionvastmanland.se\\;gruu\\;opaque=app:conf:focu\r\n"
    " s:id:K4BJ3XQZ\r\n"
)
BODY = (
    "DESCRIPTION:\\n\\nAnslut till Skype-möte<https://meet.lync.com/regionvastmanl\r\n"
    " and/annika/K4BJ3XQZ>\\nAnslut via telefon\\n+46 21 17 50 00 (Västerås)\\nKon\r\n"
    " ferens-ID: 84512377\\n[!OC([1053])!]\r\n"
)


def _at(days: int, hour: int) -> str:
    return f"{CUTOFF + dt.timedelta(days=days):%Y%m%d}T{hour:02d}0000"


def _event(uid: str, summary: str, days: int, hour: int, body: str, extra: str = "") -> str:
    return (
        "BEGIN:VEVENT\r\n"
        f"UID:{uid}\r\n"
        f"SUMMARY;LANGUAGE=sv-SE:{summary}\r\n"
        f"DTSTART;TZID=W. Europe Standard Time:{_at(days, hour)}\r\n"
        f"DTEND;TZID=W. Europe Standard Time:{_at(days, hour)[:-4]}3000\r\n"
        "DTSTAMP:20240410T081500Z\r\n"
        "ORGANIZER;CN=Annika Läkare:mailto:annika.lakare@regionvastmanland.se\r\n"
        'ATTENDEE;CN="Bertil Sjukgymnast";RSVP=TRUE:mailto:bertil.sjukgymnast@regionvastmanland.se\r\n'
        f"{body}{extra}"
        "END:VEVENT\r\n"
    )


def outlook_export(run: str) -> str:
    """outlook_export is a small Outlook calendar: a weekly Skype meeting (twice after the cut-off), a
    Skype meeting with a personnummer in its body, and a Teams meeting (not listed)."""
    return (
        "BEGIN:VCALENDAR\r\nPRODID:-//Microsoft Corporation//Outlook 16.0 MIMEDIR//EN\r\nVERSION:2.0\r\n"
        "METHOD:PUBLISH\r\n"
        + _event(
            f"weekly-{run}", "Veckomöte rehabteamet", 0, 10, BODY, SKYPE + "RRULE:FREQ=WEEKLY;COUNT=2\r\n"
        )
        + _event(
            f"pnr-{run}",
            "Återbesök",
            3,
            8,
            "DESCRIPTION:Gäller patient 19121212-1212.\\nJoin Skype Meeting<https://meet.regi\r\n"
            " onvastmanland.se/annika/9QX2LM4T>\r\n",
        )
        + _event(
            f"teams-{run}",
            "Teamsmöte om schemat",
            1,
            14,
            "DESCRIPTION:Microsoft Teams-möte\r\n",
            'X-MICROSOFT-ONLINEMEETINGINFORMATION:{"OnlineMeetingProvider":3}\r\n',
        )
        + "END:VCALENDAR\r\n"
    )


def sign_in_as_admin(page: Page) -> None:
    page.goto("/logga-in")
    page.get_by_label("Användarnamn").fill("admin")
    page.get_by_label("Lösenord").fill("demo")
    page.get_by_role("button", name="Logga in").click()
    expect(page).to_have_url(re.compile(r"/kalender$"))


def test_the_admin_uploads_an_export_sees_the_flags_and_rebooks(
    new_context: NewContext, steps: Callable[[str], Steps], tmp_path: Path
) -> None:
    shots = steps("skype-import")
    run = uuid.uuid4().hex[:8]
    good = tmp_path / "Annika Läkare.ics"
    good.write_bytes(outlook_export(run).encode())
    latin1 = tmp_path / "latin1.ics"
    latin1.write_bytes(outlook_export(run).encode("cp1252"))
    page = new_context().new_page()

    sign_in_as_admin(page)
    page.get_by_role("navigation", name="Huvudmeny").get_by_role("link", name="Skypemöten").click()
    expect(page.get_by_role("heading", name="Skypemöten efter brytdatumet", level=1)).to_be_visible()
    expect(page.get_by_label("Brytdatum")).to_have_value(f"{dt.datetime.now(STOCKHOLM).year}-06-01")
    shots.shot(page, "form")
    assert_accessible(page, "the Skype upload form")

    page.get_by_label("Kalenderfil (.ics)").set_input_files(str(latin1))
    page.get_by_label("Brytdatum").fill(CUTOFF.isoformat())
    page.get_by_role("button", name="Läs in").click()
    file_field = page.get_by_label("Kalenderfil (.ics)")
    expect(file_field).to_have_accessible_description(re.compile(r"Filen är inte kodad i UTF-8"))
    expect(page.get_by_label("Brytdatum")).to_have_value(CUTOFF.isoformat())
    shots.shot(page, "latin-1-refused")
    assert_accessible(page, "the Skype upload form with an error")

    file_field.set_input_files(str(good))
    page.get_by_role("button", name="Läs in").click()
    table = page.get_by_role("table", name="Skypemöten att boka om")
    expect(table).to_be_visible()
    rows = table.locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(rows.nth(0)).to_contain_text("Veckomöte rehabteamet")
    expect(rows.nth(0)).to_contain_text("återkommande")
    expect(rows.nth(1)).to_contain_text("Återbesök")
    expect(rows.nth(1)).to_contain_text("PERSONUPPGIFTER: personnummer (Meddelande)")
    expect(rows.nth(1)).to_contain_text("Bertil Sjukgymnast <bertil.sjukgymnast@regionvastmanland.se>")
    expect(page.get_by_text("19121212-1212")).to_have_count(0)
    expect(page.get_by_text("Teamsmöte om schemat")).to_have_count(0)
    expect(page.get_by_role("checkbox")).to_have_count(3)
    shots.shot(page, "listed")
    assert_accessible(page, "the Skype listing")

    page.get_by_role("checkbox").nth(2).uncheck()
    page.get_by_role("button", name="Boka om valda").click()
    expect(page.get_by_role("status").filter(has_text="möten är ombokade")).to_have_text(
        "2 möten är ombokade som Skyddat vårdmöte i Administratörs kalender."
    )
    results = page.get_by_role("table", name="Resultat av ombokningen")
    expect(results.locator("tbody tr")).to_have_count(2)
    expect(results).to_contain_text("Bertil Sjukgymnast <bertil.sjukgymnast@regionvastmanland.se>")
    shots.shot(page, "rebooked")
    assert_accessible(page, "the Skype rebooking result")

    results.get_by_role("link", name=re.compile("^öppna mötet Återbesök")).click()
    expect(page.get_by_role("heading", name="Återbesök", level=1)).to_be_visible()
    expect(page.get_by_text("Vårdmöte patient").first).to_be_visible()
    shots.shot(page, "new-meeting")
