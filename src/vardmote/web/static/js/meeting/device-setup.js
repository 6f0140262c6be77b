// @ts-check
/**
 * "Ställ in ljud och bild": the step before "Anslut nu". It asks once for the camera
 * and the microphone, lets the person choose camera, microphone and speaker, shows
 * a mirrored self view and a live microphone level, offers a short recorded
 * microphone test (microphone-test.js), plays a melody on the chosen speaker, and
 * turns background effects on (effects.js). The markup is
 * templates/_device_setup.html; this module finds it by id under the section it is
 * given.
 *
 *     import { DeviceSetup, SetupError } from "/static/js/meeting/device-setup.js";
 *     const setup = new DeviceSetup(document.getElementById("steg-installning"));
 *     await setup.start();          // rejects with a SetupError
 *     ...                           // "Anslut nu":
 *     setup.stop();
 *     connection.publish(setup.stream);
 *
 * Errors: start() rejects only with a SetupError, whose `problem` says what went wrong
 * ("denied", "no_devices", "in_use", "unsupported"); setupErrorOf() is that mapping.
 * Later failures (another camera cannot be opened, an effect will not start) are shown
 * in the step itself in Swedish and leave the previous choice working.
 *
 * Concurrency: every change of a device or of the effect runs on one promise queue,
 * so a quick series of choices is applied in order and `stream` never holds a track
 * that has been stopped. Only device ids and the effect are remembered, in
 * localStorage; no names or other personal data.
 * @module meeting/device-setup
 */

import { BackgroundEffect } from "./effects.js";
import { MicrophoneTest } from "./microphone-test.js";
import { playMelody } from "./sounds.js";

/** @typedef {"denied" | "no_devices" | "in_use" | "unsupported"} SetupProblem */
/** @typedef {"none" | "blur" | "replace"} Effect */
/**
 * @typedef {Object} Choices what is remembered between visits
 * @property {string} [camera] deviceId
 * @property {string} [microphone] deviceId
 * @property {string} [speaker] deviceId
 * @property {Effect} [effect]
 */

/** STORAGE_KEY is where the choices are remembered (device ids and the effect only). */
const STORAGE_KEY = "vardmote.ljud-och-bild";
/** VIDEO asks for at most 720p at 30 fps: enough for a consultation, gentle on old phones. */
const VIDEO = { width: { ideal: 1280 }, height: { ideal: 720 }, frameRate: { ideal: 30, max: 30 } };
const AUDIO = { echoCancellation: true, noiseSuppression: true, autoGainControl: true };
const EFFECTS = /** @type {Effect[]} */ (["none", "blur", "replace"]);

/** SetupError is why start() failed, as one of the step's error pages. */
export class SetupError extends Error {
  /**
   * @param {SetupProblem} problem
   * @param {string} message the browser's details, for the log
   */
  constructor(problem, message) {
    super(message);
    this.name = "SetupError";
    /** @type {SetupProblem} */
    this.problem = problem;
  }
}

/**
 * setupErrorOf maps what getUserMedia threw to a SetupError: NotAllowedError and
 * SecurityError are "denied"; NotFoundError and OverconstrainedError "no_devices";
 * NotReadableError and AbortError "in_use"; anything else "unsupported".
 * @param {unknown} error
 * @returns {SetupError}
 */
export function setupErrorOf(error) {
  if (error instanceof SetupError) return error;
  const name = error && typeof error === "object" && "name" in error ? String(error.name) : "";
  const message = `${name}: ${error && typeof error === "object" && "message" in error ? error.message : error}`;
  switch (name) {
    case "NotAllowedError":
    case "SecurityError":
    case "PermissionDeniedError":
      return new SetupError("denied", message);
    case "NotFoundError":
    case "OverconstrainedError":
    case "DevicesNotFoundError":
      return new SetupError("no_devices", message);
    case "NotReadableError":
    case "AbortError":
    case "TrackStartError":
      return new SetupError("in_use", message);
    default:
      return new SetupError("unsupported", message);
  }
}

