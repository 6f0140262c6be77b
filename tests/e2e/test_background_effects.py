"""Background effects (effects.js) in Debian's headless Chromium with the real mediapipe.

The camera is Chromium's fake device (a moving test pattern, no person), so the
model may take all of it for background; what is proven is that mediapipe loads
from this server, segments frames, and that the published picture changes with
the effect: blurred, replaced, or passed through untouched with no segmentation.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Route

from .conftest import NewContext, Steps

pytestmark = pytest.mark.e2e

VENDOR = "/static/vendor/selfie_segmentation/"

# Runs in the page. Frames are compared by sharpness (mean difference between
# neighbouring pixels: blur lowers it), measured on the fake camera's clock text at
# the top, which the model takes for background, and by how far the output is from
# the camera. Waits are by segmented frames, not by time: on a loaded machine
# SwiftShader (software WebGL) segments only a few frames a second.
EXERCISE = """
async () => {
  const { BackgroundEffect } = await import("/static/js/meeting/effects.js");
  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  const supported = BackgroundEffect.isSupported();
  const camera = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  const source = camera.getVideoTracks()[0];
  const effect = new BackgroundEffect();
  const started = performance.now();
  const output = await effect.start(source);
  const loadMs = Math.round(performance.now() - started);

  const play = async (track) => {
    const video = document.createElement("video");
    video.muted = true;
    video.srcObject = new MediaStream([track]);
    await video.play();
    return video;
  };
  const sourceVideo = await play(source);
  const outputVideo = await play(output);
  const frame = (video) => {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    ctx.drawImage(video, 0, 0);
    return { canvas, data: ctx.getImageData(0, 0, canvas.width, canvas.height).data };
  };
  const sharpness = ({ data, canvas }) => {
    let sum = 0;
    for (let y = 20; y < 75; y++) {
      for (let x = 80; x < 420; x++) {
        const i = (y * canvas.width + x) * 4;
        sum += Math.abs(data[i + 1] - data[i - 3]);
      }
    }
    return sum / (55 * 340);
  };
  const brightness = ({ data }) => {
    let sum = 0;
    for (let i = 0; i < data.length; i += 4) sum += data[i] + data[i + 1] + data[i + 2];
    return sum / (data.length / 4) / 3;
  };
  const difference = (a, b) => {
    let sum = 0;
    for (let i = 0; i < a.data.length; i += 4) sum += Math.abs(a.data[i + 1] - b.data[i + 1]);
    return sum / (a.data.length / 4);
  };
  const look = async (name, frames) => {
    await effect.setEffect(name);
    const before = effect.segmentedFrames;
    const began = performance.now();
    while (effect.segmentedFrames - before < frames && performance.now() - began < 60_000) await sleep(100);
    if (name === "none") await sleep(2000);
    const seconds = (performance.now() - began) / 1000;
    const segmented = effect.segmentedFrames - before;
    await sleep(300); // the published frame reaches the output video
    const camera = frame(sourceVideo);
    const published = frame(outputVideo);
    return {
      segmented,
      fps: segmented / seconds,
      effect: effect.effect,
      live: output.readyState,
      size: [outputVideo.videoWidth, outputVideo.videoHeight, camera.canvas.width, camera.canvas.height],
      sharpness: [sharpness(camera), sharpness(published)],
      brightness: brightness(published),
      difference: difference(camera, published),
      camera,
      published,
    };
  };
  const report = { supported, loadMs };
  report.blur = await look("blur", 10);
  report.replace = await look("replace", 10);
  report.none = await look("none", 0);
  // Shown on the page for the screenshot: the camera and the published picture per effect.
  const shots = [
    ["Byt ut", report.replace.published],
    ["Oskärpa", report.blur.published],
    ["Kamera", report.blur.camera],
  ];
  for (const [label, shot] of shots) {
    const figure = document.createElement("figure");
    figure.style.display = "inline-block";
    figure.append(shot.canvas, Object.assign(document.createElement("figcaption"), { textContent: label }));
    document.body.prepend(figure);
  }
  for (const name of ["blur", "replace", "none"]) {
    delete report[name].camera;
    delete report[name].published;
  }
  effect.stop();
  report.afterStop = { output: output.readyState, source: source.readyState };
  source.stop();
  return report;
}
"""


def test_blur_and_replace_segment_the_camera_with_mediapipe_from_our_server_and_none_passes_it_through(
    new_context: NewContext, steps: Callable[[str], Steps]
) -> None:
    shots = steps("background-effects")
    page = new_context(viewport={"width": 2100, "height": 900}).new_page()
    vendor: list[str] = []
    page.on("request", lambda r: vendor.append(r.url) if VENDOR in r.url else None)
    console: list[str] = []
    page.on("console", lambda m: console.append(f"{m.type}: {m.text}"))
    workers: list[str] = []
    page.on("worker", lambda w: workers.append(w.url))
    page.goto("/logga-in")

    report: dict[str, Any] = page.evaluate(EXERCISE)
    shots.shot(page, "kamera-oskarpa-byt-ut")
    print(report)  # shown with -s: load time and frames per second

    assert report["supported"] is True
    # The frame clock is a Worker running effects.js itself (it keeps its pace in background tabs).
    assert [url.rsplit("/", 1)[-1] for url in workers] == ["effects.js"], workers
    assert any(url.endswith(".wasm") for url in vendor), vendor
    assert any(url.endswith("selfie_segmentation.js") for url in vendor), vendor
    blur, replace, none = report["blur"], report["replace"], report["none"]
    for name, seen in [("blur", blur), ("replace", replace)]:
        assert seen["effect"] == name
        assert seen["segmented"] > 5, (name, seen, console)
        assert seen["live"] == "live"
        assert seen["size"][:2] == seen["size"][2:] == [640, 480], (name, seen)
        assert seen["brightness"] > 40, (name, seen)  # not black
    # "Byt ut" is far from the camera picture; "Oskärpa" keeps its colours but loses its sharpness.
    assert replace["difference"] > 5, replace
    camera_sharpness, blurred_sharpness = blur["sharpness"]
    assert blurred_sharpness < camera_sharpness / 2, blur
    assert none["segmented"] == 0, none
    assert none["live"] == "live"
    assert none["sharpness"][1] > none["sharpness"][0] * 0.7, none  # the camera picture, not blurred
    assert report["afterStop"] == {"output": "ended", "source": "live"}


def _get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.headers.get("content-type", "")
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("content-type", "")


def test_only_the_selfie_segmentation_folder_of_node_modules_is_served(server_url: str) -> None:
    status, content_type = _get(server_url + VENDOR + "selfie_segmentation.js")
    assert status == 200
    assert content_type.startswith("text/javascript")
    status, content_type = _get(server_url + VENDOR + "selfie_segmentation_solution_simd_wasm_bin.wasm")
    assert (status, content_type) == (200, "application/wasm")
    for path in [
        VENDOR + "../../../pyproject.toml",
        VENDOR + "%2e%2e/%2e%2e/%2e%2e/pyproject.toml",
        VENDOR + "..%2f..%2fpackage.json",
        "/static/vendor/axe-core/axe.js",
        "/static/vendor/selfie_segmentation_x/package.json",
    ]:
        status, _ = _get(server_url + path)
        assert status == 404, path


def test_without_wasm_unsafe_eval_in_the_csp_start_rejects_with_a_swedish_message(
    new_context: NewContext,
) -> None:
    """The CSP's 'wasm-unsafe-eval' is what lets mediapipe run: taken out, start() fails,
    and the page gets a plain Swedish message instead of a stuck picture."""
    page = new_context().new_page()

    def strict_csp(route: Route) -> None:
        response = route.fetch()
        policy = response.headers["content-security-policy"]
        assert "'wasm-unsafe-eval'" in policy
        headers = {**response.headers, "content-security-policy": policy.replace(" 'wasm-unsafe-eval'", "")}
        route.fulfill(response=response, headers=headers)

    page.route("**/logga-in", strict_csp)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text))
    page.goto("/logga-in")
    outcome = page.evaluate(
        """async () => {
          const { BackgroundEffect } = await import("/static/js/meeting/effects.js");
          const camera = await navigator.mediaDevices.getUserMedia({ video: true });
          try {
            await new BackgroundEffect().start(camera.getVideoTracks()[0]);
            return "started";
          } catch (e) {
            return e.message;
          } finally {
            camera.getTracks().forEach((track) => track.stop());
          }
        }"""
    )
    assert outcome == "Bakgrundseffekterna kunde inte laddas. Du kan fortsätta utan effekt."
    assert any("WebAssembly" in line and "Content Security" in line for line in console), console
