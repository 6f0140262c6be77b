"""Every end and error page of the meeting (templates/_meeting_states.html), in Chromium.

Each test drives a real server with its embedded Janus and real Chromium to
one of the pages join.js ends on, with the patient on a phone (Pixel 5
emulation), and checks its heading, its "what to do" text and axe-core. The
screenshots go to test-artifacts/e2e/meeting-states/.

Chromium is the browser's own judge where it can be: camera permission is
refused by a Chromium launched without --use-fake-ui-for-media-stream
(headless Chromium then answers getUserMedia with NotAllowedError), and "no
camera" by one launched without --use-fake-device-for-media-stream (this
machine has none: NotFoundError). Only the old browser is imitated, by
removing RTCPeerConnection before the page loads; the product's own check
then runs.
"""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from playwright.sync_api import Browser, Page, Playwright, expect

from servers import Booking, Server, book_protected_meeting, serve

from .axe import assert_accessible
from .conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, NewContext, Steps, _contexts
from .test_meeting_pages import _context, _phone, _sign_in_and_start

# The server's sentences (rooms/room.py, meetings/links.py) that the pages show as they are.
LINK_GONE = (
    "Länken gäller inte längre. Mötet kan vara avslutat eller ändrat. "
    "Kontakta din mottagning om du behöver en ny länk."
)
ENDED_HOST_LEFT = "Vårdpersonalen har lämnat mötet, så mötet är avslutat."
CONTACT = "Du hittar mottagningens kontaktuppgifter i meddelandet där du fick länken."
HOST_LEFT_SECONDS = 6

# An old browser: no WebRTC.
WITHOUT_WEBRTC = "delete window.RTCPeerConnection; delete window.webkitRTCPeerConnection;"

# The resume tokens the page keeps (connection.js), by key.
RESUME_KEYS = "() => Object.keys(sessionStorage).filter((k) => k.startsWith('vardmote.resume.'))"


@pytest.fixture(scope="module")
def shots() -> Steps:
    """shots numbers every screenshot of this module into test-artifacts/e2e/meeting-states/."""
    folder = ARTIFACTS / "meeting-states"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Steps(folder)


@pytest.fixture(scope="module")
def quick_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """quick_server is a media server whose host-left countdown is HOST_LEFT_SECONDS, not 60."""
    var_dir = tmp_path_factory.mktemp("e2e-host-left") / "var"
    env = {"VARDMOTE_HOST_LEFT_SECONDS": str(HOST_LEFT_SECONDS)}
    with serve(var_dir, media=True, env=env) as server:
        yield server


@contextmanager
def _guarded(browser: Browser, server: Server) -> Iterator[NewContext]:
    """_guarded yields a maker of guarded contexts of browser against server (conftest's)."""
    yield from _contexts(browser, lambda: server.url)


@contextmanager
def _chromium(playwright: Playwright, server: Server, *, leave_out: str) -> Iterator[NewContext]:
    """_chromium launches a Chromium of the test's own, with CHROMIUM_ARGS except leave_out,
    and yields a maker of guarded contexts against server."""
    args = [a for a in CHROMIUM_ARGS if a != leave_out]
    assert len(args) == len(CHROMIUM_ARGS) - 1, leave_out
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=args)
    try:
        with _guarded(browser, server) as new_context:
            yield new_context
    finally:
        browser.close()


def _state_page(
    page: Page, heading: str, *texts: str, what: str, shots: Steps, shot: str, focused: bool = True
) -> None:
    """_state_page checks that page shows the state page with heading (focused, unless the
    page has just loaded) and nothing of the meeting's steps, each of texts, passes
    axe-core, and saves a screenshot."""
    expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
    if focused:
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_focused()
    assert page.evaluate("() => document.body.dataset.step") == "slut"
    shown = page.locator("section.step:visible")
    expect(shown).to_have_count(1)
    for text in texts:
        expect(shown.get_by_text(text)).to_be_visible()
    assert_accessible(page, what)
    shots.shot(page, shot)


def _reload_with(page: Page, button: str) -> None:
    """_reload_with presses a state page's button that loads the page again, and waits for it
    (join.js runs before "load"; a press on "Nästa" earlier would submit the bare form)."""
    with page.expect_navigation():
        page.get_by_role("button", name=button).click()


