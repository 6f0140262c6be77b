"""Sending the link, walked through in Chromium as the issue's "done when" says (issue 5).

Annika (clinician) has a meeting for Olle, nine, and sends the link from the meeting page:
to Olle's own inbox (under 13, so his guardian reads it as ombud), and as a calendar
invitation to the social services — first with Olle's personnummer in her message, which is
refused with "Inga personuppgifter får förekomma i mötesinbjudan", then without. The
invitation arrives at a real SMTP server (aiosmtpd) as an iCalendar REQUEST with no personal
data in it. Maria, Olle's mother, signs in to the inbox on her phone with the demo test
e-identification, acts as ombud for Olle, opens the unread message and follows
"» Anslut till videomötet" to the join page; she waits in the lobby, and Annika sees that she
came on the link sent to the patient. Screenshots of every step go to test-artifacts/e2e/.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from typing import Any

import pytest
from playwright.sync_api import Page, Playwright, expect

from servers import Server, book_protected_meeting, serve
from smtp_helpers import SmtpInbox, calendar_part, event_of

from .axe import assert_accessible
from .conftest import NewContext, Steps

pytestmark = [pytest.mark.e2e, pytest.mark.media]

OLLE = "20170101-2393"
"""The demo child (born 1 January 2017): Skatteverket's test personnummer."""
MARIA = "19870521-2382"
"""Olle's mother, his guardian, in the demo data."""
SOCIAL_SERVICES = "socialtjansten@vasteras.example.se"


@pytest.fixture(scope="module")
def mail_and_server(
    tmp_path_factory: pytest.TempPathFactory, smtp_server_module: tuple[SmtpInbox, int]
) -> Iterator[tuple[SmtpInbox, Server]]:
    """A demo server with media on that sends its invitations to the test's SMTP server."""
    inbox, port = smtp_server_module
    env = {"VARDMOTE_SMTP_HOST": "127.0.0.1", "VARDMOTE_SMTP_PORT": str(port), "VARDMOTE_SMTP_STARTTLS": "0"}
    with serve(tmp_path_factory.mktemp("e2e-sending") / "var", media=True, env=env) as server:
        yield inbox, server


@pytest.fixture(scope="module")
def smtp_server_module() -> Iterator[tuple[SmtpInbox, int]]:
    """smtp_server_module is a real SMTP server on 127.0.0.1 for the whole module."""
    from aiosmtpd.controller import Controller

    from smtp_helpers import free_port

    inbox = SmtpInbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield inbox, port
    finally:
        controller.stop()


def _sign_in(page: Page) -> None:
    page.goto("/logga-in")
    page.get_by_label("Användarnamn").fill("annika")
    page.get_by_label("Lösenord").fill("demo")
    page.get_by_role("button", name="Logga in").click()
    expect(page).to_have_url(re.compile(r"/kalender"))


def _no_sideways_scroll(page: Page, what: str) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{what} scrolls sideways: {widths[0]} px wide in {widths[1]} px"


def _phone(playwright: Playwright) -> dict[str, Any]:
    return {k: v for k, v in playwright.devices["Pixel 5"].items() if k != "default_browser_type"}


def _the_invitation(inbox: SmtpInbox) -> EmailMessage:
    inbox.wait_for(1)  # the server's outbox worker sends it after the page answered
    (message,) = inbox.messages()
    return message


