"""`gradio_webrtc.testing` against real apps: one app (tests/apps/portable_app.py) served by this
package on Gradio 5 and 6, by gradio_webrtc 0.0.31 and by fastrtc 0.0.34, and the same tests for
all four. The tests use only the public testing API.

The other libraries run from bench/.venv-original and bench/.venv-fastrtc (bench/setup_original.sh
and bench/setup_fastrtc.sh create them from PyPI); where that cannot be done, their runs are skipped
with the reason printed.
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
ORIGINAL = ROOT / "bench" / ".venv-original" / "bin" / "python"
FASTRTC = ROOT / "bench" / ".venv-fastrtc" / "bin" / "python"
PYTHONS = {"gradio5": ROOT / ".venv" / "bin" / "python", "gradio6": ROOT / ".venv6" / "bin" / "python"}


def dominant_hz(x: np.ndarray, rate: int = 48000) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def tone(hz: float, seconds: float, rate: int = 48000) -> np.ndarray:
    t = np.arange(int(rate * seconds)) / rate
    return (0.4 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def other_library(python: Path, setup: str, name: str) -> Path:
    """The interpreter of another library's venv, created by its bench/ setup script if missing."""
    if not python.exists():
        run = subprocess.run(["bash", str(ROOT / "bench" / setup)], capture_output=True, text=True, timeout=900)
        if run.returncode != 0 or not python.exists():
            print(f"{name} could not be installed here:\n{run.stdout[-2000:]}{run.stderr[-2000:]}")
            pytest.skip(f"{name} could not be installed (offline?): see the printed reason")
    return python


SERVERS = {
    "gradio5": lambda: (PYTHONS["gradio5"], "gradio_webrtc"),
    "gradio6": lambda: (PYTHONS["gradio6"], "gradio_webrtc"),
    "original-0.0.31": lambda: (other_library(ORIGINAL, "setup_original.sh", "gradio_webrtc 0.0.31"), "gradio_webrtc"),
    "fastrtc-0.0.34": lambda: (other_library(FASTRTC, "setup_fastrtc.sh", "fastrtc 0.0.34"), "fastrtc"),
}


#: Each running app's output, by URL: a failing test's report shows its tail (conftest.py), as
#: the other libraries' servers run in their own processes and their errors would be lost.
SERVER_OUTPUT: dict[str, list[str]] = {}


