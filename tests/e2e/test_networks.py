"""Through every network (issue 13): a patient behind a firewall meets a clinician, in Chromium.

The clinic (vardmote, its Janus and its coturn, the clinician's Chromium) is the
test namespace; the patient is a namespace of its own behind a veth link
whose patient side has an nftables firewall (tests/firewall.py). The patient's
Chromium runs there through a wrapper (``ip netns exec``) and reaches only
10.204.0.1, the clinic's end of the link: vardmote listens there on all
addresses, Janus gathers its ICE candidates there and coturn listens and
relays there. Nothing but the two namespaces is involved.

- UDP blocked: the guest is admitted, both sides decode video, and the
  guest's selected candidate pairs have a local relay candidate reached over
  TCP (getStats: ``relayProtocol`` "tcp"); the host's list says "Via omväg".
- Only TLS to the relay's port (and TCP to the web port): relayed over TLS.
- The 443 layout (deploy/haproxy.cfg with deploy/haproxy-443.cfg): the
  patient may reach one TCP port only, HAProxy's; the web and TURN over TLS
  both go through it, told apart by the TLS server name.
- No relay and UDP blocked: "Testa anslutningen" tells the patient, in
  Swedish, before "Anslut nu", with what to try (phone-sized page; the
  screenshots go to test-artifacts/e2e/networks/). With the relay it says the
  way goes round; on an open network that it works.
- A guest in the lobby asks for relay credentials: refused; stale
  credentials (expired) are refused by coturn, fresh ones are not.
- The patient's link is down for 5 s: the page restarts ICE, video flows again
  both ways, the patient never saw the lobby again and the host's list kept
  them in the meeting (showing "Återansluter…" meanwhile).

The clinician's browser runs in the test namespace and uses 127.0.0.1 as
usual; the patient uses http://10.204.0.1:<port> (vardmote accepts a
WebSocket whose Origin is its Host), which Chromium is told to treat as a
secure context (getUserMedia needs one).

The relay's certificate is the embedded coturn's self-signed one (and, in
the 443 layout, HAProxy's self-signed one for the web name). The browsers in
those tests trust exactly those certificates, by their public keys
(``--ignore-certificate-errors-spki-list``), which Chromium applies to TURN
over TLS as well as to pages; any other certificate is still refused (tried
here: without the flag the turns: allocation fails with error 701 and no
relay candidate).
"""

from __future__ import annotations

import re
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, Route, expect

from firewall import (
    CLINIC_ADDRESS,
    PatientNetwork,
    free_port_pair,
    free_udp_ports,
    patient_chromium_args,
    patient_network,
    spki_hash,
)
from machine import free_tcp_port
from servers import Booking, Server, book_protected_meeting, serve
from test_deploy_haproxy_443 import TURN_NAME, WEB_NAME, running_haproxy_443
from vardmote.media.relay_access import RelayAccess
from vardmote.settings import Secret

from .conftest import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, NewContext, Steps, _contexts
from .test_meeting_pages import _phone
from .test_meeting_states import _guest_to_lobby, _guest_to_setup, _host_in_meeting

LINK_DOWN_SECONDS = 5.0
MEDIA_TIMEOUT = 20.0

# Installed in every page before its own scripts: keeps each RTCPeerConnection in window.__pcs
# (read-only use: getStats), counts the ICE restarts seen in local descriptions (a new ufrag on
# a PeerConnection that had one) in window.__newUfrags, and keeps every step the page showed
# (document.body.dataset.step, join.js) in window.__steps.
RECORD_PAGE = """
(() => {
  const Original = window.RTCPeerConnection;
  const made = [];
  let newUfrags = 0;
  Object.defineProperty(window, "__pcs", { value: made });
  Object.defineProperty(window, "__newUfrags", { get: () => newUfrags });
  const ufragOf = (sdp) => ((/^a=ice-ufrag:(\\S+)/m.exec(sdp || "") || [])[1] || null);
  window.RTCPeerConnection = class extends Original {
    constructor(...args) { super(...args); made.push(this); this.__ufrag = null; }
    async setLocalDescription(...args) {
      await super.setLocalDescription(...args);
      const ufrag = ufragOf(this.localDescription && this.localDescription.sdp);
      if (ufrag && this.__ufrag && ufrag !== this.__ufrag) newUfrags += 1;
      if (ufrag) this.__ufrag = ufrag;
    }
  };
  const steps = [];
  Object.defineProperty(window, "__steps", { value: steps });
  new MutationObserver(() => {
    const step = document.body && document.body.dataset.step;
    if (step && steps[steps.length - 1] !== step) steps.push(step);
  }).observe(document, { attributes: true, subtree: true, attributeFilter: ["data-step"] });
})();
"""

