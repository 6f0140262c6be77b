// @ts-check
/**
 * The browser's connection to a live meeting: the WebSocket of
 * docs/protocol.md and the three RTCPeerConnections (publisher, screen,
 * subscriber). No UI: a page listens to the events and calls the methods.
 *
 *     import { MeetingConnection } from "/static/js/meeting/connection.js";
 *     const meeting = new MeetingConnection({ meetingId, link, name });
 *     meeting.on("track", ({ participant, kind, stream }) => { ... });
 *     await meeting.join();
 *     await meeting.publish(await navigator.mediaDevices.getUserMedia({ video: true, audio: true }));
 *
 * The resume token of each `joined` is kept in sessionStorage per meeting, so
 * a reload of the page gets its place back (within the reconnect window).
 * A WebSocket that drops while the meeting goes on (a vardmote process killed
 * or stopped) is dialled again with its PeerConnections kept (reconnect.js):
 * `reconnecting`, then `reconnected` (`mediaKept`, or negotiated afresh), or
 * `closed` saying why not.
 * Every PeerConnection bundles everything (`max-bundle`) and uses the relay
 * servers (`ice_servers`) of the latest `joined`, `admitted` or `ice_servers`
 * message: none in the lobby, so nobody waiting can use the relay. When the
 * subscriber offer's ICE credentials change unasked (Janus was restarted), a
 * new subscriber PeerConnection answers it.
 *
 * Media that breaks while the WebSocket stays (a network change, a few seconds
 * without network) is network-watch.js's: it asks for an ICE restart of the
 * PeerConnection concerned (fresh `ice_servers` first; a new offer with
 * `iceRestart` for `publisher` and `screen`, `ice_restart` for the subscriber,
 * whose new offer is answered on the same PeerConnection), and reports the
 * media's state to the server (`connection`). Events: `ice_restart` for each
 * restart asked for (`iceRestarts` counts them), `media_broken`, and
 * `media_restored` with how long the media was broken (ms). A refused
 * `ice_restart` (an `error` with `request: "ice_restart"`) changes nothing but
 * that: no new subscriber offer is expected (nor after SUBSCRIBER_RESTART_WAIT_MS
 * without one), and the back-off tries again later.
 *
 * `media_unavailable` (Janus did not do what was asked: it may be gone) closes
 * the publishing PeerConnections, and the camera and microphone are published
 * again on a new one by themselves (REPUBLISH_DELAYS_MS, as long as the meeting
 * goes on here); a screen share has to be started again.
 * @module meeting/connection
 */

/**
 * @import {
 *   AdmittedMessage, ChatMessage, EndedMessage, ErrorMessage, FloorMessage, HandsMessage,
 *   HostReturnedMessage, JoinedMessage, LobbyMessage, MutedMessage, NoticeMessage,
 *   ParticipantEntry, ParticipantMessage, Policy, Role, Settings, SettingsMessage, StreamKind,
 *   StreamsMessage
 * } from "./protocol.js"
 */
/** @import { ClosedEventDetail, ReconnectedEventDetail, ReconnectingEventDetail } from "./reconnect.js" */
/** @import { TrackEventDetail } from "./streams.js" */
/** @import { IceServer, IceServersMessage } from "./protocol.js" */
import { NetworkWatch } from "./network-watch.js";
import { ConnectionError } from "./protocol.js";
import { MeetingSocket } from "./reconnect.js";
import { ReceivedStreams } from "./streams.js";

/** @typedef {"publisher" | "screen" | "subscriber"} PcName */

/**
 * The events of a MeetingConnection and what each handler receives.
 * @typedef {Object} ConnectionEvents
 * @property {JoinedMessage} joined
 * @property {LobbyMessage} lobby
 * @property {AdmittedMessage} admitted
 * @property {NoticeMessage} denied
 * @property {NoticeMessage} removed
 * @property {NoticeMessage} link_gone
 * @property {EndedMessage} ended
 * @property {NoticeMessage} host_left
 * @property {HostReturnedMessage} host_returned
 * @property {NoticeMessage} taken_over
 * @property {ParticipantMessage} participant
 * @property {HandsMessage} hands
 * @property {StreamsMessage} streams
 * @property {SettingsMessage} settings
 * @property {ChatMessage} chat
 * @property {MutedMessage} muted
 * @property {FloorMessage} floor
 * @property {ErrorMessage} error
 * @property {TrackEventDetail} track
 * @property {TrackEventDetail} track_removed
 * @property {ReconnectingEventDetail} reconnecting
 * @property {ReconnectedEventDetail} reconnected
 * @property {ClosedEventDetail} closed
 * @property {IceServersMessage} ice_servers
 * @property {IceRestartEventDetail} ice_restart
 * @property {{}} media_broken
 * @property {MediaRestoredEventDetail} media_restored
 */

