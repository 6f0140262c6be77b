// @ts-check
/**
 * The meeting itself, as the page shows it: the others' video with names,
 * the self view, the buttons (microphone, camera, hand, chat, "Dela skärm",
 * "Lämna"), the notices, the host-left countdown, and for hosts
 * "Mötesinställningar", "Tysta alla gäster" and "Avsluta mötet". The chat is
 * chat.js and the hosts' participant list "Deltagare" is participant-list.js;
 * this module makes them and feeds them. Everything it knows comes from the
 * connection's events; every command goes through the connection
 * (connection.js), never around it.
 *
 * While this browser's media reconnects (an ICE restart, network-watch.js) the
 * banner #ateransluter shows, as it does while the WebSocket is dialled again;
 * someone else's reconnecting shows as "Återansluter…" on their tile. For tests and
 * bench/relay.py the section carries `data-ice-restarts` (restarts asked for on
 * this page) and `data-media-restored-ms` (how long the last break lasted), and
 * gets a `media_restored` DOM event (detail `{ms, restarts}`) each time the media
 * comes back.
 * @module meeting/room
 */

import { Chat } from "./chat.js";
import { find, h, optional } from "./dom.js";
import { ParticipantList } from "./participant-list.js";
import { playArrivalChime } from "./sounds.js";

/** @typedef {import("./connection.js").MeetingConnection} MeetingConnection */
/** @typedef {import("./protocol.js").JoinedMessage} JoinedMessage */
/** @typedef {import("./protocol.js").ParticipantEntry} ParticipantEntry */
/** @typedef {import("./protocol.js").Settings} Settings */
/** @typedef {import("./protocol.js").Policy} Policy */
/** @typedef {import("./protocol.js").StreamKind} StreamKind */

/**
 * @typedef {Object} RoomOptions
 * @property {"host" | "guest"} role
 * @property {MediaStream} stream what this browser publishes (camera and microphone)
 * @property {string} speakerId the chosen speaker ("" = the default)
 * @property {(text: string, urgent?: boolean) => void} announce says text in the page's live region
 * @property {() => void} leave leaves the meeting ("Lämna")
 */

/**
 * @typedef {Object} Tile
 * @property {HTMLElement} box
 * @property {HTMLVideoElement} video
 * @property {HTMLElement} label
 * @property {HTMLElement} badges
 */

const NOTICE_MS = 8_000;

