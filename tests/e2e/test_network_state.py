"""How a person's connection shows in the meeting, and an ICE restart, in Chromium against real
Janus (issue 13).

Annika (clinician, desktop) holds the meeting and Olle (patient, phone) is let in.
Annika's "Deltagare" shows how each person's media goes ("Direkt", from the
browsers' own reports of their selected candidate pair) and, when Olle's page
reports so on its WebSocket, "Återansluter…" on his tile and list entry, "Svag
anslutning" and "Via omväg".

A network change (the `online` event a phone gets when it moves from Wi-Fi to
4G) makes Olle's page restart ICE on its PeerConnections: new ICE credentials
on both ends (Janus's answer to the publisher's offer, Janus's new subscriber
offer), the same PeerConnections and WebSocket, never the lobby; the banner
shows meanwhile, `data-ice-restarts` counts the restarts, `media_restored` says
how long it took, and video goes on both ways. Breaking the network itself is
the firewall tests' (tests/firewall.py).

The report's rules (network-watch.js: relay if either end of the selected pair
is a relay candidate; poor over 5 % loss or 400 ms round trip) are checked on
a table of getStats readings, in the page's own module.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

import pytest
from playwright.sync_api import Locator, Page, Playwright, expect

from servers import Booking, Server, book_protected_meeting

from .axe import assert_accessible
from .conftest import NewContext, Steps
from .test_meeting_pages import VIDEO_PLAYING, _context, _frames_decoded, _phone, _sign_in_and_start

# The page's WebSockets (window.__sockets) and the types of the messages it sent (window.__sent, with
# the pc of offers and restarts: "offer/publisher"), whether #ateransluter was ever shown
# (window.__banner), and the media_restored events of the room (window.__restored).
RECORD_NETWORK = """
(() => {
  const Original = window.WebSocket;
  const sockets = [];
  Object.defineProperty(window, "__sockets", { value: sockets });
  const sent = [];
  Object.defineProperty(window, "__sent", { value: sent });
  window.WebSocket = class extends Original {
    constructor(...args) { super(...args); sockets.push(this); }
    send(data) {
      try {
        const m = JSON.parse(data);
        sent.push(m.pc ? `${m.type}/${m.pc}` : m.type);
      } catch {}
      return super.send(data);
    }
  };
  const restored = [];
  Object.defineProperty(window, "__restored", { value: restored });
  document.addEventListener("media_restored", (e) => restored.push(e.detail));
  window.__banner = false;
  document.addEventListener("DOMContentLoaded", () => {
    const banner = document.getElementById("ateransluter");
    if (!banner) return;
    new MutationObserver(() => { if (!banner.hidden) window.__banner = true; })
      .observe(banner, { attributes: true, attributeFilter: ["hidden"] });
  });
})();
"""

# Per PeerConnection the page made: its state and the ICE ufrags of both descriptions.
PEER_CONNECTIONS = """
() => window.__pcs.map((pc) => ({
  state: pc.connectionState,
  local: /^a=ice-ufrag:(\\S+)/m.exec(pc.localDescription?.sdp ?? "")?.[1] ?? null,
  remote: /^a=ice-ufrag:(\\S+)/m.exec(pc.remoteDescription?.sdp ?? "")?.[1] ?? null,
  media: /^m=(audio|video)/m.test(pc.localDescription?.sdp ?? ""),
}))
"""


# Stands in for the server on the page's meeting WebSocket: while window.__refuseIceRestart > 0 an
# `ice_restart` is not sent but answered with the error a failed restart gets (request
# "ice_restart", the code window.__refuseCode, media_unavailable by default), counted in
# window.__refused; with window.__onlineAtScreenOffer the first screen offer is followed at once
# by a network change (the `online` event), as if the phone changed network right then.
DRIVE_SOCKET = """
(() => {
  window.__refuseIceRestart = 0;
  window.__refused = 0;
  window.__onlineAtScreenOffer = false;
  const send = window.WebSocket.prototype.send;
  window.WebSocket.prototype.send = function (data) {
    let m = null;
    try { m = JSON.parse(data); } catch {}
    if (m && m.type === "ice_restart" && window.__refuseIceRestart > 0) {
      window.__refuseIceRestart -= 1;
      window.__refused += 1;
      const error = { type: "error", code: window.__refuseCode ?? "media_unavailable", request: "ice_restart",
        message: "Videotjänsten svarar inte just nu. Försök igen om en stund." };
      setTimeout(() => this.dispatchEvent(new MessageEvent("message", { data: JSON.stringify(error) })), 50);
      return;
    }
    const result = send.call(this, data);
    if (m && m.type === "offer" && m.pc === "screen" && window.__onlineAtScreenOffer) {
      window.__onlineAtScreenOffer = false;
      window.dispatchEvent(new Event("online"));
    }
    return result;
  };
  // The server's answer to the first screen offer is held back window.__holdScreenAnswerMs (a slow Janus).
  window.__holdScreenAnswerMs = 0;
  const listen = window.WebSocket.prototype.addEventListener;
  window.WebSocket.prototype.addEventListener = function (type, listener, ...rest) {
    if (type !== "message") return listen.call(this, type, listener, ...rest);
    return listen.call(this, type, (event) => {
      let m = null;
      try { m = JSON.parse(event.data); } catch {}
      const hold = window.__holdScreenAnswerMs;
      if (m && m.type === "answer" && m.pc === "screen" && hold > 0) {
        window.__holdScreenAnswerMs = 0;
        setTimeout(() => listener.call(this, event), hold);
        return;
      }
      listener.call(this, event);
    }, ...rest);
  };
})();
"""


def _page(context: NewContext, **options: object) -> Page:
    page = _context(context, **options).new_page()
    page.add_init_script(RECORD_NETWORK)
    page.add_init_script(DRIVE_SOCKET)
    return page


# The page's PeerConnections of the meeting that are not closed, by what they do: the camera
# (publisher: its own offer), the subscriber (Janus's offer) and the screen (an offer with one
# video and perhaps audio); their index in window.__pcs and their ICE ufrags.
MEETING_PCS = """
() => window.__pcs.map((pc, i) => ({
  i,
  state: pc.connectionState,
  type: pc.localDescription?.type ?? null,
  media: /^m=(audio|video)/m.test(pc.localDescription?.sdp ?? ""),
  local: /^a=ice-ufrag:(\\S+)/m.exec(pc.localDescription?.sdp ?? "")?.[1] ?? null,
  remote: /^a=ice-ufrag:(\\S+)/m.exec(pc.remoteDescription?.sdp ?? "")?.[1] ?? null,
})).filter((pc) => pc.media && pc.state !== "closed")
"""


def _live(page: Page) -> dict[str, dict[str, object]]:
    """_live names the page's camera ("publisher") and "subscriber" PeerConnections."""
    found: dict[str, dict[str, object]] = {}
    for pc in page.evaluate(MEETING_PCS):
        found["publisher" if pc["type"] == "offer" else "subscriber"] = pc
    return found