/**
 * The `ice_restart` event: an ICE restart of one PeerConnection was asked for.
 * @typedef {Object} IceRestartEventDetail
 * @property {PcName} pc
 * @property {number} count every restart of this connection so far, this one included
 */

/**
 * The `media_restored` event: every PeerConnection works again after one broke.
 * @typedef {Object} MediaRestoredEventDetail
 * @property {number} ms from the first sign of the break (ICE disconnected or failed, or a network change) until every PeerConnection's ICE was connected again
 * @property {number} restarts the ICE restarts of this connection so far
 */

/**
 * @typedef {Object} ConnectionOptions
 * @property {string} meetingId the meeting's id (`/ws/meetings/<id>`)
 * @property {string} [link] a guest link's token; without it the staff session cookie is used
 * @property {string} [device] a registered room device's token
 * @property {string} [name] the guest's name (ignored for staff and room devices)
 * @property {string} [url] the WebSocket address; by default ws(s)://<this host>/ws/meetings/<id>
 * @property {Storage | null} [storage] where resume tokens are kept; sessionStorage by default
 * @property {boolean} [reconnect] dial a dropped WebSocket again, keeping the media (true by default)
 * @property {number} [reconnectForMs] for how long (reconnect.js: REDIAL_FOR_MS, 25 s)
 * @property {number[]} [reconnectDelaysMs] the waits before each dial (REDIAL_DELAYS_MS)
 */

const RESUME_KEY = "vardmote.resume.";
const ICE_UFRAG = /^a=ice-ufrag:(\S+)/m;

/** @type {RTCConfiguration} */
const PC_CONFIG = { iceServers: [], bundlePolicy: "max-bundle" };
/** How long an `ice_servers` request may wait for its answer before a restart goes on with the servers it has. */
const ICE_SERVERS_WAIT_MS = 3_000;
/** After this long without its offer a subscriber `ice_restart` is no longer waited for (the server answers every one, offer or error). */
export const SUBSCRIBER_RESTART_WAIT_MS = 10_000;
/** The waits before the camera is published again after `media_unavailable`; the last repeats. */
export const REPUBLISH_DELAYS_MS = [1_000, 2_000, 4_000, 8_000, 15_000];

/**
 * @typedef {Object} Pending
 * @property {(value: any) => void} resolve
 * @property {(reason: Error) => void} reject
 */

/**
 * @typedef {Object} PcState
 * @property {RTCPeerConnection} pc
 * @property {boolean} signalled  the offer or answer was sent: local candidates may follow
 * @property {(RTCIceCandidateInit | null)[]} outgoing  local candidates waiting for that
 * @property {(RTCIceCandidateInit | null)[]} incoming  remote candidates waiting for a remote description
 */

/**
 * MeetingConnection is one participant's connection to one meeting.
 */
export class MeetingConnection {
  /** @param {ConnectionOptions} options */
  constructor(options) {
    /** @type {ConnectionOptions} */
    this.options = options;
    /** @type {string | null} this participant's id, after `joined` */
    this.participantId = null;
    /** @type {Role | null} */
    this.role = null;
    /** @type {"new" | "connecting" | "lobby" | "admitted" | "reconnecting" | "closed"} */
    this.state = "new";
    /** @type {Policy | null} */
    this.policy = null;
    /** @type {MeetingSocket | null} */
    this._socket = null;
    /** an offer or answer may not have reached the server: the media cannot be kept over a drop */
    this._unsure = false;
    /** @type {Map<string, Set<(detail: any) => void>>} */
    this._handlers = new Map();
    /** @type {Map<PcName, PcState>} */
    this._pcs = new Map();
    /** @type {Map<PcName, Pending>} */
    this._answers = new Map();
    /** @type {Pending | null} */
    this._shareStart = null;
    /** @type {MediaStream | null} */
    this._published = null;
    /** @type {Promise<void> | null} */
    this._publishing = null;
    /** @type {string | null} */
    this._subscriberUfrag = null;
    /** what the subscriber receives, by participant */
    this._received = new ReceivedStreams((type, detail) => this._emit(type, detail));
    /** @type {Promise<void>} subscriber offers are answered one after another */
    this._subscriberQueue = Promise.resolve();
    /** @type {IceServer[]} the relay servers of the latest joined/admitted/ice_servers ([] in the lobby) */
    this._iceServers = [];
    /** @type {Promise<void> | null} an `ice_servers` request under way */
    this._iceServersWaiting = null;
    /** @type {(() => void) | null} ends that wait */
    this._iceServersDone = null;
    /** an `ice_restart` was asked for: the next subscriber offer's new ICE credentials are expected */
    this._subscriberRestart = false;
    /** @type {ReturnType<typeof setTimeout> | undefined} ends that expectation (SUBSCRIBER_RESTART_WAIT_MS) */
    this._subscriberRestartTimer = undefined;
    /** @type {Promise<void> | null} the screen's negotiation under way (its first offer, or a restart) */
    this._sharing = null;
    /** @type {ReturnType<typeof setTimeout> | undefined} publishes the camera again after media_unavailable */
    this._republishTimer = undefined;
    /** times the camera was published again since its last answer */
    this._republishes = 0;
    /** @type {NetworkWatch | null} made with the first PeerConnection */
    this._watch = null;
  }

