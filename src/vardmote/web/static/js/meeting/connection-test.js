// @ts-check
/**
 * "Testa anslutningen": whether media can reach the service from this network,
 * before "Anslut nu" (docs/protocol.md, "Connection test").
 *
 *     import { testConnection } from "/static/js/meeting/connection-test.js";
 *     const { result } = await testConnection({ link });   // "direct" | "relay" | "none"
 *
 * 1. A data-channel-only PeerConnection with no ICE servers gathers every
 *    candidate; its offer goes to `POST /api/v1/connection-test`, which puts
 *    Janus's EchoTest on the node the meeting would use and answers with Janus's
 *    answer, the test's id and the relay's probe servers.
 * 2. With the answer set, the page waits at most ECHO_WAIT_MS for ICE to connect and
 *    for a few bytes sent over the data channel to come back: `direct`.
 * 3. Meanwhile relay-only PeerConnections (one per URL) ask each probe server for an
 *    allocation with credentials that never work: a relay that answers says 401
 *    (`icecandidateerror`, errorCode 401: it is reachable over that transport); one
 *    not reached says 701. If the direct way failed and a relay answered: `relay`.
 * 4. Otherwise `none`. The test is then ended (`DELETE /api/v1/connection-test/<id>`).
 *
 * No camera, no microphone and no media: a data channel of a few bytes only, to
 * Janus's echo, and nothing that a relay would accept. The probe servers carry no
 * usable credentials, so the lobby gets no relay from the test either.
 *
 * ConnectionTestError is a test that could not be run (the service refused it, too
 * many tests at once, no network to the service): the page says so and lets the
 * person connect anyway.
 * @module meeting/connection-test
 */

/** @import { IceServer } from "./protocol.js" */

/** ENDPOINT is where the test is started (and, with its id, ended). */
export const ENDPOINT = "/api/v1/connection-test";
/** ECHO_WAIT_MS: how long ICE and the echo may take once Janus's answer is set. */
export const ECHO_WAIT_MS = 6_000;
/** GATHER_WAIT_MS: candidate gathering that has not completed by then goes with what it has. */
const GATHER_WAIT_MS = 4_000;
/** The data channel's label; Janus's EchoTest sends back what comes on it. */
const CHANNEL = "anslutningstest";
/** MAX_CANDIDATES: the service takes at most this many candidates in a test's offer (docs/api.md). */
export const MAX_CANDIDATES = 30;

/**
 * unusableAddress tells whether a candidate's address is one the service refuses in a test's
 * offer, as Janus must not send checks to it: loopback, link-local, multicast, unspecified or
 * broadcast (also as IPv4 in IPv6), or a name other than the browser's mDNS `.local` one.
 * @param {string} address
 * @returns {boolean}
 */