def _host_in_meeting(host: Page, meeting_id: str) -> None:
    """Annika starts the meeting (hosts skip the lobby)."""
    _sign_in_and_start(host, meeting_id)
    expect(host.get_by_role("button", name="Anslut nu")).to_be_enabled()
    host.get_by_role("button", name="Anslut nu").click()
    expect(host.get_by_role("heading", name="Deltagare", exact=True)).to_be_visible()


def _guest_let_in(host: Page, guest: Page, booking: Booking, name: str) -> None:
    guest.goto(booking.guest_url)
    guest.get_by_label("Ditt namn").fill(name)
    guest.get_by_role("button", name="Nästa").click()
    expect(guest.get_by_role("button", name="Anslut nu")).to_be_enabled()
    guest.get_by_role("button", name="Anslut nu").click()
    expect(guest.get_by_role("heading", name="Du väntar i lobbyn")).to_be_visible()
    host.get_by_role("button", name=f"Tillåt {name}").click()
    expect(guest.get_by_role("button", name="Räck upp handen")).to_be_visible()


def _report(page: Page, state: str, path: str | None, quality: str) -> None:
    """_report sends a `connection` report on the page's meeting WebSocket, as its media
    watch would."""
    message = json.dumps({"type": "connection", "state": state, "path": path, "quality": quality})
    page.evaluate("(m) => window.__sockets.at(-1).send(m)", message)


def _row(host: Page, name: str) -> Locator:
    return host.locator("#lista-motet li", has_text=name)


