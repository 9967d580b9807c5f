"""Handlers that misbehave: each gets a clear message on the page and in the log, the session ends
or goes on as documented (README "Reliability"), the other sessions are untouched and the time
limit still ends it."""

from __future__ import annotations

import asyncio
import gc
import json
import logging
import threading
import weakref
from typing import Any

import numpy as np
import pytest
from handlers import Echo
from peer import RATE, connect, dominant_hz, tone, wait_for
from video_peer import H, W, connect_video

from gradio_webrtc import AdditionalOutputs, StreamHandler
from gradio_webrtc.connections import MAX_PENDING_OUTPUTS, OUTPUT_NOTICES

pytestmark = pytest.mark.usefixtures("no_leaks")


def page_messages(messages: list[str], kind: str) -> list[str]:
    out = []
    for m in messages:
        if m.startswith("{"):
            data = json.loads(m)
            if data.get("type") == kind:
                out.append(data["message"])
    return out


class Emits(StreamHandler):
    """Echoes the microphone, but emits `item()` instead while `item` is set (each call)."""

    def __init__(self, item: Any = None, once: bool = True) -> None:
        super().__init__(output_sample_rate=RATE)
        self.item, self.once = item, once
        self.frames: list[Any] = []

    def receive(self, frame: Any) -> None:
        self.frames.append(frame)

    def emit(self) -> Any:
        if self.item is not None:
            item = self.item()
            if self.once:
                self.item = None
            return item
        return self.frames.pop(0) if self.frames else None

    def copy(self) -> Emits:
        return Emits(self.item, self.once)


class Blocks(Echo):
    """emit() never returns (until the test releases it): a hung model call."""

    release = threading.Event()

    def emit(self) -> Any:
        self.release.wait()
        return None


