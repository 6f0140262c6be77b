"""Relay benchmark: what the TURN relay costs a guest's first picture, and how fast media heals.

The network of tests/e2e/test_networks.py: this script enters the tests'
namespace (tests/netns.py, as root), makes the patient's namespace behind its
veth link (tests/firewall.py), and starts ``vardmote serve`` with its Janus
and its embedded coturn on the clinic's end of the link (10.204.0.1). The
clinician's Chromium runs on the clinic's side, the patient's in the patient
namespace. One meeting; the clinician is in it and publishes her camera.

1. First frame, per path: a guest opens the link, waits in the lobby and is
   let in; the time from the clinician's press on "Tillåt <name>" (read in her
   page as it is pressed) to the guest's first decoded frame of her video
   (read in the guest's page, getStats every 20 ms). The guest's network decides
   the path:

   - ``direct``: no firewall (ICE to Janus over UDP);
   - ``relay_udp``: UDP to coturn's port only (and TCP to the web only), so
     media goes through the relay over UDP;
   - ``relay_tcp``: no UDP at all, so TURN over TCP.

   The paths take turns, RUNS times each; the guest then presses "Lämna". The
   path each guest used (the selected candidate pair, getStats) is printed,
   so a figure is never of the wrong path.

2. ICE restart: one guest (direct) stays; RESTARTS times its link goes down for
   LINK_DOWN_SECONDS and up again. The time from the link being up to video
   decoded again on both sides (the later of the two pages' first new frame)
   is ``ice_restart_ms``; the page's own ``data-ice-restarts`` count is printed
   with it.

Medians of the runs (a run that DTLS or a key frame delays by a second is one
in a handful here); nothing is asserted. The issue's goals: relay within 1.5×
of direct, restart under 3 s.

Measured on one 2-core machine that also runs both browsers, Janus, coturn and
other work (``bench/relay.py 3 3``): first frame direct 272/355/479 ms, relayed
over UDP 365/291/331, over TCP 286/432/351 (medians 355, 331, 351: 0.93× and
0.99× of direct); ICE restart 1107/1945/2022 ms (median 1945), the patient's
video at the clinician back after about 1.1 s each time, the clinician's at
the patient mostly last. The run before: medians 399, 369, 430 ms and 2001 ms.
(With Chromium's ``--allow-loopback-in-peer-connection``, which the patient's
browser no longer gets, a restart right after the link came back gathered only
loopback candidates and media took 3.3-5 s.)

``python bench/relay.py RUNS RESTARTS`` (default 3 and 3, about a minute).
Last line::

    direct_first_frame_ms=… relay_udp_first_frame_ms=… relay_tcp_first_frame_ms=… ice_restart_ms=…
"""

from __future__ import annotations

import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))  # the helpers: netns, firewall, e2e

from playwright.sync_api import Page, expect, sync_playwright

from e2e.conftest import CHROMIUM, CHROMIUM_ARGS
from e2e.test_meeting_pages import _phone
from e2e.test_meeting_states import _guest_to_lobby, _host_in_meeting
from e2e.test_networks import (
    SELECTED_PATHS,
    Relay,
    clinic_server,
    guarded_contexts,
    host_contexts,
    new_relay,
    patient_chromium,
    patient_origin,
    patient_url,
)
from firewall import CLINIC_ADDRESS, PatientNetwork, patient_network
from netns import enter_test_namespace
from servers import Booking, Server, book_protected_meeting

RUNS = int(sys.argv[1]) if len(sys.argv) > 1 else 3
RESTARTS = int(sys.argv[2]) if len(sys.argv) > 2 else 3
LINK_DOWN_SECONDS = 5.0
SETTLE_SECONDS = 4.0
"""After media is back, time for the page's second look (network-watch.js restarts again if a
PeerConnection is still broken 3 s on) before the next cut."""
FRAME_TIMEOUT = 20.0

# Reads the page's decoded video frames every 20 ms: the first one (window.__video.firstAt, ms
# since the epoch) and the first new one after window.__video.mark (window.__video.afterMark).
WATCH_VIDEO = """
(() => {
  const video = { frames: 0, firstAt: null, mark: null, afterMark: null };
  Object.defineProperty(window, "__video", { value: video });
  let busy = false;
  setInterval(async () => {
    if (busy || !window.__pcs) return;
    busy = true;
    try {
      let frames = 0;
      for (const pc of window.__pcs) {
        if (pc.connectionState === "closed") continue;
        (await pc.getStats()).forEach((s) => {
          if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
        });
      }
      if (frames > video.frames) {
        const t = Date.now();
        if (video.firstAt === null) video.firstAt = t;
        if (video.mark !== null && video.afterMark === null && t >= video.mark) video.afterMark = t;
      }
      video.frames = frames;
    } finally {
      busy = false;
    }
  }, 20);
})();
"""

PressAndTime = "(button) => { const t = Date.now(); button.click(); return t; }"


