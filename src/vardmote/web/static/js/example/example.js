// @ts-check
/**
 * A minimal client of a live meeting with connection.js alone (as Galène ships
 * one): join, wait in the lobby, publish the camera, show what is received and,
 * as a host, admit whoever waits. No UI library, no other module of the pages.
 * Open /static/js/example/index.html?meeting=<id>&link=<token>&name=<name>.
 * @module example/example
 */
import { MeetingConnection } from "../meeting/connection.js";

const params = new URLSearchParams(location.search);
const meetingId = params.get("meeting") ?? "";
const link = params.get("link") ?? undefined;
const state = /** @type {HTMLElement} */ (document.getElementById("state"));
const lobby = /** @type {HTMLElement} */ (document.getElementById("lobby"));
const videos = /** @type {HTMLElement} */ (document.getElementById("videos"));
const connection = new MeetingConnection({ meetingId, link, name: params.get("name") ?? "Exempel" });

/** @type {Map<string, HTMLVideoElement>} one element per received stream */
const shown = new Map();

/** @param {import("../meeting/protocol.js").ParticipantEntry} p */
function showWaiting(p) {
  lobby.querySelector(`[data-id="${p.id}"]`)?.remove();
  if (connection.role !== "host" || p.state !== "lobby") return;
  const item = document.createElement("li");
  const admit = document.createElement("button");
  item.dataset.id = p.id;
  admit.textContent = `Tillåt ${p.name}`;
  admit.addEventListener("click", () => connection.admit(p.id));
  item.append(admit);
  lobby.append(item);
}

connection.on("joined", (m) => {
  state.textContent = m.state === "lobby" ? "Väntar i lobbyn" : "I mötet";
  m.participants.forEach(showWaiting);
});
connection.on("admitted", () => (state.textContent = "I mötet"));
connection.on("participant", (m) => showWaiting(m.participant));
connection.on("track", ({ participant, kind, stream }) => {
  const key = `${participant}/${kind}`;
  const video = shown.get(key) ?? document.createElement("video");
  Object.assign(video, { srcObject: stream, autoplay: true, muted: true, playsInline: true });
  video.dataset.participant = participant;
  shown.set(key, video);
  videos.append(video);
});
connection.on("track_removed", ({ participant, kind }) => {
  shown.get(`${participant}/${kind}`)?.remove();
  shown.delete(`${participant}/${kind}`);
});
for (const end of /** @type {const} */ (["denied", "removed", "link_gone", "ended"])) {
  connection.on(end, (m) => (state.textContent = m.message));
}
connection.on("error", (m) => (state.textContent = m.message));

try {
  await connection.join();
  await connection.publish(await navigator.mediaDevices.getUserMedia({ video: true, audio: true }));
} catch (e) {
  state.textContent = e instanceof Error ? e.message : String(e);
}