  /** iceRestarts is how many ICE restarts this connection has asked for (tests and bench/relay.py read it). */
  get iceRestarts() {
    return this._watch?.iceRestarts ?? 0;
  }

  /** iceServers is the relay servers every new PeerConnection gets ([] before admission). */
  get iceServers() {
    return this._iceServers;
  }

  /**
   * on registers handler for an event and returns a function that removes it.
   * @template {keyof ConnectionEvents} K
   * @param {K} type
   * @param {(detail: ConnectionEvents[K]) => void} handler
   * @returns {() => void}
   */
  on(type, handler) {
    let set = this._handlers.get(type);
    if (!set) {
      set = new Set();
      this._handlers.set(type, set);
    }
    set.add(handler);
    return () => set.delete(handler);
  }

  /**
   * @template {keyof ConnectionEvents} K
   * @param {K} type
   * @param {ConnectionEvents[K]} detail
   */
  _emit(type, detail) {
    for (const handler of [...(this._handlers.get(type) ?? [])]) {
      try {
        handler(detail);
      } catch (e) {
        console.error(e);
      }
    }
  }

  /** @returns {Storage | null} */
  _storage() {
    if (this.options.storage !== undefined) return this.options.storage;
    try {
      return globalThis.sessionStorage ?? null;
    } catch {
      return null;
    }
  }

  /** @returns {string} */
  get _resumeKey() {
    return RESUME_KEY + this.options.meetingId;
  }

  /** @returns {string} */
  _url() {
    if (this.options.url) return this.options.url;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    return `${scheme}://${location.host}/ws/meetings/${encodeURIComponent(this.options.meetingId)}`;
  }

  /**
   * join opens the WebSocket and sends `join` (with the stored resume token,
   * if any). It resolves with the `joined` message, or rejects with a
   * ConnectionError if the server refuses or the connection closes first.
   * @returns {Promise<JoinedMessage>}
   */
  join() {
    if (this._socket) return Promise.reject(new ConnectionError("already_joined", "join was called before"));
    this.state = "connecting";
    const socket = new MeetingSocket(
      () => this._url(),
      {
        join: (again) => this._joinMessage(again),
        message: (message) => this._receive(message),
        lost: (detail) => this._lost(detail),
        closed: (detail) => this._closed(detail),
      },
      this.options,
    );
    this._socket = socket;
    return new Promise((resolve, reject) => {
      const offs = [
        this.on("joined", (message) => settle(() => resolve(message))),
        this.on("error", (m) => m.request === "join" && settle(() => reject(new ConnectionError(m.code, m.message, m.request)))),
        this.on("closed", () => settle(() => reject(new ConnectionError("closed", "Anslutningen till mötet bröts.")))),
      ];
      /** @param {() => void} done */
      const settle = (done) => {
        for (const off of offs) off();
        done();
      };
      socket.open();
    });
  }

  /**
   * _joinMessage is the `join` of the first socket, or of a later one (again): that one keeps
   * the media, unless an offer or answer may have been lost with the old socket.
   * @param {boolean} again
   * @returns {Record<string, unknown>}
   */
  _joinMessage(again) {
    /** @type {Record<string, unknown>} */
    const join = { type: "join" };
    if (this.options.link) join.link = this.options.link;
    if (this.options.device) join.device = this.options.device;
    if (this.options.name) join.name = this.options.name;
    const resume = this._storage()?.getItem(this._resumeKey);
    if (resume) join.resume = resume;
    if (again && resume) join.keep_media = !this._unsure && this._answers.size === 0;
    return join;
  }

  /**
   * _lost: the WebSocket dropped and is being dialled again; the PeerConnections stay.
   * @param {ReconnectingEventDetail} detail
   */
  _lost(detail) {
    this.state = "reconnecting";
    // Whether the server got a share_start is unknown: the page may ask again.
    this._shareStart?.reject(new ConnectionError("closed", "Anslutningen till mötet bröts."));
    this._shareStart = null;
    this._emit("reconnecting", detail);
  }