# Whether the page ever showed "Återansluter…" (window.__sawReconnecting), read as the page is
# rendered (innerText: hidden templates and elements do not count).
WATCH_RECONNECTING = """
(() => {
  let seen = false;
  Object.defineProperty(window, "__sawReconnecting", { get: () => seen });
  setInterval(() => {
    if (!seen && document.body && document.body.innerText.includes("Återansluter")) seen = true;
  }, 100);
})();
"""

# The video frames decoded by every open PeerConnection of the page.
FRAMES_DECODED = """
async () => {
  let frames = 0;
  for (const pc of window.__pcs) {
    if (pc.connectionState === "closed") continue;
    (await pc.getStats()).forEach((s) => {
      if (s.type === "inbound-rtp" && s.kind === "video") frames += s.framesDecoded || 0;
    });
  }
  return frames;
}
"""

# The selected candidate pair of every connected PeerConnection: the local candidate's type
# and, for a relay candidate, how the browser reaches the relay (relayProtocol: udp, tcp, tls).
SELECTED_PATHS = """
async () => {
  const found = [];
  for (const pc of window.__pcs) {
    if (pc.connectionState !== "connected") continue;
    const stats = await pc.getStats();
    let pair = null;
    stats.forEach((s) => {
      if (s.type === "transport" && s.selectedCandidatePairId) pair = stats.get(s.selectedCandidatePairId);
    });
    if (!pair) continue;
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    found.push({
      local: local.candidateType, relayProtocol: local.relayProtocol || null,
      localAddress: local.address, remote: remote.candidateType, remoteAddress: remote.address,
    });
  }
  return found;
}
"""

# Asks the relay servers given for an allocation (relay candidates only) and returns the relay
# candidates gathered and the errors (url, errorCode) within a few seconds.
GATHER_RELAY = """
async (servers) => {
  const pc = new RTCPeerConnection({ iceServers: servers, iceTransportPolicy: "relay" });
  pc.createDataChannel("prov");
  const candidates = [];
  const errors = [];
  pc.onicecandidateerror = (e) => errors.push({ url: e.url, code: e.errorCode });
  pc.onicecandidate = (e) => {
    if (e.candidate) candidates.push({ type: e.candidate.type, relayProtocol: e.candidate.relayProtocol });
  };
  const complete = new Promise((resolve) => {
    pc.onicegatheringstatechange = () => { if (pc.iceGatheringState === "complete") resolve(); };
  });
  await pc.setLocalDescription(await pc.createOffer());
  await Promise.race([complete, new Promise((resolve) => setTimeout(resolve, 8000))]);
  pc.close();
  return { candidates, errors };
}
"""

