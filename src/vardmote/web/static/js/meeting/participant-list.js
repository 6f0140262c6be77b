// @ts-check
/**
 * The hosts' participant list "Deltagare": who has raised a hand, who waits in the
 * lobby, who is in the meeting with camera and microphone, and each row's commands
 * ("Tillåt", "Neka", "Tysta", "Ge ordet", "Ta bort från mötet", …), plus the
 * "Deltagare" button that shows or hides the list. Each person in the meeting has their
 * connection beside their name: "Direkt" or "Via omväg" (their media goes through the
 * relay server), "Svag anslutning" when it loses packets or is slow, and "Återansluter…"
 * while it reconnects, so staff can help. It draws what MeetingRoom
 * (room.js) knows and sends every command through the connection.
 * @module meeting/participant-list
 */

import { find, h } from "./dom.js";

/** @typedef {import("./connection.js").MeetingConnection} MeetingConnection */
/** @typedef {import("./protocol.js").ParticipantEntry} ParticipantEntry */

/**
 * ROLE_NAMES are the roles as the page names them (the chat names hosts the same way).
 * @type {Record<string, string>}
 */
export const ROLE_NAMES = { host: "mötesorganisatör", guest: "gäst", room_device: "rumsenhet" };

/**
 * shownName is a person's name as the page shows it: in a bdi element of its own, so that a name
 * written right to left cannot move what stands beside it.
 * @param {string} name
 */
export function shownName(name) {
  return h("bdi", { class: "display-name", text: name });
}

/**
 * roleMark is the page's own mark of a role, "(mötesorganisatör)": an element apart from the
 * name, made from the protocol's role field (its data-role) and never from text a participant
 * typed. A guest's name cannot read as it either: the server refuses names that do
 * (docs/protocol.md, "join").
 * @param {string} role the protocol's role ("host", "guest", "room_device")
 * @param {string} [more] what else the parentheses say (", inbjuden som Tolk", ", du")
 */
export function roleMark(role, more = "") {
  const known = role in ROLE_NAMES ? role : "guest";
  return h("span", { class: "role-mark", "data-role": known, text: `(${ROLE_NAMES[known]}${more})` });
}

/**
 * PATHS are how a person's media goes, as the list says it to staff (a clinician, not a network
 * engineer): the word shown and what it means, for the tooltip and screen readers.
 * @type {Record<string, {label: string, means: string}>}
 */
export const PATHS = {
  direct: { label: "Direkt", means: "Ljud och bild går direkt mellan personen och tjänsten." },
  relay: {
    label: "Via omväg",
    means: "Personens nätverk stoppar den direkta vägen, så ljud och bild går via vår reläserver. Det fungerar, men kan gå lite långsammare.",
  },
};

/** POOR is the warning of a poor connection and what staff can suggest. */
export const POOR = {
  label: "Svag anslutning",
  means: "Ljud och bild kan hacka eller frysa. Personen kan flytta närmare routern, stänga andra program som använder nätet eller byta till mobilnätet.",
};

/**
 * connectionMarks are a meeting row's marks of the person's connection: "Återansluter…",
 * "Direkt" or "Via omväg", "Svag anslutning". Hosts only receive media_path and
 * poor_connection (docs/protocol.md); reconnecting, and a dropped WebSocket, everyone.
 * @param {ParticipantEntry} p
 * @returns {HTMLElement}
 */
export function connectionMarks(p) {
  const marks = h("span", { class: "person-connection" });
  if (p.reconnecting === true || p.connected === false) {
    marks.append(h("span", { class: "badge reconnecting-badge", text: "Återansluter…" }));
  } else if (p.media_path && p.media_path in PATHS) {
    const path = PATHS[p.media_path];
    marks.append(
      h(
        "span",
        { class: `conn-path ${p.media_path}`, "data-path": p.media_path, title: path.means },
        h("span", { class: "conn-label", text: path.label }),
        h("span", { class: "visually-hidden", text: `: ${path.means}` }),
      ),
    );
  }
  if (p.poor_connection === true) {
    marks.append(
      h(
        "span",
        { class: "badge poor-badge", title: POOR.means },
        POOR.label,
        h("span", { class: "visually-hidden", text: `: ${POOR.means}` }),
      ),
    );
  }
  return marks;
}