  /**
   * _rejoined goes on after `joined` on a later socket: with the same PeerConnections if the
   * server kept the media, else with new ones.
   * @param {JoinedMessage} message
   */
  _rejoined(message) {
    const mediaKept = message.media_kept === true;
    this._unsure = false;
    if (!mediaKept) this._dropMedia();
    // A process that took the meeting over knows nothing of this browser's last report.
    this._watch?.resend();
    if (message.state === "admitted" && (!mediaKept || !this._pcs.has("publisher"))) this._startPublishing();
    this._emit("joined", message);
    this._emit("reconnected", { joined: message, mediaKept });
  }

  /** _dropMedia closes every PeerConnection and forgets the received tracks. */
  _dropMedia() {
    const error = new ConnectionError("renegotiated", "The media is negotiated again.");
    for (const pending of this._answers.values()) pending.reject(error);
    this._answers.clear();
    for (const name of [...this._pcs.keys()]) this._closePc(name);
    this._subscriberUfrag = null;
    this._expectSubscriberRestart(false);
    this._received.clear();
  }

  /**
   * _send sends message if the WebSocket is open; false if it could not.
   * @param {Record<string, unknown>} message
   * @returns {boolean}
   */
  _send(message) {
    return this._socket?.send(message) ?? false;
  }

  /** @param {any} message a message of the server, parsed */
  _receive(message) {
    switch (message.type) {
      case "joined": {
        const again = this.state === "reconnecting";
        this.participantId = message.participant;
        this.role = message.role;
        this.policy = message.policy;
        this.state = message.state;
        this._storage()?.setItem(this._resumeKey, message.resume);
        this._setIceServers(message.state === "admitted" ? message.ice_servers : []);
        if (again) {
          this._rejoined(message);
          return;
        }
        // Publishing starts first, so that a publish() waiting for this event gets its promise.
        if (message.state === "admitted") this._startPublishing();
        this._emit("joined", message);
        return;
      }
      case "admitted":
        this.state = "admitted";
        this._setIceServers(message.ice_servers);
        this._startPublishing();
        this._emit("admitted", message);
        return;
      case "denied":
      case "removed":
      case "link_gone":
      case "ended":
        this._forget();
        this._socket?.finish();
        this._emit(message.type, message);
        return;
      case "answer":
        this._answer(message.pc, message.sdp);
        return;
      case "offer":
        if (message.pc === "subscriber") {
          const streams = Array.isArray(message.streams) ? message.streams : [];
          this._subscriberQueue = this._subscriberQueue
            .then(() => this._subscriberOffer(message.sdp, streams))
            .catch((e) => this._localError("subscriber", e));
        }
        return;
      case "candidate":
        if (message.pc === "subscriber") {
          // After the offer it belongs to, which may still be waiting in the queue.
          this._subscriberQueue = this._subscriberQueue.then(() =>
            this._remoteCandidate("subscriber", message.candidate ?? null),
          );
        } else {
          this._remoteCandidate(message.pc, message.candidate ?? null);
        }
        return;
      case "share_started":
        if (this._shareStart) {
          this._shareStart.resolve(Boolean(message.full_resolution));
          this._shareStart = null;
        }
        return;
      case "ice_servers":
        this._setIceServers(message.ice_servers);
        this._iceServersDone?.();
        this._emit("ice_servers", message);
        return;
      case "error":
        if (message.request === "ice_servers") this._iceServersDone?.();
        // No new subscriber offer follows a refused restart: one with new ICE credentials is Janus's own again.
        if (message.request === "ice_restart") this._expectSubscriberRestart(false);
        this._refused(message);
        this._emit("error", message);
        return;
      case "taken_over":
        this._socket?.finish();
        this._emit(message.type, message);
        return;
      case "lobby":
      case "host_left":
      case "host_returned":
      case "participant":
      case "hands":
      case "streams":
      case "settings":
      case "chat":
      case "muted":
      case "floor":
        this._emit(message.type, message);
        return;
    }
  }

  /**
   * _localError reports a failure in this browser (not from the server) as an `error` event.
   * @param {string} request
   * @param {unknown} e
   */
  _localError(request, e) {
    this._emit("error", { type: "error", code: "client", message: String(e), request });
  }

  /** @param {ErrorMessage} message */
  _refused(message) {
    const error = new ConnectionError(message.code, message.message, message.request);
    if (message.request === "share_start" && this._shareStart) {
      this._shareStart.reject(error);
      this._shareStart = null;
    }
    // A refused ICE restart concerns that request only (the back-off tries again): the
    // PeerConnections stay as they are, whatever the code.
    if (message.request === "ice_restart") return;
    if (message.request === "offer" || message.code === "media_unavailable") {
      for (const pending of this._answers.values()) pending.reject(error);
      this._answers.clear();
    }
    if (message.code === "media_unavailable") {
      // Janus may be gone (or restarting): its end of the publishing PeerConnections with it.
      // The camera is published again on a new one; the server offers a new subscriber.
      for (const name of /** @type {PcName[]} */ (["publisher", "screen"])) this._closePc(name);
      this._republishLater();
    }
  }