export class MeetingRoom {
  /**
   * @param {HTMLElement} section the #steg-mote section (_meeting_room.html)
   * @param {RoomOptions} options
   */
  constructor(section, options) {
    this.section = section;
    this.options = options;
    /** @type {MeetingConnection | null} */
    this.connection = null;
    /** @type {string} */
    this.me = "";
    /** @type {Map<string, ParticipantEntry>} */
    this.participants = new Map();
    /** @type {string[]} */
    this.hands = [];
    /** @type {Settings} */
    this.settings = { locked: false, guests_may_unmute: true };
    /** @type {Policy | null} */
    this.policy = null;
    /** @type {Map<string, Tile>} "participant/kind" → tile */
    this.tiles = new Map();
    /** @type {(() => void)[]} */
    this.unsubscribe = [];
    this.microphoneOn = true;
    this.cameraOn = true;
    this.hostMuted = false;
    /** @type {MediaStream | null} */
    this.screen = null;
    /** @type {number | undefined} */
    this.countdown = undefined;
    /** @type {number | undefined} */
    this.noticeTimer = undefined;
    /** the WebSocket is being dialled again (join.js) */
    this.socketLost = false;
    /** some PeerConnection's media is broken and being restarted (connection.js) */
    this.mediaLost = false;
    /** ICE restarts asked for on this page, every connection together */
    this.iceRestarts = 0;

    const s = section;
    this.videos = find(s, "#videor", HTMLElement);
    this.selfView = find(s, "#egen-bild", HTMLVideoElement);
    this.selfBadges = find(s, "#egen-status", HTMLElement);
    this.notice = find(s, "#notis", HTMLElement);
    this.hostLeft = find(s, "#vard-lamnat", HTMLElement);
    this.reconnecting = find(s, "#ateransluter", HTMLElement);
    this.micButton = find(s, "#knapp-mikrofon", HTMLButtonElement);
    this.cameraButton = find(s, "#knapp-kamera", HTMLButtonElement);
    this.handButton = find(s, "#knapp-hand", HTMLButtonElement);
    this.shareButton = find(s, "#knapp-dela", HTMLButtonElement);
    this.leaveButton = find(s, "#knapp-lamna", HTMLButtonElement);
    // Hosts only:
    this.muteAllButton = optional(s, "#knapp-tysta-alla", HTMLButtonElement);
    this.settingsButton = optional(s, "#knapp-installningar", HTMLButtonElement);
    this.settingsDialog = optional(s, "#installningar-dialog", HTMLDialogElement);
    this.endButton = optional(s, "#knapp-avsluta", HTMLButtonElement);
    this.endDialog = optional(s, "#avsluta-dialog", HTMLDialogElement);

    /** @type {() => MeetingConnection | null} */
    const connection = () => this.connection;
    this.chat = new Chat(
      {
        panel: find(s, "#chatt", HTMLElement),
        log: find(s, "#chatt-lista", HTMLElement),
        form: find(s, "#chatt-form", HTMLFormElement),
        text: find(s, "#chatt-text", HTMLTextAreaElement),
        error: find(s, "#chatt-fel", HTMLElement),
        button: find(s, "#knapp-chatt", HTMLButtonElement),
      },
      { connection, announce: options.announce },
    );
    const list = optional(s, "#deltagare", HTMLElement);
    this.participantList = list
      ? new ParticipantList(list, optional(s, "#knapp-deltagare", HTMLButtonElement), {
          connection,
          announce: options.announce,
          nameOf: (id) => this.nameOf(id),
        })
      : null;

    this.selfView.srcObject = options.stream;
    this.wireControls();
  }

  // ---- the connection ---------------------------------------------------------------------------