# A second guest in the lobby, on its own WebSocket from the patient's page: joins with the
# link, asks for relay credentials, and returns the joined message and the answer.
LOBBY_GUEST_ASKS_FOR_RELAY = """
async ([url, link]) => {
  const ws = new WebSocket(url);
  const messages = [];
  const next = (type) => new Promise((resolve, reject) => {
    const check = () => {
      const found = messages.find((m) => m.type === type || m.type === "error");
      if (found) { messages.splice(messages.indexOf(found), 1); resolve(found); return true; }
      return false;
    };
    if (check()) return;
    const timer = setTimeout(() => reject(new Error(`no ${type}`)), 8000);
    ws.addEventListener("message", function seen() {
      if (check()) { clearTimeout(timer); ws.removeEventListener("message", seen); }
    });
  });
  ws.addEventListener("message", (e) => messages.push(JSON.parse(e.data)));
  await new Promise((resolve, reject) => { ws.onopen = resolve; ws.onerror = reject; });
  ws.send(JSON.stringify({ type: "join", link, name: "Lisa" }));
  const joined = await next("joined");
  ws.send(JSON.stringify({ type: "ice_servers" }));
  const answer = await next("ice_servers");
  ws.close();
  return { joined, answer };
}
"""


# ---- the network, the servers and the browsers ------------------------------------------------


@pytest.fixture(scope="module")
def network() -> Iterator[PatientNetwork]:
    """network is the patient's namespace and its link; made before the servers, since
    10.204.0.1 (Janus's and coturn's address) is the clinic's end of the link."""
    with patient_network() as made:
        yield made


@pytest.fixture(autouse=True)
def open_network(network: PatientNetwork) -> Iterator[None]:
    """Every test starts and ends with no firewall rules and the link up."""
    network.open()
    yield
    network.link_up()
    network.open()


@pytest.fixture(scope="module")
def shots() -> Steps:
    """shots numbers every screenshot of this module into test-artifacts/e2e/networks/."""
    folder = ARTIFACTS / "networks"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    return Steps(folder)


@dataclass
class Relay:
    """Relay is the embedded coturn's ports, as its server was given them."""

    port: int
    tls_port: int
    relay_ports: tuple[int, int]


def clinic_env(*, relay: Relay | None, extra: dict[str, str] | None = None) -> dict[str, str]:
    """clinic_env are the settings of a server on the clinic's side: listening on every
    address (the patient comes to 10.204.0.1), Janus's ICE on 10.204.0.1, and the embedded
    coturn there with relay's ports (or no relay)."""
    env = {
        "VARDMOTE_HOST": "0.0.0.0",
        "VARDMOTE_JANUS_ICE_INTERFACES": CLINIC_ADDRESS,
        "VARDMOTE_TURN": "off",
    }
    if relay is not None:
        env.update(
            VARDMOTE_TURN="embedded",
            VARDMOTE_TURN_ADDRESS=CLINIC_ADDRESS,
            VARDMOTE_TURN_PORT=str(relay.port),
            VARDMOTE_TURN_TLS_PORT=str(relay.tls_port),
            VARDMOTE_TURN_RELAY_PORTS="{}-{}".format(*relay.relay_ports),
        )
    env.update(extra or {})
    return env


def new_relay() -> Relay:
    """new_relay picks free ports for an embedded coturn."""
    return Relay(free_port_pair(), free_tcp_port(), free_udp_ports(100))


@contextmanager
def clinic_server(
    folder: Path, *, relay: Relay | None, extra: dict[str, str] | None = None
) -> Iterator[Server]:
    """clinic_server runs ``vardmote serve`` with media on the clinic's side (clinic_env)."""
    with serve(folder / "var", media=True, env=clinic_env(relay=relay, extra=extra)) as server:
        yield server


def relay_certificate(server: Server) -> Path:
    """relay_certificate is the embedded coturn's self-signed certificate (var/coturn/relay.crt)."""
    return server.var_dir / "coturn" / "relay.crt"


def patient_origin(server: Server) -> str:
    """patient_origin is the server as the patient reaches it: http://10.204.0.1:<port>."""
    return f"http://{CLINIC_ADDRESS}:{urlsplit(server.url).port}"


def patient_url(server: Server, booking: Booking) -> str:
    """patient_url is the booking's guest link on the clinic's address."""
    return f"{patient_origin(server)}/m/{booking.link}"


@pytest.fixture(scope="module")
def relay() -> Relay:
    """relay is the ports of relay_server's coturn."""
    return new_relay()


