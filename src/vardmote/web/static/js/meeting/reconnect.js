// @ts-check
/**
 * The meeting WebSocket of connection.js, dialled again when it drops.
 *
 * When the socket closes while the meeting goes on for this participant (not
 * after `denied`, `removed`, `link_gone`, `ended` or `taken_over`, a refused
 * `join`, `leave` or a close the page asked for), MeetingSocket reports it
 * (`lost`) and dials again after a short backoff (0.2 s, 0.5 s, 1 s, 2 s, then
 * every 2 s) until a `joined` comes back or the time is up (25 s by default,
 * within the server's reconnect window of 30 s). A close with 1012 ("service
 * restart", a vardmote process stopping) or 1006 (a process killed, the
 * network gone) is treated like any other. Every later dial sends the `join`
 * the connection makes for it (`resume` and `keep_media`, docs/protocol.md);
 * the PeerConnections are the connection's business, not this module's (their
 * ICE restarts are network-watch.js's).
 * @module meeting/reconnect
 */

/** @import { JoinedMessage } from "./protocol.js" */
import { ConnectionError } from "./protocol.js";

/** The waits before each new dial; the last one repeats. */
export const REDIAL_DELAYS_MS = [200, 500, 1000, 2000];
/** How long a dropped socket is dialled again before giving up (the server keeps the place 30 s). */
export const REDIAL_FOR_MS = 25_000;
/** How long one later dial may wait for `joined` (a new owner takes a meeting over within ~4 s). */
export const DIAL_TIMEOUT_MS = 10_000;
/** Refusals of a later `join` that are dialled again: the service, not the place, is missing. */
const TRANSIENT = new Set(["service_unavailable", "media_unavailable"]);

/**
 * @typedef {Object} RedialOptions
 * @property {boolean} [reconnect] dial again when the socket drops (true by default)
 * @property {number} [reconnectForMs] how long to keep dialling, REDIAL_FOR_MS by default
 * @property {number[]} [reconnectDelaysMs] the waits before each dial, REDIAL_DELAYS_MS by default
 */

/**
 * The `reconnecting` event: the socket dropped and is being dialled again.
 * @typedef {Object} ReconnectingEventDetail
 * @property {number} code the close code (1006: no close frame, e.g. a killed process; 1012: a server restarting)
 * @property {string} reason
 */

/**
 * The `reconnected` event: the dropped WebSocket is back and the place with it.
 * @typedef {Object} ReconnectedEventDetail
 * @property {JoinedMessage} joined the new `joined` (also given as a `joined` event)
 * @property {boolean} mediaKept the PeerConnections go on as they were (`media_kept`); if not,
 *   they were closed (`track_removed` for each track), the camera is published again and the
 *   server offers a new subscriber; a screen share is over
 */

/**
 * The `closed` event: the connection is over for good. error is why, when it
 * is not the meeting's own end nor the page's close: a refused `join` on a
 * later dial (its protocol code) or "closed" when dialling again gave up.
 * @typedef {Object} ClosedEventDetail
 * @property {number} code
 * @property {string} reason
 * @property {ConnectionError} [error]
 */

/**
 * @typedef {Object} SocketHooks
 * @property {(again: boolean) => Record<string, unknown>} join the `join` to send (again: a later dial)
 * @property {(message: any) => void} message every message received, parsed
 * @property {(detail: ReconnectingEventDetail) => void} lost the socket dropped; it is being dialled again
 * @property {(detail: ClosedEventDetail) => void} closed the socket is closed for good
 */

