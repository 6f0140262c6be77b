// @ts-check
/**
 * The meeting page's steps, for a guest (/m/<link>) and for staff
 * (/moten/<id>/starta): the name (guests), "Ställ in ljud och bild", the
 * lobby, the meeting, and the page of its own for each way it can end.
 *
 * This module only moves between the steps; the device set-up is
 * device-setup.js, "Testa anslutningen" connection-test.js (for guests run once
 * by itself when the camera and microphone are ready; for everyone from its
 * button), the meeting itself room.js, the protocol connection.js.
 * @module meeting/join
 */

import { MeetingConnection } from "./connection.js";
import { ConnectionTestPanel } from "./connection-test.js";
import { ConnectionError } from "./protocol.js";
import { DeviceSetup, SetupError } from "./device-setup.js";
import { MeetingRoom } from "./room.js";

/** @typedef {import("./protocol.js").JoinedMessage} JoinedMessage */
/** @typedef {"namn" | "installning" | "ansluter" | "lobby" | "mote"} StepName */
/** @typedef {"webblasare" | "behorighet" | "inga-enheter" | "upptagen" | "lanken" | "fullt" | "last" | "nekad" | "borttagen" | "avslutat" | "andrat" | "lamnat" | "annan-flik" | "bruten"} StateName */

const NAME_KEY = "vardmote.name.";
/** Characters that do not show as themselves (the server refuses them in a name, with this sentence). */
const INVISIBLE = /[\p{Cc}\p{Cf}\p{Co}\p{Cn}]/gu;
const NAME_INVISIBLE =
  "Namnet innehåller tecken som inte syns, till exempel osynliga mellanrum eller tecken som vänder skrivriktningen. Skriv ditt namn med vanliga bokstäver.";
const MAX_NAME_CHARS = 60;
/**
 * How long a new connection is tried, after the connection gave up dialling its dropped WebSocket
 * again (it tries for 25 s, keeping the media), before the "bruten" page.
 */
const RECONNECT_FOR_MS = 8_000;
const RECONNECT_EVERY_MS = 2_000;

/** The protocol's refusal codes on `join` and the page each leads to. */
/** @type {Record<string, StateName>} */
const JOIN_REFUSALS = {
  not_found: "lanken",
  link_gone: "lanken",
  meeting_full: "fullt",
  locked: "last",
  removed: "borttagen",
  meeting_ended: "avslutat",
  not_allowed: "lanken",
  media_unavailable: "bruten",
  closed: "bruten",
};

/** @type {Record<string, StateName>} */
const SETUP_PROBLEMS = {
  denied: "behorighet",
  no_devices: "inga-enheter",
  in_use: "upptagen",
  unsupported: "webblasare",
};

/**
 * element returns the element with id, or throws: the template and this module belong together.
 * @template {HTMLElement} T
 * @param {string} id
 * @param {new () => T} type
 * @returns {T}
 */
function element(id, type) {
  const found = document.getElementById(id);
  if (!(found instanceof type)) throw new Error(`#${id} is missing from the page`);
  return found;
}

/** supported tells whether this browser has what the meeting needs. */
function supported() {
  return (
    typeof RTCPeerConnection === "function" &&
    typeof WebSocket === "function" &&
    typeof MediaStream === "function" &&
    !!navigator.mediaDevices &&
    typeof navigator.mediaDevices.getUserMedia === "function"
  );
}

/**
 * sameSentence tells whether two texts say the same, ignoring case, spaces and a final full stop.
 * @param {string} a
 * @param {string} b
 */
function sameSentence(a, b) {
  /** @param {string} text */
  const plain = (text) => text.trim().replace(/[.!]+$/, "").replace(/\s+/g, " ").toLowerCase();
  return plain(a) === plain(b);
}

/**
 * cleanName trims and folds the spaces of a typed name; "" if it is not acceptable.
 * @param {string} raw
 * @returns {string}
 */
export function cleanName(raw) {
  const name = raw.split(/\s+/).filter(Boolean).join(" ");
  // Control characters and the like are refused by the server too.
  if (/[\p{Cc}\p{Cf}\p{Co}\p{Cn}]/u.test(name)) return "";
  return name;
}