def _tile(page: Page, name: str) -> Locator:
    return page.locator("#videor li[data-kind='camera']", has_text=name)


def test_the_host_sees_how_each_persons_media_goes_and_who_is_reconnecting(
    media_server: Server,
    new_media_context: NewContext,
    playwright: Playwright,
    steps: Callable[[str], Steps],
) -> None:
    booking = book_protected_meeting(media_server, "Anslutningar i deltagarlistan")
    s = steps("network-state")
    host = _page(new_media_context, viewport={"width": 1366, "height": 860})
    guest = _page(new_media_context, **_phone(playwright))
    _host_in_meeting(host, booking.meeting_id)
    _guest_let_in(host, guest, booking, "Olle")
    _frames_decoded(host, "Annika")

    # Both browsers report a direct path (getStats of their PeerConnections): only Annika sees it.
    olle = _row(host, "Olle")
    expect(olle.locator(".conn-label")).to_have_text("Direkt", timeout=15_000)
    expect(olle.locator(".conn-path")).to_have_attribute(
        "title", "Ljud och bild går direkt mellan personen och tjänsten."
    )
    expect(_row(host, "(mötesorganisatör, du)").locator(".conn-label")).to_have_text("Direkt", timeout=15_000)
    expect(olle).not_to_contain_text("Återansluter…")
    expect(olle).not_to_contain_text("Svag anslutning")
    expect(guest.get_by_text("Direkt", exact=True)).to_have_count(0)
    assert_accessible(host, "the host's list with each person's connection")
    s.shot(host, "vardgivare-deltagare-direkt")

    # Olle's page says his media is reconnecting, over a poor, relayed path.
    _report(guest, "reconnecting", "relay", "poor")
    expect(olle).to_contain_text("Återansluter…")
    expect(_tile(host, "Olle")).to_contain_text("Återansluter…")
    expect(_tile(host, "Olle")).to_have_class(re.compile(r"\breconnecting\b"))
    expect(olle).to_contain_text("Svag anslutning")
    expect(olle.locator(".conn-path")).to_have_count(0)
    assert_accessible(host, "the host's list with a guest reconnecting")
    s.shot(host, "vardgivare-olle-ateransluter")

    # Back, through the relay: "Via omväg", still poor.
    _report(guest, "connected", "relay", "poor")
    expect(olle).not_to_contain_text("Återansluter…")
    expect(_tile(host, "Olle")).not_to_contain_text("Återansluter…")
    expect(olle.locator(".conn-label")).to_have_text("Via omväg")
    expect(olle).to_contain_text("Svag anslutning")
    s.shot(host, "vardgivare-olle-via-omvag-svag")

    # Back to what his browser measures: direct and good.
    _report(guest, "connected", "direct", "good")
    expect(olle.locator(".conn-label")).to_have_text("Direkt")
    expect(olle).not_to_contain_text("Svag anslutning")