/** MeetingSocket is one participant's meeting WebSocket, dialled again as long as the meeting goes on. */
export class MeetingSocket {
  /**
   * @param {() => string} url
   * @param {SocketHooks} hooks
   * @param {RedialOptions} options
   */
  constructor(url, hooks, options) {
    this.url = url;
    this.hooks = hooks;
    this.options = options;
    /** @type {WebSocket | null} */
    this._ws = null;
    /** set once a `joined` came on any socket: a drop after it is dialled again */
    this._joined = false;
    /** set when no socket may be dialled again (the meeting is over here, or the page closed it) */
    this._over = false;
    /** @type {ConnectionError | undefined} the refusal of a later `join` */
    this._refusal = undefined;
    /** @type {number | null} when the socket dropped (Date.now()); null while connected */
    this._since = null;
    this._dials = 0;
    /** @type {ReturnType<typeof setTimeout> | undefined} */
    this._timer = undefined;
  }

  /** isOpen tells whether a message sent now goes out (the socket is open). */
  get isOpen() {
    return !!this._ws && this._ws.readyState === WebSocket.OPEN;
  }

  /** redialling tells whether the socket dropped and is being dialled again. */
  get redialling() {
    return this._since !== null;
  }

  /** open dials the first socket. */
  open() {
    this._dial(false);
  }

  /**
   * send sends message if the socket is open; false if it could not.
   * @param {Record<string, unknown>} message
   * @returns {boolean}
   */
  send(message) {
    if (!this._ws || this._ws.readyState !== WebSocket.OPEN) return false;
    this._ws.send(JSON.stringify(message));
    return true;
  }

  /** finish: the meeting is over for this participant; the next close is the last. */
  finish() {
    this._over = true;
    clearTimeout(this._timer);
    if (this._ws === null && this._since !== null) {
      this._since = null;
      this.hooks.closed({ code: 1000, reason: "finished" });
    }
  }

  /**
   * close closes the socket for good, without dialling again.
   * @param {number} [code]
   * @param {string} [reason]
   */
  close(code = 1000, reason = "closed") {
    this.finish();
    this._ws?.close(code, reason);
  }

  /** @param {boolean} again */
  _dial(again) {
    const ws = new WebSocket(this.url());
    this._ws = ws;
    ws.addEventListener("open", () => {
      if (this._ws !== ws) return;
      this.send(this.hooks.join(again));
      // A later dial that gets no answer is given up and dialled again.
      if (again) this._timer = setTimeout(() => ws.close(4000, "no answer"), DIAL_TIMEOUT_MS);
    });
    ws.addEventListener("message", (event) => {
      if (this._ws !== ws || typeof event.data !== "string") return;
      /** @type {any} */
      let message;
      try {
        message = JSON.parse(event.data);
      } catch {
        return;
      }
      if (!message || typeof message.type !== "string") return;
      if (message.type === "joined") {
        this._joined = true;
        this._since = null;
        clearTimeout(this._timer);
      } else if (message.type === "error" && message.request === "join" && again && !TRANSIENT.has(message.code)) {
        this._refusal = new ConnectionError(message.code, message.message, message.request);
        this._over = true;
      }
      this.hooks.message(message);
    });
    ws.addEventListener("close", (event) => {
      if (this._ws !== ws) return;
      this._ws = null;
      clearTimeout(this._timer);
      this._closed(event.code, event.reason);
    });
  }

  /**
   * @param {number} code
   * @param {string} reason
   */
  _closed(code, reason) {
    const redial = this.options.reconnect ?? true;
    if (this._over || !this._joined || !redial) {
      this._since = null;
      this.hooks.closed({ code, reason, error: this._refusal });
      return;
    }
    if (this._since === null) {
      this._since = Date.now();
      this._dials = 0;
      this.hooks.lost({ code, reason });
    }
    const delays = this.options.reconnectDelaysMs ?? REDIAL_DELAYS_MS;
    const delay = delays[Math.min(this._dials, delays.length - 1)] ?? 1000;
    if (Date.now() + delay > this._since + (this.options.reconnectForMs ?? REDIAL_FOR_MS)) {
      this._since = null;
      this._over = true;
      this.hooks.closed({ code, reason, error: new ConnectionError("closed", "Anslutningen till mötet bröts.") });
      return;
    }
    this._dials += 1;
    this._timer = setTimeout(() => {
      if (!this._over) this._dial(true);
    }, delay);
  }
}
