// @ts-check
/**
 * "Testa din mikrofon" in "Ställ in ljud och bild": the panel that records a few
 * seconds from the chosen microphone and plays them back on the chosen speaker,
 * with its states (recording, playback) and texts. DeviceSetup (device-setup.js)
 * makes one and tells it which microphone and speaker are chosen; the choice of
 * microphone in the panel is DeviceSetup's, like the other device choices.
 * @module meeting/microphone-test
 */

/** TEST_MS is how long "Testa din mikrofon" records. */
const TEST_MS = 4000;

/**
 * @typedef {Object} MicrophoneTestElements the test's part of _device_setup.html
 * @property {HTMLButtonElement} open #testa-mikrofon, which opens and closes the panel
 * @property {HTMLElement} panel #mikrofontest
 * @property {HTMLButtonElement} start #starta-test
 * @property {HTMLElement} status #test-status
 * @property {HTMLElement} recording #test-inspelning, shown while recording
 * @property {HTMLElement} playback #test-uppspelning, shown while playing back
 * @property {HTMLAudioElement} audio #test-ljud, which plays the recording
 */

/**
 * @typedef {Object} MicrophoneTestOptions
 * @property {() => MediaStreamTrack | null} microphone the chosen microphone's track
 * @property {() => string} speakerId the chosen speaker's deviceId, "" for the default
 */

/** MicrophoneTest runs the "Testa din mikrofon" panel. */
export class MicrophoneTest {
  /**
   * @param {MicrophoneTestElements} elements
   * @param {MicrophoneTestOptions} options
   */
  constructor(elements, options) {
    this._ui = elements;
    this._options = options;
    /** @type {{recorder: MediaRecorder | null, timer: number, url: string} | null} */
    this._test = null;
  }

  /**
   * listen wires the panel's buttons until signal aborts.
   * @param {AbortSignal} signal
   */
  listen(signal) {
    this._ui.open.addEventListener("click", () => this._togglePanel(), { signal });
    this._ui.start.addEventListener("click", () => this._run(), { signal });
  }

  _togglePanel() {
    const open = this._ui.panel.hidden;
    this._ui.panel.hidden = !open;
    this._ui.open.setAttribute("aria-expanded", String(open));
    if (!open) this.stop();
  }

  /**
   * _run records the chosen microphone for TEST_MS with MediaRecorder and plays it
   * back on the chosen speaker where the browser can choose one.
   */
  _run() {
    const ui = this._ui;
    this.stop();
    const microphone = this._options.microphone();
    if (typeof MediaRecorder === "undefined" || !microphone) {
      ui.status.textContent = "Den här webbläsaren kan inte spela in ett test. Titta i stället på ljudnivån när du pratar.";
      return;
    }
    /** @type {Blob[]} */
    const chunks = [];
    const recorder = new MediaRecorder(new MediaStream([microphone]));
    const test = { recorder: /** @type {MediaRecorder | null} */ (recorder), timer: 0, url: "" };
    this._test = test;
    recorder.addEventListener("dataavailable", (e) => e.data.size && chunks.push(e.data));
    recorder.addEventListener("stop", () => {
      if (this._test !== test) return;
      test.recorder = null;
      test.url = URL.createObjectURL(new Blob(chunks, { type: recorder.mimeType || chunks[0]?.type }));
      this._playBack(test.url);
    });
    ui.start.disabled = true;
    ui.playback.hidden = true;
    ui.recording.hidden = false;
    ui.status.textContent = "Spelar in din röst...";
    recorder.start();
    test.timer = window.setTimeout(() => recorder.state !== "inactive" && recorder.stop(), TEST_MS);
  }

  /** @param {string} url the recording */
  async _playBack(url) {
    const ui = this._ui;
    ui.recording.hidden = true;
    ui.playback.hidden = false;
    ui.start.disabled = false;
    ui.status.textContent = "Uppspelning";
    ui.audio.src = url;
    const speaker = this._options.speakerId();
    if (speaker && typeof ui.audio.setSinkId === "function") await ui.audio.setSinkId(speaker).catch(() => {});
    await ui.audio.play().catch(() => {
      ui.status.textContent = "Uppspelning – tryck på spela upp för att höra inspelningen.";
    });
  }

  /** stop ends a recording or playback under way and frees the recording. */
  stop() {
    const test = this._test;
    this._test = null;
    if (!test) return;
    clearTimeout(test.timer);
    if (test.recorder && test.recorder.state !== "inactive") test.recorder.stop();
    this._ui.audio.pause();
    this._ui.audio.removeAttribute("src");
    this._ui.audio.load();
    if (test.url) URL.revokeObjectURL(test.url);
    this._ui.start.disabled = false;
    this._ui.recording.hidden = true;
    this._ui.playback.hidden = true;
    this._ui.status.textContent = "";
  }
}
