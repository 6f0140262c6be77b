// @ts-check
/**
 * How this browser's media is doing, and an ICE restart when it breaks.
 *
 * NetworkWatch follows the PeerConnections of a MeetingConnection (connection.js): when
 * one's ICE fails, or stays disconnected for more than DISCONNECTED_GRACE_MS, or the
 * device changes network (the `online` event, or `navigator.connection`'s `change`
 * with another `type`, e.g. "wifi" to "cellular": its other changes are only new
 * estimates of the speed), it
 * asks the connection to restart that PeerConnection's ICE (a new offer with
 * `iceRestart`, or the server's new subscriber offer), and again with back-off
 * (RESTART_DELAYS_MS) as long as it stays broken. It never leaves the meeting: the
 * WebSocket, the place and the lobby are reconnect.js's and the server's business.
 *
 * Every REPORT_EVERY_MS it reads getStats and makes the `connection` report of
 * docs/protocol.md (connectedness, direct or relayed, good or poor), handed on only
 * when it changed, at most once a second.
 *
 * The rules (`reportOf`, `linkOf`) are plain functions with no I/O; the class is the
 * timers and listeners around them.
 * @module meeting/network-watch
 */

/** @import { ConnectionReport, MediaPath } from "./protocol.js" */

/** DISCONNECTED_GRACE_MS: ICE "disconnected" often heals by itself within a second or two; after this, restart. */
export const DISCONNECTED_GRACE_MS = 2_000;
/** RESTART_DELAYS_MS are the waits before checking a restarted PeerConnection and restarting it again; the last repeats. */
export const RESTART_DELAYS_MS = [3_000, 4_000, 6_000, 10_000];
/**
 * RESTART_SEND_WAIT_MS bounds the wait for a restart to go out (fresh relay credentials first,
 * then the offer and, for publisher and screen, its answer): only then does the back-off start,
 * and no second restart of the same PeerConnection goes before it, unless this much passed.
 */
export const RESTART_SEND_WAIT_MS = 15_000;
/** A restarted PeerConnection whose ICE is up at its new description is looked at again this much later. */
const LOOK_AGAIN_MS = 250;
/** REPORT_EVERY_MS is how often getStats is read for the `connection` report. */
export const REPORT_EVERY_MS = 2_000;
/** REPORT_AT_MOST_EVERY_MS: the server gets at most one `connection` report a second. */
export const REPORT_AT_MOST_EVERY_MS = 1_000;
/**
 * POOR_LOSS: more than 5 % of the packets lost over the last interval. Opus hides a
 * few percent; above about 5 % words drop out and the picture freezes.
 */
export const POOR_LOSS = 0.05;
/**
 * POOR_RTT_SECONDS: a round trip over 400 ms. ITU-T G.114 puts 400 ms of delay as
 * the limit for conversation; past it people start talking over each other.
 */
export const POOR_RTT_SECONDS = 0.4;
/** Fewer packets than this in an interval say nothing about loss (a muted microphone, a paused video). */
const MIN_PACKETS = 20;

/** @typedef {"publisher" | "screen" | "subscriber"} PcName */

/**
 * What one PeerConnection's stats say, and the counters the next reading compares with.
 * @typedef {Object} Link
 * @property {boolean} connected a candidate pair is selected and succeeded
 * @property {MediaPath | null} path
 * @property {number | null} rtt the selected pair's round trip, seconds
 * @property {number | null} loss the share of packets lost since the last reading (either direction), or null
 * @property {Map<string, {lost: number, received: number}>} counters inbound-rtp counters by stats id
 */

/**
 * selectedPair finds the selected candidate pair of a stats report: the transport's
 * `selectedCandidatePairId`, else a nominated pair that succeeded.
 * @param {RTCStatsReport} stats
 * @returns {any}
 */
function selectedPair(stats) {
  /** @type {any} */
  let found = null;
  stats.forEach((s) => {
    if (s.type === "transport" && s.selectedCandidatePairId && !found) found = stats.get(s.selectedCandidatePairId) ?? null;
  });
  if (found) return found;
  stats.forEach((s) => {
    if (s.type === "candidate-pair" && (s.selected || (s.nominated && s.state === "succeeded")) && !found) found = s;
  });
  return found;
}

/**
 * linkOf reads a PeerConnection's stats: whether it is connected, the path of its
 * selected candidate pair (`relay` if either the local or the remote candidate is a
 * relay candidate), its round trip, and the packet loss since before.
 * @param {RTCStatsReport} stats
 * @param {Map<string, {lost: number, received: number}>} [before] the counters of the last reading
 * @returns {Link}
 */