@pytest.fixture(scope="module")
def relay_server(
    network: PatientNetwork, relay: Relay, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Server]:
    """relay_server is a media server with its embedded coturn on the clinic's address."""
    with clinic_server(tmp_path_factory.mktemp("networks-relay"), relay=relay) as server:
        yield server


@contextmanager
def patient_chromium(
    playwright: Playwright,
    network: PatientNetwork,
    folder: Path,
    origin: str,
    *,
    trusted: tuple[Path, ...] = (),
    extra_args: tuple[str, ...] = (),
) -> Iterator[Browser]:
    """patient_chromium launches headless Chromium in the patient namespace (its wrapper in
    folder), origin treated as a secure context."""
    args = patient_chromium_args(origin, CHROMIUM_ARGS, trusted=trusted)
    wrapper = network.chromium_wrapper(folder)
    browser = playwright.chromium.launch(
        executable_path=str(wrapper), headless=True, args=[*args, *extra_args]
    )
    try:
        yield browser
    finally:
        browser.close()


@contextmanager
def guarded_contexts(browser: Browser, base_url: str, hosts: set[str]) -> Iterator[NewContext]:
    """guarded_contexts yields a maker of browser contexts against base_url: Swedish, the page
    recorder installed, every request to a host outside hosts aborted and failing the test."""
    made: list[BrowserContext] = []
    outside: list[str] = []

    def guard(route: Route) -> None:
        url = urlsplit(route.request.url)
        if url.scheme in {"http", "https", "ws", "wss"} and url.hostname not in hosts:
            outside.append(route.request.url)
            route.abort()
        else:
            route.continue_()

    def make(**overrides: Any) -> BrowserContext:
        options: dict[str, Any] = {"locale": "sv-SE", "timezone_id": "Europe/Stockholm", "base_url": base_url}
        options.update(overrides)
        context = browser.new_context(**options)
        context.set_default_timeout(15_000)
        context.route("**/*", guard)
        context.add_init_script(RECORD_PAGE)
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not outside, f"the patient's pages asked for addresses outside the clinic: {outside}"


@contextmanager
def patient_contexts(
    playwright: Playwright,
    network: PatientNetwork,
    folder: Path,
    server: Server,
    *,
    trusted: tuple[Path, ...] = (),
) -> Iterator[NewContext]:
    """patient_contexts yields a maker of the patient's contexts: patient_chromium against
    server's patient origin, every request outside the clinic's address refused (guarded_contexts)."""
    origin = patient_origin(server)
    with (
        patient_chromium(playwright, network, folder, origin, trusted=trusted) as patient_browser,
        guarded_contexts(patient_browser, origin, {CLINIC_ADDRESS}) as new_patient,
    ):
        yield new_patient


@contextmanager
def host_contexts(browser: Browser, server_url: str) -> Iterator[NewContext]:
    """host_contexts yields a maker of the clinician's contexts (conftest's guarded ones, on
    loopback) with the page recorder installed."""
    gen = _contexts(browser, lambda: server_url)
    make = next(gen)

    def recorded(**overrides: Any) -> BrowserContext:
        context = make(**overrides)
        context.set_default_timeout(15_000)
        context.add_init_script(RECORD_PAGE)
        return context

    try:
        yield recorded
    finally:
        next(gen, None)


# ---- what the pages show ------------------------------------------------------------------------


def frames_decoded(page: Page) -> int:
    """frames_decoded is the count of video frames the page has decoded, every PC together."""
    return int(page.evaluate(FRAMES_DECODED))


def wait_for_frames(page: Page, who: str, *, more_than: int = 0, timeout: float = MEDIA_TIMEOUT) -> int:
    """wait_for_frames waits until page has decoded more than more_than frames; fails the test
    otherwise."""
    deadline = time.monotonic() + timeout
    frames = frames_decoded(page)
    while frames <= more_than and time.monotonic() < deadline:
        time.sleep(0.2)
        frames = frames_decoded(page)
    if frames <= more_than:
        pytest.fail(f"{who} decoded no (new) video in {timeout:.0f} s (frames {frames})")
    return frames