  /**
   * attach follows connection (a new one after a reconnect) from its `joined` or `admitted` state.
   * @param {MeetingConnection} connection
   * @param {JoinedMessage} joined
   */
  attach(connection, joined) {
    for (const off of this.unsubscribe) off();
    const first = this.connection === null;
    // A new connection starts with new PeerConnections: whatever broke went with the old ones.
    if (connection !== this.connection) this.mediaLost = false;
    this.connection = connection;
    this.me = joined.participant;
    this.policy = joined.policy;
    this.settings = joined.settings;
    this.participants = new Map(joined.participants.map((p) => [p.id, p]));
    this.hands = joined.hands;
    const self = this.participants.get(this.me);
    if (self) {
      this.hostMuted = self.host_muted;
      if (self.host_muted) this.microphoneOn = false;
    }
    this.applyLocalMedia();
    const anonymousAttendee = joined.policy.anonymous && this.options.role !== "host" && !self?.floor;
    if (anonymousAttendee) connection.setMediaState(false, false);
    else connection.setMediaState(this.cameraOn, this.microphoneOn);
    const c = connection;
    this.unsubscribe = [
      c.on("participant", (m) => this.participantChanged(m.change, m.participant)),
      c.on("hands", (m) => {
        this.hands = m.queue;
        this.render();
      }),
      c.on("settings", (m) => {
        this.settings = { locked: m.locked, guests_may_unmute: m.guests_may_unmute };
        this.render();
      }),
      c.on("track", (t) => this.showStream(t.participant, t.kind, t.stream)),
      c.on("track_removed", (t) => {
        if (t.stream.getTracks().length === 0) this.dropTile(t.participant, t.kind);
      }),
      c.on("streams", (m) => {
        const live = new Set(m.streams.map((s) => `${s.participant}/${s.kind}`));
        for (const key of [...this.tiles.keys()]) {
          if (key.endsWith("/screen") && !live.has(key)) this.dropTile(key.split("/")[0], "screen");
        }
      }),
      c.on("chat", (m) => this.chat.received(m, m.from === this.me)),
      c.on("muted", (m) => this.mutedByHost(m.may_unmute)),
      c.on("host_left", (m) => this.startCountdown(m.seconds ?? 60)),
      c.on("host_returned", () => this.stopCountdown(true)),
      c.on("floor", (m) => this.floorChanged(m.granted)),
      c.on("error", (m) => {
        // Janus did not answer: the connection closed the screen's PeerConnection (the camera is published again by itself).
        if (m.code === "media_unavailable" && m.request !== "ice_restart") this.shareLost();
        this.refusedCommand(m.message, m.request);
      }),
      c.on("ice_restart", () => {
        this.iceRestarts += 1;
        this.section.dataset.iceRestarts = String(this.iceRestarts);
      }),
      c.on("media_broken", () => this.mediaChanged(true)),
      c.on("media_restored", (detail) => {
        this.mediaChanged(false);
        this.section.dataset.mediaRestoredMs = String(detail.ms);
        this.section.dispatchEvent(new CustomEvent("media_restored", { detail, bubbles: true }));
      }),
    ];
    this.showReconnecting();
    this.render();
    // A host who comes in while people wait is told at once, as if they had just arrived.
    const waiting = [...this.participants.values()].filter((p) => p.state === "lobby");
    if (first && this.options.role === "host" && waiting.length) {
      this.arrival(waiting.length === 1 ? waiting[0].name : `${waiting.length} personer`);
    }
  }

  /** stop ends what the room runs (timers, shares); the page shows an end state next. */
  stop() {
    for (const off of this.unsubscribe) off();
    this.unsubscribe = [];
    this.stopCountdown(false);
    this.screen?.getTracks().forEach((t) => t.stop());
    this.screen = null;
    for (const tile of this.tiles.values()) tile.video.srcObject = null;
  }

  /**
   * setReconnecting: the WebSocket is being dialled again (on) or is back.
   * @param {boolean} on
   */
  setReconnecting(on) {
    this.socketLost = on;
    this.showReconnecting();
  }

  /**
   * mediaChanged: this browser's media broke (an ICE restart follows) or came back.
   * @param {boolean} broken
   */
  mediaChanged(broken) {
    if (broken === this.mediaLost) return;
    this.mediaLost = broken;
    this.showReconnecting();
    if (this.socketLost) return; // join.js says it for the WebSocket
    if (broken) this.options.announce("Anslutningen bröts. Vi försöker ansluta igen …", true);
    else this.options.announce("Du är ansluten igen.");
  }

  /** showReconnecting shows "Anslutningen bröts. Vi försöker ansluta igen …" while the WebSocket or the media is away. */
  showReconnecting() {
    this.reconnecting.hidden = !(this.socketLost || this.mediaLost);
  }

  /** shareLost: the screen share went with a lost connection (its media was not kept). */
  shareLost() {
    if (!this.screen) return;
    this.screen.getTracks().forEach((t) => t.stop());
    this.screen = null;
    this.renderShare();
    this.options.announce("Du delar inte längre din skärm.");
  }

  // ---- what the others do -------------------------------------------------------------------------