/** canChooseSpeaker tells whether this browser can play on a chosen speaker (setSinkId). */
function canChooseSpeaker() {
  return typeof HTMLMediaElement !== "undefined" && typeof HTMLMediaElement.prototype.setSinkId === "function";
}

/** @returns {Choices} */
function loadChoices() {
  try {
    const found = JSON.parse(localStorage.getItem(STORAGE_KEY) ?? "{}");
    return found && typeof found === "object" ? found : {};
  } catch {
    return {};
  }
}

/** @param {Choices} choices */
function saveChoices(choices) {
  try {
    localStorage.setItem(STORAGE_KEY, JSON.stringify(choices));
  } catch {
    // Private browsing may refuse storage; the choices are then asked again next time.
  }
}

/**
 * DeviceSetup runs "Ställ in ljud och bild" in root (the #steg-installning section).
 */
export class DeviceSetup {
  /** @param {HTMLElement} root the #steg-installning section */
  constructor(root) {
    /** @type {<T extends HTMLElement>(id: string) => T} */
    const find = (id) => {
      const found = root.querySelector(`#${id}`);
      if (!found) throw new Error(`device-setup: #${id} is missing from the page`);
      return /** @type {any} */ (found);
    };
    this._root = root;
    this._ui = {
      box: find("installning-vantar").closest(".device-setup") ?? root,
      waiting: find("installning-vantar"),
      problem: find("installning-fel"),
      /** @type {HTMLVideoElement} */ preview: find("installning-bild"),
      /** @type {HTMLSelectElement} */ camera: find("val-kamera"),
      /** @type {HTMLSelectElement} */ microphone: find("val-mikrofon"),
      /** @type {HTMLMeterElement} */ level: find("mikrofon-niva"),
      /** @type {HTMLSelectElement} */ testMicrophone: find("test-mikrofon"),
      speakerField: find("hogtalare-val"),
      /** @type {HTMLSelectElement} */ speaker: find("val-hogtalare"),
      speakerNote: find("hogtalare-not"),
      /** @type {HTMLButtonElement} */ speakerTest: find("testa-ljud"),
      speakerStatus: find("ljud-status"),
      /** @type {HTMLFieldSetElement} */ effects: find("effekter"),
      effectNote: find("effekt-not"),
      /** @type {HTMLButtonElement} */ effectUndo: find("avbryt-andringar"),
    };
    /** The one stream handed to the meeting; its tracks are swapped as choices change. */
    this._stream = new MediaStream();
    /** @type {MediaStreamTrack | null} */
    this._camera = null;
    /** @type {MediaStreamTrack | null} */
    this._microphone = null;
    /** @type {BackgroundEffect | null} the running effect pipeline, only while an effect is on */
    this._pipeline = null;
    /** @type {MediaStreamTrack | null} the pipeline's output */
    this._processed = null;
    /** @type {Effect} */
    this._effect = "none";
    /** @type {Effect} the effect "Avbryt ändringar" returns to */
    this._confirmedEffect = "none";
    /** @type {Promise<void>} changes of devices and effect, one at a time */
    this._queue = Promise.resolve();
    /** @type {{context: AudioContext, timer: number} | null} */
    this._meter = null;
    /** "Testa din mikrofon" */
    this._test = new MicrophoneTest(
      {
        open: find("testa-mikrofon"),
        panel: find("mikrofontest"),
        start: find("starta-test"),
        status: find("test-status"),
        recording: find("test-inspelning"),
        playback: find("test-uppspelning"),
        audio: find("test-ljud"),
      },
      { microphone: () => this._microphone, speakerId: () => this.speakerId },
    );
    this._listening = new AbortController();
    this._choices = loadChoices();
  }

