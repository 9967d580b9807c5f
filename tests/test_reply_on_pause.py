"""ReplyOnPause end to end with an aiortc peer speaking Piper-synthesised sentences."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from peer import RATE, DtxAudioTrack, connect, onset, wait_for
from speech import load, speech_ends

from gradio_webrtc import AdditionalOutputs, AlgoOptions, ReplyOnPause, SileroVadOptions

pytestmark = pytest.mark.usefixtures("no_leaks")


def tone(seconds: float, hz: float = 330.0, rate: int = 24000, chunk: float = 0.1):
    """A reply: a tone in `chunk`-second pieces (so an interruption can land between them)."""
    n = int(rate * chunk)
    for i in range(int(seconds / chunk)):
        t = (i * n + np.arange(n)) / rate
        yield rate, (0.4 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16).reshape(1, -1)


class Recorder:
    def __init__(self, reply_seconds: float = 0.6) -> None:
        self.calls: list[tuple[int, tuple[int, ...], str]] = []
        self.finished: list[bool] = []
        self.reply_seconds = reply_seconds

    def __call__(self, audio):
        rate, array = audio
        self.calls.append((rate, array.shape, str(array.dtype)))
        done = False
        try:
            yield from tone(self.reply_seconds)
            done = True
        finally:
            self.finished.append(done)


async def test_a_dtx_sender_is_answered_and_its_silence_keeps_time(make_connections):
    """A peer using Opus DTX sends one packet per 400 ms while its user is quiet. The gaps are the
    sender's time passing: the handler hears them as silence, so the pause is detected."""
    fn = Recorder()
    connections = make_connections(ReplyOnPause(fn))
    speech = np.concatenate([load("one_sentence"), np.zeros(4 * RATE, np.int16)])
    track = DtxAudioTrack(speech)
    client, _ = await connect(connections.offer, webrtc_id="dtx", samples=None, track=track)
    await wait_for(lambda: fn.finished, timeout=20)
    session = connections.engine.get("dtx")
    assert session is not None
    stats = session.stats()
    # Frames are counted, not timed: the handler's input follows the sender's clock.
    assert stats["audio_dtx_frames"] > 0, stats
    assert stats["audio_dtx_frames"] + stats["audio_packets_in"] >= track.count - 25, (stats, track.count)
    assert len(fn.calls) == 1
    await client.close()