/**
 * @typedef {Object} ParticipantListOptions
 * @property {() => MeetingConnection | null} connection the connection in use (a new one after a reconnect)
 * @property {(text: string, urgent?: boolean) => void} announce says text in the page's live region
 * @property {(id: string) => string} nameOf a participant's name ("En deltagare" if unknown)
 */

/**
 * @typedef {Object} ListState what the list shows, as MeetingRoom knows it
 * @property {string} me this participant's id
 * @property {Map<string, ParticipantEntry>} participants
 * @property {string[]} hands the raised hands, first raised first
 * @property {boolean} anonymous an anonymous meeting: attendees speak only when given the floor
 */

/**
 * rowButton makes a button whose accessible name is its visible label plus, hidden, whom it is for
 * ("Tysta" + " Olle"), so a screen reader can tell the rows apart.
 * @param {string} label
 * @param {string} whom
 * @param {string} action
 * @param {string} participant
 * @param {string} [style]
 */
function rowButton(label, whom, action, participant, style = "secondary") {
  return h(
    "button",
    { type: "button", class: `small ${style}`, "data-action": action, "data-participant": participant },
    label,
    h("span", { class: "visually-hidden", text: ` ${whom}` }),
  );
}

/**
 * keep puts rows into list, keeping each row already there that would look the same, so a
 * button under the keyboard is not replaced (a Space press counts on release: a row drawn anew
 * between press and release would lose it) and unchanged rows do not flicker.
 * @param {HTMLElement} list
 * @param {HTMLElement[]} rows new rows, in order
 */
function keep(list, rows) {
  /** @type {Map<string, Element>} */
  const old = new Map();
  for (const child of list.children) old.set(child.outerHTML, child);
  const wanted = rows.map((row) => {
    const same = old.get(row.outerHTML);
    if (!same) return row;
    old.delete(row.outerHTML);
    return same;
  });
  for (const unused of old.values()) unused.remove();
  let cursor = list.firstElementChild;
  for (const row of wanted) {
    if (row === cursor) cursor = cursor.nextElementSibling;
    else list.insertBefore(row, cursor);
  }
}

/** ParticipantList draws #deltagare and carries out its rows' commands. */
export class ParticipantList {
  /**
   * @param {HTMLElement} list the #deltagare aside
   * @param {HTMLButtonElement | null} countButton #knapp-deltagare, which shows the number in the meeting
   * @param {ParticipantListOptions} options
   */
  constructor(list, countButton, options) {
    this.list = list;
    this.countButton = countButton;
    this.options = options;
    /** @type {ListState} */
    this.state = { me: "", participants: new Map(), hands: [], anonymous: false };
    list.addEventListener("click", (event) => this.rowAction(event));
    countButton?.addEventListener("click", () => {
      list.hidden = !list.hidden;
      countButton.setAttribute("aria-expanded", String(!list.hidden));
    });
  }

  /**
   * rowAction carries out a participant row's button ("Tillåt", "Neka", "Tysta", …).
   * @param {MouseEvent} event
   */
  rowAction(event) {
    const target = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    if (!(target instanceof HTMLButtonElement)) return;
    const id = target.dataset.participant ?? "";
    const c = this.options.connection();
    if (!c || !id) return;
    const name = this.options.nameOf(id);
    switch (target.dataset.action) {
      case "admit":
        c.admit(id);
        break;
      case "deny":
        c.deny(id);
        this.options.announce(`${name} släpptes inte in.`);
        break;
      case "mute":
        c.mute(id);
        break;
      case "remove":
        if (confirm(`Ta bort ${name} från mötet?`)) c.remove(id);
        break;
      case "lower":
        c.lowerHand(id);
        break;
      case "give_floor":
        c.giveFloor(id);
        break;
      case "take_floor":
        c.takeFloor(id);
        break;
    }
  }