export function linkOf(stats, before = new Map()) {
  const pair = selectedPair(stats);
  const connected = !!pair && pair.state === "succeeded";
  /** @type {MediaPath | null} */
  let path = null;
  if (connected) {
    const local = stats.get(pair.localCandidateId);
    const remote = stats.get(pair.remoteCandidateId);
    path = local?.candidateType === "relay" || remote?.candidateType === "relay" ? "relay" : "direct";
  }
  const rtt = connected && typeof pair.currentRoundTripTime === "number" ? pair.currentRoundTripTime : null;
  /** @type {Map<string, {lost: number, received: number}>} */
  const counters = new Map();
  let lost = 0;
  let received = 0;
  /** @type {number | null} */
  let sentLoss = null;
  stats.forEach((s) => {
    if (s.type === "inbound-rtp") {
      const now = { lost: Math.max(0, s.packetsLost ?? 0), received: s.packetsReceived ?? 0 };
      counters.set(s.id, now);
      const then = before.get(s.id);
      if (then) {
        lost += Math.max(0, now.lost - then.lost);
        received += Math.max(0, now.received - then.received);
      }
    } else if (s.type === "remote-inbound-rtp" && typeof s.fractionLost === "number") {
      // What Janus received of ours, over its last receiver report.
      sentLoss = Math.max(sentLoss ?? 0, s.fractionLost);
    }
  });
  /** @type {number | null} */
  let loss = lost + received >= MIN_PACKETS ? lost / (lost + received) : null;
  if (sentLoss !== null) loss = Math.max(loss ?? 0, sentLoss);
  return { connected, path, rtt, loss, counters };
}

/**
 * reportOf makes the `connection` report from the links of every PeerConnection:
 * `reconnecting` while any is broken or restarting, the path `relay` if any goes through a
 * relay (`direct` if all that are connected go direct; null if none is), and `poor` when
 * any loses more than POOR_LOSS of its packets or has a round trip over POOR_RTT_SECONDS.
 * @param {Link[]} links
 * @param {boolean} broken
 * @returns {ConnectionReport}
 */
export function reportOf(links, broken) {
  const connected = links.filter((l) => l.connected);
  /** @type {MediaPath | null} */
  let path = null;
  if (connected.some((l) => l.path === "relay")) path = "relay";
  else if (connected.length) path = "direct";
  const poor = connected.some((l) => (l.loss ?? 0) > POOR_LOSS || (l.rtt ?? 0) > POOR_RTT_SECONDS);
  return { state: broken ? "reconnecting" : "connected", path, quality: poor ? "poor" : "good" };
}

/**
 * @typedef {Object} WatchHooks
 * @property {(name: PcName) => Promise<void>} restart restarts the ICE of the PeerConnection named name
 * @property {(report: ConnectionReport) => boolean} report sends a `connection` report; false if it could not go
 * @property {() => boolean} active whether the meeting goes on here (admitted, not closed)
 * @property {(broken: boolean, ms: number) => void} changed media broke (false → true) or came back after ms
 */

/**
 * @typedef {Object} Watched
 * @property {RTCPeerConnection} pc
 * @property {number | null} brokenSince when it broke (performance.now()), null while it works
 * @property {number} attempts restarts since it broke
 * @property {ReturnType<typeof setTimeout> | undefined} timer the grace period, the next check, or the look after a negotiation
 * @property {boolean} restarting a restart was asked for and has not gone out yet
 * @property {boolean} lookingAgain the timer is the look shortly after a negotiation (afterNegotiation)
 * @property {number} delay the back-off of the latest restart, ms
 * @property {Map<string, {lost: number, received: number}>} counters
 * @property {() => void} unwatch
 */

/** NetworkWatch follows the PeerConnections of one MeetingConnection. */
export class NetworkWatch {
  /** @param {WatchHooks} hooks */
  constructor(hooks) {
    this.hooks = hooks;
    /** @type {Map<PcName, Watched>} */
    this.watched = new Map();
    /** iceRestarts counts the ICE restarts asked for, every PeerConnection together. */
    this.iceRestarts = 0;
    /** @type {number | null} since when some media is broken (performance.now()) */
    this.brokenSince = null;
    /** @type {string} the last report sent, as JSON */
    this.sent = "";
    this.sentAt = -Infinity;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this.reportTimer = undefined;
    /** @type {ReturnType<typeof setInterval> | undefined} */
    this.ticker = undefined;
    this.reading = false;
    /** a reading was asked for while one ran: read again after it */
    this.readAgain = false;
    this.stopped = false;
    /** @type {ConnectionReport | null} */
    this.lastReport = null;
    this.wentOnline = () => this.restartAll();
    addEventListener("online", this.wentOnline);
    /** @type {(EventTarget & {type?: string}) | undefined} navigator.connection, where the browser has it */
    this.network = /** @type {any} */ (navigator).connection;
    this.networkType = this.network?.type;
    this.networkChanged = () => {
      const type = this.network?.type;
      if (type === undefined || type === this.networkType) return;
      this.networkType = type;
      this.restartAll();
    };
    this.network?.addEventListener("change", this.networkChanged);
    this.ticker = setInterval(() => this.read(), REPORT_EVERY_MS);
  }

