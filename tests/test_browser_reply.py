"""ReplyOnPause in Chromium: the fake microphone speaks a Piper sentence; the page gets a reply."""

from __future__ import annotations

import os
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from browser import chromium
from speech import DATA
from test_browser import ARTIFACTS, PEAK_JS, start, wait_until_free, widget


@pytest.fixture(scope="module")
def speaking_browser() -> Iterator[Any]:
    # Chromium loops the file: a sentence every ~5 s, with pauses between.
    with chromium(audio_file=DATA / "one_sentence.wav") as browser:
        yield browser


def test_reply_on_pause_answers_in_the_page(speaking_browser, gradio_app):
    context = speaking_browser.new_context()
    page = context.new_page()
    try:
        page.goto(gradio_app.url)
        page.wait_for_selector(f"{widget('parrot')} .gwr-button", timeout=30000)
        start(page, "parrot")
        # The level bars show the user's own voice while they talk, before any reply plays.
        page.wait_for_selector(f"{widget('parrot')}[data-speaker=user]", timeout=10000)
        # The utterance (about 2.5 s with its pad) reaches the handler after the pause.
        page.wait_for_function("document.querySelector('#heard textarea').value.startsWith('heard ')", timeout=20000)
        seconds = float(page.input_value("#heard textarea").split()[1])
        assert 1.5 < seconds < 4.5, seconds
        peak, hz = page.evaluate(PEAK_JS, [f"{widget('parrot')} audio.gwr-remote-audio", 2500])
        assert peak > 0.05 and abs(hz - 520) < 15, (peak, hz)
        # Mute silences the microphone (and its bars); the button says how to undo it.
        page.click(f"{widget('parrot')} .gwr-mute")
        assert page.inner_text(f"{widget('parrot')} .gwr-mute") == "Unmute"
        page.wait_for_function(
            f"document.querySelector({widget('parrot')!r}).dataset.micLevel === '0.000'", timeout=5000
        )
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{gradio_app.major}-reply-on-pause.png"), full_page=True)
    finally:
        context.close()
        wait_until_free(gradio_app)


@contextmanager
def demo_server(major: str, script: str) -> Iterator[str]:
    """Runs one of the demo apps on the given Gradio major; yields its URL once it answers."""
    from conftest import GRADIO_PYTHONS, ROOT, _free_tcp_port

    port = _free_tcp_port()
    proc = subprocess.Popen(
        [str(GRADIO_PYTHONS[major]), str(ROOT / "demo" / script)],
        env={**os.environ, "PORT": str(port), "GRADIO_SERVER_PORT": str(port), "GRADIO_ANALYTICS_ENABLED": "False"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/config", timeout=5).read()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, f"{script} did not start"
                time.sleep(0.3)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.mark.parametrize("major", ["gradio5", "gradio6"])
def test_main_demo_answers_and_logs_the_turn(speaking_browser, major):
    """`make demo`'s app: the parrot replies and the Chatbot shows the turn (AdditionalOutputs)."""
    context = speaking_browser.new_context()
    try:
        with demo_server(major, "app.py") as url:
            page = context.new_page()
            page.goto(url)
            page.wait_for_selector("[data-testid=webrtc] .gwr-button", timeout=30000)
            page.click("[data-testid=webrtc] .gwr-button")
            page.wait_for_selector("[data-testid=webrtc][data-state=connected]", timeout=20000)
            page.get_by_text("Squawk!").first.wait_for(timeout=20000)
            assert page.get_by_text("(you spoke for").count() >= 1
            peak, _ = page.evaluate(PEAK_JS, ["[data-testid=webrtc] audio.gwr-remote-audio", 3000])
            assert peak > 0.01, "the parrot's reply is heard"
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"{major}-main-demo.png"), full_page=True)
    finally:
        context.close()
