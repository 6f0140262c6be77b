/**
 * Background effects for the camera picture: none, blur ("Oskärpa") and replace ("Byt ut").
 *
 * BackgroundEffect turns a camera track into a processed video track that is
 * published instead of the camera. The person is found with mediapipe's selfie
 * segmentation (npm `@mediapipe/selfie_segmentation`, served by vardmote at
 * /static/vendor/selfie_segmentation/, never from a CDN); its wasm compiles under
 * the CSP's 'wasm-unsafe-eval'.
 *
 * Performance (patients on old phones): the landscape model (modelSelection 1,
 * 256×144), at most FPS frames a second, one send in flight at a time, the blurred
 * background made at a quarter of the size, canvases made once and reused, no
 * segmentation at all for "none". The loop runs on a timer in a tiny Worker (this
 * same file, started as a module worker, which the CSP's script-src 'self'
 * allows) because requestAnimationFrame and main-thread timers stop or slow down
 * when the patient switches tab, and the others would then see a frozen picture.
 *
 * No UI here: the page decides what to show; errors for people are Swedish.
 */

/** @typedef {"none" | "blur" | "replace"} EffectName */

/**
 * SegmentationResults is the part of mediapipe's Results used here.
 * @typedef {object} SegmentationResults
 * @property {CanvasImageSource} image the frame that was segmented
 * @property {CanvasImageSource} segmentationMask alpha is the chance that a pixel is the person
 */

/**
 * SelfieSegmentationSolution is the part of mediapipe's SelfieSegmentation used here.
 * @typedef {object} SelfieSegmentationSolution
 * @property {(options: {modelSelection?: number, selfieMode?: boolean}) => void} setOptions
 * @property {(listener: (results: SegmentationResults) => void) => void} onResults
 * @property {() => Promise<void>} initialize
 * @property {(inputs: {image: HTMLVideoElement}) => Promise<void>} send
 * @property {() => Promise<void>} close
 */

/** @typedef {new (config: {locateFile: (file: string) => string}) => SelfieSegmentationSolution} SelfieSegmentationClass */

/** DEFAULT_ASSET_BASE is where vardmote serves the mediapipe package. */
export const DEFAULT_ASSET_BASE = "/static/vendor/selfie_segmentation/";

/** BACKGROUNDS are the pictures made for "Byt ut"; the first is the default. */
export const BACKGROUNDS = Object.freeze([
  Object.freeze({ url: "/static/img/bakgrund-ljust-rum.svg", label: "Ljust rum" }),
  Object.freeze({ url: "/static/img/bakgrund-landskap.svg", label: "Landskap" }),
]);

/** @type {readonly EffectName[]} */
const EFFECTS = ["none", "blur", "replace"];
const FPS = 15;
/** The blurred background is drawn at 1/BLUR_SCALE of the size, then scaled up. */
const BLUR_SCALE = 4;
/** About 12 px at full size: 3 px at quarter size, softened further by the scaling up. */
const BLUR_FILTER = "blur(3px)";
/** Backdrop colour while the picture loads, or if it cannot be loaded. */
const BACKDROP_COLOUR = "#e9e4dc";
/**
 * After a frame that took T ms with mediapipe, the next waits T × PAUSE_SHARE more, and a
 * frame drawn between masks in c ms rests c × PAUSE_SHARE: on a device too slow for FPS the
 * effect takes at most about half of the page's main thread, so the page (its buttons, the
 * meeting's own timers) stays responsive; the picture's rate and the mask's drop instead.
 * A fast device segments every frame.
 */
const PAUSE_SHARE = 1;
const LOAD_TIMEOUT_MS = 60_000;
const TICKER_NAME = "vardmote-effects-ticker";

const LOAD_FAILED = "Bakgrundseffekterna kunde inte laddas. Du kan fortsätta utan effekt.";
const NOT_SUPPORTED = "Bakgrundseffekter fungerar inte i den här webbläsaren. Du kan fortsätta utan effekt.";
const NO_CAMERA = "Kamerabilden kunde inte startas för bakgrundseffekten.";

// ---- the ticker, when this file runs as a worker ------------------------------------------------

/**
 * @typedef {object} TickerScope
 * @property {string} [name]
 * @property {(message: unknown) => void} postMessage
 * @property {(type: "message", listener: (event: MessageEvent<number>) => void) => void} addEventListener
 */