class JoinPage {
  /** @param {HTMLElement} root */
  constructor(root) {
    this.root = root;
    this.meetingId = root.dataset.meeting ?? "";
    /** @type {"host" | "guest"} */
    this.role = root.dataset.role === "host" ? "host" : "guest";
    /** @type {string} */
    this.name = root.dataset.name ?? "";
    this.link = this.role === "guest" ? decodeURIComponent(location.pathname.split("/").pop() ?? "") : "";
    /** @type {DeviceSetup | null} */
    this.setup = null;
    /** @type {ConnectionTestPanel | null} */
    this.connectionTest = null;
    /** @type {MeetingConnection | null} */
    this.connection = null;
    /** @type {MeetingRoom | null} */
    this.room = null;
    /** set once the meeting has ended for this page (no reconnecting after it) */
    this.finished = false;
    /** set once the server has let this page join (lobby or meeting) */
    this.joinedOnce = false;
    /** set while reconnect() tries new connections */
    this.reconnectingNow = false;
    this.live = element("meddelanden", HTMLElement);
  }

  start() {
    for (const button of this.root.querySelectorAll("[data-reload]")) {
      button.addEventListener("click", () => location.reload());
    }
    if (!supported()) {
      // Shown as the page loads: focus stays at the top, where the heading is the first thing read.
      this.showState("webblasare", undefined, false);
      return;
    }
    if (this.role === "guest") {
      this.name = sessionStorage.getItem(NAME_KEY + this.meetingId) ?? "";
      this.wireNameStep();
      if (this.name) {
        element("ditt-namn", HTMLInputElement).value = this.name;
      }
      this.showStep("namn", false);
    } else {
      this.toSetup(false);
    }
  }

  // ---- steps --------------------------------------------------------------------------------

  /**
   * showStep shows one step and hides every other; focus moves to its heading.
   * @param {StepName} step
   * @param {boolean} [focus]
   */
  showStep(step, focus = true) {
    document.body.dataset.step = step;
    for (const section of this.root.querySelectorAll("section.step")) {
      if (!(section instanceof HTMLElement)) continue;
      section.hidden = section.id !== `steg-${step}`;
    }
    const heading = this.root.querySelector(`#steg-${step} h1`);
    if (focus && heading instanceof HTMLElement) heading.focus();
  }

  /**
   * showState ends on one of the pages of _meeting_states.html. The server's own
   * sentence replaces the page's .state-detail, unless it only repeats the heading
   * ("Mötet är avslutat."): then the page's own, more telling sentence stays.
   * A page's .state-thanks is for those who were in the meeting; it is hidden otherwise.
   * @param {StateName} state
   * @param {string} [detail] the server's own sentence, if it gave one
   * @param {boolean} [focus] move focus to the page's heading
   */
  showState(state, detail, focus = true) {
    this.finished = true;
    document.body.dataset.step = "slut";
    for (const section of this.root.querySelectorAll("section.step")) {
      if (!(section instanceof HTMLElement)) continue;
      section.hidden = section.dataset.state !== state;
    }
    const page = this.root.querySelector(`section[data-state="${state}"]`);
    const heading = page?.querySelector("h1");
    const detailElement = page?.querySelector(".state-detail");
    if (detail && detailElement && !sameSentence(detail, heading?.textContent ?? "")) {
      detailElement.textContent = detail;
    }
    for (const thanks of page?.querySelectorAll(".state-thanks") ?? []) {
      if (thanks instanceof HTMLElement) thanks.hidden = !this.joinedOnce;
    }
    if (focus) heading?.focus();
    this.connectionTest?.stop();
    this.room?.stop();
    this.setup?.release();
  }

