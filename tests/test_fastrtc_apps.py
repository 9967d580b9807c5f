"""fastrtc apps, unchanged, on this engine and on fastrtc 0.0.34, with the same assertions.

`tests/apps/fastrtc_app.py` is written as fastrtc's documentation writes apps (`from fastrtc
import ...`, fastrtc's argument order and names); this package's interpreter imports `fastrtc`
from fastrtc-rs, bench/.venv-fastrtc's from fastrtc 0.0.34 itself. The tests talk to the page's
component with `gradio_webrtc.testing`, as a browser would.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from speech import DATA

from gradio_webrtc.testing import NeverArrivedError, connect

ROOT = Path(__file__).resolve().parent.parent
PYTHONS = {
    "this package": ROOT / ".venv" / "bin" / "python",
    "fastrtc-0.0.34": ROOT / "bench" / ".venv-fastrtc" / "bin" / "python",
}
SERVER_OUTPUT: dict[str, list[str]] = {}


def dominant_hz(x: np.ndarray, rate: int = 48000) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


@pytest.fixture(scope="module", params=list(PYTHONS))
def app_url(request: pytest.FixtureRequest) -> Iterator[str]:
    python = PYTHONS[request.param]
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make other-libs` (fastrtc 0.0.34) and `make build-dev`")
    from conftest import _free_tcp_port

    port = _free_tcp_port()
    proc = subprocess.Popen(
        [str(python), str(ROOT / "tests" / "apps" / "fastrtc_app.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "HF_HUB_OFFLINE": "1", "PYTHONPATH": ""},
        cwd=ROOT / "tests",
    )
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True).start()  # type: ignore[arg-type]
    url = f"http://127.0.0.1:{port}"
    SERVER_OUTPUT[url] = lines
    deadline = time.monotonic() + 90
    while True:
        try:
            urllib.request.urlopen(f"{url}/config", timeout=5).read()
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"{request.param} app did not start:\n{''.join(lines)[-3000:]}")
            time.sleep(0.3)
    if request.param != "this package":
        # fastrtc loads its VAD (onnxruntime, in Python) on the first utterance: warm it up.
        asyncio.run(warm_up(url))
    yield url
    proc.terminate()
    proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


async def warm_up(url: str) -> None:
    try:
        async with connect(url, "echo") as call:
            await call.say(DATA / "one_sentence.wav")
            await call.reply(timeout=60)
    except Exception as exc:  # a warm-up: the tests report what fails
        print(f"warm-up call to {url} did not get a reply: {exc!r}")


async def test_the_echo_replies_with_what_was_said(app_url):
    async with connect(app_url, "echo") as call:
        await call.say(DATA / "one_sentence.wav")
        reply = await call.reply(timeout=30)
        assert 1.0 < reply.duration < 4.0, reply.duration
        assert np.abs(reply.audio).max() > 0.05, "the speech came back"


async def test_a_chat_gets_its_transcript_as_input_and_shows_the_reply(app_url):
    async with connect(app_url, "chat") as call:
        await call.say(DATA / "one_sentence.wav")
        reply = await call.reply(timeout=30)
        assert dominant_hz(reply.audio[2400:-2400]) == pytest.approx(520, abs=10)
        deadline = time.monotonic() + 10
        while not call.additional_outputs and time.monotonic() < deadline:
            await call.silence(0.2)
        assert call.additional_outputs, "the chatbot got the new transcript"
        history = call.additional_outputs[-1]
        assert history[-1]["content"] == "reply 1"
        # The second turn gets the chat so far (the page answers `send_input` with it).
        await call.say(DATA / "one_sentence.wav")
        await call.reply(timeout=30)
        deadline = time.monotonic() + 10
        while call.additional_outputs[-1][-1]["content"] != "reply 2" and time.monotonic() < deadline:
            await call.silence(0.2)
        assert call.additional_outputs[-1][-1]["content"] == "reply 2"


async def test_a_greeting_plays_first_and_the_handler_can_end_the_call(app_url):
    async with connect(app_url, "greeting") as call:
        greeting = await call.reply(timeout=20, gap=0.3)
        assert dominant_hz(greeting.audio[2400:-2400]) == pytest.approx(660, abs=10)
        await call.say(DATA / "one_sentence.wav")
        goodbye = await call.reply(timeout=30, gap=0.3)
        assert dominant_hz(goodbye.audio[2400:-2400]) == pytest.approx(440, abs=10)
        await call.wait_for_message(lambda m: isinstance(m, dict) and m.get("type") == "end_stream", timeout=10)
        deadline = time.monotonic() + 10
        while not call.additional_outputs and time.monotonic() < deadline:
            await call.silence(0.2)
        assert call.additional_outputs and call.additional_outputs[-1].startswith("bye ")


async def test_video_with_a_slider(app_url):
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:60] = (0, 0, 255)  # red band at the top (BGR)
    async with connect(app_url, "video", inputs=[0.9]) as call:
        found = None
        deadline = time.monotonic() + 20
        while found is None and time.monotonic() < deadline:
            await call.send_video(picture)
            try:
                frame = await call.recv_video(timeout=1)
            except NeverArrivedError:  # fastrtc's video track takes a few seconds to start
                continue
            flipped = frame[-30:, :, 2].mean() > 150 and frame[30:60, :, 2].mean() < 60
            if flipped and frame[:6, :, 1].mean() > 150:
                found = frame
        assert found is not None, "no flipped picture with the slider's band came back"