async def test_a_handler_that_blocks_forever_still_ends_at_the_time_limit(make_connections, caplog):
    caplog.set_level(logging.WARNING, "gradio_webrtc")
    Blocks.release.clear()
    hung = make_connections(Blocks(), time_limit=2.0, concurrency_limit=1)
    fine = make_connections(Echo())
    try:
        stuck, _ = await connect(hung.offer, webrtc_id="hung", samples=tone(300, 30.0))
        other, _ = await connect(fine.offer, webrtc_id="fine", samples=tone(500, 30.0))
        await wait_for(lambda: len(other.recording.chunks) > 50, timeout=10)
        # The time limit ends the hung session; its slot is free again.
        await wait_for(lambda: len(hung) == 0, timeout=10)
        assert any('"end_stream"' in m for m in stuck.messages)
        assert hung.engine.session_count() == 0
        again, answer = await connect(hung.offer, webrtc_id="hung-again", samples=tone(300, 1.0))
        assert answer["type"] == "answer", answer
        # The other session kept echoing all along.
        heard = len(other.recording.chunks)
        await asyncio.sleep(1.0)
        assert len(other.recording.chunks) > heard + 20
        assert abs(dominant_hz(other.recording.audio()[-RATE // 2 :]) - 500) < 5
        await stuck.close()
        await again.close()
        await other.close()
    finally:
        Blocks.release.set()


class Hoards(Echo):
    """Keeps every frame forever: memory grows for as long as the session lives."""

    def receive(self, frame: Any) -> None:
        super().receive(frame)
        self.hoard = getattr(self, "hoard", [])
        self.hoard.append(np.zeros(100_000, np.uint8))


@pytest.mark.timeout(120)
async def test_a_leaking_handler_gives_its_memory_back_when_the_session_ends(make_connections):
    # Waits are generous: on a loaded machine the hoard fills and the session winds down slower.
    connections = make_connections(Hoards())
    client, _ = await connect(connections.offer, webrtc_id="hoard", samples=tone(300, 30.0))
    await wait_for(lambda: connections.connections.get("hoard") is not None)
    handler = weakref.ref(connections.connections["hoard"].handler)
    await wait_for(lambda: len(getattr(handler(), "hoard", [])) > 50, timeout=30)
    await client.close()
    await wait_for(lambda: len(connections) == 0, timeout=30)

    def freed() -> bool:
        gc.collect()
        return handler() is None

    await wait_for(freed, timeout=30)


async def test_a_ten_minute_array_is_queued_a_piece_at_a_time(make_connections):
    """Ten minutes of audio in one item: it plays, the engine holds about a second of it at a
    time, and the time limit still ends the session."""
    ten_minutes = lambda: (RATE, np.tile(tone(440, 1.0), 600))  # noqa: E731 - 440 whole cycles a second
    connections = make_connections(Emits(ten_minutes), time_limit=5.0)
    client, _ = await connect(connections.offer, webrtc_id="long", samples=tone(300, 30.0))
    await wait_for(lambda: connections.engine.get("long") is not None)
    session = connections.engine.get("long")
    await wait_for(lambda: session.stats()["audio_frames_out"] > 60, timeout=10)
    assert session.output_buffered() <= 2.0, "the engine holds about a second, not ten minutes"
    assert abs(dominant_hz(client.recording.audio()[-RATE // 2 :]) - 440) < 5
    await wait_for(lambda: len(connections) == 0, timeout=10)
    assert any('"end_stream"' in m for m in client.messages)
    await client.close()


async def test_nan_and_infinite_samples_are_sent_as_silence_with_a_warning(make_connections, caplog):
    caplog.set_level(logging.ERROR, "gradio_webrtc")

    def poisoned() -> tuple[int, np.ndarray]:
        x = tone(440, 0.5).astype(np.float32)
        x[1000:2000] = np.nan
        x[5000:6000] = np.inf
        return RATE, x

    connections = make_connections(Emits(poisoned, once=False))
    client, _ = await connect(connections.offer, webrtc_id="nan", samples=tone(300, 30.0))
    await wait_for(lambda: page_messages(client.messages, "error"), timeout=10)
    await wait_for(lambda: len(client.recording.chunks) > 100, timeout=10)
    audio = client.recording.audio()
    assert np.isfinite(audio).all()
    assert abs(dominant_hz(audio[-RATE // 2 :]) - 440) < 5, "the session goes on playing"
    assert page_messages(client.messages, "error") == [
        "the handler's audio holds NaN or infinite samples; they are sent as silence "
        "(check the model's output before returning it)"
    ], "reported once, not once per item"
    assert "NaN or infinite" in caplog.text
    await client.close()


@pytest.mark.parametrize(
    ("dtype", "scale"), [(np.float64, 0.5), (np.int32, 0.5 * 2**31), (np.int16, 0.5 * 32767), (np.float32, 0.5)]
)
async def test_other_sample_types_are_converted(make_connections, dtype, scale):
    t = np.arange(RATE // 2) / RATE
    item = (RATE, (scale * np.sin(2 * np.pi * 660 * t)).astype(dtype).reshape(1, -1))
    connections = make_connections(Emits(lambda: item, once=False))
    client, _ = await connect(connections.offer, webrtc_id="dtype", samples=tone(300, 30.0))
    await wait_for(lambda: len(client.recording.chunks) > 100, timeout=10)
    audio = client.recording.audio()[-RATE // 2 :]
    assert abs(dominant_hz(audio) - 660) < 5
    assert 0.3 < np.abs(audio).max() < 0.7, "the level survives the conversion"
    assert not page_messages(client.messages, "error")
    await client.close()


async def test_an_unsupported_sample_type_is_reported_once_and_the_session_goes_on(make_connections):
    item = (RATE, np.zeros((1, 960), np.complex64))
    connections = make_connections(Emits(lambda: item, once=False))
    client, _ = await connect(connections.offer, webrtc_id="complex", samples=tone(300, 30.0))
    await wait_for(lambda: page_messages(client.messages, "error"), timeout=10)
    await asyncio.sleep(1.0)
    errors = page_messages(client.messages, "error")
    assert len(errors) == 1, f"the same failure is reported once, not 50 times a second: {errors}"
    assert "int16 or float32/float64" in errors[0]
    assert connections.engine.get("complex") is not None, "the session goes on"
    await client.close()


async def test_additional_outputs_flood_is_paced_and_bounded(make_connections, caplog):
    """1,000 AdditionalOutputs a second: the page is told about a few at a time, the queue keeps
    the newest MAX_PENDING_OUTPUTS, the page is warned once, the audio goes on."""
    caplog.set_level(logging.WARNING, "gradio_webrtc")

    class Flood(Echo):
        n = 0

        def emit(self) -> Any:
            frame = super().emit()
            self.n += 20  # 20 outputs per 20 ms frame
            return (frame, AdditionalOutputs(self.n)) if frame is not None else None

        def copy(self) -> Flood:
            return Flood()

    connections = make_connections(Flood())
    client, _ = await connect(connections.offer, webrtc_id="flood", samples=tone(300, 30.0))
    await wait_for(lambda: page_messages(client.messages, "warning"), timeout=10)
    await asyncio.sleep(1.0)
    # Nobody fetched: the page got only the first notices, the queue stopped growing.
    assert client.messages.count("change") == OUTPUT_NOTICES
    assert len(connections.connections["flood"].outputs) == MAX_PENDING_OUTPUTS
    assert "faster than the page shows them" in page_messages(client.messages, "warning")[0]
    # Each fetch gives the oldest kept output and brings one more notice.
    first = connections.pop_outputs("flood").args[0]
    second = connections.pop_outputs("flood").args[0]
    assert second > first
    await wait_for(lambda: client.messages.count("change") == OUTPUT_NOTICES + 2, timeout=5)
    assert abs(dominant_hz(client.recording.audio()[-RATE // 2 :]) - 300) < 5, "the echo goes on"
    await client.close()


@pytest.mark.parametrize(
    ("name", "picture", "shape"),
    [
        ("transposed", lambda f: np.ascontiguousarray(f.transpose(1, 0, 2)), (W, H, 3)),
        ("rgba", lambda f: np.concatenate([f, np.full((*f.shape[:2], 1), 255, np.uint8)], axis=2), (H, W, 3)),
        ("4k", lambda f: np.zeros((2160, 3840, 3), np.uint8), (2160, 3840, 3)),
    ],
)
async def test_odd_pictures_are_sent_as_pictures(make_connections, name, picture, shape):
    """(W, H, 3) is a valid picture of another size (sent at that size), (H, W, 4) loses its
    alpha, a 4K frame is encoded (at the size the link's estimate carries, its shape kept: see
    test_video_links.py); the session goes on in each case."""
    connections = make_connections(picture, mode="send-receive", modality="video")
    client, _ = await connect_video(connections.offer, f"odd-{name}")
    connections.set_input(f"odd-{name}")
    await wait_for(lambda: len(client.frames) >= 3, timeout=30)
    got = client.frames[-1][1].shape
    if shape[1] > 1280:  # past the top rung: scaled down to fit the link, the aspect kept
        assert got[2] == 3 and got[1] <= shape[1] and abs(got[0] / got[1] - shape[0] / shape[1]) < 0.01, got
    else:
        assert got == shape
    assert not page_messages(client.messages, "error")
    await client.close()


async def test_a_picture_too_large_is_refused_with_a_message(make_connections):
    connections = make_connections(lambda f: np.zeros((5000, 5000, 3), np.uint8), mode="send-receive", modality="video")
    client, _ = await connect_video(connections.offer, "huge")
    connections.set_input("huge")
    await wait_for(lambda: page_messages(client.messages, "error"), timeout=20)
    assert page_messages(client.messages, "error") == ["video frames must be 2x2 to 4096x4096 pixels; got 5000x5000"]
    assert connections.engine.get("huge") is not None, "the session goes on"
    await client.close()