  wireNameStep() {
    const form = element("namn-form", HTMLFormElement);
    const input = element("ditt-namn", HTMLInputElement);
    const error = element("namn-fel", HTMLElement);
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const name = cleanName(input.value);
      let problem = "";
      if (!name && cleanName(input.value.replace(INVISIBLE, "")) !== "") problem = NAME_INVISIBLE;
      else if (!name) problem = "Skriv ditt namn, så att vårdpersonalen vet vem du är.";
      else if (name.length > MAX_NAME_CHARS) problem = `Skriv ditt namn med högst ${MAX_NAME_CHARS} tecken.`;
      if (problem) {
        error.textContent = problem;
        error.hidden = false;
        input.setAttribute("aria-invalid", "true");
        input.setAttribute("aria-describedby", "namn-fel namn-hjalp");
        input.focus();
        return;
      }
      error.hidden = true;
      input.removeAttribute("aria-invalid");
      input.setAttribute("aria-describedby", "namn-hjalp");
      this.name = name;
      sessionStorage.setItem(NAME_KEY + this.meetingId, name);
      this.toSetup(true);
    });
  }

  /**
   * nameRefused goes back to the name step with the server's reason beside the field
   * (invisible characters, or a name that reads as a host's role).
   * @param {string} reason
   */
  nameRefused(reason) {
    sessionStorage.removeItem(NAME_KEY + this.meetingId);
    this.showStep("namn", false);
    const input = element("ditt-namn", HTMLInputElement);
    const error = element("namn-fel", HTMLElement);
    error.textContent = reason;
    error.hidden = false;
    input.setAttribute("aria-invalid", "true");
    input.setAttribute("aria-describedby", "namn-fel namn-hjalp");
    input.focus();
  }

  /** @param {boolean} focus */
  async toSetup(focus) {
    this.showStep("installning", focus);
    const section = element("steg-installning", HTMLElement);
    if (!this.setup) {
      this.setup = new DeviceSetup(section);
      element("anslut-nu", HTMLButtonElement).addEventListener("click", () => this.connect());
      this.connectionTest = new ConnectionTestPanel(element("grupp-anslutning", HTMLElement), {
        link: this.link || undefined,
        meeting: this.link ? undefined : this.meetingId,
        csrf: this.root.dataset.csrf || undefined,
      });
    }
    const connectButton = element("anslut-nu", HTMLButtonElement);
    connectButton.disabled = true;
    try {
      await this.setup.start();
      // "Anslut nu" works once the camera and microphone are there (the template renders it disabled).
      connectButton.disabled = false;
      // A guest's connection test runs once by itself (a patient would not know to ask for it);
      // staff press the button. The service allows a few tests a minute per address, and a
      // hospital's staff share one: a test each time someone starts a meeting would use them up.
      // It never holds "Anslut nu" back.
      if (this.role === "guest" && this.connectionTest && !this.connectionTest.outcome) this.connectionTest.run();
    } catch (e) {
      if (e instanceof SetupError) this.showState(SETUP_PROBLEMS[e.problem] ?? "inga-enheter");
      else {
        console.error(e);
        this.showState("inga-enheter");
      }
    }
  }

  // ---- the connection -------------------------------------------------------------------------

  async connect() {
    const setup = this.setup;
    if (!setup) return;
    element("anslut-nu", HTMLButtonElement).disabled = true;
    this.connectionTest?.stop();
    this.showStep("ansluter");
    setup.stop();
    try {
      const joined = await this.open();
      this.entered(joined);
    } catch (e) {
      this.refused(e);
    }
  }

  /**
   * open makes a new connection, joins and starts publishing (after admission).
   * @returns {Promise<JoinedMessage>}
   */
  async open() {
    const setup = this.setup;
    if (!setup) throw new Error("no device set-up");
    const connection = new MeetingConnection({
      meetingId: this.meetingId,
      link: this.link || undefined,
      name: this.role === "guest" ? this.name : undefined,
    });
    this.connection = connection;
    this.listen(connection);
    const joined = await connection.join();
    // An attendee of an anonymous meeting sends nothing until a host gives the floor (room.js).
    const me = joined.participants.find((p) => p.id === joined.participant);
    if (!joined.policy.anonymous || joined.role === "host" || me?.floor) {
      connection.publish(setup.stream).catch((e) => console.warn("publish", e));
    }
    return joined;
  }

  /**
   * refused shows the page for a refused or failed join.
   * @param {unknown} e
   */
  refused(e) {
    if (e instanceof ConnectionError && e.code === "bad_message" && this.role === "guest" && !this.joinedOnce) {
      // The server refused the name (docs/protocol.md, "join"): the guest writes another one.
      this.connection?.close();
      this.nameRefused(e.message);
      return;
    }
    if (e instanceof ConnectionError) this.showState(JOIN_REFUSALS[e.code] ?? "bruten", e.message);
    else {
      console.error(e);
      this.showState("bruten");
    }
  }

  /** @param {JoinedMessage} joined */
  entered(joined) {
    this.joinedOnce = true;
    if (joined.state === "lobby") this.toLobby();
    else this.toMeeting(joined);
  }

  toLobby() {
    this.showStep("lobby");
    const preview = element("lobby-bild", HTMLVideoElement);
    preview.srcObject = this.setup?.stream ?? null;
    this.announce("Du väntar i lobbyn. Vårdpersonalen släpper in dig när det är dags.");
    element("lobby-lamna", HTMLButtonElement).onclick = () => this.leave();
  }

  /** @param {JoinedMessage} joined */
  toMeeting(joined) {
    const setup = this.setup;
    const connection = this.connection;
    if (!setup || !connection) return;
    const first = !this.room;
    if (!this.room) {
      this.room = new MeetingRoom(element("steg-mote", HTMLElement), {
        role: this.role,
        stream: setup.stream,
        speakerId: setup.speakerId,
        announce: (text, urgent) => this.announce(text, urgent),
        leave: () => this.leave(),
      });
    }
    this.room.attach(connection, joined);
    element("lobby-bild", HTMLVideoElement).srcObject = null;
    this.showStep("mote", first);
    if (first) this.announce(this.role === "host" ? "Du är med i mötet." : "Du är insläppt i mötet.");
  }

  /**
   * listen follows what the server says to this participant.
   * @param {MeetingConnection} connection
   */
  listen(connection) {
    connection.on("admitted", (message) => {
      if (connection !== this.connection) return;
      this.toMeeting({
        type: "joined",
        participant: connection.participantId ?? "",
        role: connection.role ?? "guest",
        state: "admitted",
        resumed: false,
        resume: "",
        policy: connection.policy ?? { participant_limit: null, lobby: true, anonymous: false, content_sharing: "standard" },
        settings: message.settings,
        participants: message.participants,
        hands: message.hands,
      });
    });
    connection.on("denied", (message) => this.showState("nekad", message.message));
    connection.on("removed", (message) => this.showState("borttagen", message.message));
    connection.on("link_gone", (message) => this.showState("lanken", message.message));
    connection.on("taken_over", () => this.showState("annan-flik"));
    connection.on("ended", (message) =>
      this.showState(message.reason === "type_changed" ? "andrat" : "avslutat", message.message),
    );
    // A dropped WebSocket is dialled again by the connection itself, keeping the media.
    connection.on("reconnecting", () => {
      if (connection !== this.connection || this.finished) return;
      this.room?.setReconnecting(true);
      this.announce("Anslutningen bröts. Vi försöker ansluta igen …", true);
    });
    connection.on("reconnected", ({ joined, mediaKept }) => {
      if (connection !== this.connection || this.finished) return;
      this.room?.setReconnecting(false);
      if (!mediaKept) this.room?.shareLost();
      this.announce("Du är ansluten igen.");
      // The lobby stays as it is; the meeting takes the new participant list (or a lost place: the lobby).
      if (joined.state !== "lobby" || document.body.dataset.step !== "lobby") this.entered(joined);
    });
    connection.on("closed", ({ error }) => {
      // Only a connection that was in the meeting: a refused first join is open()'s to tell.
      if (connection !== this.connection || this.finished || connection.participantId === null) return;
      if (error && error.code !== "closed" && error.code !== "media_unavailable") this.refused(error);
      else this.reconnect();
    });
  }

  /** reconnect tries to get the place back after the connection dropped. */
  async reconnect() {
    if (this.reconnectingNow) return;
    this.reconnectingNow = true;
    const until = Date.now() + RECONNECT_FOR_MS;
    this.room?.setReconnecting(true);
    this.room?.shareLost();
    try {
      while (Date.now() < until && !this.finished) {
        await new Promise((resolve) => setTimeout(resolve, RECONNECT_EVERY_MS));
        try {
          const joined = await this.open();
          this.room?.setReconnecting(false);
          this.announce("Du är ansluten igen.");
          this.entered(joined);
          return;
        } catch (e) {
          if (e instanceof ConnectionError && e.code !== "closed" && e.code !== "media_unavailable") {
            this.refused(e);
            return;
          }
        }
      }
      if (!this.finished) this.showState("bruten");
    } finally {
      this.reconnectingNow = false;
    }
  }

  leave() {
    this.finished = true;
    this.connection?.leave();
    this.connection?.close();
    if (this.role === "host") sessionStorage.removeItem(NAME_KEY + this.meetingId);
    this.showState("lamnat");
  }

  /**
   * announce says text in the page's live region (assertive if urgent).
   * @param {string} text
   * @param {boolean} [urgent]
   */
  announce(text, urgent = false) {
    const region = urgent ? element("viktiga-meddelanden", HTMLElement) : this.live;
    region.textContent = "";
    // A new text node a moment later is read out even when the text repeats.
    setTimeout(() => {
      region.textContent = text;
    }, 50);
  }
}

const root = document.getElementById("motet");
if (root) new JoinPage(root).start();