def test_a_network_change_restarts_ice_and_the_media_comes_back_without_leaving_the_meeting(
    media_server: Server,
    new_media_context: NewContext,
    playwright: Playwright,
    steps: Callable[[str], Steps],
) -> None:
    booking = book_protected_meeting(media_server, "Nätverksbyte")
    s = steps("network-change")
    host = _page(new_media_context, viewport={"width": 1366, "height": 860})
    guest = _page(new_media_context, **_phone(playwright))
    _host_in_meeting(host, booking.meeting_id)
    _guest_let_in(host, guest, booking, "Olle")
    host_frames = _frames_decoded(host, "Annika")
    guest_frames = _frames_decoded(guest, "Olle")
    # Both of Olle's media PeerConnections are up (the set-up's connection tests are closed).
    guest.wait_for_function(
        "() => window.__pcs.filter((pc) => pc.connectionState === 'connected').length >= 2", timeout=15_000
    )
    before = guest.evaluate(PEER_CONNECTIONS)
    live_before = [pc for pc in before if pc["state"] == "connected"]
    sockets_before = guest.evaluate("() => window.__sockets.length")
    sent_before = guest.evaluate("() => window.__sent.length")
    assert guest.locator("#steg-mote").get_attribute("data-ice-restarts") is None

    # The phone changes network.
    guest.evaluate("() => window.dispatchEvent(new Event('online'))")
    guest.wait_for_function("() => window.__restored.length > 0", timeout=20_000)
    restored = guest.evaluate("() => window.__restored[0]")
    assert restored["ms"] >= 0, restored
    assert restored["restarts"] >= 2, restored
    print(f"media restored after {restored['ms']} ms, {restored['restarts']} ICE restarts")
    room = guest.locator("#steg-mote")
    assert int(room.get_attribute("data-ice-restarts") or 0) >= 2
    assert room.get_attribute("data-media-restored-ms") == str(restored["ms"])
    assert guest.evaluate("() => window.__banner"), "Olle's page did not say it was reconnecting"
    # Fresh relay credentials first, then the publisher's new offer and the subscriber's restart.
    sent = guest.evaluate("(n) => window.__sent.slice(n)", sent_before)
    assert next((m for m in sent if m != "connection"), None) == "ice_servers", sent
    assert "offer/publisher" in sent, sent
    assert "ice_restart/subscriber" in sent, sent
    assert "answer/subscriber" in sent, sent
    assert "connection" in sent, sent
    expect(guest.locator("#ateransluter")).to_be_hidden()

    # New ICE credentials on both ends of the same PeerConnections; the same WebSocket; no lobby.
    after = guest.evaluate(PEER_CONNECTIONS)
    assert len(after) == len(before), f"new PeerConnections were made: {before} → {after}"
    for old, new in zip(before, after, strict=True):
        if old not in live_before:
            continue
        assert new["state"] == "connected", after
        assert new["local"] != old["local"], f"no ICE restart on this side: {old} → {new}"
        assert new["remote"] != old["remote"], f"Janus kept its ICE credentials: {old} → {new}"
    assert guest.evaluate("() => window.__sockets.length") == sockets_before
    assert guest.evaluate("() => window.__sockets.at(-1).readyState") == 1
    assert guest.evaluate("() => document.body.dataset.step") == "mote"
    expect(host.get_by_role("heading", name="I det här mötet (2)")).to_be_visible()
    expect(host.get_by_role("heading", name="Väntar i lobbyn (0)")).to_be_visible()

    # Video goes on both ways, and Olle is not shown reconnecting once it is back.
    _frames_decoded(host, "Annika", more_than=host_frames + 30)
    _frames_decoded(guest, "Olle", more_than=guest_frames + 30)
    expect(_row(host, "Olle")).not_to_contain_text("Återansluter…", timeout=10_000)
    expect(_row(host, "Olle").locator(".conn-label")).to_have_text("Direkt")
    s.shot(guest, "patient-efter-natverksbyte")


def test_a_refused_subscriber_restart_keeps_the_camera_and_a_later_restart_works(
    media_server: Server, new_media_context: NewContext, playwright: Playwright
) -> None:
    """The server answers an `ice_restart` it cannot carry out (Janus refused the subscriber's
    restart) with an error naming the request: Olle's camera goes on on the same PeerConnection,
    no new subscriber offer is waited for, and the next restart works."""
    booking = book_protected_meeting(media_server, "Omstart som nekas")
    host = _page(new_media_context, viewport={"width": 1366, "height": 860})
    guest = _page(new_media_context, **_phone(playwright))
    _host_in_meeting(host, booking.meeting_id)
    _guest_let_in(host, guest, booking, "Olle")
    host_frames = _frames_decoded(host, "Annika")
    guest.wait_for_function(
        "() => window.__pcs.filter((pc) => pc.connectionState === 'connected').length >= 2", timeout=15_000
    )
    before = _live(guest)
    assert set(before) == {"publisher", "subscriber"}, before

    # The phone changes network; the server refuses the subscriber's restart.
    guest.evaluate("() => { window.__refuseIceRestart = 1; window.dispatchEvent(new Event('online')); }")
    guest.wait_for_function("() => window.__refused === 1 && window.__restored.length > 0", timeout=20_000)
    after = _live(guest)
    assert "publisher" in after, f"the camera's PeerConnection was closed: {after}"
    assert after["publisher"]["i"] == before["publisher"]["i"], (
        f"the camera got a new PeerConnection: {after}"
    )
    assert after["publisher"]["state"] == "connected", after
    assert after["publisher"]["local"] != before["publisher"]["local"], "the camera's own restart did not go"
    assert after["subscriber"]["i"] == before["subscriber"]["i"], after
    assert after["subscriber"]["remote"] == before["subscriber"]["remote"], after
    _frames_decoded(host, "Annika", more_than=host_frames + 30)
    expect(guest.locator("#ateransluter")).to_be_hidden()
    # The refusal means nothing to Olle: no notice.
    expect(guest.get_by_text("Videotjänsten svarar inte")).to_have_count(0)

    # Another network change: this time the subscriber's restart goes through, on the same PeerConnections.
    sent_before = guest.evaluate("() => window.__sent.length")
    guest.evaluate("() => window.dispatchEvent(new Event('online'))")
    guest.wait_for_function("() => window.__restored.length > 1", timeout=20_000)
    guest.wait_for_function(
        "(n) => window.__sent.slice(n).includes('answer/subscriber')", arg=sent_before, timeout=15_000
    )
    again = _live(guest)
    assert again["subscriber"]["i"] == before["subscriber"]["i"], f"a new subscriber PeerConnection: {again}"
    assert again["subscriber"]["remote"] != before["subscriber"]["remote"], "Janus's ICE credentials stayed"
    assert again["subscriber"]["state"] == "connected", again
    assert again["publisher"]["i"] == before["publisher"]["i"], again
    guest_frames = _frames_decoded(guest, "Olle")
    _frames_decoded(guest, "Olle", more_than=guest_frames + 30)
    assert guest.evaluate("() => document.body.dataset.step") == "mote"


