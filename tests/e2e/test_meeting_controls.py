"""The host's controls, the chat and the anonymous information meeting, in Chromium (issue 4).

A clinician (Annika, desktop) runs the meeting; patients join from phones
(Pixel 5): Olle, Sara and, where a third is needed, Kim. Each test books its
own meeting on the shared media server and saves its screenshots in its own
folder under test-artifacts/e2e/; every state reached is checked with axe-core.

What the server enforces is read from the browsers themselves: a host mute by
the audio the host still receives (getStats), the floor of an anonymous
meeting by the video frames the host decodes.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Locator, Page, Playwright, expect

from servers import Booking, Server, book_protected_meeting

from .axe import assert_accessible
from .conftest import NewContext, Steps
from .test_meeting_pages import (
    FRAMES_DECODED,
    VIDEO_PLAYING,
    _context,
    _frames_decoded,
    _phone,
    _sign_in_and_start,
)

INFORMATION_MEETING = "informationsmote_patient"
"""The type whose policy is anonymous (attendees see only the hosts); its limit is configurable."""

# The audio energy the page has received so far from the participant whose camera tile has the name,
# matched through the tile's audio track (trackIdentifier of inbound-rtp); null if there is none yet.
AUDIO_ENERGY_FROM = """
async (name) => {
  const tile = [...document.querySelectorAll("#videor li[data-kind='camera']")]
    .find((li) => li.textContent.includes(name));
  const track = tile?.querySelector("video")?.srcObject?.getAudioTracks()[0];
  if (!track) return null;
  let energy = null;
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "audio" && s.trackIdentifier === track.id) {
        energy = (energy ?? 0) + (s.totalAudioEnergy || 0);
      }
    });
  }
  return energy;
}
"""


@pytest.fixture
def host_page(new_media_context: NewContext) -> Page:
    """host_page is the clinician's desktop browser."""
    return _context(new_media_context, viewport={"width": 1366, "height": 860}).new_page()


@pytest.fixture
def phone_page(new_media_context: NewContext, playwright: Playwright) -> Callable[[], Page]:
    """phone_page() opens a new patient's phone browser (its own cookies: a new person)."""
    return lambda: _context(new_media_context, **_phone(playwright)).new_page()


def _personal_link(server: Server, booking: Booking, recipient: str) -> str:
    """_personal_link makes a link for one more person: one link is one person in the meeting, so
    a second patient cannot use the first one's (the first would be taken over)."""
    link = server.call(
        "POST", f"/api/v1/meetings/{booking.meeting_id}/links", {"recipient": recipient}, booking.session
    )
    url: str = link["url"]
    return url


def _host_joins(host: Page, meeting_id: str) -> None:
    """The clinician signs in, starts the meeting and is in it (hosts skip the lobby)."""
    _sign_in_and_start(host, meeting_id)
    expect(host.get_by_role("button", name="Anslut nu")).to_be_enabled()
    host.get_by_role("button", name="Anslut nu").click()
    expect(host.get_by_role("heading", name="Deltagare", exact=True)).to_be_visible()


def _guest_asks_to_join(guest: Page, guest_url: str, name: str) -> None:
    """A patient opens the link, gives their name and presses "Anslut nu"."""
    guest.goto(guest_url)
    guest.get_by_label("Ditt namn").fill(name)
    guest.get_by_role("button", name="Nästa").click()
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()
    guest.get_by_role("button", name="Anslut nu").click()