  /**
   * render draws the list from state; a focused row button keeps the focus if it is still there,
   * else the heading gets it.
   * @param {ListState} state
   * @returns {number} how many wait in the lobby
   */
  render(state) {
    this.state = state;
    const list = this.list;
    const focused = document.activeElement;
    const focusKey =
      focused instanceof HTMLElement && list.contains(focused) && focused.dataset.action
        ? `${focused.dataset.action}/${focused.dataset.participant}`
        : null;

    const everyone = [...state.participants.values()];
    const lobby = everyone.filter((p) => p.state === "lobby");
    const inMeeting = everyone.filter((p) => p.state === "admitted");
    inMeeting.sort((a, b) => Number(b.role === "host") - Number(a.role === "host"));
    const hands = state.hands.map((id) => state.participants.get(id)).filter((p) => !!p);

    find(list, "#antal-hander", HTMLElement).textContent = String(hands.length);
    find(list, "#antal-lobby", HTMLElement).textContent = String(lobby.length);
    find(list, "#antal-motet", HTMLElement).textContent = String(inMeeting.length);
    if (this.countButton) find(this.countButton, ".count", HTMLElement).textContent = String(inMeeting.length);

    keep(
      find(list, "#lista-hander", HTMLElement),
      hands.map((p) =>
        h(
          "li",
          { class: "person" },
          this.personName(p),
          h("span", { class: "person-actions" }, rowButton("Ta ner handen", p.name, "lower", p.id)),
        ),
      ),
    );
    keep(
      find(list, "#lista-lobby", HTMLElement),
      lobby.map((p) =>
        h(
          "li",
          { class: "person" },
          h(
            "span",
            { class: "person-name" },
            shownName(p.name),
            p.invited_as
              ? h(
                  "span",
                  { class: "invited-as" },
                  h("span", { class: "visually-hidden", text: ", " }),
                  `Inbjuden som: ${p.invited_as}`,
                )
              : null,
          ),
          h(
            "span",
            { class: "person-actions" },
            rowButton("Tillåt", p.name, "admit", p.id, "primary"),
            rowButton("Neka", p.name, "deny", p.id),
          ),
        ),
      ),
    );
    keep(
      find(list, "#lista-motet", HTMLElement),
      inMeeting.map((p) => this.meetingRow(p)),
    );
    find(list, "#tom-lobby", HTMLElement).hidden = lobby.length > 0;
    find(list, "#tom-hander", HTMLElement).hidden = hands.length > 0;

    if (focusKey) {
      const again = list.querySelector(`button[data-action="${focusKey.split("/")[0]}"][data-participant="${focusKey.split("/")[1]}"]`);
      if (again instanceof HTMLElement) again.focus();
      else find(list, "h2", HTMLElement).focus();
    }
    return lobby.length;
  }

  /**
   * personName is a row's name and, apart from it, the role the page gives
   * ("Annika Berg (mötesorganisatör, du)").
   * @param {ParticipantEntry} p
   */
  personName(p) {
    const you = p.id === this.state.me ? ", du" : "";
    const invited = p.invited_as ? `, inbjuden som ${p.invited_as}` : "";
    return h("span", { class: "person-name" }, shownName(p.name), " ", roleMark(p.role, `${invited}${you}`));
  }

  /**
   * meetingRow is one row of "I det här mötet": name, role, camera and microphone, the commands.
   * @param {ParticipantEntry} p
   */
  meetingRow(p) {
    const microphone = p.host_muted ? "Mikrofon avstängd av värd" : p.microphone ? "Mikrofon på" : "Mikrofon av";
    const camera = p.camera ? "Kamera på" : "Kamera av";
    const microphoneOn = p.microphone && !p.host_muted;
    const actions = h("span", { class: "person-actions" });
    if (p.id !== this.state.me && p.role !== "host") {
      if (!p.host_muted) actions.append(rowButton("Tysta", p.name, "mute", p.id));
      if (this.state.anonymous) {
        actions.append(
          p.floor ? rowButton("Ta tillbaka ordet", p.name, "take_floor", p.id) : rowButton("Ge ordet", p.name, "give_floor", p.id),
        );
      }
      actions.append(rowButton("Ta bort från mötet", p.name, "remove", p.id, "danger"));
    }
    return h(
      "li",
      { class: "person", "data-participant": p.id },
      this.personName(p),
      h(
        "span",
        { class: "person-media" },
        h(
          "span",
          { class: `icon-wrap ${p.camera ? "on" : "off"}`, role: "img", "aria-label": camera, title: camera },
          h("span", { class: `icon camera ${p.camera ? "on" : "off"}` }),
        ),
        h(
          "span",
          { class: `icon-wrap ${microphoneOn ? "on" : "off"}`, role: "img", "aria-label": microphone, title: microphone },
          h("span", { class: `icon microphone ${microphoneOn ? "on" : "off"}` }),
        ),
      ),
      connectionMarks(p),
      actions,
    );
  }
}
