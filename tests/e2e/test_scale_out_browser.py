"""A meeting in Chromium goes on when the vardmote process holding it dies or is stopped.

The scale-out topology of tests/media/scale_out.py: Redis, one Janus, two
``vardmote serve`` and HAProxy in front (round-robin, no stickiness). Annika
signs in and starts the meeting, and the patient Olle joins from a phone,
both through HAProxy; she lets him in and each sees the other. Then the
process that owns the meeting (the first to see it: the one Annika's
WebSocket went to) is killed with SIGKILL, or stopped with SIGTERM as a
rolling upgrade does. Every WebSocket on it closes; the page dials it again
by itself (static/js/meeting/reconnect.js) with ``resume`` and
``keep_media``, the other process takes the meeting over and answers
``media_kept``, and the PeerConnections, which go to Janus, never stop.

Read from the browsers themselves: the frames each page presents of the
other's video (``requestVideoFrameCallback``, the longest time without one
after the kill must stay under a second), the page's WebSockets and their
close codes, and that no PeerConnection was made or closed (nothing was
negotiated again). Neither page may show the lobby or the set-up again; the
"Anslutningen bröts" banner is caught in a screenshot when it shows long
enough, and gone afterwards. Screenshots in test-artifacts/e2e/scale-out-*.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from playwright.sync_api import Page, Playwright, expect

from servers import Booking, Server, book_protected_meeting

from .conftest import NewContext, Steps
from .test_meeting_controls import _admit, _guest_to_lobby, _host_joins
from .test_meeting_pages import VIDEO_PLAYING, _context, _phone

# tests/media has no __init__.py: its modules (scale_out, janus_fixtures) are imported by their
# own names, as pytest does for the tests in that folder.
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "media"))
from scale_out import Topology, scale_out

pytestmark = [pytest.mark.e2e, pytest.mark.media]

MAX_FRAME_GAP = 1.0
"""Seconds without a presented video frame that count as a break (a browser's fair bound)."""

# Every WebSocket the page opens (with its close code) and every video frame presented in a tile of
# #videor (requestVideoFrameCallback), on window.__sockets and window.__frames; times are performance.now().
WATCH_SOCKETS_AND_FRAMES = """
(() => {
  const Original = window.WebSocket;
  const sockets = [];
  Object.defineProperty(window, "__sockets", { value: sockets });
  window.WebSocket = class extends Original {
    constructor(...args) {
      super(...args);
      const entry = { ws: this, opened: performance.now(), code: null, closed: null };
      sockets.push(entry);
      this.addEventListener("close", (e) => { entry.code = e.code; entry.closed = performance.now(); });
    }
  };
  const frames = [];
  Object.defineProperty(window, "__frames", { value: frames });
  const watched = new WeakSet();
  const watch = (video) => {
    if (watched.has(video)) return;
    watched.add(video);
    const tick = () => {
      frames.push(performance.now());
      video.requestVideoFrameCallback(tick);
    };
    video.requestVideoFrameCallback(tick);
  };
  setInterval(() => document.querySelectorAll("#videor video").forEach(watch), 100);
})();
"""

# The longest time (ms) without a presented frame between since and now (and when it began, ms after
# since), and the frames in it.
FRAME_GAP = """
(since) => {
  const times = [since, ...window.__frames.filter((t) => t > since), performance.now()];
  let gap = 0;
  let at = 0;
  for (let i = 1; i < times.length; i++) {
    if (times[i] - times[i - 1] > gap) [gap, at] = [times[i] - times[i - 1], times[i - 1] - since];
  }
  return { gap, at, frames: times.length - 2 };
}
"""

# What the page has made: WebSockets (close codes) and PeerConnections (how many, how many closed).
MADE = """
() => ({
  sockets: window.__sockets.map((s) => s.code),
  pcs: window.__pcs.length,
  closedPcs: window.__pcs.filter((pc) => pc.connectionState === "closed").length,
  step: document.body.dataset.step,
  now: performance.now(),
})
"""

OTHER_CAMERA = "#videor li[data-kind='camera'] video"
BACK = "() => window.__sockets.at(-1).code === null && document.getElementById('ateransluter').hidden"


@pytest.fixture
def topology(tmp_path: Path) -> Iterator[Topology]:
    """topology is scale_out(tmp_path), run on an event loop of its own in a thread (the
    Playwright sync API owns this one), and stopped (its servers' logs checked) afterwards."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="scale-out", daemon=True)
    thread.start()
    ready: concurrent.futures.Future[Topology] = concurrent.futures.Future()
    done = asyncio.Event()

    async def run() -> None:
        async with scale_out(tmp_path) as running:
            ready.set_result(running)
            await done.wait()

    finished = asyncio.run_coroutine_threadsafe(run(), loop)
    try:
        waiting: list[concurrent.futures.Future[Any]] = [ready, finished]
        concurrent.futures.wait(waiting, timeout=120, return_when="FIRST_COMPLETED")
        if not ready.done():
            finished.result(timeout=0)  # its error, if it failed to start
            pytest.fail("the scale-out topology did not start within 120 s")
        yield ready.result()
    finally:
        loop.call_soon_threadsafe(done.set)
        try:
            finished.result(timeout=60)
        finally:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(timeout=10)
            loop.close()


def _meet(
    topology: Topology, new_context: NewContext, playwright: Playwright, s: Steps
) -> tuple[Booking, Page, Page]:
    """Annika starts the meeting and lets Olle in, both through HAProxy; each sees the other."""
    front = topology.front
    booking = book_protected_meeting(front, "Återbesök ortopedi")
    pages = []
    for options in ({"viewport": {"width": 1366, "height": 860}}, _phone(playwright)):
        context = _context(new_context, base_url=front.url, **options)
        context.add_init_script(WATCH_SOCKETS_AND_FRAMES)
        pages.append(context.new_page())
    host, guest = pages
    _host_joins(host, booking.meeting_id)
    _guest_to_lobby(guest, f"{front.url}/m/{booking.link}", "Olle")
    _admit(host, guest, "Olle")
    for page in (host, guest):
        page.wait_for_function(VIDEO_PLAYING, arg=OTHER_CAMERA)
        assert page.evaluate(MADE)["sockets"] == [None], "one WebSocket, open"
    _guest_to_owner(topology, booking, guest)
    s.shot(host, "vardgivare-fore")
    s.shot(guest, "patient-fore")
    return booking, host, guest


def _holder(topology: Topology, meeting_id: str, name: str) -> Server | None:
    """_holder is the process holding name's WebSocket, from the meeting's last snapshot."""
    with redis.Redis.from_url(topology.redis.url, decode_responses=True) as client:
        state = json.loads(str(client.get(f"vardmote:meeting:{meeting_id}:state")))
    (person,) = [p for p in state["room"]["participants"] if p["name"] == name]
    if person["conn"] is None:
        return None
    process = str(person["conn"]).rpartition("/")[0]
    return next((s for s in topology.servers if f"-{s.process.pid}-" in process), None)


def _guest_to_owner(topology: Topology, booking: Booking, guest: Page) -> None:
    """_guest_to_owner drops Olle's WebSocket (as a network would) until it comes back on the
    owner of the meeting, so that the owner's end takes both WebSockets. Each drop is on a live
    process: the server lets his media go, and the page negotiates afresh (no media_kept)."""
    owner = topology.owner_of(booking.meeting_id)
    for _ in range(8):
        deadline = time.monotonic() + 10
        holder = None
        while holder is None and time.monotonic() < deadline:
            holder = _holder(topology, booking.meeting_id, "Olle")
            time.sleep(0.1)
        if holder is owner:
            return
        before = guest.evaluate(MADE)
        guest.evaluate("() => window.__sockets.at(-1).ws.close()")
        guest.wait_for_function(f"() => window.__sockets.length > {len(before['sockets'])}")
        guest.wait_for_function(BACK, timeout=20_000)
        guest.wait_for_function(VIDEO_PLAYING, arg=OTHER_CAMERA)
        after = guest.evaluate(MADE)
        # Negotiated afresh: a new publisher and a new subscriber PeerConnection.
        assert after["pcs"] > before["pcs"], (before, after)
        assert after["step"] == "mote", after
        time.sleep(0.5)
    pytest.fail("Olle's WebSocket never came to the meeting's owner")


def _goes_on(
    topology: Topology,
    booking: Booking,
    host: Page,
    guest: Page,
    s: Steps,
    end: Callable[[Server], None],
) -> dict[str, Any]:
    """end ends the meeting's owner; both pages must go on with the same media. Returns what was
    measured, per page."""
    owner = topology.owner_of(booking.meeting_id)
    pages = {"vardgivare": host, "patient": guest}
    before = {name: page.evaluate(MADE) for name, page in pages.items()}
    ended_at = time.monotonic()

    end(owner)

    # Both pages say they are reconnecting (while the video goes on), if it lasts long enough to see.
    for name, page in pages.items():
        banner = page.locator("#ateransluter")
        try:
            expect(banner).to_be_visible(timeout=2_000)
        except AssertionError:
            print(f"{name}: the banner was not seen (the take-over was quicker)")
            continue
        shot = s.shot(page, f"{name}-ateransluter")
        if not banner.is_visible():
            print(f"{name}: the banner went while it was photographed")
            shot.unlink()
    for page in pages.values():
        page.wait_for_function(BACK, timeout=20_000)
    back_after = time.monotonic() - ended_at
    assert topology.owner_of(booking.meeting_id) is topology.other_than(owner)
    time.sleep(3)  # media after the take-over too

    measured: dict[str, Any] = {"back_after_s": round(back_after, 2)}
    for name, page in pages.items():
        after = page.evaluate(MADE)
        gap = page.evaluate(FRAME_GAP, before[name]["now"])
        measured[name] = {
            "gap_ms": round(gap["gap"]),
            "gap_at_ms": round(gap["at"]),
            "frames": gap["frames"],
            "sockets": after["sockets"],
        }
        assert gap["gap"] < MAX_FRAME_GAP * 1000, f"{name}: {gap['gap']:.0f} ms without a frame ({gap})"
        assert gap["frames"] > 30, f"{name}: only {gap['frames']} frames since the owner ended"
        # Nothing negotiated again: the same PeerConnections, none closed; neither lobby nor set-up.
        assert after["pcs"] == before[name]["pcs"], f"{name} made new PeerConnections: {after}"
        assert after["closedPcs"] == before[name]["closedPcs"], f"{name} closed PeerConnections: {after}"
        assert after["step"] == "mote", f"{name} shows the step {after['step']!r}"
        expect(page.get_by_role("heading", name="Du väntar i lobbyn")).to_be_hidden()
        expect(page.get_by_role("heading", name="Ställ in ljud och bild")).to_be_hidden()
        expect(page.locator("#ateransluter")).to_be_hidden()
        assert page.evaluate(VIDEO_PLAYING, OTHER_CAMERA), f"{name}: the other's video stopped"
    for name in pages:
        # Both WebSockets were on the owner: each was dialled again once.
        assert len(measured[name]["sockets"]) == len(before[name]["sockets"]) + 1, measured

    # The meeting itself goes on at the new owner: a raised hand reaches Annika.
    guest.get_by_role("button", name="Räck upp handen").click()
    expect(host.get_by_role("heading", name="Räckte upp handen (1)")).to_be_visible()
    s.shot(host, "vardgivare-efter")
    s.shot(guest, "patient-efter")
    print(f"measured: {measured}")
    return measured


def test_a_killed_process_does_not_stop_the_video(
    topology: Topology, new_context: NewContext, playwright: Playwright, steps: Callable[[str], Steps]
) -> None:
    s = steps("scale-out-kill")
    booking, host, guest = _meet(topology, new_context, playwright, s)
    measured = _goes_on(topology, booking, host, guest, s, Server.kill)
    # A killed process sends no close frame: 1006.
    assert {measured[name]["sockets"][-2] for name in ("vardgivare", "patient")} == {1006}, measured


def test_a_stopped_process_does_not_stop_the_video(
    topology: Topology, new_context: NewContext, playwright: Playwright, steps: Callable[[str], Steps]
) -> None:
    s = steps("scale-out-stop")
    booking, host, guest = _meet(topology, new_context, playwright, s)
    measured = _goes_on(topology, booking, host, guest, s, Server.stop)
    # uvicorn closes its WebSockets on SIGTERM with 1012 ("service restart").
    assert {measured[name]["sockets"][-2] for name in ("vardgivare", "patient")} == {1012}, measured