  /**
   * _republishLater publishes the camera and microphone again on a new PeerConnection after
   * `media_unavailable`, after the next of REPUBLISH_DELAYS_MS (Janus may be restarting: a
   * refused offer brings another media_unavailable, and a longer wait). Nothing if nothing
   * was published, or the meeting does not go on here (a later `joined` publishes again).
   */
  _republishLater() {
    if (!this._published || this.state !== "admitted" || this._republishTimer !== undefined) return;
    const wait = REPUBLISH_DELAYS_MS[Math.min(this._republishes, REPUBLISH_DELAYS_MS.length - 1)];
    this._republishes += 1;
    this._republishTimer = setTimeout(() => {
      this._republishTimer = undefined;
      if (this.state === "admitted" && this._published && !this._pcs.has("publisher")) this._startPublishing();
    }, wait);
  }

  /**
   * _expectSubscriberRestart: an `ice_restart` went (on), so the next subscriber offer's new ICE
   * credentials are that restart's, for SUBSCRIBER_RESTART_WAIT_MS at most; or no longer (off).
   * @param {boolean} on
   */
  _expectSubscriberRestart(on) {
    clearTimeout(this._subscriberRestartTimer);
    this._subscriberRestartTimer = undefined;
    this._subscriberRestart = on;
    if (on) this._subscriberRestartTimer = setTimeout(() => this._expectSubscriberRestart(false), SUBSCRIBER_RESTART_WAIT_MS);
  }

  /** _forget drops the resume token: this place in the meeting is over. */
  _forget() {
    this._storage()?.removeItem(this._resumeKey);
  }

  /**
   * _closed ends every negotiation and PeerConnection; with detail, the WebSocket is closed for good.
   * @param {ClosedEventDetail} [detail]
   */
  _closed(detail) {
    this.state = "closed";
    // First, so that closing the PeerConnections is not taken for media that came back.
    this._watch?.stop();
    this._watch = null;
    clearTimeout(this._republishTimer);
    this._republishTimer = undefined;
    this._expectSubscriberRestart(false);
    const error = new ConnectionError("closed", "Anslutningen till mötet bröts.");
    for (const pending of this._answers.values()) pending.reject(error);
    this._answers.clear();
    this._shareStart?.reject(error);
    this._shareStart = null;
    for (const name of [...this._pcs.keys()]) this._closePc(name);
    this._iceServersDone?.();
    if (detail) this._emit("closed", detail);
  }

  // ---- peer connections ------------------------------------------------------------------

  /**
   * _newPc makes the PeerConnection named name (closing one it replaces).
   * @param {PcName} name
   * @returns {PcState}
   */
  _newPc(name) {
    this._closePc(name);
    const pc = new RTCPeerConnection({ ...PC_CONFIG, iceServers: this._iceServers });
    /** @type {PcState} */
    const state = { pc, signalled: false, outgoing: [], incoming: [] };
    pc.addEventListener("icecandidate", (event) => {
      if (this._pcs.get(name) !== state) return;
      const c = event.candidate;
      if (c && !c.candidate) return; // an end-of-generation marker; null follows
      /** @type {RTCIceCandidateInit | null} */
      const init = c ? { candidate: c.candidate, sdpMid: c.sdpMid, sdpMLineIndex: c.sdpMLineIndex } : null;
      if (state.signalled) this._sendCandidate(name, init);
      else state.outgoing.push(init);
    });
    this._pcs.set(name, state);
    this._networkWatch().watch(name, pc);
    return state;
  }

  /**
   * _closePc closes the PeerConnection named name, if there is one, and stops watching it.
   * @param {PcName} name
   */
  _closePc(name) {
    this._pcs.get(name)?.pc.close();
    this._pcs.delete(name);
    this._watch?.forget(name);
  }

  /** @returns {NetworkWatch} the watch over this connection's PeerConnections, made the first time */
  _networkWatch() {
    if (!this._watch) {
      this._watch = new NetworkWatch({
        restart: (name) => this._restartIce(name),
        report: (report) => this._send({ type: "connection", ...report }),
        active: () => this.state === "admitted" && !!this._socket?.isOpen,
        changed: (broken, ms) => {
          if (this.state === "closed") return;
          if (broken) this._emit("media_broken", {});
          else this._emit("media_restored", { ms, restarts: this.iceRestarts });
        },
      });
    }
    return this._watch;
  }

  /**
   * _setIceServers keeps the relay servers for new PeerConnections and gives them to the
   * ones there are (used from their next ICE restart on).
   * @param {unknown} servers the message's `ice_servers`; anything but a list counts as []
   */
  _setIceServers(servers) {
    this._iceServers = Array.isArray(servers) ? /** @type {IceServer[]} */ (servers) : [];
    for (const { pc } of this._pcs.values()) {
      try {
        pc.setConfiguration({ ...PC_CONFIG, iceServers: this._iceServers });
      } catch (e) {
        console.warn("setConfiguration", e);
      }
    }
  }

