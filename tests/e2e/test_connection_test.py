"""'Testa anslutningen' in 'Ställ in ljud och bild', in Chromium against real Janus (issue 13).

Olle opens his link on a phone (360×740) in the tests' own namespace, where the
media server is reached directly: the test runs by itself once the camera and
microphone are ready, and says in plain Swedish that sound and picture get
through. What the test may not do is read from the browser itself: its
PeerConnections carry a data channel only (no track, no audio or video section
in any offer), it has no relay servers before admission, and it ends its echo
on the server (the DELETE). Annika's test, signed in, runs from the button, as
the meeting's (with the session's CSRF token).

The module has a media server of its own: the service allows a few tests a
minute per address, and every guest's set-up on the shared one runs a test.

The other outcomes need a network that stops the direct way: the firewall tests
(tests/firewall.py) show "via en omväg" and the advice for a stopped network.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Playwright, Request, expect

from servers import Server, book_protected_meeting, server_fixture

from .axe import assert_accessible
from .conftest import NewContext, Steps, _contexts
from .test_meeting_pages import _context, _no_sideways_scroll, _phone, _sign_in_and_start

DIRECT = "Anslutningen fungerar. Ljud och bild kommer fram."
"""What the test says when the echo came back over a direct path."""

# What every PeerConnection the page has made so far would send: its senders' tracks, the media
# sections of its offer, the relay servers in its configuration.
WHAT_THE_PEER_CONNECTIONS_SEND = """
() => window.__pcs.map((pc) => ({
  tracks: pc.getSenders().filter((s) => s.track).length,
  sections: [...(pc.localDescription?.sdp ?? "").matchAll(/^m=(\\w+)/gm)].map((m) => m[1]),
  iceServers: pc.getConfiguration().iceServers ?? [],
}))
"""


server = server_fixture("connection-test")


@pytest.fixture
def new_test_context(browser: Browser, server: Server) -> Iterator[NewContext]:
    """new_test_context makes guarded browser contexts against this module's server."""
    yield from _contexts(browser, lambda: server.url)


def _phone_360(playwright: Playwright) -> dict[str, Any]:
    """A Pixel 5 (touch, mobile Chromium) at 360×740, the narrow phone the page must fit."""
    return {**_phone(playwright), "viewport": {"width": 360, "height": 740}}


def _requests_to_the_test(page: Page) -> list[str]:
    """_requests_to_the_test records "METHOD path" of every request the page makes to the
    connection test's address."""
    made: list[str] = []

    def seen(request: Request) -> None:
        path = re.sub(r"^https?://[^/]+", "", request.url)
        if path.startswith("/api/v1/connection-test"):
            made.append(f"{request.method} {path}")

    page.on("request", seen)
    return made


def _wait_until(page: Page, done: Callable[[], bool], what: str, seconds: float = 5.0) -> None:
    """_wait_until lets the page run until done() holds (Playwright delivers its events
    meanwhile), or fails after seconds."""
    for _ in range(int(seconds * 10)):
        if done():
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{what} did not happen in {seconds:.0f} s")