const scope = /** @type {TickerScope} */ (/** @type {unknown} */ (globalThis));
if (typeof document === "undefined" && scope.name === TICKER_NAME) {
  /** @type {ReturnType<typeof setInterval> | undefined} */
  let interval;
  scope.addEventListener("message", (event) => {
    clearInterval(interval);
    if (event.data > 0) interval = setInterval(() => scope.postMessage(0), event.data);
  });
}

/**
 * Ticker calls onTick every intervalMs: from a Worker's timer, which keeps its pace in a
 * background tab, or from a main-thread timer if a Worker cannot be made.
 */
class Ticker {
  /** @type {Worker | null} */
  #worker = null;
  /** @type {ReturnType<typeof setInterval> | undefined} */
  #interval;

  /**
   * @param {number} intervalMs
   * @param {() => void} onTick
   */
  constructor(intervalMs, onTick) {
    try {
      this.#worker = new Worker(import.meta.url, { type: "module", name: TICKER_NAME });
      this.#worker.onmessage = onTick;
      this.#worker.onerror = () => {
        this.#worker?.terminate();
        this.#worker = null;
        this.#interval = setInterval(onTick, intervalMs);
      };
      this.#worker.postMessage(intervalMs);
    } catch {
      this.#interval = setInterval(onTick, intervalMs);
    }
  }

  stop() {
    this.#worker?.terminate();
    this.#worker = null;
    clearInterval(this.#interval);
  }
}

// ---- loading mediapipe --------------------------------------------------------------------------

/** @type {Map<string, Promise<SelfieSegmentationClass>>} */
const loading = new Map();

/**
 * loadSelfieSegmentation adds mediapipe's classic script once per page and resolves with
 * the SelfieSegmentation class it defines on globalThis.
 * @param {string} assetBase
 * @returns {Promise<SelfieSegmentationClass>}
 */
function loadSelfieSegmentation(assetBase) {
  const src = assetBase + "selfie_segmentation.js";
  let promise = loading.get(src);
  if (promise) return promise;
  promise = new Promise((resolve, reject) => {
    const script = document.createElement("script");
    script.src = src;
    script.async = true;
    script.onload = () => {
      const found = /** @type {{SelfieSegmentation?: SelfieSegmentationClass}} */ (globalThis).SelfieSegmentation;
      if (found) resolve(found);
      else reject(new Error(`${src} did not define SelfieSegmentation`));
    };
    script.onerror = () => {
      script.remove();
      reject(new Error(`${src} could not be loaded`));
    };
    document.head.append(script);
  });
  promise.catch(() => loading.delete(src)); // a later start may try again
  loading.set(src, promise);
  return promise;
}

/**
 * withTimeout rejects if promise has not settled within ms.
 * @template T
 * @param {Promise<T>} promise
 * @param {number} ms
 * @param {string} what
 * @returns {Promise<T>}
 */