def test_a_clinician_sends_the_link_and_the_guardian_follows_it_as_ombud(
    mail_and_server: tuple[SmtpInbox, Server],
    new_context: NewContext,
    playwright: Playwright,
    steps: Callable[[str], Steps],
) -> None:
    inbox, server = mail_and_server
    shots: Steps = steps("sending-the-link")
    booking = book_protected_meeting(server, "Uppföljning allergiutredning", days=1)

    clinician_context = new_context(base_url=server.url)
    clinician_context.set_default_timeout(15_000)
    annika = clinician_context.new_page()
    _sign_in(annika)
    annika.goto(f"/moten/{booking.meeting_id}")
    send = annika.locator("#skicka")
    expect(send.get_by_role("heading", name="Skicka anslutningslänk/mötesinbjudan")).to_be_visible()
    shots.shot(annika, "motet-skicka-anslutningslank")

    # To the child's own inbox: under 13, the guardian reads it as ombud.
    to_inbox = annika.locator("#skicka-inkorg")
    to_inbox.get_by_role("radio", name="Patient").check()
    to_inbox.get_by_label("Personnummer").fill(OLLE)
    expect(to_inbox.get_by_label("Mall")).to_have_value("skyddat-digitalt-vardmote")
    to_inbox.get_by_label("Lägg till stycket ”Anslut tillsammans”").check()
    to_inbox.get_by_role("button", name="Skicka meddelande").click()
    expect(annika.get_by_role("status")).to_contain_text("Patienten är under 13 år")
    expect(send.get_by_text("Meddelande i inkorgen · 20170101-****")).to_be_visible()
    assert OLLE not in annika.content()
    shots.shot(annika, "meddelande-till-barnets-inkorg")

    # The calendar invitation to the social services: Olle's number in the message is refused.
    to_calendar = annika.locator("#skicka-kalender")
    to_calendar.get_by_role("radio", name="Extern part").check()
    to_calendar.get_by_label("E-postadress (organisationens, inte en patients)").fill(SOCIAL_SERVICES)
    to_calendar.get_by_label("Meddelande (valfritt)").fill(f"Gäller patient {OLLE}. Välkomna!")
    to_calendar.get_by_role("button", name="Skicka kalenderinbjudan").click()
    refusal = annika.get_by_role("alert")
    expect(refusal).to_contain_text("Inga personuppgifter får förekomma i mötesinbjudan")
    expect(refusal).to_contain_text(f'Ta bort "{OLLE}" ur Meddelande.')
    expect(annika.get_by_label("Meddelande (valfritt)")).to_have_value(f"Gäller patient {OLLE}. Välkomna!")
    expect(annika.get_by_label("Meddelande (valfritt)")).to_have_attribute("aria-invalid", "true")
    assert inbox.messages() == []
    assert_accessible(annika, "the refused invitation")
    shots.shot(annika, "inbjudan-med-personnummer-nekas")

    annika.get_by_label("Meddelande (valfritt)").fill("Välkomna! Vi börjar med en kort presentationsrunda.")
    annika.locator("#skicka-kalender").get_by_role("button", name="Skicka kalenderinbjudan").click()
    expect(annika.get_by_role("status")).to_have_text(
        "Kalenderinbjudan är på väg. Om den inte kommer fram står det vid mottagaren nedan."
    )
    shots.shot(annika, "kalenderinbjudan-skickad")

    # What arrived at the SMTP server: a REQUEST Outlook takes, without personal data.
    message = _the_invitation(inbox)
    part = calendar_part(message)
    assert part.get_content_type() == "text/calendar"
    assert part.get_param("method") == "REQUEST"
    assert part.get_content_charset() == "utf-8"
    calendar, event = event_of(message)
    assert calendar["METHOD"] == "REQUEST"
    assert re.fullmatch(re.escape(booking.meeting_id) + r"-\d+@vardmote", str(event["UID"]))  # her own event
    assert SOCIAL_SERVICES in str(event["ATTENDEE"])
    description = str(event["DESCRIPTION"])
    assert re.search(re.escape(server.url) + r"/m/[A-Za-z0-9_-]{43}", description)
    assert booking.guest_url not in description
    everything = message.as_string() + part.get_payload(decode=True).decode("utf-8")  # type: ignore[union-attr]
    for personal in ("Olle", "Maria", "Andersson", OLLE, OLLE.replace("-", ""), OLLE[2:]):
        assert personal not in everything, f"{personal!r} is in the invitation"

    # Maria signs in on her phone, acts as ombud for Olle and opens the message.
    phone = new_context(**_phone(playwright), base_url=server.url)
    phone.set_default_timeout(15_000)
    maria = phone.new_page()
    maria.goto("/inkorg")
    expect(maria.get_by_role("heading", name="Logga in i inkorgen")).to_be_visible()
    maria.get_by_label("Personnummer").fill(MARIA)
    maria.get_by_role("button", name="Logga in").click()
    expect(maria.get_by_role("heading", name="Start")).to_be_visible()
    shots.shot(maria, "inkorg-start-vardnadshavare")
    maria.get_by_role("button", name=re.compile(r"^Agera ombud för Olle")).click()
    expect(maria.get_by_text("Du agerar ombud för Olle och ser barnets inkorg.")).to_be_visible()
    shots.shot(maria, "inkorg-agerar-ombud")
    maria.get_by_role("link", name=re.compile(r"^Inkorg")).first.click()
    expect(maria.get_by_role("heading", name="Inkorg")).to_be_visible()
    expect(maria.get_by_text("OLÄST", exact=True)).to_be_visible()
    expect(maria.locator("#innehall").get_by_text("1 oläst")).to_be_visible()
    assert_accessible(maria, "the child's inbox")
    _no_sideways_scroll(maria, "the inbox")
    shots.shot(maria, "inkorg-olast")
    maria.get_by_role("link", name=re.compile("Skyddat digitalt vårdmöte")).first.click()
    expect(maria.get_by_role("heading", name="Skyddat digitalt vårdmöte", exact=True)).to_be_visible()
    expect(maria.get_by_text("Tid: klockan 09:00")).to_be_visible()
    expect(maria.get_by_text(re.compile(r"Datum: \d{4}-\d{2}-\d{2}"))).to_be_visible()
    expect(maria.get_by_role("heading", name="Anslut tillsammans")).to_be_visible()
    expect(maria.get_by_role("heading", name="Så ansluter du")).to_be_visible()
    assert_accessible(maria, "the message")
    _no_sideways_scroll(maria, "the message")
    shots.shot(maria, "meddelandet")
    maria.get_by_role("link", name="Inkorg", exact=False).first.click()
    expect(maria.get_by_text("OLÄST", exact=True)).to_have_count(0)

    # She follows the link to the join page and waits in the lobby.
    maria.go_back()
    maria.get_by_role("link", name="» Anslut till videomötet").click()
    expect(
        maria.get_by_role("heading", name="Välkommen till ditt videomöte med Region Västmanland")
    ).to_be_visible()
    shots.shot(maria, "anslutningssidan")
    maria.get_by_label("Ditt namn").fill("Maria")
    maria.get_by_role("button", name="Nästa").click()
    maria.get_by_role("button", name="Anslut nu").click()
    expect(maria.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()

    # Annika starts the meeting and sees what Maria's link was sent as.
    annika.goto(f"/moten/{booking.meeting_id}")
    annika.get_by_role("link", name="Starta möte").click()
    annika.get_by_role("button", name="Anslut nu").click()
    lobby = annika.locator("#lista-lobby")
    expect(lobby.locator(".person-name")).to_have_text("Maria, Inbjuden som: Patient")
    expect(lobby.get_by_role("button", name="Tillåt Maria")).to_be_visible()
    shots.shot(annika, "lobbyn-inbjuden-som")