@pytest.fixture(scope="module", params=list(SERVERS))
def app_url(request: pytest.FixtureRequest) -> Iterator[str]:
    python, library = SERVERS[request.param]()
    from conftest import _free_tcp_port

    port = _free_tcp_port()
    proc = subprocess.Popen(
        [str(python), str(ROOT / "tests" / "apps" / "portable_app.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "GRADIO_ANALYTICS_ENABLED": "False",
            "HF_HUB_OFFLINE": "1",
            "PYTHONPATH": "",
            "PORTABLE_LIB": library,
        },
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
    if request.param not in PYTHONS:
        # The other libraries load their VAD (onnxruntime, in Python) on the first utterance: on a
        # busy 2-core machine that first reply took more than 30 s. One call warms the app up
        # before any test asserts; its outcome is not the subject of a test.
        asyncio.run(warm_up(url))
    yield url
    proc.terminate()
    proc.wait(10)
    if proc.stdout:
        proc.stdout.close()


async def warm_up(url: str) -> None:
    try:
        async with connect(url, "Parrot") as call:
            await call.say(DATA / "one_sentence.wav")
            await call.reply(timeout=60)
    except Exception as exc:  # a warm-up: the tests report what fails
        print(f"warm-up call to {url} did not get a reply: {exc!r}")


async def test_echo_comes_back_with_its_additional_outputs(app_url):
    async with connect(app_url, "Echo") as call:
        await call.send_audio(48000, tone(440, 1.5))
        reply = await call.reply(timeout=5, gap=0.3)
        assert reply.rate == 48000 and 1.3 < reply.duration < 1.8, reply.duration
        assert dominant_hz(reply.audio) == pytest.approx(440, abs=8)
        deadline = time.monotonic() + 10
        while not call.additional_outputs and time.monotonic() < deadline:
            await call.silence(0.2)
        assert call.additional_outputs and call.additional_outputs[0].startswith("echoed ")


async def test_extra_inputs_reach_the_handler(app_url):
    async with connect(app_url, "Tone", inputs=[730]) as call:
        await call.wait_for_message(lambda m: m in ("tick", {"type": "send_input", "data": []}), timeout=15)
        rate, audio = await call.recv_audio(1.5)
        assert dominant_hz(audio[-24000:], rate) == pytest.approx(730, abs=8)
        await call.set_inputs(1100)
        await call.recv_audio(0.6)
        rate, audio = await call.recv_audio(1.0)
        assert dominant_hz(audio[-24000:], rate) == pytest.approx(1100, abs=8)


async def test_a_spoken_sentence_gets_one_reply_and_its_outputs(app_url):
    async with connect(app_url, "Parrot") as call:
        await call.say(DATA / "one_sentence.wav")
        reply = await call.reply(timeout=30)
        assert 1.2 < reply.duration < 2.5, reply.duration
        assert dominant_hz(reply.audio[4800:-4800]) == pytest.approx(520, abs=10)
        assert call.additional_outputs and call.additional_outputs[-1].startswith("heard ")


async def test_errors_raised_by_the_handler_are_collected(app_url):
    async with connect(app_url, "Refuses") as call:
        await call.send_audio(48000, tone(300, 1.0))
        await call.wait_for_message(lambda m: isinstance(m, dict) and m.get("type") == "error", timeout=10)
        assert any("refused on purpose" in e for e in call.errors), call.errors


async def test_receive_mode_plays_when_triggered(app_url):
    async with connect(app_url, "Player", inputs=[2]) as call:
        with pytest.raises(RuntimeError, match="trigger"):
            await call.recv_audio(0.1)
        await call.trigger()
        reply = await call.reply(timeout=10, gap=0.4)
        assert 1.5 < reply.duration < 2.6, reply.duration
        assert dominant_hz(reply.audio) == pytest.approx(440, abs=8)


async def test_video_comes_back_flipped(app_url):
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:60] = (0, 0, 255)  # red band at the top (BGR)
    async with connect(app_url, "Flip") as call:
        for _ in range(20):
            await call.send_video(picture)
        flipped = None
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            await call.send_video(picture)
            frame = await call.recv_video(timeout=5)
            if frame[-30:, :, 2].mean() > 150 and frame[:30, :, 2].mean() < 60:
                flipped = frame
                break
        assert flipped is not None, "no flipped picture came back"
        assert flipped.shape == (240, 320, 3) and flipped.dtype == np.uint8


async def test_audio_and_video_together(app_url):
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[:60] = (0, 0, 255)
    async with connect(app_url, "Both") as call:
        await call.send_audio(48000, tone(880, 1.0), realtime=False)
        flipped = None
        deadline = time.monotonic() + 15
        while flipped is None and time.monotonic() < deadline:
            await call.send_video(picture)
            frame = await call.recv_video(timeout=5)
            if frame[-30:, :, 2].mean() > 150 and frame[:30, :, 2].mean() < 60:
                flipped = frame
        assert flipped is not None, "no flipped picture came back"
        reply = await call.reply(timeout=5, gap=0.3)
        assert dominant_hz(reply.audio) == pytest.approx(880, abs=8)


async def test_send_mode_audio_reports_what_it_heard(app_url):
    async with connect(app_url, "Listener") as call:
        await call.say(DATA / "one_sentence.wav")
        deadline = time.monotonic() + 10
        while not call.additional_outputs and time.monotonic() < deadline:
            await call.silence(0.2)
        assert call.additional_outputs and call.additional_outputs[0].startswith("listened to ")
        with pytest.raises(RuntimeError, match="send"):
            await call.recv_audio(0.1)


async def test_send_mode_video_reports_each_picture(app_url):
    async with connect(app_url, "Watcher") as call:
        deadline = time.monotonic() + 10
        while not call.additional_outputs and time.monotonic() < deadline:
            await call.send_video(np.full((120, 160, 3), 200, np.uint8))
            await asyncio.sleep(1 / 30)
        assert call.additional_outputs, "no reading came back"
        assert abs(int(call.additional_outputs[-1].split()[-1]) - 200) < 15, call.additional_outputs[-1]


async def test_receive_mode_video_streams_when_triggered(app_url):
    async with connect(app_url, "Camera") as call:
        await call.trigger()
        first = await call.recv_video(timeout=10)
        for _ in range(20):
            later = await call.recv_video(timeout=5)
        assert first.shape == later.shape == (180, 320, 3)
        # The blue bar grew: more of the later picture is blue.
        assert (later[..., 0] > 150).mean() > (first[..., 0] > 150).mean()


async def test_the_time_limit_ends_the_call(app_url):
    async with connect(app_url, "Timed") as call:
        started = time.monotonic()
        while not call.closed and time.monotonic() - started < 10:
            await call.silence(0.2)
        assert call.closed, "the 3 s time limit ended the session"
        assert time.monotonic() - started > 2.5, "not before the limit"


async def test_a_timeout_says_what_never_arrived(app_url):
    async with connect(app_url, "Parrot") as call:
        await call.silence(0.2)
        with pytest.raises(NeverArrivedError, match="no reply audio within 1"):
            await call.reply(timeout=1)


def interrupting_app():
    """A Blocks built here, connected in-process: a 6 s reply the user talks over."""
    import gradio as gr

    from gradio_webrtc import ReplyOnPause, WebRTC

    calls: list[int] = []

    def long_answer(audio):
        calls.append(audio[1].shape[1])
        for i in range(60):
            t = (i * 2400 + np.arange(2400)) / 24000
            yield 24000, (0.4 * 32767 * np.sin(2 * np.pi * 600 * t)).astype(np.int16).reshape(1, -1)

    with gr.Blocks() as blocks:
        talk = WebRTC(label="Talk", mode="send-receive", modality="audio")
        talk.stream(fn=ReplyOnPause(long_answer), inputs=[talk], outputs=[talk])
    return blocks, calls


@pytest.mark.filterwarnings("ignore::ResourceWarning")
@pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")
@pytest.mark.filterwarnings("ignore::DeprecationWarning")
async def test_a_blocks_in_process_and_a_barge_in(webrtc_call):
    """Through the pytest plugin's fixture (it closes the call at teardown)."""
    blocks, calls = interrupting_app()
    call = await webrtc_call(blocks, "Talk")
    await call.say(DATA / "long_reply_interrupt.wav")
    await call.silence(2.0)
    assert len(calls) == 2, "the sentence spoken over the reply was answered too"
    interrupted = [m for m in call.messages if isinstance(m, dict) and m.get("data") == "started_talking"]
    assert len(interrupted) >= 2
    # The first reply was cut short: its audio stopped within a second of the second sentence.
    first = await call.reply(timeout=5)
    assert first.duration < 5.5, first.duration
