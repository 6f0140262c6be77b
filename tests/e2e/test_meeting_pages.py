"""The browser meeting as a patient and a clinician use it (issue 4).

Two browser contexts against a real server with its embedded Janus: the
patient on a phone (Pixel 5 emulation) opens the guest link, names
themselves, tests the microphone, chooses "Oskärpa", presses "Anslut nu" and
waits in the lobby; the clinician signs in, presses "Starta möte", lets the
patient in, and the two see each other (frames decoded, read from getStats).
Then a raised hand, "Tysta alla gäster", a shared screen and the host's
"Lämna" with the countdown. A second meeting ends on "Neka". Every step is
saved as a screenshot under test-artifacts/e2e/ and checked with axe-core.

The pages are never given test hooks: the test finds the RTCPeerConnections
by wrapping the browser's constructor before the page loads.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import BrowserContext, Page, Playwright, expect

from servers import Server, book_protected_meeting

from .axe import assert_accessible
from .conftest import NewContext, Steps

# Every RTCPeerConnection the page makes is kept in window.__pcs (read-only use: getStats).
RECORD_PEER_CONNECTIONS = """
(() => {
  const Original = window.RTCPeerConnection;
  const made = [];
  Object.defineProperty(window, "__pcs", { value: made });
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); made.push(this); }
  };
})();
"""

# Every tone the page plays (the arrival chime, the melody) starts with an oscillator: count them.
COUNT_TONES = """
(() => {
  let tones = 0;
  Object.defineProperty(window, "__tones", { get: () => tones });
  const create = AudioContext.prototype.createOscillator;
  AudioContext.prototype.createOscillator = function (...args) {
    tones += 1;
    return create.apply(this, args);
  };
})();
"""

# The video frames decoded by every open PeerConnection of the page, per track identifier.
FRAMES_DECODED = """
async () => {
  let frames = 0;
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    const stats = await pc.getStats();
    stats.forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    });
  }
  return frames;
}
"""

# The labels of the video tracks the page sends (a camera's is its device name; a processed
# picture's is not).
SENT_VIDEO_LABELS = """
() => window.__pcs.filter((pc) => pc.connectionState !== "closed").flatMap((pc) =>
  pc.getSenders().filter((s) => s.track && s.track.kind === "video").map((s) => s.track.label))