  /**
   * start asks for camera and microphone (one getUserMedia), fills the three choices,
   * starts the preview and the level meter and applies the remembered effect.
   * Rejects with a SetupError.
   * @returns {Promise<void>}
   */
  async start() {
    const media = navigator.mediaDevices;
    if (!media || typeof media.getUserMedia !== "function" || typeof media.enumerateDevices !== "function") {
      throw new SetupError("unsupported", "navigator.mediaDevices.getUserMedia is not available");
    }
    this.release(); // a second start() begins afresh
    const stream = await this._open();
    const [video] = stream.getVideoTracks();
    const [audio] = stream.getAudioTracks();
    if (!video || !audio) {
      stream.getTracks().forEach((t) => t.stop());
      throw new SetupError("no_devices", "getUserMedia gave no camera or no microphone");
    }
    this._setCamera(video);
    this._setMicrophone(audio);
    await this._fillChoices();
    this._listen();
    this._startMeter();
    this._ui.waiting.hidden = true;
    this._ui.box.setAttribute("data-state", "klar");

    const remembered = this._choices.effect;
    if (!BackgroundEffect.isSupported()) {
      this._disableEffects("Bakgrundseffekter fungerar inte i den här webbläsaren. Du kan ansluta ändå, utan effekt.");
    } else if (remembered && remembered !== "none" && EFFECTS.includes(remembered)) {
      this._checkEffect(remembered);
      await this._enqueue(() => this._applyEffect(remembered));
    }
    this._confirmedEffect = this._effect;
  }

  /**
   * _open asks for camera and microphone at once: the remembered ones exactly (Chromium
   * does not always honour an "ideal" deviceId), or, if they are gone, any.
   * @returns {Promise<MediaStream>}
   */
  async _open() {
    const { camera, microphone } = this._choices;
    /** @param {string | undefined} camera @param {string | undefined} microphone */
    const open = (camera, microphone) =>
      navigator.mediaDevices.getUserMedia({
        video: { ...VIDEO, ...(camera ? { deviceId: { exact: camera } } : {}) },
        audio: { ...AUDIO, ...(microphone ? { deviceId: { exact: microphone } } : {}) },
      });
    try {
      return await open(camera, microphone);
    } catch (e) {
      const problem = setupErrorOf(e).problem;
      if (problem !== "no_devices" || !(camera || microphone)) throw setupErrorOf(e);
    }
    try {
      return await open(undefined, undefined);
    } catch (e) {
      throw setupErrorOf(e);
    }
  }

  /**
   * stream is what to publish: the chosen camera's video track (the processed one while an
   * effect is on) and the chosen microphone's audio track. Its tracks keep working after stop().
   * @returns {MediaStream}
   */
  get stream() {
    return this._stream;
  }

  /**
   * speakerId is the chosen speaker's deviceId, "" for the system default (also where
   * the browser cannot choose a speaker).
   * @returns {string}
   */
  get speakerId() {
    const id = canChooseSpeaker() ? this._ui.speaker.value : "";
    return id === "default" ? "" : id;
  }

  /**
   * effect is the background effect in use.
   * @returns {Effect}
   */
  get effect() {
    return this._effect;
  }

  /**
   * stop ends what only the set-up needs (the level meter, a test recording or its
   * playback, the step's listeners) but not the tracks of stream, nor the effect pipeline
   * that makes its video track. The effect in use becomes the confirmed one.
   */
  stop() {
    this._listening.abort();
    this._listening = new AbortController();
    this._stopMeter();
    this._test.stop();
    this._ui.preview.pause();
    this._ui.preview.srcObject = null;
    this._confirmedEffect = this._effect;
  }

  /** release stops everything: the set-up, the effect pipeline and the tracks of stream. */
  release() {
    this.stop();
    this._stopPipeline();
    for (const track of [this._camera, this._microphone, ...this._stream.getTracks()]) track?.stop();
    this._camera = this._microphone = null;
    this._effect = "none";
  }