  /**
   * @param {"add" | "update" | "remove"} change
   * @param {ParticipantEntry} p
   */
  participantChanged(change, p) {
    const before = this.participants.get(p.id);
    if (change === "remove") {
      this.participants.delete(p.id);
      this.dropTile(p.id, "camera");
      this.dropTile(p.id, "screen");
      if (before?.state === "admitted" && p.id !== this.me) this.options.announce(`${p.name} har lämnat mötet.`);
    } else {
      this.participants.set(p.id, p);
      if (p.id === this.me) {
        this.hostMuted = p.host_muted;
      }
      if (this.options.role === "host" && p.state === "lobby" && before?.state !== "lobby") {
        this.arrival(p.name);
      }
      if (p.state === "admitted" && before?.state !== "admitted" && p.id !== this.me) {
        this.options.announce(`${p.name} är med i mötet.`);
      }
      if (p.host_muted && before && !before.host_muted && p.id !== this.me) {
        this.options.announce(`${p.name} har tystats.`);
      }
    }
    this.render();
  }

  /** @param {string} who the name of someone who just came to the lobby (or "2 personer") */
  arrival(who) {
    const text = `${who} väntar i lobbyn.`;
    this.showNotice(text);
    this.notice.dataset.kind = "arrival";
    this.options.announce(text, true);
    playArrivalChime(this.options.speakerId);
  }

  /**
   * showStream shows a received stream in the participant's tile.
   * @param {string} participant
   * @param {StreamKind} kind
   * @param {MediaStream} stream
   */
  showStream(participant, kind, stream) {
    const tile = this.tile(participant, kind);
    if (tile.video.srcObject !== stream) tile.video.srcObject = stream;
    const sink = this.options.speakerId;
    const video = /** @type {HTMLVideoElement & {setSinkId?: (id: string) => Promise<void>}} */ (tile.video);
    if (sink && video.setSinkId) video.setSinkId(sink).catch(() => undefined);
    tile.video.play().catch(() => undefined);
    if (kind === "screen") this.options.announce(`${this.nameOf(participant)} delar sin skärm.`);
  }

  /**
   * tile returns the participant's tile for kind, made if needed.
   * @param {string} participant
   * @param {StreamKind} kind
   * @returns {Tile}
   */
  tile(participant, kind) {
    const key = `${participant}/${kind}`;
    const existing = this.tiles.get(key);
    if (existing) return existing;
    const video = h("video", { autoplay: true, playsinline: true, "data-participant": participant });
    const label = h("span", { class: "tile-name" });
    const badges = h("span", { class: "tile-badges" });
    const box = h(
      "li",
      { class: `tile ${kind}`, "data-participant": participant, "data-kind": kind },
      video,
      h("p", { class: "tile-caption" }, label, badges),
    );
    // A screen share is the biggest picture: it goes first.
    if (kind === "screen") this.videos.prepend(box);
    else this.videos.append(box);
    const tile = { box, video, label, badges };
    this.tiles.set(key, tile);
    this.renderTile(participant, kind, tile);
    return tile;
  }

  /**
   * @param {string} participant
   * @param {StreamKind} kind
   */
  dropTile(participant, kind) {
    const key = `${participant}/${kind}`;
    const tile = this.tiles.get(key);
    if (!tile) return;
    tile.video.srcObject = null;
    tile.box.remove();
    this.tiles.delete(key);
    this.videos.dataset.count = String(this.tiles.size);
  }

  /** @param {string} id */
  nameOf(id) {
    return this.participants.get(id)?.name ?? "En deltagare";
  }

  /**
   * @param {string} participant
   * @param {StreamKind} kind
   * @param {Tile} tile
   */
  renderTile(participant, kind, tile) {
    const p = this.participants.get(participant);
    const name = p?.name ?? "En deltagare";
    tile.label.textContent = kind === "screen" ? `${name} delar skärm` : name;
    tile.video.setAttribute("aria-label", kind === "screen" ? `Skärm som ${name} delar` : `Video från ${name}`);
    tile.badges.replaceChildren();
    const reconnecting = !!p && (p.reconnecting === true || p.connected === false);
    if (reconnecting) tile.badges.append(h("span", { class: "badge reconnecting-badge", text: "Återansluter…" }));
    tile.box.classList.toggle("reconnecting", reconnecting);
    if (kind === "camera" && p) {
      if (p.host_muted || !p.microphone) tile.badges.append(h("span", { class: "badge muted-badge", text: "Mikrofon av" }));
      if (!p.camera) tile.badges.append(h("span", { class: "badge", text: "Kamera av" }));
      if (this.hands.includes(participant)) tile.badges.append(h("span", { class: "badge hand-badge", text: "Handen uppe" }));
    }
    tile.box.classList.toggle("camera-off", kind === "camera" && !!p && !p.camera);
  }