def _guest_to_setup(guest: Page, url: str, name: str = "Olle") -> None:
    """_guest_to_setup opens the link, gives the name and waits for "Anslut nu"."""
    guest.goto(url)
    guest.get_by_label("Ditt namn").fill(name)
    guest.get_by_role("button", name="Nästa").click()
    expect(guest.get_by_role("heading", name="Ställ in ljud och bild")).to_be_visible()
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()


def _guest_to_lobby(guest: Page, url: str, name: str = "Olle") -> None:
    _guest_to_setup(guest, url, name)
    guest.get_by_role("button", name="Anslut nu").click()
    expect(guest.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()


def _host_in_meeting(host: Page, meeting_id: str) -> None:
    """_host_in_meeting signs the clinician in and into the meeting, with the lobby empty."""
    _sign_in_and_start(host, meeting_id)
    expect(host.get_by_role("button", name="Anslut nu")).to_be_enabled()
    host.get_by_role("button", name="Anslut nu").click()
    expect(host.get_by_role("heading", name="I det här mötet (1)")).to_be_visible()


def _personal_link(server: Server, booking: Booking, recipient: str = "Patient") -> Booking:
    """_personal_link makes a personal link (one recipient) and returns the booking with it."""
    link = server.call(
        "POST", f"/api/v1/meetings/{booking.meeting_id}/links", {"recipient": recipient}, booking.session
    )
    url: str = link["url"]
    return booking._replace(guest_url=url, link=url.rsplit("/m/", 1)[1])


def _in_the_meeting(
    new_media_context: NewContext,
    playwright: Playwright,
    server: Server,
    title: str,
    *,
    personal: bool = False,
) -> tuple[Booking, Page, Page]:
    """_in_the_meeting books a meeting; the clinician starts it and lets Olle, on a phone, in
    (through the meeting's general link, or through a personal link of his own)."""
    booking = book_protected_meeting(server, title)
    if personal:
        booking = _personal_link(server, booking)
    guest = _context(new_media_context, **_phone(playwright)).new_page()
    host = _context(new_media_context, viewport={"width": 1366, "height": 860}).new_page()
    _host_in_meeting(host, booking.meeting_id)
    _guest_to_lobby(guest, booking.guest_url)
    host.get_by_role("button", name="Tillåt Olle").click()
    expect(host.get_by_role("heading", name="I det här mötet (2)")).to_be_visible()
    expect(guest.get_by_role("button", name="Lämna")).to_be_visible()
    return booking, guest, host


# ---- before the meeting: the browser and its camera -----------------------------------------------


def test_a_patient_who_refuses_the_camera_is_told_how_to_allow_it(
    media_server: Server, playwright: Playwright, shots: Steps
) -> None:
    booking = book_protected_meeting(media_server, "Behörighet nekad")
    with _chromium(playwright, media_server, leave_out="--use-fake-ui-for-media-stream") as new_context:
        guest = new_context(**_phone(playwright)).new_page()
        guest.goto(booking.guest_url)
        # The browser itself refuses: no stub of getUserMedia.
        refused = guest.evaluate(
            "() => navigator.mediaDevices.getUserMedia({video: true, audio: true})"
            ".then(() => 'granted', (e) => e.name)"
        )
        assert refused == "NotAllowedError"
        guest.get_by_label("Ditt namn").fill("Olle")
        guest.get_by_role("button", name="Nästa").click()
        _state_page(
            guest,
            "Vårdmöte får inte använda kameran eller mikrofonen",
            "För att delta behöver webbläsaren få använda kamera och mikrofon.",
            "Välj att tillåta kamera och mikrofon för den här sidan.",
            what="the camera-refused page",
            shots=shots,
            shot="patient-behorighet",
        )
        expect(guest.get_by_role("button", name="Försök igen")).to_be_visible()
        # "Försök igen" starts over, and the browser still refuses.
        _reload_with(guest, "Försök igen")
        expect(guest.get_by_label("Ditt namn")).to_have_value("Olle")
        guest.get_by_role("button", name="Nästa").click()
        expect(
            guest.get_by_role("heading", name="Vårdmöte får inte använda kameran eller mikrofonen")
        ).to_be_visible()


def test_a_patient_without_a_camera_is_told_to_connect_one(
    media_server: Server, playwright: Playwright, shots: Steps
) -> None:
    booking = book_protected_meeting(media_server, "Ingen kamera")
    with _chromium(playwright, media_server, leave_out="--use-fake-device-for-media-stream") as new_context:
        guest = new_context(**_phone(playwright)).new_page()
        guest.goto(booking.guest_url)
        found = guest.evaluate(
            "() => navigator.mediaDevices.getUserMedia({video: true, audio: true})"
            ".then(() => 'found', (e) => e.name)"
        )
        assert found == "NotFoundError"
        guest.get_by_label("Ditt namn").fill("Olle")
        guest.get_by_role("button", name="Nästa").click()
        _state_page(
            guest,
            "Ingen kamera eller mikrofon hittades",
            "Anslut en kamera och hörlurar med mikrofon",
            what="the no-camera page",
            shots=shots,
            shot="patient-inga-enheter",
        )
        expect(guest.get_by_role("button", name="Försök igen")).to_be_visible()


def test_a_browser_without_webrtc_is_told_to_use_another(
    media_server: Server, new_media_context: NewContext, playwright: Playwright, shots: Steps
) -> None:
    booking = book_protected_meeting(media_server, "Gammal webbläsare")
    context = new_media_context(**_phone(playwright))
    context.add_init_script(WITHOUT_WEBRTC)
    guest = context.new_page()
    guest.goto(booking.guest_url)
    _state_page(
        guest,
        "Din webbläsare kan inte användas för videomötet",
        "Öppna länken i en uppdaterad webbläsare",
        CONTACT,
        what="the unsupported-browser page",
        shots=shots,
        shot="patient-webblasare",
        focused=False,
    )
    expect(guest.get_by_label("Ditt namn")).to_be_hidden()


# ---- the link ---------------------------------------------------------------------------------------


def test_a_revoked_link_is_refused_before_and_after_the_set_up(
    media_server: Server, new_media_context: NewContext, playwright: Playwright, shots: Steps
) -> None:
    booking = book_protected_meeting(media_server, "Återkallad länk")
    guest = _context(new_media_context, **_phone(playwright)).new_page()
    _guest_to_setup(guest, booking.guest_url)

    # The clinician revokes the link while the patient is at "Ställ in ljud och bild".
    (link,) = [
        k
        for k in media_server.call(
            "GET", f"/api/v1/meetings/{booking.meeting_id}/links", token=booking.session
        )
        if k["active"]
    ]
    media_server.call(
        "POST", f"/api/v1/meetings/{booking.meeting_id}/links/{link['id']}/revoke", {}, booking.session
    )
    guest.get_by_role("button", name="Anslut nu").click()
    _state_page(
        guest,
        "Länken fungerar inte",
        LINK_GONE,
        CONTACT,
        what="the link-gone state page",
        shots=shots,
        shot="patient-lanken-vid-anslut",
    )
    expect(guest.get_by_role("link", name="Tillbaka till mötet i kalendern")).to_have_count(0)

    # Opened afresh, the link is refused by the server's own page.
    again = guest.context.new_page()
    response = again.goto(booking.guest_url)
    assert response is not None
    assert response.status == 410
    expect(again.get_by_role("heading", name="Länken fungerar inte", level=1)).to_be_visible()
    expect(again.get_by_text(LINK_GONE)).to_be_visible()
    expect(again.get_by_text(CONTACT)).to_be_visible()
    assert_accessible(again, "the server's link-gone page")
    shots.shot(again, "patient-lanken-oppnad")


# ---- how the meeting ends ---------------------------------------------------------------------------


def test_a_removed_patient_is_told_and_cannot_come_back(
    media_server: Server, new_media_context: NewContext, playwright: Playwright, shots: Steps
) -> None:
    # A personal link is barred once its holder is removed (the general link is not: see below).
    _, guest, host = _in_the_meeting(new_media_context, playwright, media_server, "Borttagen", personal=True)

    host.once("dialog", lambda confirm: confirm.accept())
    host.get_by_role("button", name="Ta bort från mötet Olle").click()
    expect(host.get_by_role("heading", name="I det här mötet (1)")).to_be_visible()
    _state_page(
        guest,
        "Du har tagits bort från mötet",
        "Vårdpersonalen har tagit bort dig från mötet.",
        "Om du tror att det är fel, kontakta mottagningen.",
        what="the removed page",
        shots=shots,
        shot="patient-borttagen",
    )
    assert guest.evaluate(RESUME_KEYS) == []

    # Loaded again and tried again: the server refuses, and the page says so.
    guest.reload()
    expect(guest.get_by_label("Ditt namn")).to_have_value("Olle")
    guest.get_by_role("button", name="Nästa").click()
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()
    guest.get_by_role("button", name="Anslut nu").click()
    expect(guest.get_by_role("heading", name="Du har tagits bort från mötet")).to_be_visible()
    expect(guest.get_by_role("heading", name="Du väntar i lobbyn")).to_be_hidden()
    expect(host.get_by_role("heading", name="Väntar i lobbyn (0)")).to_be_visible()


def test_a_meeting_ended_by_the_clinician_ends_for_both(
    media_server: Server, new_media_context: NewContext, playwright: Playwright, shots: Steps
) -> None:
    booking, guest, host = _in_the_meeting(new_media_context, playwright, media_server, "Avslutas")

    host.get_by_role("button", name="Avsluta mötet").click()
    dialog = host.get_by_role("dialog", name="Avsluta mötet för alla?")
    expect(dialog).to_be_visible()
    shots.shot(host, "vardgivare-avsluta-fragan")
    dialog.get_by_role("button", name="Avsluta mötet").click()

    _state_page(
        guest,
        "Mötet är avslutat",
        "Vårdpersonalen har avslutat mötet.",
        "Tack för att du deltog. Du kan stänga den här sidan.",
        "Har du frågor om mötet, kontakta mottagningen.",
        what="the patient's meeting-ended page",
        shots=shots,
        shot="patient-avslutat",
    )
    # The server's "Mötet är avslutat." would only repeat the heading.
    expect(guest.get_by_text("Mötet är avslutat.", exact=True)).to_have_count(0)
    _state_page(
        host,
        "Mötet är avslutat",
        "Mötet har avslutats för alla deltagare.",
        what="the clinician's meeting-ended page",
        shots=shots,
        shot="vardgivare-avslutat",
    )
    host.get_by_role("link", name="Tillbaka till mötet i kalendern").click()
    expect(host).to_have_url(re.compile(rf"/moten/{booking.meeting_id}$"))

    # Until a clinician starts it again, the link leads to the same page.
    guest.reload()
    guest.get_by_role("button", name="Nästa").click()
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()
    guest.get_by_role("button", name="Anslut nu").click()
    expect(guest.get_by_role("heading", name="Mötet är avslutat")).to_be_visible()
    expect(guest.get_by_text("Vårdpersonalen har avslutat mötet.")).to_be_visible()
    # Thanks are for those who took part; this page never got in.
    expect(guest.get_by_text("Tack för att du deltog.")).to_be_hidden()


def test_the_meeting_ends_when_the_clinician_leaves_and_does_not_return(
    quick_server: Server, browser: Browser, playwright: Playwright, shots: Steps
) -> None:
    with _guarded(browser, quick_server) as new_context:
        _, guest, host = _in_the_meeting(new_context, playwright, quick_server, "Värden går")
        host.get_by_role("button", name="Lämna").click()
        expect(host.get_by_role("heading", name="Du har lämnat mötet")).to_be_visible()
        expect(guest.locator("#vard-lamnat")).to_be_visible()
        assert 0 < int(guest.locator("#nedrakning").inner_text()) <= HOST_LEFT_SECONDS
        expect(guest.get_by_role("heading", name="Mötet är avslutat")).to_be_visible(
            timeout=(HOST_LEFT_SECONDS + 10) * 1000
        )
        _state_page(
            guest,
            "Mötet är avslutat",
            ENDED_HOST_LEFT,
            "Tack för att du deltog.",
            what="the host-left meeting-ended page",
            shots=shots,
            shot="patient-avslutat-vardgivaren-gick",
        )


def test_a_patient_who_opens_the_meeting_again_is_told_on_the_first_page(
    media_server: Server, new_media_context: NewContext, playwright: Playwright, shots: Steps
) -> None:
    # A personal link is one person: opened again, the new page takes the place.
    booking, guest, host = _in_the_meeting(
        new_media_context, playwright, media_server, "Annan flik", personal=True
    )

    second = guest.context.new_page()
    _guest_to_lobby(second, booking.guest_url)
    _state_page(
        guest,
        "Mötet öppnades i ett annat fönster",
        "Du är med i mötet från ett annat fönster eller en annan enhet.",
        what="the taken-over page",
        shots=shots,
        shot="patient-annan-flik",
    )
    # A new connection does not inherit admission: the second page waits in the lobby.
    expect(host.get_by_role("heading", name="Väntar i lobbyn (1)")).to_be_visible()
    expect(host.get_by_role("heading", name="I det här mötet (1)")).to_be_visible()

    # "Anslut här" takes the place back from the second page.
    _reload_with(guest, "Anslut här")
    guest.get_by_role("button", name="Nästa").click()
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()
    guest.get_by_role("button", name="Anslut nu").click()
    expect(guest.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()
    expect(second.get_by_role("heading", name="Mötet öppnades i ett annat fönster")).to_be_visible()


def test_two_people_on_the_general_link_are_two_participants(
    media_server: Server, new_media_context: NewContext, playwright: Playwright
) -> None:
    # A patient and a relative at two phones, both with the meeting's general link: neither
    # pushes the other out, and removing one does not bar the link for the other.
    booking, patient, host = _in_the_meeting(new_media_context, playwright, media_server, "Tillsammans")
    relative = _context(new_media_context, **_phone(playwright)).new_page()
    _guest_to_lobby(relative, booking.guest_url, name="Maria")
    expect(host.get_by_role("heading", name="Väntar i lobbyn (1)")).to_be_visible()
    host.get_by_role("button", name="Tillåt Maria").click()
    expect(host.get_by_role("heading", name="I det här mötet (3)")).to_be_visible()
    expect(patient.get_by_role("button", name="Lämna")).to_be_visible()
    expect(patient.get_by_role("heading", name="Mötet öppnades i ett annat fönster")).to_be_hidden()

    host.once("dialog", lambda confirm: confirm.accept())
    host.get_by_role("button", name="Ta bort från mötet Olle").click()
    expect(patient.get_by_role("heading", name="Du har tagits bort från mötet")).to_be_visible()
    expect(relative.get_by_role("button", name="Lämna")).to_be_visible()
    expect(host.get_by_role("heading", name="I det här mötet (2)")).to_be_visible()


def test_a_patient_who_leaves_can_join_again_through_the_lobby(
    media_server: Server, new_media_context: NewContext, playwright: Playwright, shots: Steps
) -> None:
    _, guest, host = _in_the_meeting(new_media_context, playwright, media_server, "Lämnar")

    guest.get_by_role("button", name="Lämna").click()
    _state_page(
        guest,
        "Du har lämnat mötet",
        "Om du lämnade av misstag kan du ansluta igen.",
        what="the left page",
        shots=shots,
        shot="patient-lamnat",
    )
    expect(host.get_by_role("heading", name="I det här mötet (1)")).to_be_visible()
    assert guest.evaluate(RESUME_KEYS) == []

    # "Anslut igen" starts from the beginning, and the place left is not taken back: the lobby again.
    _reload_with(guest, "Anslut igen")
    expect(guest.get_by_role("heading", name="Hej. Vad heter du?")).to_be_visible()
    expect(guest.get_by_label("Ditt namn")).to_have_value("Olle")
    guest.get_by_role("button", name="Nästa").click()
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()
    guest.get_by_role("button", name="Anslut nu").click()
    expect(guest.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()
    expect(host.get_by_role("heading", name="Väntar i lobbyn (1)")).to_be_visible()
    expect(host.get_by_role("heading", name="I det här mötet (1)")).to_be_visible()


def test_a_patient_arriving_at_a_locked_meeting_is_told_to_wait(
    media_server: Server, new_media_context: NewContext, playwright: Playwright, shots: Steps
) -> None:
    booking = book_protected_meeting(media_server, "Låst möte")
    guest = _context(new_media_context, **_phone(playwright)).new_page()
    host = _context(new_media_context, viewport={"width": 1366, "height": 860}).new_page()
    _host_in_meeting(host, booking.meeting_id)
    host.get_by_role("button", name="Mötesinställningar").click()
    settings = host.get_by_role("dialog", name="Mötesinställningar")
    settings.get_by_label("Lås mötet").check()
    settings.get_by_role("button", name="Stäng").click()

    _guest_to_setup(guest, booking.guest_url)
    guest.get_by_role("button", name="Anslut nu").click()
    _state_page(
        guest,
        "Mötet är låst",
        "Vårdpersonalen har låst mötet, så inga fler kan ansluta just nu.",
        CONTACT,
        what="the locked page",
        shots=shots,
        shot="patient-last",
    )
    expect(guest.get_by_role("button", name="Försök igen")).to_be_visible()
    expect(host.get_by_role("heading", name="Väntar i lobbyn (0)")).to_be_visible()
