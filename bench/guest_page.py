"""The patient's way in, timed in Debian's Chromium on a slowed-down CPU (an old phone).

Starts ``vardmote serve`` (tests/servers.py: demo mode, a fresh var folder,
its embedded Janus, ICE held to the veth address of the tests' network
namespace, which this script enters first: tests/netns.py, as root) and, RUNS times, a patient in a
Pixel 5 emulation whose CPU Chromium slows down THROTTLE times (DevTools
``Emulation.setCPUThrottlingRate``), and a clinician already in the meeting.
Measured per run:

- ``welcome_ms``: opening the guest link until the page has loaded (``load``);
  ``page_kib``: what that transferred (HTML, CSS, the page's own modules);
- ``setup_ms``: "Nästa" until "Anslut nu" can be pressed (camera and microphone
  open, lists filled, preview playing);
- ``blur_ms``: choosing "Oskärpa" until the preview shows the processed picture
  (the mediapipe files fetched, compiled and run once); ``blur_fps``: frames a
  second of that picture over the next BLUR_SECONDS, on the slowed CPU (what
  the others would receive);
- ``lobby_ms``: "Anslut nu" until "Du väntar i lobbyn";
- ``admit_ms``: the clinician's "Tillåt" until the patient's page has decoded
  the clinician's first video frame (from getStats).

``python bench/guest_page.py 1`` runs without the slow-down; a second number sets RUNS. Medians over RUNS
are printed last; nothing is asserted. Headless Chromium draws WebGL in
software (SwiftShader), so the effect's figures are lower than on a phone
with a GPU. Everything stays in
the namespace. Last line::

    welcome_ms=… page_kib=… setup_ms=… blur_ms=… blur_fps=… lobby_ms=… admit_ms=… throttle=…
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from playwright.sync_api import Browser, Page, sync_playwright

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from e2e.test_meeting_pages import FRAMES_DECODED, RECORD_PEER_CONNECTIONS
from netns import enter_test_namespace
from servers import Server, book_protected_meeting, serve

THROTTLE = int(sys.argv[1]) if len(sys.argv) > 1 else 4
RUNS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
BLUR_SECONDS = 5.0
# What the page and everything it loaded weigh (the body as sent, before decompression),
# read from the page's own Resource Timing once it has loaded: Playwright's requestfinished
# events may still be on their way when goto returns. mediapipe (/vendor/) is left out.
PAGE_BYTES = """
() => performance.getEntriesByType("navigation").concat(performance.getEntriesByType("resource"))
  .filter((e) => !e.name.includes("/vendor/"))
  .reduce((sum, e) => sum + e.encodedBodySize, 0)
"""
TIMEOUT_MS = 60_000

# The label of the preview's video track: the camera's name, or not once an effect draws the picture.
PREVIEW_TRACK_LABEL = """
() => {
  const video = document.querySelector("#steg-installning video");
  const track = video && video.srcObject && video.srcObject.getVideoTracks()[0];
  return track ? track.label : "";
}
"""


def _ms(start: float) -> float:
    return (time.perf_counter() - start) * 1000


def _host_in_meeting(browser: Browser, server: Server, meeting_id: str, session: str) -> Page:
    context = browser.new_context(base_url=server.url, locale="sv-SE")
    context.add_cookies([{"name": "vm_session", "value": session, "url": server.url}])
    host = context.new_page()
    host.goto(f"/moten/{meeting_id}/starta")
    host.get_by_role("button", name="Anslut nu").click(timeout=TIMEOUT_MS)
    host.get_by_role("heading", name="Väntar i lobbyn (0)").wait_for(timeout=TIMEOUT_MS)
    return host


def _one_run(browser: Browser, phone: dict[str, Any], server: Server) -> dict[str, float]:
    booking = book_protected_meeting(server, "Mätning")
    host = _host_in_meeting(browser, server, booking.meeting_id, booking.session)
    context = browser.new_context(locale="sv-SE", **phone)
    context.add_init_script(RECORD_PEER_CONNECTIONS)
    guest = context.new_page()
    cdp = context.new_cdp_session(guest)
    cdp.send("Emulation.setCPUThrottlingRate", {"rate": THROTTLE})
    figures: dict[str, float] = {}

    start = time.perf_counter()
    guest.goto(booking.guest_url, wait_until="load")
    figures["welcome_ms"] = _ms(start)
    figures["page_kib"] = guest.evaluate(PAGE_BYTES) / 1024

    guest.get_by_label("Ditt namn").fill("Olle")
    start = time.perf_counter()
    guest.get_by_role("button", name="Nästa").click()
    guest.wait_for_function(
        "() => !document.getElementById('anslut-nu').disabled && "
        "document.querySelector('#steg-installning video').videoWidth > 0",
        timeout=TIMEOUT_MS,
    )
    figures["setup_ms"] = _ms(start)

    camera_label = guest.evaluate(PREVIEW_TRACK_LABEL)
    start = time.perf_counter()
    guest.get_by_role("radio", name="Oskärpa").check()
    # The preview switches to the processed track once the first frame is drawn.
    guest.wait_for_function(f"() => ({PREVIEW_TRACK_LABEL})() !== {camera_label!r}", timeout=TIMEOUT_MS)
    figures["blur_ms"] = _ms(start)
    frames_before = guest.evaluate(
        "() => document.querySelector('#steg-installning video').getVideoPlaybackQuality().totalVideoFrames"
    )
    time.sleep(BLUR_SECONDS)
    frames_after = guest.evaluate(
        "() => document.querySelector('#steg-installning video').getVideoPlaybackQuality().totalVideoFrames"
    )
    figures["blur_fps"] = (frames_after - frames_before) / BLUR_SECONDS

    start = time.perf_counter()
    guest.get_by_role("button", name="Anslut nu").click()
    guest.get_by_role("heading", name="Du väntar i lobbyn").wait_for(timeout=TIMEOUT_MS)
    figures["lobby_ms"] = _ms(start)

    admit = host.get_by_role("button", name="Tillåt Olle")
    admit.wait_for(timeout=TIMEOUT_MS)
    start = time.perf_counter()
    admit.click()
    deadline = time.monotonic() + TIMEOUT_MS / 1000
    while guest.evaluate(FRAMES_DECODED) == 0:
        if time.monotonic() > deadline:
            raise TimeoutError("the patient decoded no video")
        time.sleep(0.02)
    figures["admit_ms"] = _ms(start)
    context.close()
    host.context.close()
    return figures


def main() -> None:
    with enter_test_namespace():
        results = _measure()
    keys = list(results[0])
    medians = {k: statistics.median(r[k] for r in results) for k in keys}
    print(" ".join(f"{k}={v:.1f}" if k == "blur_fps" else f"{k}={v:.0f}" for k, v in medians.items()), end="")
    print(f" throttle={THROTTLE}")


def _measure() -> list[dict[str, float]]:
    results: list[dict[str, float]] = []
    with (
        tempfile.TemporaryDirectory(prefix="vardmote-bench-") as folder,
        sync_playwright() as p,
        serve(Path(folder) / "var", media=True) as server,
    ):
        phone = {k: v for k, v in p.devices["Pixel 5"].items() if k != "default_browser_type"}
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        _one_run(browser, phone, server)  # a first run warms the server and Chromium's caches
        for run in range(RUNS):
            figures = _one_run(browser, phone, server)
            results.append(figures)
            print(f"run {run + 1}: " + " ".join(f"{k}={v:.0f}" for k, v in figures.items()), flush=True)
        browser.close()
    return results


if __name__ == "__main__":
    main()