  // ---- this participant's own controls ----------------------------------------------------------------

  wireControls() {
    this.micButton.addEventListener("click", () => this.toggleMicrophone());
    this.cameraButton.addEventListener("click", () => {
      this.cameraOn = !this.cameraOn;
      this.applyLocalMedia();
      this.connection?.setMediaState(this.cameraOn, this.microphoneOn);
      this.options.announce(this.cameraOn ? "Kameran är på." : "Kameran är av.");
    });
    this.handButton.addEventListener("click", () => {
      if (this.hands.includes(this.me)) this.connection?.lowerHand();
      else this.connection?.raiseHand();
    });
    this.shareButton.addEventListener("click", () => (this.screen ? this.stopSharing() : this.startSharing()));
    this.leaveButton.addEventListener("click", () => this.options.leave());
    this.muteAllButton?.addEventListener("click", () => {
      this.connection?.muteAllGuests();
      this.options.announce("Alla gäster har tystats.");
    });
    this.settingsButton?.addEventListener("click", () => {
      this.renderSettings();
      this.settingsDialog?.showModal();
    });
    const dialog = this.settingsDialog;
    if (dialog) {
      find(dialog, "#installning-las", HTMLInputElement).addEventListener("change", (event) => {
        const box = /** @type {HTMLInputElement} */ (event.target);
        if (box.checked) this.connection?.lock();
        else this.connection?.unlock();
      });
      find(dialog, "#installning-tysta", HTMLInputElement).addEventListener("change", (event) => {
        const box = /** @type {HTMLInputElement} */ (event.target);
        this.connection?.setGuestsMayUnmute(!box.checked);
      });
      find(dialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => dialog.close());
    }
    this.endButton?.addEventListener("click", () => this.endDialog?.showModal());
    const endDialog = this.endDialog;
    if (endDialog) {
      find(endDialog, "[data-end]", HTMLButtonElement).addEventListener("click", () => {
        endDialog.close();
        this.connection?.end();
      });
      find(endDialog, "[data-close]", HTMLButtonElement).addEventListener("click", () => endDialog.close());
    }
  }

  toggleMicrophone() {
    if (!this.microphoneOn && this.hostMuted && !this.settings.guests_may_unmute && this.options.role !== "host") {
      const text = "Vårdpersonalen har stängt av din mikrofon. I det här mötet kan du inte slå på den själv.";
      this.showNotice(text);
      this.options.announce(text, true);
      return;
    }
    this.microphoneOn = !this.microphoneOn;
    if (this.microphoneOn) this.hostMuted = false;
    this.applyLocalMedia();
    this.connection?.setMediaState(this.cameraOn, this.microphoneOn);
    this.options.announce(this.microphoneOn ? "Mikrofonen är på." : "Mikrofonen är av.");
  }

  /** applyLocalMedia turns the published tracks on or off and shows the buttons' state. */
  applyLocalMedia() {
    for (const track of this.options.stream.getAudioTracks()) track.enabled = this.microphoneOn;
    for (const track of this.options.stream.getVideoTracks()) track.enabled = this.cameraOn;
    this.micButton.setAttribute("aria-pressed", String(this.microphoneOn));
    this.cameraButton.setAttribute("aria-pressed", String(this.cameraOn));
    this.selfBadges.replaceChildren();
    if (this.silentAttendee()) {
      this.selfBadges.append(h("span", { class: "self-note", text: "Bara du ser din bild. Du syns och hörs när vårdpersonalen ger dig ordet." }));
      return;
    }
    if (!this.microphoneOn) {
      const text = this.hostMuted ? "Mikrofonen är avstängd av vårdpersonalen" : "Mikrofonen är av";
      this.selfBadges.append(h("span", { class: "badge muted-badge", text }));
    }
    if (!this.cameraOn) this.selfBadges.append(h("span", { class: "badge", text: "Kameran är av" }));
  }