def test_a_camera_janus_failed_on_is_published_again(
    media_server: Server, new_media_context: NewContext, playwright: Playwright
) -> None:
    """`media_unavailable` (here one that concerns Olle's media only: Janus itself goes on) closes
    his camera's PeerConnection; his page publishes the camera again by itself, and Annika sees
    him again."""
    booking = book_protected_meeting(media_server, "Kameran tillbaka")
    host = _page(new_media_context, viewport={"width": 1366, "height": 860})
    guest = _page(new_media_context, **_phone(playwright))
    _host_in_meeting(host, booking.meeting_id)
    _guest_let_in(host, guest, booking, "Olle")
    _frames_decoded(host, "Annika")
    guest.wait_for_function(
        "() => window.__pcs.filter((pc) => pc.connectionState === 'connected').length >= 2", timeout=15_000
    )
    before = _live(guest)

    error = json.dumps(
        {
            "type": "error",
            "code": "media_unavailable",
            "message": "Videotjänsten svarar inte just nu. Försök igen om en stund.",
        }
    )
    guest.evaluate(
        "(data) => window.__sockets.at(-1).dispatchEvent(new MessageEvent('message', { data }))", error
    )
    guest.wait_for_function(
        """(old) => window.__pcs[old].connectionState === 'closed' && window.__pcs.some((pc, i) =>
             i > old && pc.connectionState === 'connected' && pc.localDescription?.type === 'offer'
             && /^m=video/m.test(pc.localDescription.sdp))""",
        arg=before["publisher"]["i"],
        timeout=30_000,
    )
    # Annika sees Olle's new camera stream.
    host.wait_for_function(
        """async () => {
          const seen = [];
          for (const pc of window.__pcs) {
            if (pc.connectionState === 'closed') continue;
            (await pc.getStats()).forEach((s) => {
              if (s.type === 'inbound-rtp' && s.kind === 'video') seen.push(s);
            });
          }
          window.__seen = window.__seen ?? new Map();
          let more = false;
          for (const s of seen) {
            const was = window.__seen.get(s.id);
            if (was === undefined) window.__seen.set(s.id, s.framesDecoded ?? 0);
            else if ((s.framesDecoded ?? 0) > was + 30) more = true;
          }
          return more && seen.length > 0;
        }""",
        polling=500,
        timeout=30_000,
    )
    expect(_tile(host, "Olle").locator("video")).to_have_count(1)
    assert guest.evaluate("() => document.body.dataset.step") == "mote"


