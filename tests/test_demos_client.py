"""Every Gradio demo in demo/, tested the way its author would: the app's `demo` Blocks handed to
`gradio_webrtc.testing.connect`, and nothing else (no aiortc, no browser, no internals).

(The two demos without a Gradio `WebRTC` component have their own page tests: custom_client in
test_browser.py, websocket_client in test_demo_websocket.py.)
"""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
from speech import DATA

from gradio_webrtc.testing import NeverArrivedError, connect

DEMOS = Path(__file__).resolve().parent.parent / "demo"

# Launching a Blocks in-process leaves Gradio's own loop and sockets for the garbage collector.
pytestmark = [
    pytest.mark.filterwarnings("ignore::ResourceWarning"),
    pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
]


def load(name: str) -> ModuleType:
    path = DEMOS / name / "app.py" if name else DEMOS / "app.py"
    spec = importlib.util.spec_from_file_location(f"demo_{name or 'main'}", path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        spec.loader.exec_module(module)
    sys.modules.pop(spec.name, None)
    return module


def text(message: dict) -> str:
    """A chat message's text: a string on Gradio 5, a list of typed parts on Gradio 6."""
    content = message["content"]
    return content if isinstance(content, str) else "".join(part.get("text", "") for part in content)


def dominant_hz(x: np.ndarray, rate: int = 48000) -> float:
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64) * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


async def test_main_demo_parrots_each_sentence_and_logs_the_turns():
    async with connect(load("").demo, "Conversation") as call:
        await call.say(DATA / "one_sentence.wav")
        first = await call.reply(timeout=15)
        # The parrot plays the utterance 1.26x faster: about the sentence's length / 1.26.
        assert 0.8 < first.duration < 2.5, first.duration
        assert len(call.additional_outputs[-1]) == 2
        await call.say(DATA / "one_sentence.wav")
        await call.reply(timeout=15)
        # The chat the page shows went back to the handler as its input: the log grows.
        history = call.additional_outputs[-1]
        assert len(history) == 4 and text(history[0]).startswith("(you spoke for")


async def test_reply_on_pause_demo_plays_a_note_per_second_of_speech():
    async with connect(load("reply_on_pause").demo) as call:
        await call.say(DATA / "one_sentence.wav")
        reply = await call.reply(timeout=15, gap=0.3)
        assert 0.2 < reply.duration < 1.5, reply.duration


async def test_stop_words_demo_answers_only_after_its_words():
    async with connect(load("stop_words").demo) as call:
        await call.say(DATA / "no_stop_word.wav")
        await call.silence(1.0)
        with pytest.raises(NeverArrivedError):
            await call.reply(timeout=1)
        await call.say(DATA / "stop_word.wav")
        reply = await call.reply(timeout=15)
        assert reply.duration > 0.6
        assert "stopword" in call.messages, call.messages


async def test_additional_outputs_demo_transcribes_in_send_mode():
    async with connect(load("additional_outputs").demo, "Stream") as call:
        assert call.mode == "send"
        await call.say(DATA / "one_sentence.wav")
        await call.silence(1.0)
        await call.wait_for_message(lambda m: m in ("change", {"type": "fetch_output", "data": []}), timeout=10)
        await call.silence(0.5)
        _state, chat = call.additional_outputs[-1]  # a gr.State's value stays on the server
        assert len(chat) == 1 and text(chat[0]).startswith("I heard ")


async def test_audio_echo_demo_sends_the_voice_back():
    async with connect(load("audio_echo").demo, "Stream") as call:
        t = np.arange(48000) / 48000
        await call.send_audio(48000, (0.3 * 32767 * np.sin(2 * np.pi * 660 * t)).astype(np.int16))
        reply = await call.reply(timeout=5, gap=0.3)
        assert 0.8 < reply.duration < 1.3 and dominant_hz(reply.audio) == pytest.approx(660, abs=8)


async def test_server_audio_demo_plays_a_chime_per_step():
    async with connect(load("server_audio").demo, "Stream", inputs=[2]) as call:
        await call.trigger()
        reply = await call.reply(timeout=10, gap=0.3)
        # Two 0.8 s chimes, 440 Hz then a semitone up, then the stream has nothing more to play.
        assert 1.4 < reply.duration < 1.9, reply.duration
        assert dominant_hz(reply.audio[:19200]) == pytest.approx(440, abs=8)
        assert dominant_hz(reply.audio[-30000:-10000]) == pytest.approx(466, abs=8)


async def test_server_video_demo_streams_moving_pictures():
    async with connect(load("server_video").demo, "Video Stream") as call:
        await call.trigger()
        first = await call.recv_video(timeout=10)
        for _ in range(10):
            later = await call.recv_video(timeout=5)
        assert first.shape == later.shape == (360, 640, 3)
        assert np.abs(first.astype(int) - later.astype(int)).mean() > 5, "the pictures did not change"


async def test_video_io_demo_paints_edges_green():
    picture = np.zeros((240, 320, 3), np.uint8)
    picture[80:160, 120:200] = 255
    async with connect(load("video_io").demo, "Stream") as call:
        for _ in range(40):
            await call.send_video(picture)
            frame = await call.recv_video(timeout=10)
            green = (frame[..., 1] > 180) & (frame[..., 0] < 80) & (frame[..., 2] < 80)
            if green.sum() > 100:
                break
        assert green.sum() > 100, "no green edges came back"
        assert not green[:60].any(), "edges where the picture has none"