  /** silentAttendee tells whether this is an attendee of an anonymous meeting without the floor (sends nothing). */
  silentAttendee() {
    return !!this.policy?.anonymous && this.options.role !== "host" && !this.participants.get(this.me)?.floor;
  }

  /** @param {boolean} mayUnmute */
  mutedByHost(mayUnmute) {
    this.hostMuted = true;
    this.microphoneOn = false;
    this.applyLocalMedia();
    const text = mayUnmute
      ? "Vårdpersonalen har stängt av din mikrofon. Du kan slå på den igen när du vill säga något."
      : "Vårdpersonalen har stängt av din mikrofon. I det här mötet kan du inte slå på den själv.";
    this.showNotice(text);
    this.options.announce(text, true);
  }

  /** @param {boolean} granted anonymous meetings: this attendee may speak */
  floorChanged(granted) {
    const connection = this.connection;
    if (!connection) return;
    // The hosts show what media_state says: without it the attendee's picture would stay "Kamera av".
    if (granted) {
      connection.publish(this.options.stream).catch(() => undefined);
      connection.setMediaState(this.cameraOn, this.microphoneOn);
      this.showNotice("Du har fått ordet: värdarna ser och hör dig nu.");
    } else {
      connection.unpublish();
      connection.setMediaState(false, false);
      this.showNotice("Du har inte ordet längre.");
    }
    this.applyLocalMedia();
  }

  async startSharing() {
    const connection = this.connection;
    if (!connection) return;
    /** @type {MediaStream} */
    let stream;
    try {
      // A tab with its sound is offered first ("Dela flikljud" ticked); a window or the whole screen may be chosen.
      stream = await navigator.mediaDevices.getDisplayMedia(
        /** @type {DisplayMediaStreamOptions} */ ({
          video: true,
          audio: true,
          preferCurrentTab: false,
          selfBrowserSurface: "exclude",
          surfaceSwitching: "include",
          systemAudio: "include",
        }),
      );
    } catch {
      this.showNotice("Skärmdelningen startades inte.");
      return;
    }
    this.screen = stream;
    stream.getVideoTracks()[0]?.addEventListener("ended", () => this.stopSharing());
    this.renderShare();
    try {
      await connection.shareScreen(stream);
      this.options.announce("Du delar din skärm.");
    } catch (e) {
      this.stopSharing();
      this.showNotice(e instanceof Error ? e.message : "Skärmdelningen startades inte.");
    }
  }

  stopSharing() {
    if (!this.screen) return;
    this.screen.getTracks().forEach((t) => t.stop());
    this.screen = null;
    this.connection?.stopShare();
    this.renderShare();
    this.options.announce("Du delar inte längre din skärm.");
  }

  renderShare() {
    this.shareButton.textContent = this.screen ? "Sluta dela skärm" : "Dela skärm";
    this.shareButton.setAttribute("aria-pressed", String(!!this.screen));
  }

  /**
   * refusedCommand shows the server's reason for a refused command (e.g. "Tillåt" in a full meeting).
   * @param {string} message
   * @param {string} [request]
   */
  refusedCommand(message, request) {
    // A refused join is join.js's to show; the media's own requests (relay credentials, an ICE
    // restart, a connection report) are retried by the connection and mean nothing to the person.
    if (request === "join" || request === "ice_servers" || request === "ice_restart" || request === "connection") return;
    if (request === "chat") {
      this.chat.refused(message);
      return;
    }
    if (request === "media_state") {
      this.microphoneOn = false;
      this.applyLocalMedia();
    }
    this.showNotice(message, true);
    this.options.announce(message, true);
  }

