"""ReplyOnPause in Chromium: the fake microphone speaks a Piper sentence; the page gets a reply."""

from __future__ import annotations

from collections.abc import Iterator
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
        # The utterance (about 2.5 s with its pad) reaches the handler after the pause.
        page.wait_for_function("document.querySelector('#heard textarea').value.startsWith('heard ')", timeout=20000)
        seconds = float(page.input_value("#heard textarea").split()[1])
        assert 1.5 < seconds < 4.5, seconds
        peak, hz = page.evaluate(PEAK_JS, [f"{widget('parrot')} audio.gwr-remote-audio", 2500])
        assert peak > 0.05 and abs(hz - 520) < 15, (peak, hz)
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"{gradio_app.major}-reply-on-pause.png"), full_page=True)
    finally:
        context.close()
        wait_until_free(gradio_app)