  // --- devices --------------------------------------------------------------------------

  /**
   * _fillChoices lists the devices (named now that permission is given) in the three
   * selects and selects the ones in use.
   */
  async _fillChoices() {
    const devices = await navigator.mediaDevices.enumerateDevices();
    /** @param {HTMLSelectElement} select @param {MediaDeviceKind} kind @param {string} fallback @param {string} current */
    const fill = (select, kind, fallback, current) => {
      const found = devices.filter((d) => d.kind === kind && d.deviceId);
      select.replaceChildren(
        ...found.map((d, i) => new Option(d.label || `${fallback} ${i + 1}`, d.deviceId, false, d.deviceId === current)),
      );
      if (kind !== "audiooutput" && current && !found.some((d) => d.deviceId === current)) {
        // The track in use is not listed (some browsers hide ids); show it as the choice.
        select.prepend(new Option(this._labelOf(kind), current, true, true));
      }
    };
    fill(this._ui.camera, "videoinput", "Kamera", this._deviceOf(this._camera));
    fill(this._ui.microphone, "audioinput", "Mikrofon", this._deviceOf(this._microphone));
    fill(this._ui.testMicrophone, "audioinput", "Mikrofon", this._deviceOf(this._microphone));
    if (canChooseSpeaker()) {
      fill(this._ui.speaker, "audiooutput", "Högtalare", this._choices.speaker ?? "");
      this._ui.speakerField.hidden = this._ui.speaker.options.length === 0;
      this._ui.speakerNote.hidden = this._ui.speaker.options.length > 0;
    } else {
      this._ui.speakerField.hidden = true;
      this._ui.speakerNote.hidden = false;
    }
  }

  /** @param {MediaDeviceKind} kind */
  _labelOf(kind) {
    const track = kind === "videoinput" ? this._camera : this._microphone;
    return track?.label || (kind === "videoinput" ? "Kameran" : "Mikrofonen");
  }

  /** @param {MediaStreamTrack | null} track */
  _deviceOf(track) {
    return track?.getSettings().deviceId ?? "";
  }

  /** _listen wires the step's controls; stop() unwires them. */
  _listen() {
    const ui = this._ui;
    const options = { signal: this._listening.signal };
    ui.camera.addEventListener("change", () => this._enqueue(() => this._switchCamera(ui.camera.value)), options);
    /** @param {HTMLSelectElement} select @param {HTMLSelectElement} other */
    const onMicrophone = (select, other) => {
      other.value = select.value;
      this._test.stop();
      this._enqueue(() => this._switchMicrophone(select.value));
    };
    ui.microphone.addEventListener("change", () => onMicrophone(ui.microphone, ui.testMicrophone), options);
    ui.testMicrophone.addEventListener("change", () => onMicrophone(ui.testMicrophone, ui.microphone), options);
    ui.speaker.addEventListener("change", () => this._remember({ speaker: ui.speaker.value }), options);
    // A headset plugged in (or paired) while the step is open appears in the lists at once.
    navigator.mediaDevices.addEventListener("devicechange", () => this._fillChoices().catch(() => {}), options);
    ui.speakerTest.addEventListener("click", () => this._testSpeaker(), options);
    this._test.listen(this._listening.signal);
    ui.effects.addEventListener(
      "change",
      (event) => {
        const value = /** @type {HTMLInputElement} */ (event.target).value;
        const effect = EFFECTS.find((e) => e === value);
        if (effect) this._enqueue(() => this._applyEffect(effect));
      },
      options,
    );
    ui.effectUndo.addEventListener(
      "click",
      () => {
        this._checkEffect(this._confirmedEffect);
        this._enqueue(() => this._applyEffect(this._confirmedEffect));
      },
      options,
    );
  }