def selected_paths(page: Page, count: int = 2, timeout: float = MEDIA_TIMEOUT) -> list[dict[str, Any]]:
    """selected_paths are the selected candidate pairs of the page's connected PeerConnections,
    once there are count of them (a guest's publisher and subscriber)."""
    deadline = time.monotonic() + timeout
    paths: list[dict[str, Any]] = page.evaluate(SELECTED_PATHS)
    while len(paths) < count and time.monotonic() < deadline:
        time.sleep(0.2)
        paths = page.evaluate(SELECTED_PATHS)
    assert len(paths) >= count, f"fewer than {count} connected PeerConnections: {paths}"
    return paths


def meet(host: Page, guest: Page, booking: Booking, guest_url: str) -> None:
    """meet: the clinician starts the meeting, Olle waits in the lobby, the clinician lets him in."""
    _host_in_meeting(host, booking.meeting_id)
    _guest_to_lobby(guest, guest_url)
    host.get_by_role("button", name="Tillåt Olle").click()
    expect(host.get_by_role("heading", name="I det här mötet (2)")).to_be_visible()
    expect(guest.get_by_role("button", name="Lämna")).to_be_visible()


def olle_in_hosts_list(host: Page) -> Any:
    """olle_in_hosts_list is Olle's row in the host's "I det här mötet"."""
    return host.locator("#lista-motet li").filter(has_text="Olle")


def both_see_each_other(host: Page, guest: Page) -> None:
    wait_for_frames(guest, "the patient (the clinician's video)")
    wait_for_frames(host, "the clinician (the patient's video)")


# ---- the tests ----------------------------------------------------------------------------------


def meet_through_relay(
    patient: BrowserContext, new_host: NewContext, guest_url: str, booking: Booking, protocol: str
) -> tuple[Page, Page, list[dict[str, Any]]]:
    """meet_through_relay has the patient (in context patient) and the clinician meet, and checks
    that every path the patient's page selected goes through the relay over protocol and that the
    host's list tells the clinician Olle's media goes round. Returns the patient's page, the host's
    page and the patient's selected paths."""
    guest = patient.new_page()
    host = new_host(viewport={"width": 1366, "height": 860}).new_page()
    meet(host, guest, booking, guest_url)
    both_see_each_other(host, guest)
    paths = selected_paths(guest)
    assert all(p["local"] == "relay" and p["relayProtocol"] == protocol for p in paths), paths
    expect(olle_in_hosts_list(host).locator("[data-path='relay']")).to_contain_text("Via omväg")
    return guest, host, paths


def test_a_patient_on_a_network_without_udp_meets_through_the_relay_over_tcp(
    relay_server: Server,
    network: PatientNetwork,
    browser: Browser,
    playwright: Playwright,
    tmp_path: Path,
    shots: Steps,
) -> None:
    network.block_udp()
    booking = book_protected_meeting(relay_server, "Återbesök, hotellets Wi-Fi")
    with (
        patient_contexts(playwright, network, tmp_path, relay_server) as new_patient,
        host_contexts(browser, relay_server.url) as new_host,
    ):
        guest, host, paths = meet_through_relay(
            new_patient(**_phone(playwright)), new_host, patient_url(relay_server, booking), booking, "tcp"
        )
        assert all(p["localAddress"] == CLINIC_ADDRESS for p in paths), paths
        shots.shot(host, "vardgivare-ser-via-omvag")
        shots.shot(guest, "patient-udp-stoppat-i-motet")