  /**
   * watch follows pc as the PeerConnection named name (in place of the one before it).
   * @param {PcName} name
   * @param {RTCPeerConnection} pc
   */
  watch(name, pc) {
    this.forget(name);
    const onChange = () => this.stateChanged(name);
    pc.addEventListener("iceconnectionstatechange", onChange);
    pc.addEventListener("connectionstatechange", onChange);
    /** @type {Watched} */
    const w = {
      pc,
      brokenSince: null,
      attempts: 0,
      timer: undefined,
      restarting: false,
      lookingAgain: false,
      delay: RESTART_DELAYS_MS[0],
      counters: new Map(),
      unwatch: () => {
        pc.removeEventListener("iceconnectionstatechange", onChange);
        pc.removeEventListener("connectionstatechange", onChange);
      },
    };
    this.watched.set(name, w);
  }

  /**
   * forget stops following the PeerConnection named name (closed or replaced).
   * @param {PcName} name
   */
  forget(name) {
    const w = this.watched.get(name);
    if (!w) return;
    clearTimeout(w.timer);
    w.unwatch();
    this.watched.delete(name);
    this.settle();
  }

  /** stop ends every timer and listener: the connection is over. */
  stop() {
    this.stopped = true;
    for (const name of [...this.watched.keys()]) this.forget(name);
    clearInterval(this.ticker);
    clearTimeout(this.reportTimer);
    removeEventListener("online", this.wentOnline);
    this.network?.removeEventListener("change", this.networkChanged);
  }

  /** resend forgets what was reported, so the next reading goes to the server again (a new socket). */
  resend() {
    this.sent = "";
    this.read();
  }

  /**
   * broken tells whether the ICE of pc is down (disconnected or failed).
   * @param {RTCPeerConnection} pc
   */
  static down(pc) {
    const ice = pc.iceConnectionState;
    return ice === "disconnected" || ice === "failed" || pc.connectionState === "failed";
  }

  /**
   * up tells whether the ICE of pc works.
   * @param {RTCPeerConnection} pc
   */
  static up(pc) {
    const ice = pc.iceConnectionState;
    return (ice === "connected" || ice === "completed") && pc.connectionState !== "failed";
  }

  /** @param {PcName} name */
  stateChanged(name) {
    const w = this.watched.get(name);
    if (!w || this.stopped) return;
    if (w.pc.connectionState === "closed") {
      this.forget(name);
      return;
    }
    if (NetworkWatch.up(w.pc)) {
      // Healed by itself within the grace period, or the restarted ICE is connected.
      if (w.brokenSince !== null) {
        clearTimeout(w.timer);
        w.brokenSince = null;
        w.attempts = 0;
        this.settle();
      }
      return;
    }
    if (!NetworkWatch.down(w.pc) || w.brokenSince !== null) return;
    this.broke(name, w, w.pc.iceConnectionState === "failed" || w.pc.connectionState === "failed" ? 0 : DISCONNECTED_GRACE_MS);
  }

  /**
   * broke marks w broken and restarts it after wait ms unless it heals first.
   * @param {PcName} name
   * @param {Watched} w
   * @param {number} wait
   */
  broke(name, w, wait) {
    if (w.brokenSince === null) w.brokenSince = performance.now();
    this.settle();
    clearTimeout(w.timer);
    w.lookingAgain = false;
    // Under way already: the restart that goes out checks afterwards (restart does nothing now).
    w.timer = setTimeout(() => this.restart(name), wait);
  }

  /** restartAll: the device changed network; every PeerConnection restarts its ICE at once. */
  restartAll() {
    if (this.stopped || !this.hooks.active()) return;
    for (const [name, w] of this.watched) {
      if (w.pc.connectionState === "closed") continue;
      w.attempts = 0;
      this.broke(name, w, 0);
    }
  }