  /**
   * _freshIceServers asks the server for relay credentials afresh (`ice_servers`) and resolves
   * when they came, were refused, or ICE_SERVERS_WAIT_MS passed: a restart goes on regardless.
   * @returns {Promise<void>}
   */
  _freshIceServers() {
    if (!this._iceServersWaiting) {
      this._iceServersWaiting = new Promise((resolve) => {
        const done = () => {
          clearTimeout(timer);
          this._iceServersWaiting = null;
          this._iceServersDone = null;
          resolve();
        };
        const timer = setTimeout(done, ICE_SERVERS_WAIT_MS);
        this._iceServersDone = done;
        if (!this._send({ type: "ice_servers" })) done();
      });
    }
    return this._iceServersWaiting;
  }

  /**
   * _restartIce restarts the ICE of the PeerConnection named name, with fresh relay credentials:
   * a new offer made with `iceRestart` for publisher and screen, `ice_restart` for the
   * subscriber (the server sends Janus's new offer). NetworkWatch calls it.
   * @param {PcName} name
   * @returns {Promise<void>}
   */
  async _restartIce(name) {
    this._emit("ice_restart", { pc: name, count: this.iceRestarts });
    await this._freshIceServers();
    const state = this._pcs.get(name);
    if (!state || this.state !== "admitted") return;
    if (name === "subscriber") {
      if (this._send({ type: "ice_restart", pc: "subscriber" })) this._expectSubscriberRestart(true);
    } else {
      // After any negotiation of that PeerConnection under way (publish(), shareScreen()'s first offer).
      const before = name === "publisher" ? this._publishing : this._sharing;
      const restarting = (before ?? Promise.resolve())
        .catch(() => undefined)
        .then(() => (this._pcs.get(name) === state ? this._offer(name, state, true) : undefined));
      if (name === "publisher") this._publishing = restarting;
      else this._sharing = restarting;
      await restarting.catch((e) => {
        if (!(e instanceof ConnectionError)) throw e;
      });
    }
  }

  /**
   * @param {PcName} name
   * @param {RTCIceCandidateInit | null} candidate
   */
  _sendCandidate(name, candidate) {
    this._send({ type: "candidate", pc: name, candidate });
  }

  /**
   * _signalled lets the local candidates of a PeerConnection go, now that its description was sent.
   * @param {PcName} name
   * @param {PcState} state
   */
  _signalled(name, state) {
    state.signalled = true;
    for (const candidate of state.outgoing.splice(0)) this._sendCandidate(name, candidate);
  }

  /**
   * _flushIncoming adds the remote candidates that came before the remote description.
   * @param {PcState} state
   */
  async _flushIncoming(state) {
    for (const candidate of state.incoming.splice(0)) await this._addCandidate(state.pc, candidate);
  }

  /**
   * @param {RTCPeerConnection} pc
   * @param {RTCIceCandidateInit | null} candidate
   */
  async _addCandidate(pc, candidate) {
    try {
      await pc.addIceCandidate(candidate ?? undefined);
    } catch (e) {
      if (candidate) console.warn("ICE candidate refused", e);
    }
  }

  /**
   * @param {PcName} name
   * @param {RTCIceCandidateInit | null} candidate
   */
  _remoteCandidate(name, candidate) {
    const state = this._pcs.get(name);
    if (!state) return;
    if (state.pc.remoteDescription) this._addCandidate(state.pc, candidate);
    else state.incoming.push(candidate);
  }

  /**
   * _offer sends the local offer of a publishing PeerConnection and applies the answer.
   * With iceRestart, the offer has new ICE credentials; one that cannot be sent (the
   * WebSocket is away) is rolled back, and NetworkWatch tries again later.
   * @param {"publisher" | "screen"} name
   * @param {PcState} state
   * @param {boolean} [iceRestart]
   */
  async _offer(name, state, iceRestart = false) {
    const { pc } = state;
    await pc.setLocalDescription(await pc.createOffer({ iceRestart }));
    const sdp = pc.localDescription?.sdp ?? "";
    /** @type {Promise<string>} */
    const answered = new Promise((resolve, reject) => {
      this._answers.get(name)?.reject(new ConnectionError("renegotiated", "A newer offer was sent."));
      this._answers.set(name, { resolve, reject });
    });
    if (!this._send({ type: "offer", pc: name, sdp }) && iceRestart) {
      this._answers.get(name)?.reject(new ConnectionError("closed", "The restart could not be sent."));
      this._answers.delete(name);
      await pc.setLocalDescription({ type: "rollback" }).catch(() => undefined);
      await answered.catch(() => undefined);
      return;
    }
    this._signalled(name, state);
    const answer = await answered;
    if (this._pcs.get(name) !== state) return;
    await pc.setRemoteDescription({ type: "answer", sdp: answer });
    await this._flushIncoming(state);
    if (name === "publisher") this._republishes = 0;
    if (iceRestart) this._watch?.afterNegotiation(name);
  }