def test_a_patient_who_may_only_use_tls_to_the_relay_meets_through_the_relay_over_tls(
    relay_server: Server,
    relay: Relay,
    network: PatientNetwork,
    browser: Browser,
    playwright: Playwright,
    tmp_path: Path,
) -> None:
    web_port = urlsplit(relay_server.url).port
    assert web_port is not None
    network.allow_only_tcp_to(web_port, relay.tls_port)
    booking = book_protected_meeting(relay_server, "Återbesök, arbetsplatsens nät")
    with (
        # The embedded relay's certificate is self-signed: see the module.
        patient_contexts(
            playwright, network, tmp_path, relay_server, trusted=(relay_certificate(relay_server),)
        ) as new_patient,
        host_contexts(browser, relay_server.url) as new_host,
    ):
        meet_through_relay(
            new_patient(**_phone(playwright)), new_host, patient_url(relay_server, booking), booking, "tls"
        )


def test_a_lobby_guest_gets_no_relay_credentials_and_stale_ones_are_refused_by_the_relay(
    relay_server: Server,
    relay: Relay,
    network: PatientNetwork,
    playwright: Playwright,
    tmp_path: Path,
) -> None:
    booking = book_protected_meeting(relay_server, "Återbesök, lobbyn")
    origin = patient_origin(relay_server)
    ws_url = origin.replace("http://", "ws://") + f"/ws/meetings/{booking.meeting_id}"
    with patient_contexts(playwright, network, tmp_path, relay_server) as new_patient:
        page = new_patient().new_page()
        page.goto(patient_url(relay_server, booking))

        # In the lobby: no relay in joined, and a request for one is refused.
        asked = page.evaluate(LOBBY_GUEST_ASKS_FOR_RELAY, [ws_url, booking.link])
        assert asked["joined"]["type"] == "joined", asked
        assert asked["joined"]["state"] == "lobby", asked
        assert "ice_servers" not in asked["joined"], asked
        assert asked["answer"]["type"] == "error", asked
        assert asked["answer"]["code"] == "not_admitted", asked
        assert "ice_servers" not in asked["answer"], asked

        # Credentials the server would give, made with the embedded relay's secret: fresh ones
        # get a relay candidate from coturn, expired ones are refused (401) and get none.
        secret = Secret((relay_server.var_dir / "coturn" / "secret").read_text().strip())
        urls = (f"turn:{CLINIC_ADDRESS}:{relay.port}?transport=udp",)
        access = RelayAccess(urls, secret)
        now = int(time.time())
        fresh = page.evaluate(GATHER_RELAY, access.ice_servers("p-prov", expires_at=now + 600))
        assert [c["type"] for c in fresh["candidates"]] == ["relay"], fresh
        stale = page.evaluate(GATHER_RELAY, access.ice_servers("p-prov", expires_at=now - 60))
        assert stale["candidates"] == [], stale
        # (Chromium also asks the relay's port for a STUN binding, which it reports as stun:.)
        assert {e["code"] for e in stale["errors"] if e["url"].startswith("turn:")} == {401}, stale