def _guest_to_lobby(guest: Page, guest_url: str, name: str) -> None:
    _guest_asks_to_join(guest, guest_url, name)
    expect(guest.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()


def _admit(host: Page, guest: Page, name: str) -> None:
    """The host lets name in from the lobby; the guest's meeting page opens."""
    host.get_by_role("button", name=f"Tillåt {name}").click()
    expect(guest.get_by_role("button", name="Räck upp handen")).to_be_visible()


def _row(host: Page, name: str) -> Locator:
    return host.locator("#lista-motet li", has_text=name)


def _audio_energy(page: Page, name: str, timeout: float = 15.0) -> float:
    """_audio_energy is the audio energy received from name so far (waits for the audio track)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        energy = page.evaluate(AUDIO_ENERGY_FROM, name)
        if energy is not None:
            return float(energy)
        time.sleep(0.25)
    pytest.fail(f"no audio track from {name} in {timeout:.0f} s")


def _audio_in(page: Page, name: str, seconds: float = 3.0) -> float:
    """_audio_in is the audio energy received from name during the next seconds."""
    before = _audio_energy(page, name)
    time.sleep(seconds)
    return _audio_energy(page, name) - before


def _frames_settle(page: Page, who: str, timeout: float = 15.0) -> int:
    """_frames_settle waits until the video frames page decodes stop growing for 1.5 s."""
    deadline = time.monotonic() + timeout
    frames = int(page.evaluate(FRAMES_DECODED))
    while time.monotonic() < deadline:
        time.sleep(1.5)
        now = int(page.evaluate(FRAMES_DECODED))
        if now == frames:
            return now
        frames = now
    pytest.fail(f"{who} still decodes video after {timeout:.0f} s (frames {frames})")


def test_guest_and_host_chat_and_a_too_long_message_is_refused_plainly(
    media_server: Server, host_page: Page, phone_page: Callable[[], Page], steps: Callable[[str], Steps]
) -> None:
    booking = book_protected_meeting(media_server, "Chatt med patient")
    s = steps("meeting-controls-chat")
    host, olle = host_page, phone_page()
    _host_joins(host, booking.meeting_id)
    _guest_to_lobby(olle, booking.guest_url, "Olle")
    _admit(host, olle, "Olle")

    # The patient opens the chat and writes: the button, then Enter.
    olle.get_by_role("button", name="Chatt").click()
    expect(olle.get_by_role("button", name="Chatt")).to_have_attribute("aria-expanded", "true")
    expect(olle.get_by_label("Meddelande")).to_be_focused()
    olle.get_by_label("Meddelande").fill("Hej! Jag hör er bra.")
    olle.get_by_role("button", name="Skicka").click()
    expect(olle.get_by_label("Meddelande")).to_have_value("")
    olle.get_by_label("Meddelande").fill("Ska jag ha läkemedelslistan framme?")
    olle.get_by_label("Meddelande").press("Enter")
    olle_log = olle.locator("#chatt-lista li")
    expect(olle_log).to_have_count(2)

    # The clinician's chat is closed: an unread count on the button, then the messages with the name.
    expect(host.get_by_role("button", name="Chatt 2 nya")).to_be_visible()
    assert_accessible(host, "the host with unread chat messages")
    s.shot(host, "vardgivare-olasta-meddelanden")
    host.get_by_role("button", name="Chatt 2 nya").click()
    host_log = host.locator("#chatt-lista li")
    expect(host_log).to_have_count(2)
    expect(host_log.nth(0)).to_contain_text("Olle")
    expect(host_log.nth(0)).to_contain_text("Hej! Jag hör er bra.")
    expect(host_log.nth(1)).to_contain_text("Ska jag ha läkemedelslistan framme?")
    expect(host.get_by_role("button", name="Chatt", exact=True)).to_be_visible()
    host.get_by_label("Meddelande").fill("Ja, gärna.")
    host.get_by_label("Meddelande").press("Enter")
    expect(olle_log).to_have_count(3)
    expect(olle_log.nth(2)).to_contain_text("Annika Berg (mötesorganisatör)")
    expect(olle_log.nth(2)).to_contain_text("Ja, gärna.")
    assert_accessible(host, "the host's open chat")
    assert_accessible(olle, "the patient's open chat")
    s.shot(host, "vardgivare-chatt")
    s.shot(olle, "patient-chatt")

    # With the patient's chat closed, the next answer shows as unread there too.
    olle.get_by_role("button", name="Chatt").click()
    expect(olle.locator("#chatt")).to_be_hidden()
    host.get_by_label("Meddelande").fill("Vi börjar om en minut.")
    host.get_by_role("button", name="Skicka").click()
    expect(olle.get_by_role("button", name="Chatt 1 nytt")).to_be_visible()
    assert_accessible(olle, "the patient with an unread chat message")
    s.shot(olle, "patient-olast-meddelande")
    olle.get_by_role("button", name="Chatt 1 nytt").click()
    expect(olle_log).to_have_count(4)

    # 2001 characters (the field stops typing at 2000; a paste by script does not): the server refuses
    # it, the page says so in Swedish, the text stays in the field and the log keeps what it had.
    field = olle.get_by_label("Meddelande")
    too_long = "a" * 2001
    field.evaluate("(area, text) => { area.value = text; }", too_long)
    olle.get_by_role("button", name="Skicka").click()
    refusal = olle.locator("#chatt-fel")
    expect(refusal).to_be_visible()
    expect(refusal).to_have_text(
        "Meddelandet skickades inte. Ett chattmeddelande ska ha 1–2000 tecken.", use_inner_text=True
    )
    expect(olle.locator("#viktiga-meddelanden")).to_contain_text("Meddelandet skickades inte.")
    expect(field).to_have_value(too_long)
    expect(olle_log).to_have_count(4)
    expect(host_log).to_have_count(4)
    assert_accessible(olle, "the patient's refused chat message")
    s.shot(olle, "patient-for-langt-meddelande")

    # Shortened, it goes, and the refusal goes away.
    field.fill("Tack, då vet jag.")
    field.press("Enter")
    expect(olle_log).to_have_count(5)
    expect(host_log).to_have_count(5)
    expect(refusal).to_be_hidden()
    expect(host_log.nth(4)).to_contain_text("Tack, då vet jag.")


def test_host_mutes_one_guest_prevents_unmuting_and_lowers_a_hand(
    media_server: Server, host_page: Page, phone_page: Callable[[], Page], steps: Callable[[str], Steps]
) -> None:
    booking = book_protected_meeting(media_server, "Behandlingsgrupp")
    s = steps("meeting-controls-mute-hands")
    host, olle, sara = host_page, phone_page(), phone_page()
    _host_joins(host, booking.meeting_id)
    _guest_to_lobby(olle, booking.guest_url, "Olle")
    _guest_to_lobby(sara, _personal_link(media_server, booking, "Närstående"), "Sara")
    expect(host.get_by_role("heading", name="Väntar i lobbyn (2)")).to_be_visible()
    _admit(host, olle, "Olle")
    _admit(host, sara, "Sara")
    expect(host.get_by_role("heading", name="I det här mötet (3)")).to_be_visible()
    expect(host.get_by_role("button", name="3 Deltagare")).to_be_visible()
    # The server forwards both patients' sound before anyone is muted.
    assert _audio_in(host, "Olle") > 0, "the host hears nothing from Olle before the mute"

    olle_mic = olle.get_by_role("button", name="Mikrofon", exact=True)
    sara_mic = sara.get_by_role("button", name="Mikrofon", exact=True)

    # "Tysta Olle" mutes Olle only.
    host.get_by_role("button", name="Tysta Olle").click()
    expect(olle_mic).to_have_attribute("aria-pressed", "false")
    expect(olle.locator("#egen-status")).to_contain_text("Mikrofonen är avstängd av vårdpersonalen")
    expect(olle.locator("#notis")).to_contain_text("Du kan slå på den igen")
    expect(_row(host, "Olle").get_by_role("img", name="Mikrofon avstängd av värd")).to_be_visible()
    expect(_row(host, "Sara").get_by_role("img", name="Mikrofon på")).to_be_visible()
    expect(host.get_by_role("img", name="Mikrofon avstängd av värd")).to_have_count(1)
    expect(sara_mic).to_have_attribute("aria-pressed", "true")
    expect(host.get_by_role("button", name="Tysta Olle")).to_have_count(0)
    assert_accessible(host, "the host after muting one guest")
    assert_accessible(olle, "the muted guest")
    s.shot(host, "vardgivare-tystade-olle")
    s.shot(olle, "olle-tystad")

    # By default Olle may turn it on again himself.
    olle_mic.click()
    expect(olle_mic).to_have_attribute("aria-pressed", "true")
    expect(_row(host, "Olle").get_by_role("img", name="Mikrofon på")).to_be_visible()

    # Now the host prevents it and mutes him again: his "Mikrofon" is refused and stays off.
    host.get_by_role("button", name="Mötesinställningar").click()
    dialog = host.get_by_role("dialog", name="Mötesinställningar")
    expect(dialog).to_be_visible()
    prevent = dialog.get_by_label("Hindra gäster från att slå på mikrofonen")
    prevent.check()
    assert_accessible(host, "the meeting settings")
    s.shot(host, "vardgivare-installningar")
    dialog.get_by_role("button", name="Stäng").click()
    expect(dialog).to_be_hidden()
    host.get_by_role("button", name="Tysta Olle").click()
    expect(olle_mic).to_have_attribute("aria-pressed", "false")
    expect(olle.locator("#notis")).to_contain_text("I det här mötet kan du inte slå på den själv.")
    olle.locator("#notis").evaluate("(n) => { n.hidden = true; }")
    olle_mic.click()
    refusal = "Vårdpersonalen har stängt av din mikrofon. I det här mötet kan du inte slå på den själv."
    expect(olle.locator("#notis")).to_have_text(refusal)
    expect(olle.locator("#viktiga-meddelanden")).to_have_text(refusal)
    expect(olle_mic).to_have_attribute("aria-pressed", "false")
    expect(_row(host, "Olle").get_by_role("img", name="Mikrofon avstängd av värd")).to_be_visible()
    assert_accessible(olle, "the guest refused to unmute")
    s.shot(olle, "olle-far-inte-sla-pa-mikrofonen")

    # Janus keeps him muted even if his browser sends sound anyway (its track turned back on by force):
    # the host receives no audio energy from Olle, while Sara's still comes through.
    olle.evaluate("() => document.querySelector('#egen-bild').srcObject.getAudioTracks()[0].enabled = true")
    assert _audio_in(host, "Sara") > 0, "the host hears nothing from Sara: the measurement is not working"
    assert _audio_in(host, "Olle") == pytest.approx(0, abs=1e-6), "Olle is heard although a host muted him"
    olle.evaluate("() => document.querySelector('#egen-bild').srcObject.getAudioTracks()[0].enabled = false")

    # Hands in the order raised; the host lowers Sara's.
    sara.get_by_role("button", name="Räck upp handen").click()
    expect(host.get_by_role("heading", name="Räckte upp handen (1)")).to_be_visible()
    olle.get_by_role("button", name="Räck upp handen").click()
    expect(host.get_by_role("heading", name="Räckte upp handen (2)")).to_be_visible()
    expect(host.locator("#lista-hander li")).to_have_text([re.compile("^Sara"), re.compile("^Olle")])
    expect(sara.get_by_role("button", name="Ta ner handen")).to_be_visible()
    assert_accessible(host, "the host with two raised hands")
    s.shot(host, "vardgivare-tva-hander")
    s.shot(sara, "sara-handen-uppe")
    host.get_by_role("button", name="Ta ner handen Sara").click()
    expect(host.get_by_role("heading", name="Räckte upp handen (1)")).to_be_visible()
    expect(host.locator("#lista-hander li")).to_have_text([re.compile("^Olle")])
    expect(sara.get_by_role("button", name="Räck upp handen")).to_be_visible()
    expect(sara.get_by_role("button", name="Räck upp handen")).to_have_attribute("aria-pressed", "false")
    expect(olle.get_by_role("button", name="Ta ner handen")).to_be_visible()
    s.shot(host, "vardgivare-sankte-saras-hand")


def test_a_locked_meeting_turns_new_guests_away_until_it_is_unlocked(
    media_server: Server, host_page: Page, phone_page: Callable[[], Page], steps: Callable[[str], Steps]
) -> None:
    booking = book_protected_meeting(media_server, "Låst möte")
    s = steps("meeting-controls-lock")
    host, olle, kim = host_page, phone_page(), phone_page()
    _host_joins(host, booking.meeting_id)
    _guest_to_lobby(olle, booking.guest_url, "Olle")
    _admit(host, olle, "Olle")

    host.get_by_role("button", name="Mötesinställningar").click()
    dialog = host.get_by_role("dialog", name="Mötesinställningar")
    dialog.get_by_label("Lås mötet").check()
    dialog.get_by_role("button", name="Stäng").click()
    expect(host.get_by_role("button", name="Mötesinställningar")).to_be_focused()

    kim_link = _personal_link(media_server, booking, "Närstående")
    _guest_asks_to_join(kim, kim_link, "Kim")
    expect(kim.get_by_role("heading", name="Mötet är låst")).to_be_visible()
    expect(host.get_by_role("heading", name="Väntar i lobbyn (0)")).to_be_visible()
    assert "Kim" not in host.locator("#deltagare").inner_text()
    assert_accessible(kim, "the locked meeting page")
    s.shot(kim, "kim-motet-ar-last")
    s.shot(host, "vardgivare-last-mote")

    host.get_by_role("button", name="Mötesinställningar").click()
    expect(dialog.get_by_label("Lås mötet")).to_be_checked()
    dialog.get_by_label("Lås mötet").uncheck()
    dialog.get_by_role("button", name="Stäng").click()
    kim.get_by_role("button", name="Försök igen").click()
    _guest_to_lobby(kim, kim_link, "Kim")
    expect(host.get_by_role("heading", name="Väntar i lobbyn (1)")).to_be_visible()
    expect(host.locator("#lista-lobby")).to_contain_text("Kim")
    s.shot(kim, "kim-i-lobbyn")


@pytest.fixture
def limit_of_two(media_server: Server) -> Iterator[None]:
    """limit_of_two lowers the information meeting's participant limit to 2 as the administrator,
    and puts it back afterwards (the server is shared by the whole test package)."""
    admin = media_server.sign_in("admin", "demo")
    (before,) = [
        t
        for t in media_server.call("GET", "/api/v1/meeting-types", token=admin)
        if t["key"] == INFORMATION_MEETING
    ]
    media_server.call(
        "PATCH", f"/api/v1/meeting-types/{INFORMATION_MEETING}", {"participant_limit": 2}, admin
    )
    try:
        yield
    finally:
        media_server.call(
            "PATCH",
            f"/api/v1/meeting-types/{INFORMATION_MEETING}",
            {"participant_limit": before["participant_limit"]},
            admin,
        )


def test_admitting_beyond_the_limit_shows_the_reason_and_the_guest_keeps_waiting(
    media_server: Server,
    limit_of_two: None,
    host_page: Page,
    phone_page: Callable[[], Page],
    steps: Callable[[str], Steps],
) -> None:
    booking = book_protected_meeting(
        media_server, "Informationsmöte, två platser", type_key=INFORMATION_MEETING
    )
    s = steps("meeting-controls-full")
    host, olle, sara = host_page, phone_page(), phone_page()
    _host_joins(host, booking.meeting_id)
    _guest_to_lobby(olle, booking.guest_url, "Olle")
    _admit(host, olle, "Olle")
    _guest_to_lobby(sara, _personal_link(media_server, booking, "Närstående"), "Sara")
    expect(host.get_by_role("heading", name="Väntar i lobbyn (1)")).to_be_visible()

    host.get_by_role("button", name="Tillåt Sara").click()
    reason = re.compile(r"^Mötet är fullt: högst 2 deltagare")
    expect(host.locator("#notis")).to_be_visible()
    expect(host.locator("#notis")).to_have_text(reason)
    expect(host.locator("#viktiga-meddelanden")).to_have_text(reason)
    expect(host.get_by_role("heading", name="Väntar i lobbyn (1)")).to_be_visible()
    expect(host.get_by_role("heading", name="I det här mötet (2)")).to_be_visible()
    expect(sara.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()
    assert_accessible(host, "the refused admission")
    s.shot(host, "vardgivare-motet-ar-fullt")
    s.shot(sara, "sara-vantar-kvar")


def test_the_anonymous_information_meeting_shows_attendees_only_the_host_until_given_the_floor(
    media_server: Server, host_page: Page, phone_page: Callable[[], Page], steps: Callable[[str], Steps]
) -> None:
    booking = book_protected_meeting(
        media_server, "Informationsmöte inför operation", type_key=INFORMATION_MEETING
    )
    s = steps("meeting-controls-anonymous")
    host, olle, sara = host_page, phone_page(), phone_page()
    _host_joins(host, booking.meeting_id)
    _guest_to_lobby(olle, booking.guest_url, "Olle")
    _guest_to_lobby(sara, _personal_link(media_server, booking, "Närstående"), "Sara")
    _admit(host, olle, "Olle")
    _admit(host, sara, "Sara")
    expect(host.get_by_role("heading", name="I det här mötet (3)")).to_be_visible()
    expect(_row(host, "Olle")).to_contain_text("Olle (gäst)")
    expect(_row(host, "Sara")).to_contain_text("Sara (gäst, inbjuden som Närstående)")  # her personal link

    for me, other in ((olle, "Sara"), (sara, "Olle")):
        expect(me.locator("#videor li")).to_have_count(1)
        expect(me.locator("#videor")).to_contain_text("Annika Berg")
        expect(me.locator("#deltagare")).to_have_count(0)
        expect(me.get_by_role("button", name="Mikrofon", exact=True)).to_be_hidden()
        expect(me.get_by_role("button", name="Kamera", exact=True)).to_be_hidden()
        expect(me.get_by_role("button", name="Dela skärm")).to_be_hidden()
        assert other not in me.content(), f"an attendee's page names the other attendee, {other}"
        _frames_decoded(me, "an attendee")  # the host's video comes through
        expect(me.locator("#egen-status")).to_contain_text("Bara du ser din bild.")
    assert host.evaluate(FRAMES_DECODED) == 0, "the host receives video from attendees without the floor"
    # No empty picture for each silent attendee at the host's: the list shows them.
    expect(host.locator("#videor li")).to_have_count(0)
    expect(host.locator("#videor")).to_have_attribute("data-anonymous", "")
    assert_accessible(olle, "an attendee of the anonymous meeting")
    assert_accessible(host, "the host of the anonymous meeting")
    s.shot(olle, "olle-ser-bara-vardgivaren")
    s.shot(host, "vardgivare-informationsmote")

    # The floor: Olle's buttons appear and the host receives his video; Sara still sees only the host.
    host.get_by_role("button", name="Ge ordet Olle").click()
    expect(olle.get_by_role("button", name="Mikrofon", exact=True)).to_be_visible()
    expect(olle.get_by_role("button", name="Kamera", exact=True)).to_be_visible()
    expect(olle.locator("#notis")).to_contain_text("Du har fått ordet")
    expect(host.get_by_role("button", name="Ta tillbaka ordet Olle")).to_be_visible()
    frames = _frames_decoded(host, "the host, from Olle with the floor")
    _frames_decoded(host, "the host, from Olle with the floor", more_than=frames)
    expect(_row(host, "Olle").get_by_role("img", name="Kamera på")).to_be_visible()
    expect(host.locator("#videor li")).to_have_count(1)
    expect(host.locator("#videor li")).not_to_contain_text("Kamera av")
    host.wait_for_function(VIDEO_PLAYING, arg="#videor li[data-kind='camera'] video")
    expect(sara.get_by_role("button", name="Mikrofon", exact=True)).to_be_hidden()
    expect(sara.locator("#videor li")).to_have_count(1)
    assert "Olle" not in sara.content()
    assert_accessible(olle, "the attendee with the floor")
    s.shot(olle, "olle-har-ordet")
    s.shot(host, "vardgivare-olle-har-ordet")

    host.get_by_role("button", name="Ta tillbaka ordet Olle").click()
    expect(host.get_by_role("button", name="Ge ordet Olle")).to_be_visible()
    expect(olle.get_by_role("button", name="Mikrofon", exact=True)).to_be_hidden()
    expect(olle.locator("#notis")).to_contain_text("Du har inte ordet längre.")
    expect(host.locator("#videor li")).to_have_count(0)
    settled = _frames_settle(host, "the host after taking the floor back")
    time.sleep(2)
    assert host.evaluate(FRAMES_DECODED) == settled, "the host still receives Olle's video"
    s.shot(olle, "olle-utan-ordet")


def test_the_host_admits_with_the_keyboard_and_keeps_focus(
    media_server: Server, host_page: Page, phone_page: Callable[[], Page], steps: Callable[[str], Steps]
) -> None:
    booking = book_protected_meeting(media_server, "Tangentbord")
    s = steps("meeting-controls-keyboard")
    host, olle, sara = host_page, phone_page(), phone_page()
    _host_joins(host, booking.meeting_id)
    _guest_to_lobby(olle, booking.guest_url, "Olle")
    _guest_to_lobby(sara, _personal_link(media_server, booking, "Närstående"), "Sara")
    expect(host.get_by_role("heading", name="Väntar i lobbyn (2)")).to_be_visible()

    focused = host.locator(":focus")
    seen: list[str] = []
    for _ in range(40):
        host.keyboard.press("Tab")
        seen.append(host.evaluate("() => document.activeElement.textContent.trim()"))
        if seen[-1] == "Tillåt Olle":
            break
    else:
        pytest.fail(f"Tab never reached 'Tillåt Olle', only {seen}")
    outline = focused.evaluate(
        "(e) => { const s = getComputedStyle(e); return [s.outlineStyle, parseFloat(s.outlineWidth)]; }"
    )
    assert outline[0] != "none", f"no visible focus on 'Tillåt': {outline}"
    assert outline[1] >= 2, f"no visible focus on 'Tillåt': {outline}"
    assert_accessible(host, "the host's keyboard focus on 'Tillåt'")
    s.shot(host, "vardgivare-fokus-pa-tillat")

    host.keyboard.press("Enter")
    expect(olle.get_by_role("button", name="Räck upp handen")).to_be_visible()
    expect(host.get_by_role("heading", name="I det här mötet (2)")).to_be_visible()
    assert host.evaluate("() => document.activeElement !== document.body"), "focus was lost to <body>"
    expect(host.locator("#deltagare :focus")).to_have_count(1)

    # From there the next Tab is Sara's "Tillåt"; Space lets her in.
    host.keyboard.press("Tab")
    expect(host.locator(":focus")).to_have_accessible_name("Tillåt Sara")
    host.keyboard.press("Space")
    expect(sara.get_by_role("button", name="Räck upp handen")).to_be_visible()
    expect(host.get_by_role("heading", name="I det här mötet (3)")).to_be_visible()
    assert host.evaluate("() => document.activeElement !== document.body"), "focus was lost to <body>"
    expect(host.locator("#deltagare :focus")).to_have_count(1)
    assert_accessible(host, "the host after admitting with the keyboard")
    s.shot(host, "vardgivare-slappte-in-med-tangentbordet")
    s.shot(sara, "sara-i-motet")


def test_a_meeting_made_anonymous_while_live_sends_the_guests_away_and_they_return_seeing_only_the_host(
    media_server: Server, host_page: Page, phone_page: Callable[[], Page], steps: Callable[[str], Steps]
) -> None:
    booking = book_protected_meeting(media_server, "Information inför operation")
    s = steps("meeting-becomes-anonymous")
    host, olle, sara = host_page, phone_page(), phone_page()
    _host_joins(host, booking.meeting_id)
    _guest_to_lobby(olle, booking.guest_url, "Olle")
    _guest_to_lobby(sara, booking.guest_url, "Sara")
    _admit(host, olle, "Olle")
    _admit(host, sara, "Sara")
    expect(olle.locator("#videor")).to_contain_text("Sara")  # a care meeting: guests see each other

    # Annika makes it an information meeting in another tab, while it goes on.
    booking_tab = host.context.new_page()
    booking_tab.goto(f"/moten/{booking.meeting_id}")
    booking_tab.get_by_role("button", name="Välj om mötestyp").click()
    booking_tab.get_by_role("radio", name="Informationsmöte patient").check()
    booking_tab.get_by_role("button", name="Skapa möte").click()
    expect(booking_tab.locator("main")).to_contain_text("Informationsmöte patient")

    for guest in (olle, sara):
        expect(guest.get_by_role("heading", name="Mötet har ändrats")).to_be_visible()
        expect(guest.get_by_role("button", name="Anslut igen")).to_be_visible()
    expect(host.get_by_role("heading", name="I det här mötet (1)")).to_be_visible()
    assert_accessible(olle, "the page of a guest whose meeting changed type")
    s.shot(olle, "olle-motet-har-andrats")
    s.shot(host, "vardgivare-gasterna-har-gatt")

    for guest, name in ((olle, "Olle"), (sara, "Sara")):
        guest.get_by_role("button", name="Anslut igen").click()
        _guest_to_lobby(guest, booking.guest_url, name)
        _admit(host, guest, name)
    for me, other in ((olle, "Sara"), (sara, "Olle")):
        expect(me.locator("#videor li")).to_have_count(1)
        expect(me.locator("#videor")).to_contain_text("Annika Berg")
        assert other not in me.content(), f"an attendee's page names the other attendee, {other}"
        _frames_decoded(me, "an attendee after the change")
    s.shot(sara, "sara-ser-bara-vardgivaren")