def test_the_connection_test_tells_a_patient_on_a_phone_that_media_gets_through(
    server: Server,
    new_test_context: NewContext,
    playwright: Playwright,
    steps: Callable[[str], Steps],
) -> None:
    booking = book_protected_meeting(server, "Anslutningstest")
    s = steps("connection-test")
    guest = _context(new_test_context, **_phone_360(playwright)).new_page()
    requests = _requests_to_the_test(guest)

    guest.goto(booking.guest_url)
    guest.get_by_label("Ditt namn").fill("Olle")
    guest.get_by_role("button", name="Nästa").click()
    expect(guest.get_by_role("heading", name="Ställ in ljud och bild")).to_be_visible()
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()

    # It runs by itself once the camera and microphone are ready.
    group = guest.locator("#grupp-anslutning")
    status = guest.locator("#anslutning-status")
    expect(status).to_have_attribute("role", "status")
    expect(group).to_have_attribute("data-result", "direct", timeout=20_000)
    expect(status).to_have_text(DIRECT)
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()
    status.scroll_into_view_if_needed()
    _no_sideways_scroll(guest, "the device set-up with the connection test's result at 360 px")
    assert_accessible(guest, "the device set-up with the connection test's result")
    shot = s.shot(guest, "patient-anslutningen-fungerar-360")
    guest.screenshot(path=str(shot.with_name(shot.stem + "-synligt.png")))

    # The test's PeerConnections sent nothing but a data channel, and had no relay servers.
    made = guest.evaluate(WHAT_THE_PEER_CONNECTIONS_SEND)
    assert made, "the connection test made no PeerConnection"
    for pc in made:
        assert pc["tracks"] == 0, f"a PeerConnection of the set-up sends a track: {made}"
        assert pc["sections"] == ["application"], f"an offer of the set-up has media sections: {made}"
        assert pc["iceServers"] == [], f"a PeerConnection before admission has relay servers: {made}"
    # The echo was ended on the server, not left to its 20 s.
    _wait_until(guest, lambda: any(r.startswith("DELETE ") for r in requests), "the DELETE of the test")
    posts = [r for r in requests if r == "POST /api/v1/connection-test"]
    deletes = [r for r in requests if r.startswith("DELETE /api/v1/connection-test/")]
    assert len(posts) == 1, requests
    assert len(deletes) == 1, requests

    # The button runs it again; the keyboard focus stays on it meanwhile.
    button = guest.get_by_role("button", name="Testa anslutningen")
    button.focus()
    button.press("Enter")
    expect(group).to_have_attribute("data-result", "testing")
    expect(status).to_contain_text("Testar anslutningen")
    expect(group).to_have_attribute("data-result", "direct", timeout=20_000)
    assert guest.evaluate("() => document.activeElement?.id") == "testa-anslutning"
    assert len([r for r in requests if r == "POST /api/v1/connection-test"]) == 2, requests

    # Then on into the lobby, as always: nothing of the test goes along.
    guest.get_by_role("button", name="Anslut nu").click()
    expect(guest.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()
    for pc in guest.evaluate(WHAT_THE_PEER_CONNECTIONS_SEND):
        assert pc["tracks"] == 0, "a PeerConnection sends from the lobby"


def test_a_signed_in_clinician_tests_the_connection_from_the_button(
    server: Server, new_test_context: NewContext
) -> None:
    booking = book_protected_meeting(server, "Anslutningstest för personal")
    host = _context(new_test_context, viewport={"width": 1366, "height": 860}).new_page()
    requests = _requests_to_the_test(host)
    _sign_in_and_start(host, booking.meeting_id)
    expect(host.get_by_role("button", name="Anslut nu")).to_be_enabled()
    # Staff are not tested by themselves (they share their workplace's address).
    expect(host.locator("#grupp-anslutning")).to_have_attribute("data-result", "")
    assert requests == []
    host.get_by_role("button", name="Testa anslutningen").click()
    expect(host.locator("#grupp-anslutning")).to_have_attribute("data-result", "direct", timeout=20_000)
    expect(host.locator("#anslutning-status")).to_have_text(DIRECT)
    assert "POST /api/v1/connection-test" in requests


# The offer as the page sends it to the service, from one with the given candidate addresses.
OFFER_FOR_SERVICE = """
async (addresses) => {
  const { offerForService } = await import("/static/js/meeting/connection-test.js");
  const sdp = ["v=0", "o=- 1 2 IN IP4 127.0.0.1", "s=-", "t=0 0",
    "m=application 9 UDP/DTLS/SCTP webrtc-datachannel", "c=IN IP4 0.0.0.0",
    ...addresses.map((a, i) => `a=candidate:${i} 1 udp 2122260223 ${a} 5${i} typ host generation 0`),
    "a=end-of-candidates", ""].join("\\r\\n");
  const sent = offerForService(sdp);
  return {
    kept: [...sent.matchAll(/^a=candidate:\\S+ \\S+ \\S+ \\S+ (\\S+)/gm)].map((m) => m[1]),
    rest: sent.split("\\r\\n").filter((l) => !l.startsWith("a=candidate:")).join("|"),
  };
}
"""


def test_the_offer_leaves_out_the_candidates_the_service_refuses(new_context: NewContext) -> None:
    """The service refuses an offer with a candidate Janus must not send checks to (a loopback,
    link-local, multicast, unspecified or broadcast address, a DNS name) or with more than 30:
    the page sends its offer without them, the rest untouched."""
    page = new_context().new_page()
    page.goto("/")
    usable = ["10.203.0.1", "192.168.1.20", "83.233.10.4", "2001:db8::5", "3f1c2a9e-4b.local"]
    unusable = [
        "127.0.0.1", "::1", "169.254.3.4", "fe80::1", "224.0.0.251", "0.0.0.0", "::",
        "255.255.255.255", "::ffff:127.0.0.1", "ff02::1", "janus.example.org",
    ]  # fmt: skip
    result = page.evaluate(OFFER_FOR_SERVICE, usable + unusable)
    assert result["kept"] == usable, result
    assert result["rest"] == (
        "v=0|o=- 1 2 IN IP4 127.0.0.1|s=-|t=0 0|m=application 9 UDP/DTLS/SCTP webrtc-datachannel"
        "|c=IN IP4 0.0.0.0|a=end-of-candidates|"
    ), result
    many = page.evaluate(OFFER_FOR_SERVICE, [f"10.0.0.{i}" for i in range(1, 41)])
    assert many["kept"] == [f"10.0.0.{i}" for i in range(1, 31)], many