def test_the_connection_test_tells_the_patient_what_the_network_lets_through(
    network: PatientNetwork,
    playwright: Playwright,
    tmp_path: Path,
    tmp_path_factory: pytest.TempPathFactory,
    shots: Steps,
) -> None:
    # Servers of its own: the service allows a few connection tests a minute per address, and
    # every guest of this module's other tests runs one (by itself, on "Ställ in ljud och bild").
    with clinic_server(tmp_path_factory.mktemp("networks-test-relay"), relay=new_relay()) as server:
        booking = book_protected_meeting(server, "Återbesök, anslutningstest")
        with patient_contexts(playwright, network, tmp_path, server) as new_patient:
            guest = new_patient(**_phone(playwright)).new_page()
            _guest_to_setup(guest, patient_url(server, booking))
            panel = guest.locator("#grupp-anslutning")

            # An open network: the test runs by itself, and the direct way works.
            expect(panel).to_have_attribute("data-result", "direct", timeout=20_000)
            expect(guest.get_by_role("status").filter(has_text="Anslutningen fungerar.")).to_be_visible()
            shots.shot(guest, "anslutningstest-direkt")

            # UDP blocked, with the relay: it works, round about (TURN over TCP answers).
            network.block_udp()
            guest.get_by_role("button", name="Testa anslutningen").click()
            expect(panel).to_have_attribute("data-result", "relay", timeout=20_000)
            expect(guest.get_by_text("Anslutningen fungerar, via en omväg.")).to_be_visible()
            shots.shot(guest, "anslutningstest-omvag")

    # UDP blocked and no relay at all: the patient is told before "Anslut nu", with what to try.
    with clinic_server(tmp_path_factory.mktemp("networks-no-relay"), relay=None) as bare:
        booking = book_protected_meeting(bare, "Återbesök, inget relä")
        with patient_contexts(playwright, network, tmp_path, bare) as new_patient:
            guest = new_patient(**_phone(playwright)).new_page()
            _guest_to_setup(guest, patient_url(bare, booking))
            panel = guest.locator("#grupp-anslutning")
            expect(panel).to_have_attribute("data-result", "none", timeout=20_000)
            status = guest.get_by_role("status").filter(has_text="Ljud och bild kommer troligen inte fram")
            expect(status).to_be_visible()
            for advice in (
                "Ljud och bild kommer troligen inte fram från det här nätverket.",
                "Nätverket stoppar trafiken till videomötet.",
                "Anslut via mobilnätet i stället för Wi-Fi.",
                "Prova ett annat nätverk, till exempel hemma.",
                "Prata med IT på din arbetsplats.",
                "Du kan ändå försöka ansluta till mötet.",
            ):
                expect(status).to_contain_text(advice)
            # Told before joining: still on "Ställ in ljud och bild", "Anslut nu" still there.
            expect(guest.get_by_role("heading", name="Ställ in ljud och bild")).to_be_visible()
            expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()
            status.scroll_into_view_if_needed()
            shots.shot(guest, "anslutningstest-stoppat")


def test_after_five_seconds_without_network_the_patient_is_back_by_ice_restart_without_the_lobby(
    relay_server: Server,
    network: PatientNetwork,
    browser: Browser,
    playwright: Playwright,
    tmp_path: Path,
    shots: Steps,
) -> None:
    booking = book_protected_meeting(relay_server, "Återbesök, nätet går")
    with (
        patient_contexts(playwright, network, tmp_path, relay_server) as new_patient,
        host_contexts(browser, relay_server.url) as new_host,
    ):
        guest = new_patient(**_phone(playwright)).new_page()
        host_context = new_host(viewport={"width": 1366, "height": 860})
        host_context.add_init_script(WATCH_RECONNECTING)
        host = host_context.new_page()
        meet(host, guest, booking, patient_url(relay_server, booking))
        both_see_each_other(host, guest)
        assert not host.evaluate("() => window.__sawReconnecting")
        steps_before = len(guest.evaluate("() => window.__steps"))

        network.link_down()
        time.sleep(LINK_DOWN_SECONDS / 2)
        guest_frames, host_frames = frames_decoded(guest), frames_decoded(host)
        time.sleep(LINK_DOWN_SECONDS / 2)
        network.link_up()

        wait_for_frames(guest, "the patient after the link came back", more_than=guest_frames)
        wait_for_frames(host, "the clinician after the link came back", more_than=host_frames)
        # Media came back by ICE restart: the page asked for restarts, and a new ICE ufrag was
        # set on at least one of its PeerConnections.
        restarts = guest.evaluate(
            "() => Number(document.querySelector('[data-ice-restarts]')?.dataset.iceRestarts || 0)"
        )
        assert restarts > 0
        assert guest.evaluate("() => window.__newUfrags") > 0
        # Never through the lobby: the page showed no step after the meeting's, and the host's
        # list kept Olle in the meeting, saying meanwhile that he reconnected.
        later_steps = guest.evaluate("() => window.__steps")[steps_before:]
        assert "lobby" not in later_steps, later_steps
        expect(guest.get_by_role("button", name="Lämna")).to_be_visible()
        expect(host.get_by_role("heading", name="I det här mötet (2)")).to_be_visible()
        expect(olle_in_hosts_list(host)).to_be_visible()
        assert host.locator("#lista-lobby li").count() == 0
        assert host.evaluate("() => window.__sawReconnecting")
        expect(olle_in_hosts_list(host).get_by_text("Återansluter…")).to_have_count(0, timeout=20_000)
        # His page reports its connection again: direct, as before the break.
        expect(olle_in_hosts_list(host).locator("[data-path='direct']")).to_contain_text("Direkt")
        shots.shot(host, "vardgivare-efter-avbrottet")
        # The loss counted across the break makes one report poor; the next ones are good again.
        expect(host.locator("#deltagare").get_by_text("Svag anslutning")).to_have_count(0, timeout=15_000)
        shots.shot(host, "vardgivare-en-stund-efter-avbrottet")