function withTimeout(promise, ms, what) {
  /** @type {ReturnType<typeof setTimeout> | undefined} */
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} took more than ${ms} ms`)), ms);
  });
  return /** @type {Promise<T>} */ (Promise.race([promise, timeout])).finally(() => clearTimeout(timer));
}

/** @type {boolean | undefined} */
let webglAvailable;

/**
 * context2d returns a canvas's 2D context.
 * @param {HTMLCanvasElement} canvas
 * @returns {CanvasRenderingContext2D}
 */
function context2d(canvas) {
  const ctx = canvas.getContext("2d");
  if (!ctx) throw new Error("no 2D canvas context");
  return ctx;
}

// ---- the effect ---------------------------------------------------------------------------------

/**
 * BackgroundEffect processes one camera track into one output track whose picture has
 * the chosen effect. The output track stays the same object for the pipeline's
 * lifetime, so switching effect needs no renegotiation.
 */
export class BackgroundEffect {
  /** @type {string} */
  #assetBase;
  /** @type {string} */
  #backgroundUrl;
  /** @type {EffectName} */
  #effect = "none";
  #segmentedFrames = 0;
  #started = false;
  #stopped = false;
  /** Whether a frame is with mediapipe now; one at a time, later ticks skip. */
  #busy = false;
  /** whether #mask holds a mask from mediapipe yet */
  #masked = false;
  /** performance.now() before which no frame is drawn between masks (see PAUSE_SHARE). */
  #restUntil = 0;
  /** performance.now() before which no new frame goes to mediapipe (see PAUSE_SHARE). */
  #pauseUntil = 0;

  /** @type {SelfieSegmentationSolution | null} */
  #solution = null;
  /** @type {HTMLVideoElement | null} */
  #video = null;
  /** The input object for send, made once. @type {{image: HTMLVideoElement} | null} */
  #input = null;
  /** @type {HTMLCanvasElement | null} */
  #output = null;
  /** @type {CanvasRenderingContext2D | null} */
  #ctx = null;
  /** The quarter-size canvas for the blurred background. @type {HTMLCanvasElement | null} */
  #small = null;
  /** @type {CanvasRenderingContext2D | null} */
  #smallCtx = null;
  /**
   * The mask at quarter size: scaling it down and up again softens the model's blocky
   * edges for the price of two small draws (a blur filter on the full mask costs more).
   * @type {HTMLCanvasElement | null}
   */
  #mask = null;
  /** @type {CanvasRenderingContext2D | null} */
  #maskCtx = null;
  /** The replacement picture, cover-fitted to the output size once per size. @type {HTMLCanvasElement | null} */
  #backdrop = null;
  /** @type {HTMLImageElement | null} */
  #picture = null;
  /** @type {MediaStreamTrack | null} */
  #track = null;
  /** @type {MediaStreamTrack | null} */
  #source = null;
  /** @type {Ticker | null} */
  #ticker = null;
  /** setEffect calls waiting for their first frame. @type {{name: EffectName, resolve: () => void}[]} */
  #waiting = [];
  #onSourceEnded = () => this.stop();

  /**
   * isSupported tells whether this browser can run the effects at all: WebAssembly,
   * canvas captureStream and WebGL (mediapipe draws with WebGL 2 or 1, and without
   * either it would show an alert()).
   * @returns {boolean}
   */
  static isSupported() {
    if (typeof document === "undefined" || typeof WebAssembly !== "object") return false;
    if (typeof HTMLCanvasElement.prototype.captureStream !== "function") return false;
    if (webglAvailable === undefined) {
      const canvas = document.createElement("canvas");
      const gl = canvas.getContext("webgl2") ?? canvas.getContext("webgl");
      webglAvailable = gl !== null;
      gl?.getExtension("WEBGL_lose_context")?.loseContext();
    }
    return webglAvailable;
  }

  /**
   * @param {{assetBase?: string, background?: string}} [options] assetBase: where the
   *   mediapipe package is served (ends with "/"); background: the picture for "replace".
   */
  constructor(options = {}) {
    this.#assetBase = options.assetBase ?? DEFAULT_ASSET_BASE;
    this.#backgroundUrl = options.background ?? BACKGROUNDS[0].url;
  }

  /** effect is the current effect. @returns {EffectName} */
  get effect() {
    return this.#effect;
  }

  /** segmentedFrames counts the frames mediapipe has segmented. @returns {number} */
  get segmentedFrames() {
    return this.#segmentedFrames;
  }

  /**
   * start begins processing source and resolves with the processed video track. It
   * loads mediapipe first and rejects, with a plain Swedish message, if that fails.
   * @param {MediaStreamTrack} source a live camera track; it is not stopped by stop()
   * @returns {Promise<MediaStreamTrack>}
   */
  async start(source) {
    if (this.#started) throw new Error("BackgroundEffect.start may be called once");
    this.#started = true;
    if (!BackgroundEffect.isSupported()) throw new Error(NOT_SUPPORTED);
    this.#loadPicture();
    try {
      const SelfieSegmentation = await withTimeout(
        loadSelfieSegmentation(this.#assetBase),
        LOAD_TIMEOUT_MS,
        "loading mediapipe",
      );
      const solution = new SelfieSegmentation({ locateFile: (file) => this.#assetBase + file });
      solution.setOptions({ modelSelection: 1, selfieMode: false });
      solution.onResults((results) => this.#draw(results));
      this.#solution = solution;
      await withTimeout(solution.initialize(), LOAD_TIMEOUT_MS, "starting mediapipe");
    } catch (e) {
      console.warn("background effects: mediapipe could not load", e);
      this.stop();
      throw new Error(LOAD_FAILED, { cause: e });
    }
    if (this.#stopped) throw new Error("BackgroundEffect was stopped while starting");

    const video = document.createElement("video");
    video.muted = true;
    video.playsInline = true;
    video.srcObject = new MediaStream([source]);
    this.#video = video;
    this.#input = { image: video };
    try {
      await video.play();
      if (video.readyState < video.HAVE_CURRENT_DATA) {
        await new Promise((resolve) => video.addEventListener("loadeddata", resolve, { once: true }));
      }
    } catch (e) {
      console.warn("background effects: the camera track does not play", e);
      this.stop();
      throw new Error(NO_CAMERA, { cause: e });
    }

    this.#output = document.createElement("canvas");
    this.#ctx = context2d(this.#output);
    this.#small = document.createElement("canvas");
    this.#smallCtx = context2d(this.#small);
    this.#mask = document.createElement("canvas");
    this.#maskCtx = context2d(this.#mask);
    this.#backdrop = document.createElement("canvas");
    this.#fitSize();
    this.#ctx.drawImage(video, 0, 0, this.#output.width, this.#output.height);
    this.#track = this.#output.captureStream(FPS).getVideoTracks()[0];
    this.#source = source;
    source.addEventListener("ended", this.#onSourceEnded);
    this.#ticker = new Ticker(Math.round(1000 / FPS), () => this.#tick());
    return this.#track;
  }

  /**
   * setEffect switches effect; "none" passes the camera picture through with no
   * segmentation work. Resolves once a frame with the new effect has been drawn (or
   * the effect was switched again, or stop() was called).
   * @param {EffectName} name
   * @returns {Promise<void>}
   */
  setEffect(name) {
    if (!EFFECTS.includes(name)) return Promise.reject(new Error(`unknown effect ${JSON.stringify(name)}`));
    this.#effect = name;
    if (this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#waiting.push({ name, resolve }));
  }

  /** stop ends processing and the output track; the source track is left running. */
  stop() {
    this.#stopped = true;
    this.#ticker?.stop();
    this.#ticker = null;
    this.#track?.stop();
    this.#source?.removeEventListener("ended", this.#onSourceEnded);
    if (this.#video) this.#video.srcObject = null;
    this.#solution?.close().catch(() => {});
    this.#solution = null;
    this.#drawn("none");
  }

  /**
   * #tick runs FPS times a second. It draws every camera frame (through the latest mask when
   * an effect is on) and, when mediapipe is free, hands it the frame for a new mask: the
   * picture the others see moves at the camera's pace even where segmentation is slow (an
   * old phone segments a few frames a second; the mask then trails a moving head a little).
   */
  #tick() {
    const video = this.#video;
    if (this.#stopped || !video || !this.#ctx || !this.#output || !this.#input) return;
    if (video.readyState < video.HAVE_CURRENT_DATA || video.videoWidth === 0) return;
    if (!this.#busy) this.#fitSize();
    const effect = this.#effect;
    if (effect === "none") {
      this.#ctx.drawImage(video, 0, 0, this.#output.width, this.#output.height);
      this.#drawn("none");
      return;
    }
    const solution = this.#solution;
    const began = performance.now();
    if (this.#busy || !solution || began < this.#pauseUntil) {
      // Between masks: the camera frame through the latest mask, resting as long as it took.
      if (!this.#masked || began < this.#restUntil) return;
      this.#compose(video, effect);
      this.#drawn(effect);
      const done = performance.now();
      this.#restUntil = done + (done - began) * PAUSE_SHARE;
      return;
    }
    this.#busy = true;
    solution.send(this.#input).then(
      () => this.#sent(began),
      (e) => {
        this.#sent(began);
        console.warn("background effects: segmentation failed", e);
      },
    );
  }

  /**
   * #sent ends a frame's turn with mediapipe and sets the pause before the next.
   * @param {number} began
   */
  #sent(began) {
    const now = performance.now();
    this.#busy = false;
    this.#pauseUntil = now + (now - began) * PAUSE_SHARE;
  }

  /**
   * #draw keeps mediapipe's newest mask (at the small size) for the frames that follow,
   * and draws the segmented frame itself at once.
   * @param {SegmentationResults} results
   */
  #draw(results) {
    if (this.#stopped || !this.#mask || !this.#maskCtx) return;
    this.#segmentedFrames += 1;
    this.#maskCtx.drawImage(results.segmentationMask, 0, 0, this.#mask.width, this.#mask.height);
    this.#masked = true;
    const effect = this.#effect;
    if (effect === "none") return; // switched while the frame was with mediapipe
    this.#compose(results.image, effect);
    this.#drawn(effect);
  }

  /**
   * #compose draws one frame: the person through the mask, then the blurred frame or the
   * picture behind.
   * @param {CanvasImageSource} image the camera frame
   * @param {EffectName} effect "blur" or "replace"
   */
  #compose(image, effect) {
    const ctx = this.#ctx;
    const output = this.#output;
    const mask = this.#mask;
    if (!ctx || !output || !mask) return;
    const { width, height } = output;
    ctx.globalCompositeOperation = "copy";
    ctx.drawImage(mask, 0, 0, width, height);
    ctx.globalCompositeOperation = "source-in";
    ctx.drawImage(image, 0, 0, width, height);
    ctx.globalCompositeOperation = "destination-over";
    if (effect === "blur" && this.#small && this.#smallCtx) {
      const small = this.#small;
      // Drawn a little larger than the canvas, so the blur does not fade the edges.
      const margin = 3;
      this.#smallCtx.drawImage(image, -margin, -margin, small.width + 2 * margin, small.height + 2 * margin);
      ctx.drawImage(small, 0, 0, width, height);
    } else if (this.#backdrop) {
      ctx.drawImage(this.#backdrop, 0, 0, width, height);
    }
    ctx.globalCompositeOperation = "source-over";
  }

  /**
   * #drawn resolves the setEffect calls for effect, and those switched away from.
   * @param {EffectName} effect
   */
  #drawn(effect) {
    if (this.#waiting.length === 0) return;
    const current = this.#effect;
    const still = [];
    for (const waiter of this.#waiting) {
      if (this.#stopped || waiter.name === effect || waiter.name !== current) waiter.resolve();
      else still.push(waiter);
    }
    this.#waiting = still;
  }

  /** #fitSize keeps the canvases at the camera's size (phones turn; cameras renegotiate). */
  #fitSize() {
    const video = this.#video;
    const output = this.#output;
    if (!video || !output || !this.#small || !this.#smallCtx || !this.#mask || !this.#backdrop) return;
    const width = video.videoWidth || 640;
    const height = video.videoHeight || 480;
    if (output.width === width && output.height === height) return;
    output.width = width;
    output.height = height;
    this.#masked = false; // the mask canvas is cleared below: wait for a mask of the new size
    this.#small.width = Math.max(1, Math.round(width / BLUR_SCALE));
    this.#small.height = Math.max(1, Math.round(height / BLUR_SCALE));
    this.#smallCtx.filter = BLUR_FILTER; // resizing a canvas resets its context's state
    this.#mask.width = this.#small.width;
    this.#mask.height = this.#small.height;
    if (this.#maskCtx) this.#maskCtx.globalCompositeOperation = "copy"; // each mask replaces the last
    this.#backdrop.width = width;
    this.#backdrop.height = height;
    this.#paintBackdrop();
  }

  /** #loadPicture loads the replacement picture; until it has loaded the backdrop is plain. */
  #loadPicture() {
    const picture = new Image();
    picture.decoding = "async";
    picture.onload = () => {
      this.#picture = picture;
      this.#paintBackdrop();
    };
    picture.onerror = () => console.warn(`background effects: ${this.#backgroundUrl} could not be loaded`);
    picture.src = this.#backgroundUrl;
  }

  /** #paintBackdrop draws the picture cover-fitted (filling, centred, cropped) into the backdrop. */
  #paintBackdrop() {
    const backdrop = this.#backdrop;
    if (!backdrop) return;
    const ctx = context2d(backdrop);
    const { width, height } = backdrop;
    ctx.fillStyle = BACKDROP_COLOUR;
    ctx.fillRect(0, 0, width, height);
    const picture = this.#picture;
    if (!picture || !picture.naturalWidth || !picture.naturalHeight) return;
    const scale = Math.max(width / picture.naturalWidth, height / picture.naturalHeight);
    const w = picture.naturalWidth * scale;
    const h = picture.naturalHeight * scale;
    ctx.drawImage(picture, (width - w) / 2, (height - h) / 2, w, h);
  }
}