async def test_one_reply_per_utterance_and_latency(make_connections):
    fn = Recorder()
    connections = make_connections(ReplyOnPause(fn))
    speech = load("one_sentence")
    client, _ = await connect(connections.offer, webrtc_id="rop1", samples=speech)
    await wait_for(lambda: fn.finished, timeout=20)
    await wait_for(lambda: len(client.recording.chunks) > len(speech) / 960 + 30, timeout=15)
    assert len(fn.calls) == 1
    rate, shape, dtype = fn.calls[0]
    assert (rate, dtype, shape[0]) == (48000, "int16", 1)
    assert 1.5 < shape[1] / rate < 4.5, "the utterance holds the sentence (with its pad)"
    # End of speech (as sent by the client) -> first reply audio at the client.
    end = speech_ends(speech)[0]
    audio = client.recording.audio()
    start = onset(audio)
    assert start is not None
    sent_end = client.track.sent_at[int(end * RATE) // 960]
    arrived = client.recording.times[int(start * RATE) // 960]
    print(f"\nend of speech -> first reply audio: {(arrived - sent_end) * 1000:.0f} ms")
    assert 0.1 < arrived - sent_end < 2.0
    await client.close()


async def test_two_utterances_two_replies(make_connections):
    fn = Recorder()
    connections = make_connections(ReplyOnPause(fn))
    client, _ = await connect(connections.offer, webrtc_id="rop2", samples=load("two_sentences"))
    await wait_for(lambda: len(fn.finished) == 2, timeout=25)
    await client.close()
    assert len(fn.calls) == 2


@pytest.mark.parametrize("can_interrupt", [True, False])
async def test_talking_during_a_reply(make_connections, can_interrupt):
    fn = Recorder(reply_seconds=6.0)
    connections = make_connections(ReplyOnPause(fn, can_interrupt=can_interrupt))
    client, _ = await connect(
        connections.offer, webrtc_id=f"rop-int-{can_interrupt}", samples=load("long_reply_interrupt")
    )
    if can_interrupt:
        # The second sentence cuts the 6 s reply short, and is answered itself.
        await wait_for(lambda: len(fn.calls) == 2, timeout=25)
        assert fn.finished[0] is False, "the first reply's generator was closed early"
    else:
        await wait_for(lambda: fn.finished, timeout=25)
        await asyncio.sleep(1.0)  # the second sentence has ended by now; it must not start a reply
        assert fn.finished == [True], "the reply plays in full"
        assert len(fn.calls) == 1, "speech during the reply is not heard"
    await client.close()


async def test_extra_inputs_reach_fn_and_outputs_come_back(make_connections):
    names = []

    def greet(audio, name):
        names.append(name)
        yield AdditionalOutputs(f"hello {name}")
        yield from tone(0.3)

    connections = make_connections(ReplyOnPause(greet))
    client, _ = await connect(connections.offer, webrtc_id="rop-args", samples=load("one_sentence"))
    await wait_for(lambda: "tick" in client.messages, timeout=20)
    connections.set_input("rop-args", "Ada")
    await wait_for(lambda: names == ["Ada"], timeout=10)
    await wait_for(lambda: "change" in client.messages, timeout=10)
    assert connections.pop_outputs("rop-args").args == ("hello Ada",)
    assert any('"started_talking"' in m for m in client.messages)
    assert any('"pause_detected"' in m for m in client.messages)
    await client.close()


async def test_a_raising_fn_is_reported_and_listening_goes_on(make_connections):
    calls = []

    def flaky(audio):
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the model is not ready")
        yield from tone(0.3)

    connections = make_connections(ReplyOnPause(flaky), show_error=lambda: True)
    client, _ = await connect(connections.offer, webrtc_id="rop-err", samples=load("two_sentences"))
    await wait_for(lambda: len(calls) == 2, timeout=25)
    assert any("the model is not ready" in m for m in client.messages), "shown: the app shows errors"
    await client.close()


async def test_8khz_input_runs_on_silero_8khz_network(make_connections):
    # A telephone-rate handler: the engine hands fn 8 kHz audio and the VAD runs Silero's 8 kHz
    # branch on it directly.
    fn = Recorder()
    connections = make_connections(ReplyOnPause(fn, input_sample_rate=8000))
    client, _ = await connect(connections.offer, webrtc_id="rop8k", samples=load("two_sentences"))
    await wait_for(lambda: len(fn.finished) == 2, timeout=30)
    assert [(rate, dtype, shape[0]) for rate, shape, dtype in fn.calls] == [(8000, "int16", 1)] * 2
    assert all(1.0 < shape[1] / 8000 < 4.5 for _, shape, _ in fn.calls), fn.calls
    await client.close()


def test_positional_arguments_keep_the_original_order():
    def fn(audio):
        yield audio

    algo, vad = AlgoOptions(audio_chunk_duration=0.5), SileroVadOptions(threshold=0.6)
    handler = ReplyOnPause(fn, algo, vad, "mono", 16000, 320, 8000)
    copy = handler.copy()
    for h in (handler, copy):
        assert (h.algo_options, h.model_options, h.startup_fn) == (algo, vad, None)
        assert (h.output_sample_rate, h.output_frame_size, h.input_sample_rate) == (16000, 320, 8000)
        options = h.pause_options()
        assert options is not None
        assert options.audio_chunk_duration == 0.5 and abs(options.threshold - 0.6) < 1e-6


def goertzel_power(x: np.ndarray, hz: float, rate: int = RATE) -> float:
    """Power of `x` at `hz` relative to its total power (1.0: a pure tone at hz)."""
    if len(x) == 0:
        return 0.0
    t = np.arange(len(x)) / rate
    ref = np.exp(-2j * np.pi * hz * t)
    return float(2 * np.abs(np.dot(x, ref)) ** 2 / (len(x) * max(np.dot(x, x), 1e-12)))


def seconds_of_tone(audio: np.ndarray, hz: float, rate: int = RATE) -> float:
    """How long `hz` dominates the audio, counted in 20 ms windows."""
    n = rate // 50
    return sum(0.02 for i in range(0, len(audio) - n, n) if goertzel_power(audio[i : i + n], hz) > 0.5)


@pytest.mark.timeout(150)
async def test_a_barge_in_never_swallows_the_next_reply(make_connections):
    """Requests with a mid-sentence gap: the first half may be answered, the second half then cuts that
    answer short, and the answer to the whole request's end must be heard in full. (Before the turn
    state moved into the engine, 4 of 13 such answers were never played: a stale interrupt flag,
    left by a barge-in that raced the end of the first answer, dropped the next reply.)"""
    sentence = load("one_sentence")
    split = int(1.735 * RATE)  # the word gap at 1.71-1.76 s
    parts, starts, at = [], [], 0.0
    for gap in (0.55, 0.6, 0.65, 0.7, 0.75, 0.8):
        request = [
            sentence[:split],
            np.zeros(int(gap * RATE), np.int16),
            sentence[split:],
            np.zeros(3 * RATE, np.int16),
        ]
        starts.append(at)
        at += sum(len(p) for p in request) / RATE
        parts += request
    calls: list[tuple[float, float]] = []  # (time since the client started sending, tone hz)
    client = None

    def answer(audio):
        hz = 400.0 + 80.0 * len(calls)
        calls.append((time.monotonic() - client.track.start, hz))
        yield from tone(1.2, hz=hz)

    connections = make_connections(ReplyOnPause(answer))
    client, _ = await connect(connections.offer, webrtc_id="rop-race", samples=np.concatenate(parts))
    await asyncio.sleep(at + 2.5)
    audio = client.recording.audio()
    await client.close()
    heard = [(t, seconds_of_tone(audio, hz)) for t, hz in calls]
    print(f"\nrequests start at {starts}; calls (time, seconds heard): {heard}")
    for r, begin in enumerate(starts):
        end = starts[r + 1] if r + 1 < len(starts) else at + 2.5
        answers = [h for t, h in heard if begin <= t < end]
        assert answers, f"request {r} got no reply at all"
        # Its last answer follows the user's last words: nothing may cut it short.
        assert answers[-1] > 1.0, f"request {r}: its final answer was heard for {answers[-1]:.2f} s of 1.2 s"
