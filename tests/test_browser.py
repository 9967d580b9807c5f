"""The component in headless Chromium (fake microphone), on Gradio 5 and Gradio 6.

Screenshots of each scenario land in test-artifacts/ (kept by CI as artifacts of the run).
"""

from __future__ import annotations

import json
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import chromium

ARTIFACTS = Path(__file__).parent.parent / "test-artifacts"

PEAK_JS = """async ([selector, ms]) => {
    const el = document.querySelector(selector);
    const stream = el && el.srcObject;
    if (!stream) return -1;
    const ctx = new AudioContext();
    const analyser = ctx.createAnalyser();
    analyser.fftSize = 8192;
    ctx.createMediaStreamSource(stream).connect(analyser);
    const buf = new Float32Array(analyser.fftSize);
    const spectrum = new Float32Array(analyser.frequencyBinCount);
    let peak = 0, best = -Infinity, best_bin = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) {
        await new Promise(r => setTimeout(r, 50));
        analyser.getFloatTimeDomainData(buf);
        for (const v of buf) peak = Math.max(peak, Math.abs(v));
        analyser.getFloatFrequencyData(spectrum);
        for (let i = 2; i < spectrum.length; i++) if (spectrum[i] > best) { best = spectrum[i]; best_bin = i; }
    }
    const hz = best_bin * ctx.sampleRate / analyser.fftSize;
    await ctx.close();
    return [peak, hz];
}"""


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as b:
        yield b


@pytest.fixture
def page(browser, gradio_app, request):
    context = browser.new_context()
    page = context.new_page()
    page.goto(gradio_app.url)
    page.wait_for_selector("#echo [data-testid=webrtc] .gwr-button", timeout=30000)
    yield page
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{gradio_app.major}-{request.node.name.split('[')[0]}.png"), full_page=True)
    context.close()  # the page's pagehide handler closes its connections; the server frees the slots
    wait_until_free(gradio_app)


def wait_until_free(app, timeout: float = 10.0) -> None:
    """Waits until the app holds no session (tests share one app and its concurrency limits)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if json.loads(urllib.request.urlopen(f"{app.url}/sessions", timeout=5).read())["sessions"] == 0:
            return
        time.sleep(0.1)
    raise AssertionError("a session outlived its page")


def widget(elem_id: str) -> str:
    return f"#{elem_id} [data-testid=webrtc]"


def start(page, elem_id: str) -> None:
    page.click(f"{widget(elem_id)} .gwr-button")
    page.wait_for_selector(f"{widget(elem_id)}[data-state=connected]", timeout=20000)


def remote_audio(page, elem_id: str, ms: int = 2000) -> tuple[float, float]:
    peak, hz = page.evaluate(PEAK_JS, [f"{widget(elem_id)} audio.gwr-remote-audio", ms])
    return float(peak), float(hz)


def test_echo_plays_the_microphone_back(page):
    start(page, "echo")
    peak, _ = remote_audio(page, "echo")
    assert peak > 0.01, f"no echoed audio (peak {peak})"
    assert page.inner_text(f"{widget('echo')} .gwr-status") == "Streaming"
    page.click(f"{widget('echo')} .gwr-button")
    page.wait_for_selector(f"{widget('echo')}[data-state=closed]", timeout=5000)


def test_additional_outputs_update_a_textbox(page):
    start(page, "echo")
    page.wait_for_function(
        "document.querySelector('#echo-count textarea').value.startsWith('frames echoed:')", timeout=15000
    )
    first = page.input_value("#echo-count textarea")
    page.wait_for_function(f"document.querySelector('#echo-count textarea').value !== {first!r}", timeout=15000)


def test_slider_value_reaches_the_handler(page):
    start(page, "tone")
    peak, hz = remote_audio(page, "tone", 2500)
    assert peak > 0.1
    assert abs(hz - 550) < 12, hz


def test_receive_mode_button_starts_a_server_stream(page):
    page.click("#generate")
    page.wait_for_selector(f"{widget('player')}[data-state=connected]", timeout=20000)
    peak, hz = remote_audio(page, "player", 1500)
    assert peak > 0.1
    assert abs(hz - 440) < 12, hz
    # The generator yields 4 s of audio; when it is done the server ends the session.
    page.wait_for_selector(f"{widget('player')}[data-state=closed]", timeout=15000)


def test_time_limit_ends_the_session_and_says_so(page):
    start(page, "timed")
    assert page.is_visible(f"{widget('timed')} .gwr-countdown")
    page.wait_for_selector(f"{widget('timed')}[data-state=closed]", timeout=10000)
    assert "Time limit reached" in page.inner_text(f"{widget('timed')} .gwr-status")


def test_a_raising_handler_shows_its_error(page):
    start(page, "faulty")
    page.wait_for_selector(f"{widget('faulty')} .gwr-error:not([hidden])", timeout=15000)
    assert "the model crashed on purpose" in page.inner_text(f"{widget('faulty')} .gwr-error")
    assert page.get_attribute(widget("faulty"), "data-state") == "connected", "the session goes on"


def test_over_the_limit_the_user_is_told(page, browser, gradio_app):
    start(page, "echo")
    other = browser.new_context().new_page()
    other.goto(gradio_app.url)
    other.wait_for_selector(f"{widget('echo')} .gwr-button", timeout=30000)
    other.click(f"{widget('echo')} .gwr-button")
    other.wait_for_selector(f"{widget('echo')} .gwr-error:not([hidden])", timeout=15000)
    assert "Too many people are streaming" in other.inner_text(f"{widget('echo')} .gwr-error")
    assert other.get_attribute(widget("echo"), "data-state") == "failed"
    other.context.close()