# A NetworkWatch over a PeerConnection the test moves by hand (its ICE states), with hooks that
# record: restarts asked for (a restart "goes out" when window.__t.release() is called, if
# window.__t.hold is set) and media changes (broken true/false).
FAKE_WATCH = """
async ({ hold }) => {
  const { NetworkWatch } = await import("/static/js/meeting/network-watch.js");
  class FakePc extends EventTarget {
    constructor() { super(); this.iceConnectionState = "connected"; this.connectionState = "connected"; }
    set(ice, connection, tell = true) {
      this.iceConnectionState = ice;
      this.connectionState = connection;
      if (tell) this.dispatchEvent(new Event("iceconnectionstatechange"));
    }
    async getStats() { return new Map(); }
  }
  const t = { restarts: [], changes: [], releases: [], pc: new FakePc() };
  t.release = () => t.releases.splice(0).forEach((r) => r());
  t.watch = new NetworkWatch({
    restart: (name) => {
      t.restarts.push(name);
      return hold ? new Promise((resolve) => t.releases.push(resolve)) : Promise.resolve();
    },
    report: () => true,
    active: () => true,
    changed: (broken) => t.changes.push(broken),
  });
  t.watch.watch("subscriber", t.pc);
  window.__t = t;
}
"""


def _fake_watch(new_context: NewContext, *, hold: bool = False) -> Page:
    page = new_context().new_page()
    page.goto("/")
    page.evaluate(FAKE_WATCH, {"hold": hold})
    return page


def test_a_restart_whose_ice_is_down_again_after_its_negotiation_is_restarted_again(
    new_context: NewContext,
) -> None:
    page = _fake_watch(new_context)
    page.evaluate("() => __t.pc.set('failed', 'failed')")
    page.wait_for_function("() => __t.restarts.length === 1")
    # The new description comes while the old path still works; a moment later it is down.
    page.evaluate(
        """() => {
          __t.pc.set('connected', 'connected', false);
          __t.watch.afterNegotiation('subscriber');
          __t.pc.set('disconnected', 'connected');
        }"""
    )
    page.wait_for_function("() => __t.restarts.length === 2", timeout=15_000)
    assert page.evaluate("() => __t.changes") == [True]


def test_one_restart_at_a_time(new_context: NewContext) -> None:
    page = _fake_watch(new_context, hold=True)
    page.evaluate("() => __t.pc.set('failed', 'failed')")
    page.wait_for_function("() => __t.restarts.length === 1")
    # While it waits (fresh relay credentials, an answer), neither a network change nor the
    # back-off asks for another.
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    page.wait_for_timeout(4_000)
    assert page.evaluate("() => __t.restarts.length") == 1
    # Once it went out the back-off goes on: still down, so another one.
    page.evaluate("() => __t.release()")
    page.wait_for_function("() => __t.restarts.length === 2", timeout=15_000)
    assert page.evaluate("() => __t.changes") == [True]


def test_nothing_is_said_to_be_back_after_the_end(new_context: NewContext) -> None:
    page = _fake_watch(new_context, hold=True)
    page.evaluate("() => __t.pc.set('failed', 'failed')")
    page.wait_for_function("() => __t.changes.length === 1")
    # The connection ends (leaving the meeting) while media is broken: no "Du är ansluten igen."
    page.evaluate("() => __t.watch.stop()")
    assert page.evaluate("() => __t.changes") == [True]


def test_a_network_change_during_the_first_screen_offer_keeps_the_share(
    media_server: Server, new_media_context: NewContext, playwright: Playwright
) -> None:
    """Annika's network changes just as her screen share's first offer goes, and Janus is slow to
    answer it: the share's ICE restart waits for that offer's answer, and the share goes on."""
    booking = book_protected_meeting(media_server, "Skärmdelning och nätbyte")
    host = _page(new_media_context, viewport={"width": 1366, "height": 860})
    guest = _page(new_media_context, **_phone(playwright))
    _host_in_meeting(host, booking.meeting_id)
    _guest_let_in(host, guest, booking, "Olle")
    _frames_decoded(guest, "Olle")

    host.evaluate("() => { window.__onlineAtScreenOffer = true; window.__holdScreenAnswerMs = 1500; }")
    host.get_by_role("button", name="Dela skärm").click()
    host.wait_for_function(
        "() => window.__sent.filter((m) => m === 'offer/screen').length >= 2", timeout=20_000
    )
    host.wait_for_function("() => window.__restored.length > 0", timeout=20_000)
    expect(host.get_by_role("button", name="Sluta dela skärm")).to_be_visible()
    expect(host.get_by_text("A newer offer was sent.")).to_have_count(0)
    expect(guest.locator("#videor li[data-kind='screen']")).to_contain_text("delar skärm")
    guest.wait_for_function(VIDEO_PLAYING, arg="#videor li[data-kind='screen'] video", timeout=15_000)


