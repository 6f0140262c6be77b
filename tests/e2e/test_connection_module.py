"""The browser's meeting connection (static/js/meeting/connection.js) in Chromium, against real Janus.

A ``vardmote serve`` with media on (its embedded Janus, ICE held to this
machine's own non-loopback IPv4 address, see docs/design-notes.md) and
Debian's Chromium with a fake camera. Annika books a "Vårdmöte patient"
through the API; in one browser context she (signed in by her session
cookie) imports the module on a page of the service, joins and publishes;
in another a guest opens the meeting link and does the same with its token.
The guest waits in the lobby, receiving nothing, until Annika admits them;
then each receives and decodes the other's video on their subscriber
PeerConnection.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page

from servers import Server, book_protected_meeting

from .conftest import NewContext

pytestmark = pytest.mark.e2e

MODULE = "/static/js/meeting/connection.js"
EVENTS = [
    "joined",
    "lobby",
    "admitted",
    "denied",
    "removed",
    "ended",
    "host_left",
    "host_returned",
    "taken_over",
    "participant",
    "hands",
    "streams",
    "settings",
    "chat",
    "muted",
    "floor",
    "error",
    "track",
    "closed",
]

# Joins with connection.js, records every event on window.vm and publishes a fake camera.
# publish() waits for admission by itself, so its promise is kept, not awaited.
JOIN_AND_PUBLISH = """
async ({module, events, options}) => {
  const { MeetingConnection } = await import(module);
  const conn = new MeetingConnection(options);
  const vm = { conn, events: [], published: null };
  window.vm = vm;
  for (const type of events) {
    conn.on(type, (detail) => {
      const copy = type === "track"
        ? { participant: detail.participant, kind: detail.kind, mid: detail.mid,
            trackKind: detail.track.kind, tracks: detail.stream.getTracks().length }
        : detail;
      vm.events.push({ type, detail: copy });
    });
  }
  const joined = await conn.join();
  const stream = await navigator.mediaDevices.getUserMedia({ video: true, audio: true });
  conn.publish(stream).then(() => { vm.published = "ok"; }, (e) => { vm.published = String(e); });
  return joined;
}
"""

EVENTS_OF = "(type) => window.vm.events.filter((e) => e.type === type).map((e) => e.detail)"

FRAMES_DECODED = """
async () => {
  const pc = window.vm.conn.peerConnection("subscriber");
  if (!pc) return 0;
  let frames = 0;
  (await pc.getStats()).forEach((r) => {
    if (r.type === "inbound-rtp" && r.kind === "video") frames += r.framesDecoded || 0;
  });
  return frames;
}
"""


def _events(page: Page, type_: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = page.evaluate(EVENTS_OF, type_)
    return found


def _wait_for_frames(page: Page, who: str, timeout: float = 10.0) -> int:
    deadline = time.monotonic() + timeout
    frames = 0
    while time.monotonic() < deadline:
        frames = int(page.evaluate(FRAMES_DECODED))
        if frames > 0:
            return frames
        time.sleep(0.25)
    events = page.evaluate("() => window.vm.events")
    pytest.fail(f"{who} decoded no video in {timeout:.0f} s; events: {json.dumps(events)[:3000]}")


# ---- the tests ----------------------------------------------------------------------------------


WAIT_TRACK = (
    "(id) => window.vm.events.some((e) => e.type === 'track' && e.detail.participant === id"
    " && e.detail.kind === 'camera' && e.detail.trackKind === 'video')"
)


@dataclass
class Pair:
    """Pair is a host and an admitted guest, each in a page with connection.js joined and publishing."""

    meeting_id: str
    link: str
    host: Page
    guest: Page
    host_id: str
    guest_id: str


def _join_guest(guest: Page, meeting_id: str, link: str) -> dict[str, Any]:
    options = {"meetingId": meeting_id, "link": link, "name": "David"}
    joined: dict[str, Any] = guest.evaluate(
        JOIN_AND_PUBLISH, {"module": MODULE, "events": EVENTS, "options": options}
    )
    return joined


def _resume_token(page: Page, meeting_id: str) -> str | None:
    token: str | None = page.evaluate("(id) => sessionStorage.getItem('vardmote.resume.' + id)", meeting_id)
    return token


def _meet(server: Server, new_context: NewContext) -> Pair:
    """_meet: the host joins and publishes; the guest knocks, waits unseen, is admitted; both see video."""
    token, meeting_id, _, link = book_protected_meeting(server)

    host_context = new_context()
    host_context.add_cookies([{"name": "vm_session", "value": token, "url": server.url}])
    host = host_context.new_page()
    host.goto("/kalender")
    assert urlsplit(host.url).path == "/kalender", host.url
    host_joined = host.evaluate(
        JOIN_AND_PUBLISH, {"module": MODULE, "events": EVENTS, "options": {"meetingId": meeting_id}}
    )
    assert host_joined["role"] == "host", host_joined
    assert host_joined["state"] == "admitted", host_joined

    guest = new_context().new_page()
    guest.goto(f"/m/{link}")
    guest_joined = _join_guest(guest, meeting_id, link)
    assert guest_joined["role"] == "guest", guest_joined
    assert guest_joined["state"] == "lobby", guest_joined
    assert guest_joined["participants"] == [
        {**guest_joined["participants"][0], "id": guest_joined["participant"], "state": "lobby"}
    ]
    guest_id: str = guest_joined["participant"]
    assert _resume_token(guest, meeting_id) == guest_joined["resume"]

    # The host sees the guest knocking; the guest waits in the lobby and receives nothing.
    host.wait_for_function(
        "(id) => window.vm.events.some((e) => e.type === 'participant' && e.detail.participant.id === id"
        " && e.detail.participant.state === 'lobby')",
        arg=guest_id,
    )
    guest.wait_for_function("() => window.vm.events.some((e) => e.type === 'lobby')")
    time.sleep(1.0)
    assert _events(guest, "track") == []
    assert _events(guest, "admitted") == []
    assert guest.evaluate("() => window.vm.conn.peerConnection('subscriber')") is None
    assert guest.evaluate("() => window.vm.conn.peerConnection('publisher')") is None
    assert guest.evaluate("() => window.vm.published") is None

    host.evaluate("(id) => window.vm.conn.admit(id)", guest_id)
    guest.wait_for_function("() => window.vm.events.some((e) => e.type === 'admitted')")

    # Each receives the other's camera: a track event naming them, then decoded frames.
    host.wait_for_function(WAIT_TRACK, arg=guest_id)
    guest.wait_for_function(WAIT_TRACK, arg=host_joined["participant"])
    assert _wait_for_frames(guest, "the guest") > 0
    assert _wait_for_frames(host, "the host") > 0
    host.wait_for_function("() => window.vm.published !== null")
    guest.wait_for_function("() => window.vm.published !== null")
    assert host.evaluate("() => window.vm.published") == "ok"
    assert guest.evaluate("() => window.vm.published") == "ok"
    assert not _events(host, "error"), _events(host, "error")
    assert not _events(guest, "error"), _events(guest, "error")
    return Pair(meeting_id, link, host, guest, host_joined["participant"], guest_id)


def test_host_admits_guest_and_both_receive_video(
    media_server: Server, new_media_context: NewContext
) -> None:
    started = time.monotonic()
    pair = _meet(media_server, new_media_context)

    pair.guest.evaluate("() => window.vm.conn.leave()")
    pair.host.wait_for_function(
        "(id) => window.vm.events.some((e) => e.type === 'participant' && e.detail.change === 'remove'"
        " && e.detail.participant.id === id)",
        arg=pair.guest_id,
    )
    assert _resume_token(pair.guest, pair.meeting_id) is None
    assert time.monotonic() - started < 40


def test_a_reload_resumes_and_a_restarted_janus_gets_a_new_subscriber(
    media_server: Server, new_media_context: NewContext
) -> None:
    """It kills the shared media server's Janus and waits until the server has restarted it."""
    started = time.monotonic()
    pair = _meet(media_server, new_media_context)
    host, guest = pair.host, pair.guest

    # A reload keeps the place: the stored resume token brings the guest back admitted, not to the lobby.
    guest.reload()
    resumed = _join_guest(guest, pair.meeting_id, pair.link)
    assert resumed["resumed"] is True, resumed
    assert resumed["state"] == "admitted", resumed
    assert resumed["participant"] == pair.guest_id
    assert _resume_token(guest, pair.meeting_id) == resumed["resume"]
    guest.wait_for_function(WAIT_TRACK, arg=pair.host_id)
    assert _wait_for_frames(guest, "the resumed guest") > 0
    host.wait_for_function("() => window.vm.published === 'ok'")

    # Janus dies and is restarted: both publish again, and the server's subscriber offers
    # (new ICE credentials) are answered by new subscriber PeerConnections.
    for page in (host, guest):
        page.evaluate("() => { window.vm.oldSubscriber = window.vm.conn.peerConnection('subscriber'); }")
    media_server.kill_janus()
    for page in (host, guest):
        page.wait_for_function(
            "() => window.vm.events.some((e) => e.type === 'error' && e.detail.code === 'media_unavailable')"
        )
    media_server.wait_for_janus_restart(timeout=15)
    for page in (host, guest):
        page.evaluate("() => { window.vm.events = []; window.vm.published = null; }")
        page.evaluate(
            "() => window.vm.conn.publish().then(() => { window.vm.published = 'ok'; },"
            " (e) => { window.vm.published = String(e); })"
        )
    host.wait_for_function(WAIT_TRACK, arg=pair.guest_id)
    guest.wait_for_function(WAIT_TRACK, arg=pair.host_id)
    for page, who in ((host, "the host"), (guest, "the guest")):
        assert page.evaluate(
            "() => window.vm.conn.peerConnection('subscriber') !== window.vm.oldSubscriber"
        ), f"{who} answered the restarted Janus on the old subscriber"
        assert _wait_for_frames(page, who) > 0
        assert page.evaluate("() => window.vm.published") == "ok"
    assert "Traceback" not in media_server.log.read_text()
    assert time.monotonic() - started < 40