  /**
   * _enqueue runs change after the changes before it; a failure is shown, not thrown.
   * @param {() => Promise<void>} change
   * @returns {Promise<void>}
   */
  _enqueue(change) {
    this._queue = this._queue.then(change).catch((e) => {
      console.warn("device-setup", e);
      this._showProblem("Något gick fel när inställningen ändrades. Försök igen eller välj en annan enhet.");
    });
    return this._queue;
  }

  /**
   * _switchCamera opens the camera deviceId in place of the one in use. The old one is
   * stopped first (many phones cannot open two cameras at once); if the new one will not
   * open, the old one is opened again.
   * @param {string} deviceId
   */
  async _switchCamera(deviceId) {
    const previous = this._deviceOf(this._camera);
    if (deviceId === previous) return;
    this._camera?.stop();
    try {
      const [track] = (await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, deviceId: { exact: deviceId } } })).getVideoTracks();
      this._setCamera(track);
      this._showProblem("");
    } catch (e) {
      console.warn("device-setup: camera", e);
      const [track] = (await navigator.mediaDevices.getUserMedia({ video: { ...VIDEO, deviceId: { ideal: previous } } })).getVideoTracks();
      this._setCamera(track);
      this._ui.camera.value = this._deviceOf(track);
      this._showProblem("Det gick inte att starta den kameran. Den kan användas av ett annat program. Välj en annan kamera.");
    }
    if (this._pipeline) await this._applyEffect(this._effect, true);
  }

  /**
   * _switchMicrophone opens the microphone deviceId in place of the one in use, as _switchCamera.
   * @param {string} deviceId
   */
  async _switchMicrophone(deviceId) {
    const previous = this._deviceOf(this._microphone);
    if (deviceId === previous) return;
    this._microphone?.stop();
    try {
      const [track] = (await navigator.mediaDevices.getUserMedia({ audio: { ...AUDIO, deviceId: { exact: deviceId } } })).getAudioTracks();
      this._setMicrophone(track);
      this._showProblem("");
    } catch (e) {
      console.warn("device-setup: microphone", e);
      const [track] = (await navigator.mediaDevices.getUserMedia({ audio: { ...AUDIO, deviceId: { ideal: previous } } })).getAudioTracks();
      this._setMicrophone(track);
      this._ui.microphone.value = this._ui.testMicrophone.value = this._deviceOf(track);
      this._showProblem("Det gick inte att starta den mikrofonen. Den kan användas av ett annat program. Välj en annan mikrofon.");
    }
    this._startMeter();
  }

  /** @param {MediaStreamTrack} track the new camera track, shown and published unless an effect is on */
  _setCamera(track) {
    this._camera = track;
    this._remember({ camera: this._deviceOf(track) });
    if (!this._pipeline) this._show(track);
  }

  /** @param {MediaStreamTrack} track the new microphone track, published */
  _setMicrophone(track) {
    this._microphone = track;
    this._remember({ microphone: this._deviceOf(track) });
    for (const old of this._stream.getAudioTracks()) this._stream.removeTrack(old);
    this._stream.addTrack(track);
  }

  /**
   * _show makes track the video of the preview and of stream.
   * @param {MediaStreamTrack} track
   */
  _show(track) {
    for (const old of this._stream.getVideoTracks()) if (old !== track) this._stream.removeTrack(old);
    if (!this._stream.getVideoTracks().includes(track)) this._stream.addTrack(track);
    const preview = this._ui.preview;
    preview.srcObject = new MediaStream([track]);
    preview.play().catch(() => {
      // Muted inline video may always play; if a browser still refuses, the still frame stays.
    });
  }

  // --- effects ----------------------------------------------------------------------------

  /**
   * _applyEffect turns effect on. The pipeline starts on the first effect other than
   * "Ingen" and is stopped again on "Ingen", so an old phone does not segment frames for
   * nothing. restart starts it anew on the current camera track (after a camera change).
   * @param {Effect} effect
   * @param {boolean} [restart]
   */
  async _applyEffect(effect, restart = false) {
    if (restart) this._stopPipeline();
    if (effect === "none") {
      this._stopPipeline();
      if (this._camera) this._show(this._camera);
      this._effect = "none";
    } else if (this._camera) {
      try {
        if (!this._pipeline) {
          const pipeline = new BackgroundEffect();
          this._pipeline = pipeline;
          this._effectBusy("Startar effekten – det kan ta några sekunder.");
          this._processed = await pipeline.start(this._camera);
        }
        await this._pipeline.setEffect(effect);
        if (this._processed) this._show(this._processed);
        this._effect = effect;
      } catch (e) {
        console.warn("device-setup: effect", e);
        this._stopPipeline();
        this._show(this._camera);
        this._effect = "none";
        this._effectBusy("");
        this._disableEffects("Det gick inte att starta bakgrundseffekten på den här enheten. Du kan ansluta ändå, utan effekt.");
      }
    }
    if (this._ui.effects.getAttribute("aria-busy")) this._effectBusy("");
    this._checkEffect(this._effect);
    this._remember({ effect: this._effect });
  }

  /** @param {string} note what is under way, "" when done */
  _effectBusy(note) {
    if (note) this._ui.effects.setAttribute("aria-busy", "true");
    else this._ui.effects.removeAttribute("aria-busy");
    this._ui.effectNote.textContent = note;
    this._ui.effectNote.hidden = !note;
  }

  _stopPipeline() {
    this._pipeline?.stop();
    this._pipeline = null;
    this._processed = null;
  }

  /** @param {Effect} effect */
  _checkEffect(effect) {
    for (const input of this._ui.effects.querySelectorAll("input")) input.checked = input.value === effect;
  }

  /** @param {string} note why the effects cannot be used */
  _disableEffects(note) {
    for (const input of this._ui.effects.querySelectorAll("input")) input.disabled = input.value !== "none";
    this._ui.effectUndo.disabled = true;
    this._ui.effectNote.textContent = note;
    this._ui.effectNote.hidden = false;
  }

  // --- level meter, speaker test -------------------------------------------------------------

  /** _startMeter shows the microphone's level, ten times a second (cheap on old phones). */
  _startMeter() {
    this._stopMeter();
    const Context = window.AudioContext ?? /** @type {any} */ (window).webkitAudioContext;
    if (!Context || !this._microphone) return;
    const context = /** @type {AudioContext} */ (new Context());
    context.resume().catch(() => {});
    const analyser = context.createAnalyser();
    analyser.fftSize = 1024;
    context.createMediaStreamSource(new MediaStream([this._microphone])).connect(analyser);
    const samples = new Float32Array(analyser.fftSize);
    const timer = window.setInterval(() => {
      analyser.getFloatTimeDomainData(samples);
      let sum = 0;
      for (const s of samples) sum += s * s;
      // RMS scaled so that ordinary speech fills about half the meter.
      this._ui.level.value = Math.min(1, Math.sqrt(sum / samples.length) * 4);
    }, 100);
    this._meter = { context, timer };
  }

  _stopMeter() {
    if (!this._meter) return;
    clearInterval(this._meter.timer);
    this._meter.context.close().catch(() => {});
    this._meter = null;
    this._ui.level.value = 0;
  }

  async _testSpeaker() {
    const ui = this._ui;
    ui.speakerTest.disabled = true;
    ui.speakerStatus.textContent = "Spelar en melodi …";
    await playMelody(this.speakerId);
    ui.speakerStatus.textContent = "";
    ui.speakerTest.disabled = false;
  }

  // --- messages and memory -------------------------------------------------------------------

  /** @param {string} text a problem in plain Swedish, "" to clear it */
  _showProblem(text) {
    this._ui.problem.textContent = text;
    this._ui.problem.hidden = !text;
  }

  /** @param {Choices} change */
  _remember(change) {
    this._choices = { ...this._choices, ...change };
    saveChoices(this._choices);
  }
}
