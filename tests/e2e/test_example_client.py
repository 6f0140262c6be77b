"""The example client (static/js/example/) holds a meeting with connection.js alone, in Chromium.

Galène ships a minimal client as the proof that its connection library stands
without the UI; so does Vårdmöte. Annika opens the example page signed in, a
guest opens it with the meeting's guest link: the guest waits in the lobby,
Annika's page offers "Tillåt David", and once pressed each page plays the
other's video. Real Janus, Debian's Chromium with a fake camera.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from urllib.parse import urlencode

import pytest
from playwright.sync_api import Page, expect

from servers import Server, book_protected_meeting

from .conftest import NewContext, Steps

pytestmark = pytest.mark.e2e

EXAMPLE = "/static/js/example/index.html"

# The number of <video> elements playing a picture from another participant.
PLAYING = """
() => [...document.querySelectorAll("#videos video")]
  .filter((v) => v.videoWidth > 0 && v.currentTime > 0).length
"""


def _example(page: Page, **params: str) -> None:
    page.goto(f"{EXAMPLE}?{urlencode(params)}")


def _wait_for_video(page: Page, who: str, timeout: float = 15.0) -> None:
    """_wait_for_video waits until page plays someone else's video (polled: the page's CSP forbids
    the string evaluation that Playwright's wait_for_function uses)."""
    deadline = time.monotonic() + timeout
    while page.evaluate(PLAYING) == 0:
        if time.monotonic() > deadline:
            pytest.fail(f"{who} saw no video in {timeout:.0f} s: {page.locator('#state').inner_text()}")
        time.sleep(0.25)


def test_the_example_client_joins_waits_is_admitted_and_receives_video(
    media_server: Server, new_media_context: NewContext, steps: Callable[[str], Steps]
) -> None:
    shots = steps("example-client")
    booking = book_protected_meeting(media_server)
    host_context = new_media_context()
    host_context.add_cookies([{"name": "vm_session", "value": booking.session, "url": media_server.url}])
    host = host_context.new_page()
    guest = new_media_context().new_page()

    _example(host, meeting=booking.meeting_id)
    expect(host.locator("#state")).to_have_text("I mötet")
    _example(guest, meeting=booking.meeting_id, link=booking.link, name="David")
    expect(guest.locator("#state")).to_have_text("Väntar i lobbyn")
    shots.shot(guest, "guest-in-the-lobby")
    assert guest.evaluate(PLAYING) == 0, "nobody is seen from the lobby"

    host.get_by_role("button", name="Tillåt David").click()
    expect(guest.locator("#state")).to_have_text("I mötet")
    expect(host.get_by_role("button", name="Tillåt David")).to_have_count(0)
    _wait_for_video(host, "Annika")
    _wait_for_video(guest, "David")
    shots.shot(host, "host-sees-the-guest")
    shots.shot(guest, "guest-sees-the-host")