# ---- the 443 layout: HAProxy by SNI --------------------------------------------------------------


def test_through_port_443_alone_the_web_and_the_relay_share_one_port_told_apart_by_name(
    network: PatientNetwork,
    playwright: Playwright,
    tmp_path_factory: pytest.TempPathFactory,
    tmp_path: Path,
    shots: Steps,
) -> None:
    relay = new_relay()
    shared = free_tcp_port()
    public = f"https://{WEB_NAME}:{shared}"
    names = f"--host-resolver-rules=MAP {WEB_NAME} {CLINIC_ADDRESS}, MAP {TURN_NAME} {CLINIC_ADDRESS}"
    extra = {
        "VARDMOTE_PUBLIC_URL": public,
        "VARDMOTE_TURN_URLS": f"turns:{TURN_NAME}:{shared}?transport=tcp",
        "VARDMOTE_TRUSTED_PROXIES": "127.0.0.1",
    }
    folder = tmp_path_factory.mktemp("networks-443")
    with (
        clinic_server(folder, relay=relay, extra=extra) as server,
        running_haproxy_443(
            folder,
            address=CLINIC_ADDRESS,
            port=shared,
            backend=f"127.0.0.1:{urlsplit(server.url).port}",
            turn_tls=f"{CLINIC_ADDRESS}:{relay.tls_port}",
        ) as proxy,
    ):
        network.allow_only_tcp_to(shared)
        trusted = (proxy.web_pem, relay_certificate(server))
        booking = book_protected_meeting(server, "Återbesök, bara port 443")
        assert booking.guest_url.startswith(public + "/m/"), booking.guest_url
        # Both browsers go through HAProxy, as in production (the clinician's from the clinic's
        # side; its session cookie is Secure, as the public address is https).
        with (
            patient_chromium(
                playwright, network, tmp_path, public, trusted=trusted, extra_args=(names,)
            ) as patient_browser,
            guarded_contexts(patient_browser, public, {WEB_NAME}) as new_patient,
        ):
            clinician_browser = playwright.chromium.launch(
                executable_path=CHROMIUM,
                headless=True,
                args=[
                    *CHROMIUM_ARGS,
                    f"--ignore-certificate-errors-spki-list={spki_hash(proxy.web_pem)}",
                    names,
                ],
            )
            try:
                with guarded_contexts(clinician_browser, public, {WEB_NAME}) as new_host:
                    guest = new_patient(**_phone(playwright)).new_page()
                    host = new_host(viewport={"width": 1366, "height": 860}).new_page()
                    meet(host, guest, booking, booking.guest_url)
                    both_see_each_other(host, guest)
                    paths = selected_paths(guest)
                    assert all(p["local"] == "relay" and p["relayProtocol"] == "tls" for p in paths), paths
                    shots.shot(guest, "patient-bara-port-443")
            finally:
                clinician_browser.close()
        # Both came through the one port, told apart by name.
        log = proxy.log.read_text()
        for route, name in (("coturn_tls/coturn", TURN_NAME), ("vardmote_https_hop/https", WEB_NAME)):
            assert re.search(rf"vardmote_443 {route} .* {re.escape(name)}$", log, re.MULTILINE), log