  /**
   * @param {string} text
   * @param {boolean} [problem]
   */
  showNotice(text, problem = false) {
    this.notice.textContent = text;
    this.notice.dataset.kind = "";
    this.notice.classList.toggle("problem", problem);
    this.notice.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = window.setTimeout(() => {
      this.notice.hidden = true;
    }, NOTICE_MS);
  }

  // ---- the host's countdown -------------------------------------------------------------------------

  /** @param {number} seconds */
  startCountdown(seconds) {
    const until = Date.now() + seconds * 1000;
    const counter = find(this.hostLeft, "#nedrakning", HTMLElement);
    const tick = () => {
      const left = Math.max(0, Math.ceil((until - Date.now()) / 1000));
      counter.textContent = String(left);
    };
    tick();
    clearInterval(this.countdown);
    this.countdown = window.setInterval(tick, 1000);
    this.hostLeft.hidden = false;
    this.options.announce(
      `Vårdpersonalen har lämnat mötet. Mötet avslutas om ${seconds} sekunder om ingen från vårdpersonalen kommer tillbaka.`,
      true,
    );
  }

  /** @param {boolean} returned */
  stopCountdown(returned) {
    clearInterval(this.countdown);
    this.countdown = undefined;
    this.hostLeft.hidden = true;
    if (returned) this.options.announce("Vårdpersonalen är tillbaka i mötet.");
  }

  /** render brings every view in line with what is known. */
  render() {
    const self = this.participants.get(this.me);
    const raised = this.hands.includes(this.me);
    find(this.handButton, ".label", HTMLElement).textContent = raised ? "Ta ner handen" : "Räck upp handen";
    this.handButton.setAttribute("aria-pressed", String(raised));
    const anonymousAttendee = !!this.policy?.anonymous && this.options.role !== "host";
    this.micButton.hidden = anonymousAttendee && !self?.floor;
    this.cameraButton.hidden = anonymousAttendee && !self?.floor;
    // Phones and tablets cannot share their screen from a browser: the button is not offered there.
    const canShare = typeof navigator.mediaDevices?.getDisplayMedia === "function";
    this.shareButton.hidden = !canShare || (anonymousAttendee && !self?.floor);
    for (const [key, tile] of this.tiles) {
      const [participant, kind] = key.split("/");
      this.renderTile(participant, kind === "screen" ? "screen" : "camera", tile);
    }
    // Admitted people with no stream yet still get a tile with their name; but attendees of an
    // anonymous meeting send nothing without the floor, so the hosts get no empty tile for each of them.
    for (const p of this.participants.values()) {
      if (p.id === this.me || p.state !== "admitted") continue;
      const silent = !!this.policy?.anonymous && p.role !== "host" && !p.floor;
      if (silent) this.dropTile(p.id, "camera");
      else if (!this.tiles.has(`${p.id}/camera`)) this.tile(p.id, "camera");
    }
    this.videos.dataset.count = String(this.tiles.size);
    this.videos.toggleAttribute("data-anonymous", !!this.policy?.anonymous && this.options.role === "host");
    this.applyLocalMedia();
    if (this.participantList) {
      const waiting = this.participantList.render({
        me: this.me,
        participants: this.participants,
        hands: this.hands,
        anonymous: !!this.policy?.anonymous,
      });
      if (waiting === 0 && this.notice.dataset.kind === "arrival") this.notice.hidden = true;
      this.renderSettings();
    }
  }

  renderSettings() {
    const dialog = this.settingsDialog;
    if (!dialog) return;
    find(dialog, "#installning-las", HTMLInputElement).checked = this.settings.locked;
    find(dialog, "#installning-tysta", HTMLInputElement).checked = !this.settings.guests_may_unmute;
  }
}