export function unusableAddress(address) {
  const a = address.toLowerCase();
  if (a.endsWith(".local") && !a.includes("/")) return false;
  const v4 = /^(?:::ffff:)?(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(a);
  if (v4) {
    const [b0, b1] = [Number(v4[1]), Number(v4[2])];
    if (a.endsWith("255.255.255.255")) return true;
    return b0 === 127 || b0 === 0 || (b0 === 169 && b1 === 254) || (b0 >= 224 && b0 <= 239);
  }
  if (!a.includes(":") || !/^[0-9a-f:.]+$/.test(a)) return true; // a DNS name (or nothing)
  if (/^(?:0*:)*:?0*1?$/.test(a)) return true; // :: and ::1
  return /^fe[89ab]/.test(a) || a.startsWith("ff");
}

/**
 * offerForService is the test's offer as the service takes it: without the candidates at
 * unusable addresses (a browser started with loopback candidates, an IPv6 link-local
 * address), and with at most MAX_CANDIDATES of the rest.
 * @param {string} sdp
 * @returns {string}
 */
export function offerForService(sdp) {
  let kept = 0;
  return sdp
    .split(/\r\n|\n|\r/)
    .filter((line) => {
      if (!line.startsWith("a=candidate:")) return true;
      if (unusableAddress(line.split(" ")[4] ?? "") || kept >= MAX_CANDIDATES) return false;
      kept += 1;
      return true;
    })
    .join("\r\n");
}

/** @typedef {"direct" | "relay" | "none"} ConnectionTestResult */

/**
 * What the page tells the service it is: a guest link's token, a meeting (staff, by the
 * session cookie, with its CSRF token), or a room device's token.
 * @typedef {Object} ConnectionTestOptions
 * @property {string} [link]
 * @property {string} [meeting]
 * @property {string} [device]
 * @property {string} [csrf] the staff session's CSRF token (X-CSRF-Token), with meeting
 * @property {AbortSignal} [signal] ends the test early (e.g. "Anslut nu" was pressed)
 * @property {number} [echoWaitMs] ECHO_WAIT_MS by default
 */

/**
 * @typedef {Object} ConnectionTestOutcome
 * @property {ConnectionTestResult} result
 * @property {boolean} echoed the bytes sent to Janus's echo came back
 * @property {string[]} relaysReached the probe servers' URLs that answered (401)
 * @property {number} ms how long the test took
 */

/** ConnectionTestError is a connection test that could not be run; message is for the log. */
export class ConnectionTestError extends Error {
  /**
   * @param {string} message
   * @param {number} [status] the HTTP status, if the service answered
   * @param {string} [detail] the service's Swedish `detail`, if it gave one
   */
  constructor(message, status, detail) {
    super(message);
    this.name = "ConnectionTestError";
    this.status = status;
    this.detail = detail;
  }
}

/**
 * gathered resolves once pc has gathered every candidate, or after ms.
 * @param {RTCPeerConnection} pc
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<void>}
 */
function gathered(pc, ms, signal) {
  return new Promise((resolve) => {
    if (pc.iceGatheringState === "complete") {
      resolve();
      return;
    }
    const done = () => {
      clearTimeout(timer);
      pc.removeEventListener("icegatheringstatechange", check);
      signal?.removeEventListener("abort", done);
      resolve();
    };
    const check = () => {
      if (pc.iceGatheringState === "complete") done();
    };
    const timer = setTimeout(done, ms);
    pc.addEventListener("icegatheringstatechange", check);
    signal?.addEventListener("abort", done);
  });
}

/**
 * echo sends a few random bytes over channel once it is open and resolves true when they
 * come back within ms, false otherwise. Janus's EchoTest returns text with a greeting of its
 * own in front ("Janus EchoTest here! You wrote: …"), so a reply that ends with them counts.
 * @param {RTCDataChannel} channel
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<boolean>}
 */
function echo(channel, ms, signal) {
  const token = `vardmote-${crypto.getRandomValues(new Uint32Array(2)).join("-")}`;
  return new Promise((resolve) => {
    const finish = (/** @type {boolean} */ ok) => {
      clearTimeout(timer);
      channel.removeEventListener("open", send);
      channel.removeEventListener("message", received);
      signal?.removeEventListener("abort", aborted);
      resolve(ok);
    };
    const send = () => {
      try {
        channel.send(token);
      } catch {
        finish(false);
      }
    };
    const received = (/** @type {MessageEvent} */ event) => {
      if (typeof event.data === "string" && event.data.endsWith(token)) finish(true);
    };
    const aborted = () => finish(false);
    const timer = setTimeout(() => finish(false), ms);
    channel.addEventListener("message", received);
    signal?.addEventListener("abort", aborted);
    if (channel.readyState === "open") send();
    else channel.addEventListener("open", send);
  });
}

/**
 * probeRelays asks every probe server's every URL for an allocation (relay candidates only),
 * each URL in a PeerConnection of its own, and resolves with the URLs that answered 401, once
 * gathering is over or after ms.
 *
 * One PeerConnection per URL: in one PeerConnection Chromium reports nothing from TURN over TCP
 * or TLS within the wait while TURN over UDP to the same server is unanswered, so on a network
 * that blocks UDP the test said "none" where the relay over TCP works (tests/e2e/test_networks.py).
 * @param {IceServer[]} servers
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<string[]>}
 */
export async function probeRelays(servers, ms, signal) {
  const single = servers.flatMap((s) => (Array.isArray(s.urls) ? s.urls : [s.urls]).map((url) => ({ ...s, urls: [url] })));
  const reached = await Promise.all(single.map((server) => probeRelay(server, ms, signal)));
  return [...new Set(reached.flat())];
}

/**
 * probeRelay asks one relay server for an allocation (relay candidates only) and resolves with
 * its URLs that answered 401, once gathering is over or after ms.
 * @param {IceServer} server
 * @param {number} ms
 * @param {AbortSignal} [signal]
 * @returns {Promise<string[]>}
 */
async function probeRelay(server, ms, signal) {
  const pc = new RTCPeerConnection({ iceServers: [server], iceTransportPolicy: "relay" });
  /** @type {Set<string>} */
  const reached = new Set();
  pc.addEventListener("icecandidateerror", (event) => {
    const e = /** @type {RTCPeerConnectionIceErrorEvent} */ (event);
    // 401: the relay answered (and refused the probe's credentials); 701: it was not reached.
    if (e.errorCode === 401) reached.add(e.url);
  });
  pc.addEventListener("icecandidate", (event) => {
    // A relay that gave an allocation answered too (it should not, with the probe's credentials).
    const c = event.candidate;
    if (c && c.type === "relay") reached.add(/** @type {any} */ (c).url ?? "relay");
  });
  try {
    pc.createDataChannel(CHANNEL);
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, ms, signal);
  } finally {
    pc.close();
  }
  return [...reached];
}

