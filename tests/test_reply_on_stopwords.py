"""ReplyOnStopWords with an aiortc peer: a Piper voice says (or does not say) the stop word."""

from __future__ import annotations

import asyncio

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
