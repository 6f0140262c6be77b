""" "Ställ in ljud och bild" (static/js/meeting/device-setup.js) in Debian's Chromium with its fake camera
and microphone, against a running server.

Annika (a clinician, demo account) books a "Vårdmöte patient" through the API; Pia, the patient, opens
the guest link. The step is shown and its DeviceSetup started from the test (as join.js does after the
name step), so the test can hold the DeviceSetup and look at its stream. Chromium's fake microphone
plays a beep, so the level meter has something to show; its fake camera a moving test picture.
Screenshots go to test-artifacts/e2e/device-setup*/.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page, Playwright, expect

from servers import Server, book_protected_meeting

from .axe import describe, violations
from .conftest import NewContext, Steps

pytestmark = pytest.mark.e2e

MODULE = "/static/js/meeting/device-setup.js"
SOUNDS = "/static/js/meeting/sounds.js"

# Shows the step instead of the name step and starts a DeviceSetup on it, kept as window.setup.
START_SETUP = """
async (module) => {
  document.getElementById("steg-namn")?.setAttribute("hidden", "");
  const root = document.getElementById("steg-installning");
  root.hidden = false;
  const { DeviceSetup } = await import(module);
  window.setup = new DeviceSetup(root);
  await window.setup.start();
}
"""

# The id of the video track the preview plays.
PREVIEW_TRACK = "document.getElementById('installning-bild').srcObject.getVideoTracks()[0].id"
STREAM_VIDEO = "window.setup.stream.getVideoTracks()[0].id"


@pytest.fixture
def guest_link(demo_server: Server) -> str:
    """guest_link is the guest link token of a meeting Annika books through the API."""
    return book_protected_meeting(demo_server, "Uppföljning efter operation").link


def open_setup(page: Page, link: str) -> None:
    """open_setup opens the guest link, shows "Ställ in ljud och bild" and starts it."""
    page.goto(f"/m/{link}")
    page.evaluate(START_SETUP, MODULE)
    expect(page.get_by_role("heading", name="Ställ in ljud och bild", exact=True)).to_be_visible()


def expect_preview_plays(page: Page) -> None:
    """expect_preview_plays waits until the preview has a picture and its time moves on."""
    page.wait_for_function(
        "() => { const v = document.getElementById('installning-bild'); "
        "return v.videoWidth > 0 && !v.paused; }"
    )
    before = page.evaluate("document.getElementById('installning-bild').currentTime")
    page.wait_for_function(
        "(t) => document.getElementById('installning-bild').currentTime > t + 0.3", arg=before
    )


def option_labels(page: Page, label: str) -> list[str]:
    """option_labels are the texts of the options of the select labelled label."""
    labels: list[str] = page.get_by_label(label, exact=True).evaluate(
        "s => [...s.options].map(o => o.textContent)"
    )
    return labels


def test_the_patient_sees_her_devices_by_name_herself_as_in_a_mirror_and_her_voice_level(
    new_context: NewContext, guest_link: str, steps: Callable[[str], Steps]
) -> None:
    shots = steps("device-setup")
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    open_setup(page, guest_link)

    for text in [
        "Anslut i god tid – det kan ta lite tid att ställa in kamera och ljud.",
        "1. Välj kamera och ställ in bakgrund",
        "2. Välj mikrofon och testa.",
        "3. Välj hörlurar och testa – lyssna om du hör en melodi.",
    ]:
        expect(page.locator("#steg-installning").get_by_text(text, exact=True)).to_be_visible()
    cameras, microphones = option_labels(page, "Kamera"), option_labels(page, "Mikrofon")
    speakers = option_labels(page, "Högtalare")
    assert cameras, cameras
    assert all(cameras), cameras
    assert microphones, microphones
    assert all(microphones), microphones
    assert speakers, speakers
    assert all(speakers), speakers
    assert any("fake" in name.lower() for name in cameras + microphones), (cameras, microphones)

    expect_preview_plays(page)
    preview = page.locator("#installning-bild")
    assert preview.evaluate("v => v.muted && v.playsInline && getComputedStyle(v).transform") == (
        "matrix(-1, 0, 0, 1, 0, 0)"
    )
    assert page.evaluate(PREVIEW_TRACK) == page.evaluate(STREAM_VIDEO)
    assert page.evaluate("window.setup.stream.getAudioTracks().map(t => t.readyState)") == ["live"]

    meter = page.get_by_role("meter", name="Ljudnivå i mikrofonen")
    expect(meter).to_be_visible()
    page.wait_for_function("() => document.getElementById('mikrofon-niva').value > 0.01")
    expect(page.get_by_role("button", name="Anslut nu")).to_be_visible()
    shots.shot(page, "desktop")

    # "Anslut nu": the set-up stops, but what is published keeps running.
    page.evaluate("window.setup.stop()")
    states = page.evaluate("window.setup.stream.getTracks().map(t => [t.kind, t.readyState])")
    assert sorted(states) == [["audio", "live"], ["video", "live"]]
    page.evaluate("window.setup.release()")
    assert page.evaluate("window.setup.stream.getTracks().every(t => t.readyState === 'ended')")


def test_after_her_name_the_patient_comes_to_the_step_with_her_devices_ready(
    new_context: NewContext, guest_link: str
) -> None:
    page = new_context().new_page()
    page.goto(f"/m/{guest_link}")
    page.get_by_label("Ditt namn").fill("Pia")
    page.get_by_role("button", name="Nästa").click()

    heading = page.get_by_role("heading", name="Ställ in ljud och bild", exact=True)
    expect(heading).to_be_visible()
    expect(heading).to_be_focused()
    expect(page.get_by_role("button", name="Anslut nu")).to_be_enabled()
    assert option_labels(page, "Kamera")
    assert option_labels(page, "Mikrofon")
    expect_preview_plays(page)


def test_the_microphone_test_records_her_voice_and_plays_it_back(
    new_context: NewContext, guest_link: str, steps: Callable[[str], Steps]
) -> None:
    shots = steps("device-setup-microphone")
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    open_setup(page, guest_link)

    opener = page.get_by_role("button", name="Testa din mikrofon")
    expect(opener).to_have_attribute("aria-expanded", "false")
    opener.click()
    expect(opener).to_have_attribute("aria-expanded", "true")
    panel = page.locator("#mikrofontest")
    expect(
        panel.get_by_text("Kontrollera först att du har valt rätt mikrofon och att volymen är hög.")
    ).to_be_visible()
    expect(panel.get_by_label("Mikrofon att testa")).to_have_value(
        page.get_by_label("Mikrofon", exact=True).input_value()
    )

    panel.get_by_role("button", name="Starta testet").click()
    status = panel.get_by_role("status")
    expect(status).to_have_text("Spelar in din röst...")
    expect(panel.get_by_text('Du kan säga något i stil med "Testar 1, 2, 3"', exact=True)).to_be_visible()
    shots.shot(page, "recording")

    expect(status).to_have_text("Uppspelning", timeout=10_000)
    expect(panel.get_by_text("Så här kommer du att låta för andra", exact=True)).to_be_visible()
    expect(panel.get_by_text("Om du inte hör dig själv ska du prova följande", exact=True)).to_be_visible()
    expect(panel.get_by_role("listitem")).to_have_count(4)
    page.wait_for_function("() => document.getElementById('test-ljud').currentTime > 0.5")
    assert page.evaluate("document.getElementById('test-ljud').src").startswith("blob:")
    shots.shot(page, "playback")
    found = violations(page)
    assert not found, describe(found)


def test_testa_ditt_ljud_plays_a_melody_and_the_sounds_always_resolve(
    new_context: NewContext, guest_link: str
) -> None:
    page = new_context().new_page()
    open_setup(page, guest_link)

    button = page.get_by_role("button", name="Testa ditt ljud")
    button.click()
    expect(page.locator("#ljud-status")).to_have_text("Spelar en melodi …")
    expect(button).to_be_disabled()
    expect(button).to_be_enabled(timeout=5_000)
    expect(page.locator("#ljud-status")).to_have_text("")

    # On the chosen speaker, on the default one, and on one that does not exist: each resolves.
    took = page.evaluate(
        """async ([module, speaker]) => {
          const { playMelody, playArrivalChime } = await import(module);
          const timed = async (play) => {
            const t = performance.now();
            await play();
            return performance.now() - t;
          };
          return [
            await timed(() => playMelody(speaker)),
            await timed(() => playArrivalChime()),
            await timed(() => playMelody("no-such-speaker")),
          ];
        }""",
        [SOUNDS, page.evaluate("window.setup.speakerId")],
    )
    assert 1500 < took[0] < 4000, took
    assert 800 < took[1] < 3000, took
    assert took[2] < 5000, took


def test_oskarpa_shows_and_publishes_the_processed_picture_and_avbryt_andringar_undoes_it(
    new_context: NewContext, guest_link: str, steps: Callable[[str], Steps]
) -> None:
    shots = steps("device-setup-effects")
    page = new_context(viewport={"width": 1280, "height": 900}).new_page()
    open_setup(page, guest_link)
    expect_preview_plays(page)
    camera = page.evaluate(STREAM_VIDEO)
    effects = page.get_by_role("group", name="Personliga inställningar Effekter")
    expect(effects.get_by_role("radio", name="Ingen")).to_be_checked()
    if not page.evaluate(
        "async () => (await import('/static/js/meeting/effects.js')).BackgroundEffect.isSupported()"
    ):
        expect(page.locator("#effekt-not")).to_contain_text("fungerar inte")
        expect(effects.get_by_role("radio", name="Oskärpa")).to_be_disabled()
        pytest.skip("this Chromium cannot run the background effects (no WebGL)")

    effects.get_by_role("radio", name="Oskärpa").check()
    page.wait_for_function("() => window.setup.effect === 'blur'", timeout=30_000)
    processed = page.evaluate(PREVIEW_TRACK)
    assert processed != camera
    assert page.evaluate(STREAM_VIDEO) == processed
    expect_preview_plays(page)
    segmented = page.evaluate("window.setup._pipeline.segmentedFrames")
    page.wait_for_function("(n) => window.setup._pipeline.segmentedFrames > n + 5", arg=segmented)
    shots.shot(page, "blur")

    effects.get_by_role("button", name="Avbryt ändringar").click()
    page.wait_for_function("() => window.setup.effect === 'none'")
    expect(effects.get_by_role("radio", name="Ingen")).to_be_checked()
    assert page.evaluate(PREVIEW_TRACK) == camera
    assert page.evaluate(STREAM_VIDEO) == camera


def test_a_new_microphone_replaces_only_the_old_one_and_the_choices_are_remembered(
    new_context: NewContext, guest_link: str
) -> None:
    page = new_context().new_page()
    open_setup(page, guest_link)
    microphone = page.get_by_label("Mikrofon", exact=True)
    ids: list[str] = microphone.evaluate("s => [...s.options].map(o => o.value)")
    if len(ids) < 2:
        pytest.skip(f"this Chromium has one fake microphone only: {ids}")
    video = page.evaluate(STREAM_VIDEO)
    old_audio = page.evaluate("(window.oldAudio = window.setup.stream.getAudioTracks()[0]).id")
    other = next(i for i in ids if i != microphone.input_value())
    microphone.select_option(other)
    page.wait_for_function(
        "(old) => window.setup.stream.getAudioTracks()[0].id !== old", arg=old_audio, timeout=5_000
    )
    tracks = page.evaluate(
        "window.setup.stream.getTracks().map(t => [t.kind, t.id, t.readyState, t.getSettings().deviceId])"
    )
    by_kind = {track[0]: track[1:] for track in tracks}
    assert len(tracks) == 2, tracks
    assert by_kind["video"][:2] == [video, "live"], tracks
    assert by_kind["audio"][1:] == ["live", other], tracks
    assert page.evaluate("window.oldAudio.readyState") == "ended"
    page.wait_for_function("() => document.getElementById('mikrofon-niva').value > 0.01")

    stored = json.loads(page.evaluate("localStorage.getItem('vardmote.ljud-och-bild')"))
    assert set(stored) <= {"camera", "microphone", "speaker", "effect"}, stored
    assert stored["microphone"] == other
    page.evaluate("window.setup.release()")

    page.reload()
    open_setup(page, guest_link)
    expect(page.get_by_label("Mikrofon", exact=True)).to_have_value(other)
    assert page.evaluate("window.setup.stream.getAudioTracks()[0].getSettings().deviceId") == other


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        pytest.param("NotAllowedError", "denied", id="not-allowed"),
        pytest.param("SecurityError", "denied", id="security"),
        pytest.param("NotFoundError", "no_devices", id="not-found"),
        pytest.param("OverconstrainedError", "no_devices", id="overconstrained"),
        pytest.param("NotReadableError", "in_use", id="not-readable"),
        pytest.param("AbortError", "in_use", id="abort"),
        pytest.param("TypeError", "unsupported", id="other"),
    ],
)
def test_each_media_error_is_one_setup_problem(
    new_context: NewContext, guest_link: str, name: str, problem: str
) -> None:
    page = new_context().new_page()
    page.goto(f"/m/{guest_link}")
    found = page.evaluate(
        """async ([module, name]) => {
          const { setupErrorOf, SetupError } = await import(module);
          const error = setupErrorOf(new DOMException("from the test", name));
          return [error instanceof SetupError, error.problem];
        }""",
        [MODULE, name],
    )
    assert found == [True, problem]


def test_a_camera_that_cannot_be_found_is_no_devices(new_context: NewContext, guest_link: str) -> None:
    page = new_context().new_page()
    page.goto(f"/m/{guest_link}")
    problem = page.evaluate(
        """async (module) => {
          const { setupErrorOf } = await import(module);
          try {
            await navigator.mediaDevices.getUserMedia({ video: { deviceId: { exact: "nope" } } });
            return "opened";
          } catch (e) {
            return [e.name, setupErrorOf(e).problem];
          }
        }""",
        MODULE,
    )
    assert problem == ["OverconstrainedError", "no_devices"]


def test_the_step_is_one_calm_column_on_a_phone(
    new_context: NewContext, guest_link: str, playwright: Playwright, steps: Callable[[str], Steps]
) -> None:
    shots = steps("device-setup-phone")
    phone = {k: v for k, v in playwright.devices["Pixel 5"].items() if k != "default_browser_type"}
    page = new_context(**phone).new_page()
    open_setup(page, guest_link)
    expect_preview_plays(page)
    page.wait_for_function("() => document.getElementById('mikrofon-niva').value > 0.01")
    shots.shot(page, "phone")

    width = page.evaluate("document.documentElement.scrollWidth")
    assert page.viewport_size is not None
    assert width <= page.viewport_size["width"], f"page is {width}px wide on {page.viewport_size}"
    preview = box(page, "#installning-bild")
    camera = box(page, "#val-kamera")
    assert preview["y"] + preview["height"] <= camera["y"], (preview, camera)
    small = page.evaluate(
        """() => [...document.querySelectorAll(
              '#steg-installning button:not([hidden]), #steg-installning select, .effect-choice')]
            .filter(e => e.offsetParent !== null)
            .map(e => [e.id || e.textContent.trim(), Math.round(e.getBoundingClientRect().height)])
            .filter(([, h]) => h < 44)"""
    )
    assert small == [], f"targets under 44 px: {small}"

    page.get_by_role("button", name="Testa din mikrofon").click()
    page.get_by_role("button", name="Starta testet").click()
    expect(page.locator("#test-status")).to_have_text("Uppspelning", timeout=10_000)
    shots.shot(page, "phone-microphone-test")
    found = violations(page)
    assert not found, describe(found)


def box(page: Page, selector: str) -> dict[str, Any]:
    """box is the bounding box of the element selector finds."""
    found = page.locator(selector).bounding_box()
    assert found is not None, selector
    return dict(found)
