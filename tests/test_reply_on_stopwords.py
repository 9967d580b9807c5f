"""ReplyOnStopWords with an aiortc peer: a Piper voice says (or does not say) the stop word."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest
from peer import connect, wait_for
from speech import load

from gradio_webrtc import PocketSphinxDetector, ReplyOnStopWords

pytestmark = pytest.mark.usefixtures("no_leaks")


@pytest.mark.parametrize(("fixture", "expected"), [("stop_word", 2.0), ("no_stop_word", None), ("two_sentences", None)])
def test_pocketsphinx_spots_the_stop_word(fixture, expected):
    detector = PocketSphinxDetector(["ok computer", "hello llama"])
    heard = detector.detect(48000, load(fixture))
    if expected is None:
        assert heard is None
    else:
        assert heard is not None and abs(heard - expected) < 0.5


class Calls:
    def __init__(self) -> None:
        self.durations: list[float] = []

    def __call__(self, audio):
        rate, array = audio
        self.durations.append(array.shape[1] / rate)
        t = np.arange(4800) / 24000
        yield 24000, (0.3 * 32767 * np.sin(2 * np.pi * 500 * t)).astype(np.int16).reshape(1, -1)


async def test_the_request_after_the_stop_word_is_answered(make_connections):
    fn = Calls()
    connections = make_connections(ReplyOnStopWords(fn, ["ok computer"]))
    speech = load("stop_word")
    client, _ = await connect(connections.offer, webrtc_id="sw-yes", samples=speech)
    await wait_for(lambda: fn.durations, timeout=20)
    await wait_for(lambda: "stopword" in client.messages, timeout=5)
    # fn gets what follows "okay computer": shorter than the whole utterance.
    assert 0.8 < fn.durations[0] < len(speech) / 48000 - 2.0, fn.durations
    await client.close()


async def test_without_the_stop_word_there_is_no_reply(make_connections):
    fn = Calls()
    connections = make_connections(ReplyOnStopWords(fn, ["ok computer"]))
    client, _ = await connect(connections.offer, webrtc_id="sw-no", samples=load("no_stop_word"))
    await wait_for(lambda: any('"pause_detected"' in m for m in client.messages), timeout=20)
    await asyncio.sleep(1.0)
    assert fn.durations == []
    assert "stopword" not in client.messages
    await client.close()


async def test_the_stop_word_is_announced_while_the_user_is_still_talking(make_connections):
    fn = Calls()
    connections = make_connections(ReplyOnStopWords(fn, ["ok computer"]))
    client, _ = await connect(connections.offer, webrtc_id="sw-live", samples=load("stop_word"))
    await wait_for(lambda: fn.durations, timeout=20)
    # "Okay computer, what time is it in Tokyo?" is one utterance: the stop word is streamed to
    # the detector as it is spoken, so `stopword` comes before the pause that ends the sentence.
    stop = client.messages.index("stopword")
    pause = next(i for i, m in enumerate(client.messages) if '"pause_detected"' in m)
    assert stop < pause, client.messages
    assert client.messages.count("stopword") == 1
    await client.close()


class WholeUtteranceDetector:
    """A detector without streaming (`detect` only), as a speech-to-text model would give."""

    def __init__(self) -> None:
        self.calls = 0

    def detect(self, sample_rate: int, audio: np.ndarray) -> float | None:
        self.calls += 1
        return 2.0 if len(audio) > 3 * sample_rate else None


async def test_a_detector_without_streaming_decides_on_the_whole_utterance(make_connections):
    fn, detector = Calls(), WholeUtteranceDetector()
    handler = ReplyOnStopWords(fn, ["ok computer"], detector=detector)
    assert not handler.streams_speech
    connections = make_connections(handler)
    client, _ = await connect(connections.offer, webrtc_id="sw-whole", samples=load("stop_word"))
    await wait_for(lambda: fn.durations, timeout=20)
    await wait_for(lambda: "stopword" in client.messages, timeout=5)
    # Told once, at the pause: the message follows pause_detected.
    pause = next(i for i, m in enumerate(client.messages) if '"pause_detected"' in m)
    assert client.messages.index("stopword") > pause
    assert detector.calls == 1
    await client.close()


def test_streamed_pieces_find_the_stop_word_where_the_whole_utterance_does():
    speech = load("stop_word")
    detector = PocketSphinxDetector(["ok computer"])
    whole = detector.detect(48000, speech)
    detector.start()
    streamed = [detector.feed(48000, speech[i : i + 4800]) for i in range(0, len(speech), 4800)]
    hits = [t for t in streamed if t is not None]
    assert whole is not None and hits == [whole], (whole, streamed)
    # Sessions get their own detector (decoders are per stream).
    handler = ReplyOnStopWords(Calls(), ["ok computer"])
    copy = handler.copy()
    assert copy.detector is not handler.detector and copy.streams_speech


class Channel:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: str) -> None:
        self.sent.append(message)


def test_dropped_pieces_fall_back_to_the_whole_utterance():
    speech = load("stop_word").reshape(1, -1)
    handler = ReplyOnStopWords(Calls(), ["ok computer"]).copy()
    channel = Channel()
    handler.set_channel(channel)
    pieces = [(i, speech[:, i : i + 4800]) for i in range(0, speech.shape[1], 4800)]
    for offset, piece in pieces[:3] + pieces[4:]:  # the engine dropped the fourth piece
        handler.hear(48000, piece, offset)
    assert channel.sent == [], "after a gap the stream is not trusted"
    reply = handler.call((48000, speech))
    assert channel.sent == ["stopword"] and reply is not None


class StalledDetector(PocketSphinxDetector):
    """Pocketsphinx behind a first `feed()` that stalls for seconds, as a slow model would."""

    def __init__(self, stop_words, stall: float) -> None:
        super().__init__(stop_words)
        self.stall = stall

    def copy(self) -> StalledDetector:
        return StalledDetector(self.stop_words, self.stall)

    def feed(self, sample_rate, audio):
        if self.stall:
            time.sleep(self.stall)
            self.stall = 0.0
        return super().feed(sample_rate, audio)


async def test_a_stalled_detector_loses_pieces_but_no_utterance(make_connections):
    # While Python sleeps in the detector, the engine queues ~100 ms pieces of the speech; past
    # its bound it drops pieces (never whole utterances). A gap is bridged from the whole
    # utterance when it arrives: all three requests are still answered, each after its stop word.
    fn = Calls()
    detector = StalledDetector(["ok computer"], stall=14.0)
    connections = make_connections(ReplyOnStopWords(fn, ["ok computer"], detector=detector))
    speech = load("stop_word")
    client, _ = await connect(connections.offer, webrtc_id="sw-stall", samples=np.concatenate([speech] * 3))
    await wait_for(lambda: client.messages.count("stopword") == 3 and len(fn.durations) == 3, timeout=40)
    assert connections.engine.get("sw-stall").stats()["speech_pieces_dropped"] > 0
    assert all(0.8 < d < len(speech) / 48000 - 2.0 for d in fn.durations), fn.durations
    await client.close()