  /**
   * @param {string} name
   * @param {string} sdp
   */
  _answer(name, sdp) {
    if (name !== "publisher" && name !== "screen") return;
    const pending = this._answers.get(name);
    if (!pending) return;
    this._answers.delete(name);
    pending.resolve(sdp);
  }

  /**
   * publish sends stream's tracks (camera and microphone) to the meeting.
   * Before `admitted` it waits for admission; it resolves once Janus's answer
   * is applied. Called again, it replaces the tracks and renegotiates; after a
   * `media_unavailable` error (Janus restarted) it publishes afresh on a new
   * PeerConnection.
   * @param {MediaStream} [stream] by default the stream published last
   * @returns {Promise<void>}
   */
  publish(stream) {
    const chosen = stream ?? this._published;
    if (!chosen) return Promise.reject(new TypeError("publish needs a MediaStream"));
    this._published = chosen;
    if (this.state === "admitted") return this._startPublishing();
    return new Promise((resolve, reject) => {
      const offAdmitted = this.on("admitted", () => {
        off();
        resolve(this._publishing ?? Promise.resolve());
      });
      const offJoined = this.on("joined", (message) => {
        if (message.state !== "admitted") return;
        off();
        resolve(this._publishing ?? Promise.resolve());
      });
      const offClosed = this.on("closed", () => {
        off();
        reject(new ConnectionError("closed", "Anslutningen till mötet bröts."));
      });
      const off = () => {
        offAdmitted();
        offJoined();
        offClosed();
      };
    });
  }

  /** @returns {Promise<void>} */
  _startPublishing() {
    const stream = this._published;
    if (!stream || this.state !== "admitted") return Promise.resolve();
    const run = async () => {
      let state = this._pcs.get("publisher");
      if (!state) state = this._newPc("publisher");
      const transceivers = state.pc.getTransceivers();
      for (const track of stream.getTracks()) {
        const same = transceivers.find((t) => t.receiver.track.kind === track.kind && t.currentDirection !== "stopped");
        if (same && same.sender.track !== track) await same.sender.replaceTrack(track);
        else if (!same) state.pc.addTrack(track, stream);
      }
      await this._offer("publisher", state);
    };
    // One negotiation at a time: a second publish() offers after the first is answered.
    const publishing = (this._publishing ?? Promise.resolve()).catch(() => undefined).then(run);
    this._publishing = publishing;
    publishing.catch((e) => {
      // media_unavailable was an `error` of the server's already (and the camera is published again).
      const known = e instanceof ConnectionError && ["closed", "renegotiated", "media_unavailable"].includes(e.code);
      if (!known) this._localError("offer", e);
    });
    return publishing;
  }

  /** unpublish stops sending the camera and microphone (the publisher PeerConnection is closed). */
  unpublish() {
    this._published = null;
    this._closePc("publisher");
  }

  /**
   * shareScreen asks to share (`share_start`) and, once accepted, publishes
   * stream on the `screen` PeerConnection. Rejects if the server refuses.
   * @param {MediaStream} stream e.g. from getDisplayMedia
   * @returns {Promise<void>}
   */
  async shareScreen(stream) {
    /** @type {Promise<boolean>} */
    const started = new Promise((resolve, reject) => {
      this._shareStart?.reject(new ConnectionError("renegotiated", "A newer share was asked for."));
      this._shareStart = { resolve, reject };
    });
    this._send({ type: "share_start" });
    const fullResolution = await started;
    const state = this._newPc("screen");
    // An ICE restart of the new PeerConnection (a network change now) waits for this first offer's answer.
    const offered = (async () => {
      for (const track of stream.getTracks()) {
        if (track.kind === "video") track.contentHint = "detail";
        const sender = state.pc.addTrack(track, stream);
        if (track.kind === "video" && !fullResolution) {
          const settings = track.getSettings();
          const height = settings.height ?? 0;
          if (height > 1080) {
            const parameters = sender.getParameters();
            for (const encoding of parameters.encodings ?? []) encoding.scaleResolutionDownBy = height / 1080;
            await sender.setParameters(parameters).catch(() => undefined);
          }
        }
      }
      await this._offer("screen", state);
    })();
    this._sharing = offered;
    await offered;
  }

  /** stopShare ends the screen share (`share_stop`) and closes its PeerConnection. */
  stopShare() {
    this._send({ type: "share_stop" });
    this._closePc("screen");
    this._answers.get("screen")?.reject(new ConnectionError("stopped", "The share was stopped."));
    this._answers.delete("screen");
  }