  /**
   * restart asks for an ICE restart of name and, once it went out, checks again after the next
   * back-off. One restart at a time: while one waits (for fresh relay credentials, or for the
   * answer to its offer) another is not asked for; the one under way checks afterwards.
   * @param {PcName} name
   */
  restart(name) {
    const w = this.watched.get(name);
    if (!w || this.stopped || w.brokenSince === null || w.restarting) return;
    const delay = RESTART_DELAYS_MS[Math.min(w.attempts, RESTART_DELAYS_MS.length - 1)];
    w.delay = delay;
    if (!this.hooks.active()) {
      this.check(name, w, delay); // the socket is away: check again later
      return;
    }
    clearTimeout(w.timer);
    w.lookingAgain = false;
    w.attempts += 1;
    this.iceRestarts += 1;
    w.restarting = true;
    let done = false;
    const wentOut = () => {
      if (done) return;
      done = true;
      clearTimeout(bound);
      w.restarting = false;
      // A look after its negotiation is already on the way: that one goes on with the back-off.
      if (this.watched.get(name) === w && !w.lookingAgain) this.check(name, w, delay);
    };
    const bound = setTimeout(wentOut, RESTART_SEND_WAIT_MS);
    this.hooks
      .restart(name)
      .catch((e) => console.warn("ICE restart", name, e))
      .finally(wentOut);
  }

  /**
   * check looks at w after delay ms: back if its ICE is up, else restarted again.
   * @param {PcName} name
   * @param {Watched} w
   * @param {number} delay
   */
  check(name, w, delay) {
    clearTimeout(w.timer);
    w.lookingAgain = false;
    w.timer = setTimeout(() => {
      if (this.watched.get(name) !== w || w.brokenSince === null || this.stopped) return;
      if (NetworkWatch.up(w.pc)) {
        w.brokenSince = null;
        w.attempts = 0;
        this.settle();
      } else {
        this.restart(name);
      }
    }, delay);
  }

  /**
   * afterNegotiation: a restarted PeerConnection got its new remote description; if its ICE is
   * already up (the old path still worked), it is back, unless it is down a moment later:
   * then the back-off goes on.
   * @param {PcName} name
   */
  afterNegotiation(name) {
    const w = this.watched.get(name);
    if (w && w.brokenSince !== null && w.attempts > 0 && NetworkWatch.up(w.pc) && w.pc.connectionState === "connected") {
      clearTimeout(w.timer);
      // The checks of the new credentials may still run: look again shortly rather than at once.
      w.lookingAgain = true;
      w.timer = setTimeout(() => {
        w.lookingAgain = false;
        if (this.watched.get(name) !== w || w.brokenSince === null || this.stopped) return;
        if (NetworkWatch.up(w.pc)) this.stateChanged(name);
        else if (!w.restarting) this.check(name, w, w.delay);
      }, LOOK_AGAIN_MS);
    }
  }

  /** settle tells the hooks when media as a whole broke or came back, and reports it; nothing once stopped. */
  settle() {
    if (this.stopped) return;
    const broken = [...this.watched.values()].some((w) => w.brokenSince !== null);
    if (broken && this.brokenSince === null) {
      this.brokenSince = performance.now();
      this.hooks.changed(true, 0);
    } else if (!broken && this.brokenSince !== null) {
      const ms = Math.round(performance.now() - this.brokenSince);
      this.brokenSince = null;
      this.hooks.changed(false, ms);
    }
    this.read();
  }

  /** read makes the report from getStats of every PeerConnection and sends it if it changed. */
  async read() {
    if (this.stopped || !this.hooks.active() || this.watched.size === 0) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    this.readAgain = false;
    try {
      /** @type {Link[]} */
      const links = [];
      for (const w of [...this.watched.values()]) {
        if (w.pc.connectionState === "closed") continue;
        const link = linkOf(await w.pc.getStats(), w.counters);
        w.counters = link.counters;
        links.push(link);
      }
      const broken = [...this.watched.values()].some((w) => w.brokenSince !== null);
      this.offer(reportOf(links, broken));
    } catch (e) {
      console.warn("connection report", e);
    } finally {
      this.reading = false;
    }
    if (this.readAgain) this.read();
  }

  /**
   * offer sends report if it differs from the last one sent, at most once a second.
   * @param {ConnectionReport} report
   */
  offer(report) {
    this.lastReport = report;
    const text = JSON.stringify(report);
    if (text === this.sent) return;
    clearTimeout(this.reportTimer);
    const wait = this.sentAt + REPORT_AT_MOST_EVERY_MS - performance.now();
    if (wait > 0) {
      this.reportTimer = setTimeout(() => this.lastReport && this.offer(this.lastReport), wait);
      return;
    }
    if (this.hooks.report(report)) {
      this.sent = text;
      this.sentAt = performance.now();
    }
  }
}