# The connection report the page would make from getStats readings: stats are given as lists of
# entries (two readings: before and now), read by network-watch.js's linkOf and reportOf.
REPORT_OF = """
async ({readings, broken}) => {
  const { linkOf, reportOf } = await import("/static/js/meeting/network-watch.js");
  const asStats = (entries) => new Map(entries.map((e) => [e.id, e]));
  let counters = new Map();
  let link = null;
  for (const entries of readings) {
    link = linkOf(asStats(entries), counters);
    counters = link.counters;
  }
  return reportOf([link], broken);
}
"""


def _stats(
    local: str = "host",
    remote: str = "host",
    *,
    rtt: float = 0.02,
    received: int = 1000,
    lost: int = 0,
    sent_loss: float | None = None,
    state: str = "succeeded",
) -> list[dict[str, object]]:
    """_stats is one getStats reading of a PeerConnection whose selected pair joins a local
    and a remote candidate of the given types."""
    entries: list[dict[str, object]] = [
        {"id": "T", "type": "transport", "selectedCandidatePairId": "CP"},
        {"id": "CP", "type": "candidate-pair", "state": state, "localCandidateId": "L",
         "remoteCandidateId": "R", "currentRoundTripTime": rtt, "nominated": True},
        {"id": "L", "type": "local-candidate", "candidateType": local},
        {"id": "R", "type": "remote-candidate", "candidateType": remote},
        {"id": "IN", "type": "inbound-rtp", "kind": "video", "packetsReceived": received,
         "packetsLost": lost},
    ]  # fmt: skip
    if sent_loss is not None:
        # What Janus's receiver reports say of the packets this browser sent.
        entries.append({"id": "RIN", "type": "remote-inbound-rtp", "fractionLost": sent_loss})
    return entries


@pytest.mark.parametrize(
    ("readings", "broken", "expected"),
    [
        pytest.param([_stats(), _stats(received=2000)], False, ("connected", "direct", "good"), id="direct"),
        pytest.param([_stats("relay")], False, ("connected", "relay", "good"), id="local-relay"),
        pytest.param([_stats(remote="relay")], False, ("connected", "relay", "good"), id="remote-relay"),
        pytest.param([_stats("srflx", "host")], False, ("connected", "direct", "good"), id="through-nat"),
        pytest.param([_stats(state="in-progress")], True, ("reconnecting", None, "good"), id="no-pair"),
        pytest.param([_stats()], True, ("reconnecting", "direct", "good"), id="restarting"),
        pytest.param([_stats(rtt=0.41)], False, ("connected", "direct", "poor"), id="rtt-over-400ms"),
        pytest.param([_stats(rtt=0.39)], False, ("connected", "direct", "good"), id="rtt-under-400ms"),
        pytest.param(
            [_stats(), _stats(received=1940, lost=60)], False, ("connected", "direct", "poor"), id="lost-6pc"
        ),
        pytest.param(
            [_stats(), _stats(received=1960, lost=40)], False, ("connected", "direct", "good"), id="lost-4pc"
        ),
        pytest.param(
            [_stats(lost=500), _stats(received=2000, lost=500)],
            False,
            ("connected", "direct", "good"),
            id="old-losses-only",
        ),
        pytest.param([_stats(sent_loss=0.08)], False, ("connected", "direct", "poor"), id="janus-lost-8pc"),
        pytest.param([_stats(sent_loss=0.02)], False, ("connected", "direct", "good"), id="janus-lost-2pc"),
    ],
)
def test_the_connection_report_says_how_the_media_goes(
    new_context: NewContext, readings: list[list[dict[str, object]]], broken: bool, expected: tuple[str, ...]
) -> None:
    page = new_context().new_page()
    page.goto("/")
    report = page.evaluate(REPORT_OF, {"readings": readings, "broken": broken})
    assert (report["state"], report["path"], report["quality"]) == expected, report