/**
 * problemDetail reads the Swedish `detail` of a problem JSON answer, if there is one.
 * @param {Response} response
 * @returns {Promise<string | undefined>}
 */
async function problemDetail(response) {
  try {
    const body = await response.json();
    return typeof body?.detail === "string" ? body.detail : undefined;
  } catch {
    return undefined;
  }
}

/**
 * testConnection runs the connection test (see the module) and resolves with its outcome;
 * it rejects with a ConnectionTestError if the test could not be run.
 * @param {ConnectionTestOptions} options
 * @returns {Promise<ConnectionTestOutcome>}
 */
export async function testConnection(options) {
  const started = performance.now();
  const { signal } = options;
  /** @type {Record<string, string>} */
  const who = {};
  if (options.link) who.link = options.link;
  else if (options.device) who.device = options.device;
  else if (options.meeting) who.meeting = options.meeting;
  /** @type {Record<string, string>} */
  const headers = { "Content-Type": "application/json", Accept: "application/json" };
  if (options.csrf) headers["X-CSRF-Token"] = options.csrf;

  const pc = new RTCPeerConnection({ iceServers: [] });
  /** @type {string | null} */
  let id = null;
  try {
    const channel = pc.createDataChannel(CHANNEL, { ordered: true });
    await pc.setLocalDescription(await pc.createOffer());
    await gathered(pc, GATHER_WAIT_MS, signal);
    /** @type {Response} */
    let response;
    try {
      response = await fetch(ENDPOINT, {
        method: "POST",
        headers,
        credentials: "same-origin",
        body: JSON.stringify({ ...who, sdp: offerForService(pc.localDescription?.sdp ?? "") }),
        signal,
      });
    } catch (e) {
      throw new ConnectionTestError(`the service was not reached: ${e}`);
    }
    if (!response.ok) {
      throw new ConnectionTestError(`the service answered ${response.status}`, response.status, await problemDetail(response));
    }
    const answer = await response.json();
    id = typeof answer?.id === "string" ? answer.id : null;
    if (typeof answer?.sdp !== "string") throw new ConnectionTestError("the answer has no sdp", response.status);
    const relay = Array.isArray(answer.relay) ? /** @type {IceServer[]} */ (answer.relay) : [];
    const wait = options.echoWaitMs ?? ECHO_WAIT_MS;
    const probing = probeRelays(relay, wait, signal).catch((e) => {
      console.warn("connection test: relay probe", e);
      return /** @type {string[]} */ ([]);
    });
    await pc.setRemoteDescription({ type: "answer", sdp: answer.sdp });
    const echoed = await echo(channel, wait, signal);
    // The relays are asked only to tell "relay" from "none": a direct echo needs no wait for them.
    const relaysReached = echoed ? await Promise.race([probing, Promise.resolve([])]) : await probing;
    /** @type {ConnectionTestResult} */
    const result = echoed ? "direct" : relaysReached.length ? "relay" : "none";
    return { result, echoed, relaysReached, ms: Math.round(performance.now() - started) };
  } finally {
    pc.close();
    if (id) {
      fetch(`${ENDPOINT}/${encodeURIComponent(id)}`, { method: "DELETE", headers, credentials: "same-origin", keepalive: true }).catch(
        () => undefined,
      );
    }
  }
}