def wait_for(page: Page, expression: str, what: str, timeout: float = FRAME_TIMEOUT) -> Any:
    """wait_for polls expression in page until it is not null; fails after timeout."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.evaluate(expression)
        if value is not None:
            return value
        time.sleep(0.05)
    raise RuntimeError(f"{what}: nothing within {timeout:.0f} s")


PATHS: dict[str, Callable[[PatientNetwork, Relay, int], None]] = {
    "direct": lambda network, relay, web: network.open(),
    # UDP to the relay only, and no TCP to it: Chromium would otherwise sometimes take the
    # relay over TCP first for one of the PeerConnections.
    "relay_udp": lambda network, relay, web: network.allow_only(tcp=[web], udp=[relay.port]),
    "relay_tcp": lambda network, relay, web: network.block_udp(),
}


def first_frames(
    server: Server,
    network: PatientNetwork,
    relay: Relay,
    host: Page,
    new_guest: Callable[[], Page],
    booking: Booking,
) -> dict[str, list[float]]:
    """first_frames: ms from "Tillåt" to the guest's first frame of the host, RUNS per path."""
    web_port = int(patient_origin(server).rsplit(":", 1)[1])
    samples: dict[str, list[float]] = {path: [] for path in PATHS}
    for run in range(RUNS):
        for path, rules in PATHS.items():
            rules(network, relay, web_port)
            name = f"Gäst {run + 1} {path.replace('_', ' ')}"
            guest = new_guest()
            _guest_to_lobby(guest, patient_url(server, booking), name)
            admit = host.get_by_role("button", name=f"Tillåt {name}")
            expect(admit).to_be_visible()
            admitted_at = float(admit.evaluate(PressAndTime))
            first = float(wait_for(guest, "() => window.__video.firstAt", f"{name}'s first frame"))
            used = guest.evaluate(SELECTED_PATHS)
            how = sorted({p["relayProtocol"] or p["local"] for p in used})
            expected = {"direct": ["host"], "relay_udp": ["udp"], "relay_tcp": ["tcp"]}[path]
            if how != expected:
                raise RuntimeError(f"{name} went {how}, not {expected}: {used}")
            samples[path].append(first - admitted_at)
            print(f"  {path}: {first - admitted_at:.0f} ms ({', '.join(how)})", flush=True)
            guest.get_by_role("button", name="Lämna").click()
            expect(guest.get_by_role("heading", name="Du har lämnat mötet")).to_be_visible()
            guest.context.close()
            expect(host.get_by_role("heading", name="I det här mötet (1)")).to_be_visible()
    network.open()
    return samples


def ice_restarts(
    server: Server, network: PatientNetwork, host: Page, guest: Page, booking: Booking
) -> list[float]:
    """ice_restarts: ms from the link up again to video decoded again on both pages."""
    network.open()
    _guest_to_lobby(guest, patient_url(server, booking), "Olle")
    host.get_by_role("button", name="Tillåt Olle").click()
    wait_for(guest, "() => window.__video.firstAt", "Olle's first frame")
    wait_for(host, "() => window.__video.firstAt", "the host's first frame of Olle")
    samples = []
    for run in range(RESTARTS):
        time.sleep(SETTLE_SECONDS)
        network.link_down()
        time.sleep(LINK_DOWN_SECONDS)
        # Marked while the link is still down (nothing is decoded then), so that no frame
        # decoded after it comes back is missed.
        for page in (guest, host):
            page.evaluate(
                "(t) => Object.assign(window.__video, {mark: t, afterMark: null})",
                time.time() * 1000,
            )
        network.link_up()
        up = time.time() * 1000
        back = [
            float(wait_for(page, "() => window.__video.afterMark", f"{who} after the link came back")) - up
            for page, who in ((guest, "Olle"), (host, "the host"))
        ]
        restarts = guest.evaluate(
            "() => Number(document.querySelector('[data-ice-restarts]')?.dataset.iceRestarts || 0)"
        )
        samples.append(max(back))
        print(
            f"  restart {run + 1}: {max(back):.0f} ms (Olle's video at the host {back[1]:.0f} ms, "
            f"the host's at Olle {back[0]:.0f} ms; ICE restarts asked for so far: {restarts})",
            flush=True,
        )
    return samples


def main() -> int:
    """main sets up the two namespaces, the server and the browsers, measures and prints."""
    with (
        enter_test_namespace(),
        tempfile.TemporaryDirectory(prefix="vardmote-bench-") as folder,
        patient_network() as network,
    ):
        relay = new_relay()
        with clinic_server(Path(folder), relay=relay) as server, sync_playwright() as playwright:
            origin = patient_origin(server)
            clinic_browser = playwright.chromium.launch(
                executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
            )
            with (
                patient_chromium(playwright, network, Path(folder), origin) as patient_browser,
                guarded_contexts(patient_browser, origin, {CLINIC_ADDRESS}) as new_patient,
                host_contexts(clinic_browser, server.url) as new_host,
            ):

                def new_guest() -> Page:
                    context = new_patient(**_phone(playwright))
                    context.add_init_script(WATCH_VIDEO)
                    return context.new_page()

                host_context = new_host(viewport={"width": 1366, "height": 860})
                host_context.add_init_script(WATCH_VIDEO)
                host = host_context.new_page()
                booking = book_protected_meeting(server, "Mätning, relä")
                _host_in_meeting(host, booking.meeting_id)
                print(f"first frame after 'Tillåt', {RUNS} guests per path:", flush=True)
                frames = first_frames(server, network, relay, host, new_guest, booking)
                print(
                    f"ICE restart after {LINK_DOWN_SECONDS:.0f} s without network, {RESTARTS} times:",
                    flush=True,
                )
                restarts = ice_restarts(server, network, host, new_guest(), booking)
            clinic_browser.close()
    medians = {path: statistics.median(samples) for path, samples in frames.items()}
    for path, samples in frames.items():
        print(f"{path}: {' '.join(f'{x:.0f}' for x in samples)} ms; median {medians[path]:.0f}")
    print(
        f"relay/direct: udp {medians['relay_udp'] / medians['direct']:.2f}, "
        f"tcp {medians['relay_tcp'] / medians['direct']:.2f}; "
        f"ICE restart: {' '.join(f'{x:.0f}' for x in restarts)} ms"
    )
    print(
        f"direct_first_frame_ms={medians['direct']:.0f} "
        f"relay_udp_first_frame_ms={medians['relay_udp']:.0f} "
        f"relay_tcp_first_frame_ms={medians['relay_tcp']:.0f} "
        f"ice_restart_ms={statistics.median(restarts):.0f}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
