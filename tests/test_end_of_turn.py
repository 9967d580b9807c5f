"""The end-of-turn stage: `ReplyOnPause(turn_detector=...)` with the bundled Smart Turn model and
detectors of the app's own, end to end with an aiortc peer speaking Piper sentences."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from peer import RATE, connect, wait_for
from speech import load
from test_reply_on_pause import Recorder, tone

from gradio_webrtc import ReplyOnPause, ReplyOnStopWords, SmartTurn, TurnDetector
from gradio_webrtc._engine import EndOfTurnConfig

pytestmark = pytest.mark.usefixtures("no_leaks")

#: The word gap in "What is the weather | like in Paris today?" (one_sentence at 1.71-1.76 s).
SPLIT_S = 1.735
REFERENCES = Path(__file__).parent / "data" / "smart_turn" / "probabilities.tsv"


def thinking_pause(gap: float) -> np.ndarray:
    """The sentence with a `gap`-second pause after "What is the weather", then 3 s of silence."""
    sentence = load("one_sentence")
    split = int(SPLIT_S * RATE)
    return np.concatenate(
        [sentence[:split], np.zeros(int(gap * RATE), np.int16), sentence[split:], np.zeros(3 * RATE, np.int16)]
    )


@pytest.fixture(scope="module")
def smart_turn() -> SmartTurn:
    return SmartTurn()


def test_the_bundled_model_matches_the_reference(smart_turn):
    """Whole and cut fixtures score as onnxruntime scores pipecat's own features of them."""
    import wave

    checked = 0
    for line in REFERENCES.read_text().splitlines():
        if line.startswith("#"):
            continue
        name, cut, expected = line.split("\t")
        with wave.open(str(Path(__file__).parent / "data" / "speech" / f"{name}.wav")) as w:
            audio = np.frombuffer(w.readframes(w.getnframes()), np.int16)
        audio = audio[: int(audio.size * float(cut))]
        assert smart_turn((16000, audio.reshape(1, -1))) == pytest.approx(float(expected), abs=1e-3), (name, cut)
        checked += 1
    assert checked >= 4


def test_options_are_checked_where_the_app_sets_them(smart_turn):
    def fn(audio):
        yield audio

    with pytest.raises(ValueError, match="threshold"):
        ReplyOnPause(fn, turn_detector=SmartTurn(threshold=1.5))
    with pytest.raises(ValueError, match="max_silence"):
        ReplyOnPause(fn, turn_detector=SmartTurn(silence=1.0, max_silence=0.5))
    with pytest.raises(TypeError, match="turn_detector"):
        ReplyOnPause(fn, turn_detector="smart")  # type: ignore[arg-type]
    handler = ReplyOnPause(fn, turn_detector=SmartTurn(threshold=0.7, silence=0.3, max_silence=1.5))
    config = handler.pause_options().end_of_turn
    assert (config.threshold, config.silence, config.max_silence) == pytest.approx((0.7, 0.3, 1.5))
    # Each session's copy keeps the detector; a plain callable takes the defaults.
    assert handler.copy().pause_options().end_of_turn.max_silence == pytest.approx(1.5)
    plain = ReplyOnPause(fn, turn_detector=lambda audio: 1.0).pause_options().end_of_turn
    assert isinstance(plain, EndOfTurnConfig) and plain.silence == pytest.approx(0.2)