"""

# Whether a <video> in the element named by selector is playing real pixels (has a size and advances).
VIDEO_PLAYING = """
(selector) => {
  const video = document.querySelector(selector);
  return !!video && video.videoWidth > 0 && video.readyState >= 2 && !video.paused;
}
"""


def _phone(playwright: Playwright) -> dict[str, Any]:
    return {k: v for k, v in playwright.devices["Pixel 5"].items() if k != "default_browser_type"}


def _context(new_media_context: NewContext, **options: Any) -> BrowserContext:
    context = new_media_context(**options)
    context.add_init_script(RECORD_PEER_CONNECTIONS)
    context.set_default_timeout(15_000)
    return context


def _frames_decoded(page: Page, who: str, *, more_than: int = 0, timeout: float = 15.0) -> int:
    deadline = time.monotonic() + timeout
    frames = 0
    while time.monotonic() < deadline:
        frames = int(page.evaluate(FRAMES_DECODED))
        if frames > more_than:
            return frames
        time.sleep(0.25)
    pytest.fail(f"{who} decoded no (new) video in {timeout:.0f} s (frames {frames})")


def _no_sideways_scroll(page: Page, what: str) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"{what} scrolls sideways: {widths[0]} px wide in {widths[1]} px"


def _sign_in_and_start(host: Page, meeting_id: str) -> None:
    """The clinician signs in, opens the booking and presses "Starta möte"."""
    host.goto("/logga-in")
    host.get_by_label("Användarnamn").fill("annika")
    host.get_by_label("Lösenord").fill("demo")
    host.get_by_role("button", name="Logga in").click()
    expect(host).to_have_url(re.compile(r"/kalender"))
    host.goto(f"/moten/{meeting_id}")
    host.get_by_role("link", name="Starta möte").click()
    expect(host).to_have_url(re.compile(rf"/moten/{meeting_id}/starta$"))


def _guest_to_lobby(
    guest: Page, guest_url: str, shot: Callable[[Page, str], Any], *, test_microphone: bool
) -> None:
    """The patient opens the link, names themselves, sets up sound and picture and waits."""
    guest.goto(guest_url)
    expect(
        guest.get_by_role("heading", name="Välkommen till ditt videomöte med Region Västmanland")
    ).to_be_visible()
    expect(guest.get_by_role("heading", name="Hej. Vad heter du?")).to_be_visible()
    name = guest.get_by_label("Ditt namn")
    expect(name).to_have_attribute("placeholder", "t.ex. 'David'")
    expect(guest.get_by_role("link", name="villkor och tjänster")).to_be_visible()
    assert_accessible(guest, "the guest's welcome")
    shot(guest, "patient-valkommen")

    # An empty name is refused in Swedish and nothing moves on.
    guest.get_by_role("button", name="Nästa").click()
    expect(guest.get_by_text("Skriv ditt namn")).to_be_visible()
    expect(name).to_have_attribute("aria-invalid", "true")
    name.fill("Olle")
    guest.get_by_role("button", name="Nästa").click()

    expect(guest.get_by_role("heading", name="Ställ in ljud och bild")).to_be_visible()
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()
    shot(guest, "patient-stall-in-ljud-och-bild")
    assert_accessible(guest, "the guest's device set-up")

    if test_microphone:
        guest.get_by_role("button", name="Testa din mikrofon").click()
        guest.get_by_role("button", name="Starta testet").click()
        expect(guest.get_by_text("Spelar in din röst...")).to_be_visible()
        shot(guest, "patient-spelar-in")
        expect(guest.get_by_role("status").filter(has_text="Uppspelning")).to_be_visible(timeout=15_000)
        expect(guest.get_by_text("Så här kommer du att låta för andra")).to_be_visible()
        shot(guest, "patient-uppspelning")
        guest.get_by_role("radio", name="Oskärpa").check()
        expect(guest.get_by_role("radio", name="Oskärpa")).to_be_checked()
        shot(guest, "patient-oskarpa")

    guest.get_by_role("button", name="Anslut nu").click()
    expect(guest.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()
    expect(guest.get_by_text("Vårdpersonalen släpper in dig i mötet när det är dags.")).to_be_visible()
    assert_accessible(guest, "the lobby")
    shot(guest, "patient-lobby")


def test_patient_and_clinician_meet(
    media_server: Server,
    new_media_context: NewContext,
    playwright: Playwright,
    steps: Callable[[str], Steps],
) -> None:
    booking = book_protected_meeting(media_server, "Återbesök ortopedi")
    s = steps("meeting-pages")
    guest = _context(new_media_context, **_phone(playwright)).new_page()
    host = _context(new_media_context, viewport={"width": 1366, "height": 860}).new_page()

    _guest_to_lobby(guest, booking.guest_url, s.shot, test_microphone=True)
    _sign_in_and_start(host, booking.meeting_id)
    expect(host.get_by_role("heading", name="Ställ in ljud och bild")).to_be_visible()
    host.get_by_role("button", name="Anslut nu").click()

    lobby = host.locator("#deltagare")
    expect(host.get_by_role("heading", name="Väntar i lobbyn (1)")).to_be_visible()
    expect(lobby.locator("#lista-lobby")).to_contain_text("Olle")
    expect(host.locator("#notis")).to_contain_text("Olle väntar i lobbyn")
    expect(host.get_by_role("heading", name="I det här mötet (1)")).to_be_visible()
    expect(lobby.locator("#lista-motet")).to_contain_text("(mötesorganisatör, du)")
    assert_accessible(host, "the host's meeting with someone in the lobby")
    s.shot(host, "vardgivare-vantar-i-lobbyn")

    host.get_by_role("button", name="Tillåt Olle").click()
    expect(host.get_by_role("heading", name="I det här mötet (2)")).to_be_visible()
    expect(lobby.locator("#lista-motet")).to_contain_text("Olle (gäst)")
    expect(host.get_by_role("button", name="2 Deltagare")).to_be_visible()
    expect(guest.get_by_role("button", name="Lämna")).to_be_visible()

    assert _frames_decoded(guest, "the patient") > 0
    assert _frames_decoded(host, "the clinician") > 0
    # "Oskärpa" is what the others see: the patient sends the processed picture, not the camera's.
    sent = guest.evaluate(SENT_VIDEO_LABELS)
    assert sent, sent
    assert all("fake_device" not in label for label in sent), sent
    guest.wait_for_function(VIDEO_PLAYING, arg="#videor li[data-kind='camera'] video")
    host.wait_for_function(VIDEO_PLAYING, arg="#videor li[data-kind='camera'] video")
    expect(guest.locator("#videor")).to_contain_text("Annika")
    expect(host.locator("#videor")).to_contain_text("Olle")
    assert_accessible(guest, "the patient in the meeting")
    _no_sideways_scroll(guest, "the patient's phone in the meeting")
    assert_accessible(host, "the clinician in the meeting")
    s.shot(guest, "patient-i-motet")
    s.shot(host, "vardgivare-i-motet")

    # A raised hand, in the order raised.
    guest.get_by_role("button", name="Räck upp handen").click()
    expect(host.get_by_role("heading", name="Räckte upp handen (1)")).to_be_visible()
    expect(host.locator("#lista-hander")).to_contain_text("Olle")
    expect(guest.get_by_role("button", name="Ta ner handen")).to_be_visible()
    s.shot(host, "vardgivare-hand-uppe")

    # "Tysta alla gäster": muted on both sides, and the guest cannot unmute when it is prevented.
    host.get_by_role("button", name="Tysta alla gäster").click()
    expect(guest.locator("#egen-status")).to_contain_text("Mikrofonen är avstängd av vårdpersonalen")
    expect(guest.get_by_role("button", name="Mikrofon", exact=True)).to_have_attribute(
        "aria-pressed", "false"
    )
    expect(
        host.locator("#lista-motet li", has_text="Olle").get_by_role("img", name="Mikrofon avstängd av värd")
    ).to_be_visible()
    expect(host.locator("#videor")).to_contain_text("Mikrofon av")
    _no_sideways_scroll(guest, "the muted patient's phone")
    s.shot(guest, "patient-tystad")
    s.shot(host, "vardgivare-tystade-alla")

    # The host shares a screen; it appears at the patient.
    host.get_by_role("button", name="Dela skärm").click()
    expect(host.get_by_role("button", name="Sluta dela skärm")).to_be_visible()
    expect(guest.locator("#videor li[data-kind='screen']")).to_contain_text("delar skärm")
    guest.wait_for_function(VIDEO_PLAYING, arg="#videor li[data-kind='screen'] video", timeout=15_000)
    s.shot(guest, "patient-ser-delad-skarm")

    # The host leaves: the patient sees the countdown.
    host.get_by_role("button", name="Lämna").click()
    expect(host.get_by_role("heading", name="Du har lämnat mötet")).to_be_visible()
    countdown_banner = guest.locator("#vard-lamnat")
    expect(countdown_banner).to_be_visible()
    expect(countdown_banner).to_contain_text("Vårdpersonalen har lämnat mötet.")
    expect(countdown_banner).to_contain_text("om ingen från vårdpersonalen kommer tillbaka")
    countdown = int(guest.locator("#nedrakning").inner_text())
    assert 0 < countdown <= 60
    assert_accessible(guest, "the host-left countdown")
    s.shot(guest, "patient-nedrakning")
    s.shot(host, "vardgivare-lamnat")


def test_refused_patient_sees_the_refusal(
    media_server: Server,
    new_media_context: NewContext,
    playwright: Playwright,
    steps: Callable[[str], Steps],
) -> None:
    booking = book_protected_meeting(media_server, "Samtal kurator")
    s = steps("meeting-pages-neka")
    guest = _context(new_media_context, **_phone(playwright)).new_page()
    host = _context(new_media_context).new_page()

    # This time the clinician is there first: the patient's arrival is a notice and a sound.
    host.context.add_init_script(COUNT_TONES)
    _sign_in_and_start(host, booking.meeting_id)
    expect(host.get_by_role("button", name="Anslut nu")).to_be_enabled()
    host.get_by_role("button", name="Anslut nu").click()
    expect(host.get_by_role("heading", name="Väntar i lobbyn (0)")).to_be_visible()
    expect(host.get_by_text("Ingen väntar.")).to_be_visible()
    assert host.evaluate("window.__tones") == 0
    _guest_to_lobby(guest, booking.guest_url, s.shot, test_microphone=False)
    expect(host.get_by_role("heading", name="Väntar i lobbyn (1)")).to_be_visible()
    expect(host.locator("#notis")).to_contain_text("Olle väntar i lobbyn.")
    expect(host.locator("#viktiga-meddelanden")).to_have_text("Olle väntar i lobbyn.")
    host.wait_for_function("window.__tones > 0")
    s.shot(host, "vardgivare-nagon-kom-till-lobbyn")
    host.get_by_role("button", name="Neka Olle").click()
    expect(host.get_by_role("heading", name="Väntar i lobbyn (0)")).to_be_visible()

    expect(guest.get_by_role("heading", name="Du blev inte insläppt i mötet")).to_be_visible()
    assert guest.evaluate(FRAMES_DECODED) == 0
    assert_accessible(guest, "the refusal page")
    s.shot(guest, "patient-nekad")