/**
 * The shown results: the id of each one's <template> in _device_setup.html.
 * @type {Record<ConnectionTestResult | "testing" | "unknown", string>}
 */
const RESULT_TEMPLATES = {
  testing: "anslutning-testar",
  direct: "anslutning-direkt",
  relay: "anslutning-omvag",
  none: "anslutning-stoppad",
  unknown: "anslutning-okand",
};

/**
 * ConnectionTestPanel is "Testa anslutningen" in "Ställ in ljud och bild": the button runs
 * testConnection and the status (role="status") says the outcome in plain Swedish, from the
 * templates of _device_setup.html. It never blocks "Anslut nu". The panel's `data-result`
 * ("testing", "direct", "relay", "none", "unknown") is the outcome for tests.
 */
export class ConnectionTestPanel {
  /**
   * @param {HTMLElement} root the #grupp-anslutning group
   * @param {Omit<ConnectionTestOptions, "signal">} options who the page is
   */
  constructor(root, options) {
    /** @type {<T extends HTMLElement>(id: string, type: new () => T) => T} */
    const find = (id, type) => {
      const found = root.querySelector(`#${id}`);
      if (!(found instanceof type)) throw new Error(`connection-test: #${id} is missing from the page`);
      return found;
    };
    this.root = root;
    this.options = options;
    this.button = find("testa-anslutning", HTMLButtonElement);
    this.status = find("anslutning-status", HTMLElement);
    /** @type {AbortController | null} the test under way */
    this.running = null;
    /** @type {ConnectionTestOutcome | null} the last outcome */
    this.outcome = null;
    this.button.addEventListener("click", () => this.run());
  }

  /**
   * run runs the test unless one is under way, and shows its outcome.
   * @returns {Promise<void>}
   */
  async run() {
    if (this.running) return;
    const controller = new AbortController();
    this.running = controller;
    // Not disabled: a disabled button would lose the keyboard focus.
    this.button.setAttribute("aria-disabled", "true");
    this.show("testing");
    try {
      this.outcome = await testConnection({ ...this.options, signal: controller.signal });
      if (!controller.signal.aborted) this.show(this.outcome.result);
    } catch (e) {
      if (!controller.signal.aborted) {
        console.warn("connection test", e);
        this.show("unknown");
      }
    } finally {
      if (this.running === controller) this.running = null;
      this.button.removeAttribute("aria-disabled");
    }
  }

  /** stop ends a test under way (its PeerConnections closed, the service told); its outcome is not shown. */
  stop() {
    this.running?.abort();
    this.running = null;
    this.button.removeAttribute("aria-disabled");
    if (this.root.dataset.result === "testing") this.show(null);
  }

  /**
   * show puts the text of result into the status ("" for none).
   * @param {ConnectionTestResult | "testing" | "unknown" | null} result
   */
  show(result) {
    this.root.dataset.result = result ?? "";
    this.status.setAttribute("aria-busy", String(result === "testing"));
    const template = result ? document.getElementById(RESULT_TEMPLATES[result]) : null;
    // The status stays in the page (empty, without a box) so that screen readers follow it as a live region.
    this.status.replaceChildren(template instanceof HTMLTemplateElement ? template.content.cloneNode(true) : "");
  }
}