  /**
   * _subscriberOffer answers the server's subscriber offer and gives the
   * received tracks to the participants named in streams.
   * @param {string} sdp
   * @param {{mid: string, participant: string, kind: StreamKind}[]} streams
   */
  async _subscriberOffer(sdp, streams) {
    const ufrag = ICE_UFRAG.exec(sdp)?.[1] ?? null;
    let state = this._pcs.get("subscriber");
    const restarted = state && ufrag !== this._subscriberUfrag && this._subscriberRestart;
    if (restarted) this._subscriberRestart = false;
    if (state && ufrag !== this._subscriberUfrag && !restarted) {
      // Janus made a new PeerConnection (it was restarted): so do we.
      this._closePc("subscriber");
      this._received.clear();
      state = undefined;
    }
    if (!state) state = this._newPc("subscriber");
    this._subscriberUfrag = ufrag;
    const { pc } = state;
    await pc.setRemoteDescription({ type: "offer", sdp });
    await this._flushIncoming(state);
    await pc.setLocalDescription(await pc.createAnswer());
    if (!this._send({ type: "answer", pc: "subscriber", sdp: pc.localDescription?.sdp ?? "" })) this._unsure = true;
    this._signalled("subscriber", state);
    this._received.update(pc, streams);
    if (restarted) this._watch?.afterNegotiation("subscriber");
  }

  /**
   * peerConnection is one of this participant's PeerConnections (e.g. for getStats), if it exists.
   * @param {PcName} name
   * @returns {RTCPeerConnection | null}
   */
  peerConnection(name) {
    return this._pcs.get(name)?.pc ?? null;
  }

  // ---- in the meeting ----------------------------------------------------------------------

  /**
   * setMediaState tells the others what this browser sends (`media_state`).
   * @param {boolean} camera
   * @param {boolean} microphone
   */
  setMediaState(camera, microphone) {
    this._send({ type: "media_state", camera, microphone });
  }

  /** raiseHand raises this participant's hand. */
  raiseHand() {
    this._send({ type: "raise_hand" });
  }

  /**
   * lowerHand lowers this participant's own hand, or (hosts only) participant's.
   * @param {string} [participant]
   */
  lowerHand(participant) {
    this._send(participant ? { type: "lower_hand", participant } : { type: "lower_hand" });
  }

  /**
   * chat sends a chat message (1–2000 characters).
   * @param {string} text
   */
  chat(text) {
    this._send({ type: "chat", text });
  }

  // ---- host commands -----------------------------------------------------------------------

  /** @param {string} participant lets a participant in from the lobby ("Tillåt") */
  admit(participant) {
    this._send({ type: "admit", participant });
  }

  /** @param {string} participant refuses a participant in the lobby ("Neka") */
  deny(participant) {
    this._send({ type: "deny", participant });
  }

  /** @param {string} participant removes a participant from the meeting for good */
  remove(participant) {
    this._send({ type: "remove", participant });
  }

  /** @param {string} participant mutes a participant's microphone */
  mute(participant) {
    this._send({ type: "mute", participant });
  }

  /** muteAllGuests mutes every admitted participant who is not a host. */
  muteAllGuests() {
    this._send({ type: "mute_all_guests" });
  }

  /** lock refuses new guests. */
  lock() {
    this._send({ type: "lock" });
  }

  /** unlock lets new guests in again. */
  unlock() {
    this._send({ type: "unlock" });
  }

  /** @param {boolean} allowed whether host-muted guests may unmute themselves */
  setGuestsMayUnmute(allowed) {
    this._send({ type: "guests_may_unmute", allowed });
  }

  /** @param {string} participant gives an attendee the floor (anonymous meetings) */
  giveFloor(participant) {
    this._send({ type: "give_floor", participant });
  }

  /** @param {string} participant takes the floor back (anonymous meetings) */
  takeFloor(participant) {
    this._send({ type: "take_floor", participant });
  }

  /** end ends the meeting for everyone ("Avsluta mötet"). */
  end() {
    this._send({ type: "end" });
  }

  // ---- leaving -----------------------------------------------------------------------------

  /** leave leaves the meeting (`leave`): the place is given up and the resume token forgotten. */
  leave() {
    this._forget();
    this._send({ type: "leave" });
    this._socket?.finish();
    this._closed();
  }

  /**
   * close closes the connection without leaving: the place is kept for the
   * reconnect window, and a new MeetingConnection resumes it.
   */
  close() {
    this._closed();
    this._socket?.close(1000, "closed");
  }
}

/**
 * connect makes a MeetingConnection and joins.
 * @param {ConnectionOptions} options
 * @returns {Promise<MeetingConnection>}
 */
export async function connect(options) {
  const connection = new MeetingConnection(options);
  await connection.join();
  return connection;
}
