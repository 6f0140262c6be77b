// @ts-check
/**
 * The meeting's chat: the "Chatt" button with its count of unread messages, the
 * panel with the messages received, and the form that sends one. A message the
 * server refuses is put back in the field with the reason beside it, so nothing
 * typed is lost. MeetingRoom (room.js) makes one and hands it the connection's
 * chat messages and refusals.
 * @module meeting/chat
 */

import { find, h } from "./dom.js";
import { roleMark, shownName } from "./participant-list.js";

/** @typedef {import("./connection.js").MeetingConnection} MeetingConnection */
/** @typedef {import("./protocol.js").ChatMessage} ChatMessage */

/**
 * @typedef {Object} ChatElements the chat's part of _meeting_room.html
 * @property {HTMLElement} panel #chatt
 * @property {HTMLElement} log #chatt-lista
 * @property {HTMLFormElement} form #chatt-form
 * @property {HTMLTextAreaElement} text #chatt-text
 * @property {HTMLElement} error #chatt-fel
 * @property {HTMLButtonElement} button #knapp-chatt
 */

/**
 * @typedef {Object} ChatOptions
 * @property {() => MeetingConnection | null} connection the connection in use (a new one after a reconnect)
 * @property {(text: string, urgent?: boolean) => void} announce says text in the page's live region
 */

/** Chat runs the chat panel and its button. */
export class Chat {
  /**
   * @param {ChatElements} elements
   * @param {ChatOptions} options
   */
  constructor(elements, options) {
    this.elements = elements;
    this.options = options;
    this.unread = 0;
    /** @type {string} the chat text last sent, until the server echoes it back (or refuses it) */
    this.pending = "";

    const { button, form, text } = elements;
    button.addEventListener("click", () => this.toggle());
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const value = text.value.trim();
      const connection = this.options.connection();
      if (!value || !connection) return;
      connection.chat(value);
      this.pending = value;
      text.value = "";
    });
    text.addEventListener("keydown", (event) => {
      if (event.key === "Enter" && !event.shiftKey) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
  }

  /** toggle opens the panel (and counts everything as read) or closes it. */
  toggle() {
    const { panel, button, text } = this.elements;
    panel.hidden = !panel.hidden;
    button.setAttribute("aria-expanded", String(!panel.hidden));
    if (!panel.hidden) {
      this.unread = 0;
      this.renderButton();
      text.focus();
    }
  }

  /**
   * received shows a message in the panel, or counts it as unread while the panel is closed.
   * @param {ChatMessage} message
   * @param {boolean} mine whether this participant sent it (the server's echo of our own message)
   */
  received(message, mine) {
    const { panel, log, text, error } = this.elements;
    if (mine) {
      // Our own message came back: it was sent, nothing is left to restore.
      this.pending = "";
      error.hidden = true;
      text.removeAttribute("aria-invalid");
    }
    const time = new Date().toLocaleTimeString("sv-SE", { hour: "2-digit", minute: "2-digit" });
    // A host's role is the page's own mark beside the name, never part of the name's text.
    const host = message.role === "host";
    log.append(
      h(
        "li",
        {},
        h("span", { class: "chat-who" }, shownName(message.name), host && " ", host && roleMark("host")),
        h("span", { class: "chat-time", text: time }),
        message.to_hosts ? h("span", { class: "chat-private", text: "till värdarna" }) : null,
        h("p", { text: message.text }),
      ),
    );
    log.scrollTop = log.scrollHeight;
    if (panel.hidden) {
      this.unread += 1;
      this.renderButton();
      this.options.announce(`Nytt chattmeddelande från ${message.name}.`);
    }
  }

  renderButton() {
    const badge = find(this.elements.button, ".unread", HTMLElement);
    badge.hidden = this.unread === 0;
    badge.textContent = this.unread === 1 ? "1 nytt" : this.unread ? `${this.unread} nya` : "";
  }

  /**
   * refused says why the server refused a chat message, beside the field, and puts the unsent
   * text back so nothing typed is lost.
   * @param {string} message the server's reason
   */
  refused(message) {
    const { panel, text, error } = this.elements;
    if (this.pending && !text.value) text.value = this.pending;
    this.pending = "";
    const reason = `Meddelandet skickades inte. ${message}`;
    error.textContent = reason;
    error.hidden = false;
    text.setAttribute("aria-invalid", "true");
    if (panel.hidden) this.toggle();
    this.options.announce(reason, true);
  }
}
