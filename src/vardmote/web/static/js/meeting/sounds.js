// @ts-check
/**
 * Sounds of the meeting, made with WebAudio: no audio files to fetch.
 *
 *     import { playMelody, playArrivalChime } from "/static/js/meeting/sounds.js";
 *     await playMelody(setup.speakerId);   // "Testa ditt ljud"
 *     await playArrivalChime();            // someone waits in the lobby
 *
 * Each plays on the given speaker where the browser can: AudioContext.setSinkId
 * (Chromium 110+), else an <audio> element fed by a MediaStreamDestination with
 * HTMLMediaElement.setSinkId; elsewhere (Safari, Firefox without the setting, old
 * phones) on the default output. Both always resolve and never throw: a sound
 * that cannot be played (no WebAudio, the autoplay policy, a speaker that has
 * gone) is simply not heard.
 * @module meeting/sounds
 */

/**
 * @typedef {Object} Note
 * @property {number} frequency in Hz
 * @property {number} at start in seconds from the beginning
 * @property {number} length in seconds, to the end of the fade
 * @property {number} volume peak gain, 0–1
 */

/** MELODY is a rising C major phrase, about two seconds, soft sine tones. */
const MELODY = /** @type {Note[]} */ ([
  { frequency: 523.25, at: 0.0, length: 0.45, volume: 0.22 },
  { frequency: 659.25, at: 0.3, length: 0.45, volume: 0.22 },
  { frequency: 783.99, at: 0.6, length: 0.45, volume: 0.22 },
  { frequency: 659.25, at: 0.95, length: 0.4, volume: 0.2 },
  { frequency: 1046.5, at: 1.25, length: 0.85, volume: 0.22 },
]);

/** ARRIVAL_CHIME is a soft two-tone "ding-dong", high then low. */
const ARRIVAL_CHIME = /** @type {Note[]} */ ([
  { frequency: 880.0, at: 0.0, length: 0.7, volume: 0.16 },
  { frequency: 659.25, at: 0.35, length: 1.0, volume: 0.16 },
]);

/** START_TIMEOUT_MS bounds waiting for the output to start (resume, setSinkId, play). */
const START_TIMEOUT_MS = 1500;

/**
 * playMelody plays a short pleasant melody (about 2 s) on the speaker sinkId ("" or
 * nothing: the default output) and resolves when it has ended or could not be played.
 * @param {string} [sinkId]
 * @returns {Promise<void>}
 */
export function playMelody(sinkId = "") {
  return play(MELODY, sinkId);
}

/**
 * playArrivalChime plays a soft two-tone chime, for staff when someone arrives in the
 * lobby, on the speaker sinkId ("" or nothing: the default output); resolves when done.
 * @param {string} [sinkId]
 * @returns {Promise<void>}
 */
export function playArrivalChime(sinkId = "") {
  return play(ARRIVAL_CHIME, sinkId);
}

/**
 * play schedules notes on a fresh AudioContext routed to sinkId, waits for their end and
 * closes the context. Never rejects.
 * @param {Note[]} notes
 * @param {string} sinkId
 * @returns {Promise<void>}
 */
async function play(notes, sinkId) {
  /** @type {AudioContext | null} */
  let context = null;
  /** @type {HTMLAudioElement | null} */
  let element = null;
  try {
    const Context = window.AudioContext ?? /** @type {any} */ (window).webkitAudioContext;
    if (!Context) return;
    context = /** @type {AudioContext} */ (new Context());
    const output = await route(context, sinkId);
    element = output.element;
    await bounded(context.resume());
    if (context.state !== "running") return;
    const start = context.currentTime + 0.05;
    let end = start;
    for (const note of notes) {
      schedule(context, output.node, note, start);
      end = Math.max(end, start + note.at + note.length);
    }
    await sleep((end - context.currentTime) * 1000 + 100);
  } catch (e) {
    console.debug("sounds: not played", e);
  } finally {
    if (element) {
      element.pause();
      element.srcObject = null;
    }
    if (context) context.close().catch(() => {});
  }
}

/**
 * route picks the node to play into: the context's own destination (moved to sinkId by
 * AudioContext.setSinkId where it exists), or a MediaStreamDestination played by an <audio>
 * element on sinkId. With no sinkId, or when neither works, the default output.
 * @param {AudioContext} context
 * @param {string} sinkId
 * @returns {Promise<{node: AudioNode, element: HTMLAudioElement | null}>}
 */
async function route(context, sinkId) {
  if (!sinkId) return { node: context.destination, element: null };
  const withSink = /** @type {AudioContext & {setSinkId?: (id: string) => Promise<void>}} */ (context);
  if (typeof withSink.setSinkId === "function") {
    try {
      await bounded(withSink.setSinkId(sinkId));
      return { node: context.destination, element: null };
    } catch (e) {
      console.debug("sounds: AudioContext.setSinkId", e);
    }
  }
  if (typeof HTMLMediaElement.prototype.setSinkId === "function" && context.createMediaStreamDestination) {
    try {
      const stream = context.createMediaStreamDestination();
      const element = new Audio();
      element.srcObject = stream.stream;
      await bounded(element.setSinkId(sinkId));
      await bounded(element.play());
      return { node: stream, element };
    } catch (e) {
      console.debug("sounds: HTMLMediaElement.setSinkId", e);
    }
  }
  return { node: context.destination, element: null };
}

/**
 * schedule plays one note: a sine with a quiet octave above, a quick rise and a soft
 * exponential fade, so it sounds like a bell rather than a beep.
 * @param {AudioContext} context
 * @param {AudioNode} output
 * @param {Note} note
 * @param {number} start context time of the melody's beginning
 */
function schedule(context, output, note, start) {
  const begin = start + note.at;
  const end = begin + note.length;
  const gain = context.createGain();
  gain.gain.setValueAtTime(0.0001, begin);
  gain.gain.exponentialRampToValueAtTime(note.volume, begin + 0.02);
  gain.gain.exponentialRampToValueAtTime(0.0001, end);
  gain.connect(output);
  for (const [multiple, level] of [
    [1, 1],
    [2, 0.15],
  ]) {
    const oscillator = context.createOscillator();
    oscillator.type = "sine";
    oscillator.frequency.value = note.frequency * multiple;
    const partial = context.createGain();
    partial.gain.value = level;
    oscillator.connect(partial).connect(gain);
    oscillator.start(begin);
    oscillator.stop(end + 0.05);
  }
}

/**
 * bounded waits for promise at most START_TIMEOUT_MS (a resume() refused by the autoplay
 * policy stays pending for ever) and rejects if it did not settle in time.
 * @template T
 * @param {Promise<T>} promise
 * @returns {Promise<T>}
 */
function bounded(promise) {
  return Promise.race([
    promise,
    sleep(START_TIMEOUT_MS).then(() => Promise.reject(new Error("timed out"))),
  ]);
}

/** @param {number} ms */
function sleep(ms) {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}