def test_a_missing_onnxruntime_is_a_clear_error():
    """Without the onnxruntime wheel (hidden here) SmartTurn says what to install; a bad library
    path is a RuntimeError naming it. In a fresh interpreter: the first library loaded serves the
    whole process."""
    code = (
        "import sys, importlib.util\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'onnxruntime' else real(name, *a)\n"
        "from gradio_webrtc import SmartTurn\n"
        "try:\n    SmartTurn().model()\nexcept ImportError as e:\n    print('import:', e)\n"
        "try:\n    SmartTurn(onnxruntime_library='/nowhere/libonnxruntime.so.1.99').model()\n"
        "except RuntimeError as e:\n    print('runtime:', e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True).stdout
    assert "import: SmartTurn runs on ONNX Runtime's library" in out and "[turn]" in out, out
    assert "runtime: could not load ONNX Runtime from /nowhere/libonnxruntime.so.1.99" in out, out


async def test_a_finished_request_is_answered_on_the_models_word(make_connections, smart_turn):
    fn = Recorder()
    connections = make_connections(ReplyOnPause(fn, turn_detector=smart_turn))
    client, _ = await connect(connections.offer, webrtc_id="eot-done", samples=load("one_sentence"))
    await wait_for(lambda: fn.finished, timeout=20)
    stats = connections.engine.get("eot-done").stats()
    await client.close()
    assert len(fn.calls) == 1
    assert stats["turn_checks"] >= 1 and stats["turn_checks_failed"] == 0, stats
    # The last check ended the turn: every check before it (word gaps) was held.
    assert stats["turns_held"] == stats["turn_checks"] - 1, stats
    assert stats["turn_check_micros"] > 0


@pytest.mark.parametrize("detector", ["rule", "smart_turn"])
async def test_a_thinking_pause_splits_the_request_only_without_the_model(make_connections, smart_turn, detector):
    """0.8 s after "What is the weather": the rule answers the half request; with the model the
    turn is held and the whole request is one utterance."""
    fn = Recorder()
    handler = ReplyOnPause(fn, turn_detector=smart_turn if detector == "smart_turn" else None)
    connections = make_connections(handler)
    client, _ = await connect(connections.offer, webrtc_id=f"eot-gap-{detector}", samples=thinking_pause(0.8))
    await wait_for(lambda: fn.finished, timeout=20)
    await asyncio.sleep(2.5)  # time for a second reply, if the request was split
    stats = connections.engine.get(f"eot-gap-{detector}").stats()
    await client.close()
    if detector == "rule":
        assert len(fn.calls) == 2, fn.calls
        assert stats["turn_checks"] == 0
    else:
        assert len(fn.calls) == 1, fn.calls
        rate, shape, _ = fn.calls[0]
        assert shape[1] / rate > 2.5, "the utterance holds both halves and the pause"
        assert stats["turns_held"] >= 1, stats


class SlowDetector(TurnDetector):
    """Thinks for `seconds` (off the GIL, as a model call would), then says "done"."""

    def __init__(self, seconds: float) -> None:
        super().__init__(max_silence=4.0)
        self.seconds = seconds
        self.calls: list[tuple[float, float, str]] = []  # (start, end, thread name)

    def __call__(self, audio):
        start = time.monotonic()
        time.sleep(self.seconds)
        self.calls.append((start, time.monotonic(), threading.current_thread().name))
        return 1.0


async def test_a_slow_detector_delays_only_its_own_decision(make_connections):
    """While one session's detector thinks for 1.5 s, that session still takes its peer's audio,
    and another session on the engine keeps playing its reply frame by frame."""
    detector = SlowDetector(1.5)
    replied: list[float] = []

    def answer(audio):
        replied.append(time.monotonic())
        yield from tone(0.4)

    def greeting():
        yield from tone(8.0, hz=500.0)

    def never(audio):
        yield from ()

    thinking = make_connections(ReplyOnPause(answer, turn_detector=detector))
    playing = make_connections(ReplyOnPause(never, startup_fn=greeting, can_interrupt=False))
    listener, _ = await connect(playing.offer, webrtc_id="eot-playing", samples=np.zeros(10 * RATE, np.int16))
    speech = np.concatenate([load("one_sentence"), np.zeros(2 * RATE, np.int16)])
    client, _ = await connect(thinking.offer, webrtc_id="eot-slow", samples=speech)
    session, other = thinking.engine.get("eot-slow"), playing.engine.get("eot-playing")
    await wait_for(lambda: session.stats()["turn_checks"] > 0, timeout=20)
    before, other_before = session.stats(), other.stats()
    await asyncio.sleep(1.0)  # the detector is still thinking
    during, other_during = session.stats(), other.stats()
    await wait_for(lambda: replied, timeout=20)
    await client.close()
    await listener.close()
    assert not replied or replied[0] >= detector.calls[0][1] - 0.05, "the reply waited for the answer"
    assert detector.calls[0][2] != threading.main_thread().name, "called off the event loop"
    assert during["audio_packets_in"] - before["audio_packets_in"] >= 20, (before, during)
    played = other_during["audio_frames_out"] - other_before["audio_frames_out"]
    assert played >= 20, f"the other session played {played} frames in that second"


async def test_a_failing_detector_leaves_the_turn_to_the_rule(make_connections):
    def broken(audio):
        raise RuntimeError("the detector's backend is down")

    fn = Recorder()
    connections = make_connections(ReplyOnPause(fn, turn_detector=broken))
    client, _ = await connect(connections.offer, webrtc_id="eot-broken", samples=load("one_sentence"))
    await wait_for(lambda: fn.finished, timeout=20)
    stats = connections.engine.get("eot-broken").stats()
    await client.close()
    assert len(fn.calls) == 1
    assert stats["turn_checks_failed"] >= 1, stats


async def test_barge_in_still_interrupts_a_reply(make_connections, smart_turn):
    fn = Recorder(reply_seconds=6.0)
    connections = make_connections(ReplyOnPause(fn, turn_detector=smart_turn))
    client, _ = await connect(connections.offer, webrtc_id="eot-barge", samples=load("long_reply_interrupt"))
    await wait_for(lambda: len(fn.calls) == 2, timeout=25)
    await client.close()
    assert fn.finished[0] is False, "the first reply was cut short by the user talking"


async def test_stop_words_then_the_model_ends_the_request(make_connections, smart_turn):
    fn = Recorder()
    connections = make_connections(ReplyOnStopWords(fn, ["computer"], turn_detector=smart_turn))
    client, _ = await connect(connections.offer, webrtc_id="eot-stop", samples=load("stop_word"))
    await wait_for(lambda: fn.finished, timeout=25)
    stats = connections.engine.get("eot-stop").stats()
    await client.close()
    assert len(fn.calls) == 1
    assert stats["turn_checks"] >= 1, stats
