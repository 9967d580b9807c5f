"""Video through the engine with an aiortc peer: VP8 and H.264, flip handler, order, modes."""

from __future__ import annotations

import itertools
import time

import numpy as np
import pytest
from peer import wait_for
from video_peer import H, W, band_at_bottom, connect_video, pattern, read_counter, shown

pytestmark = pytest.mark.usefixtures("no_leaks")


def flip(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[::-1])


def flip_view(frame: np.ndarray) -> np.ndarray:
    """A view with a negative row stride, as `np.flip(frame, axis=0)` in the seed's example."""
    return frame[::-1]


@pytest.mark.parametrize(("codec", "handler"), [("video/VP8", flip_view), ("video/H264", flip)])
async def test_flip_round_trip(make_connections, codec, handler):
    connections = make_connections(handler, mode="send-receive", modality="video")
    client, answer = await connect_video(connections.offer, f"flip-{codec[-3:]}", codec=codec)
    assert answer["type"] == "answer"
    assert codec.split("/")[1] in answer["sdp"]
    connections.set_input(f"flip-{codec[-3:]}")  # the page's first tick: no extra inputs
    await wait_for(lambda: len(client.frames) > 60, timeout=20)
    frames = [f for _, f in client.frames[-40:]]
    assert all(f.shape == (H, W, 3) for f in frames)
    assert all(band_at_bottom(f) for f in frames), "the handler's vertical flip is visible"
    counters = [read_counter(f, flipped=True) for f in frames]
    steps = [(b - a) % 256 for a, b in itertools.pairwise(counters)]
    assert all(0 < s < 10 for s in steps), f"frames arrive in order: {counters}"
    session = connections.engine.get(f"flip-{codec[-3:]}")
    stats = session.stats()
    assert stats["video_frames_in"] > 60 and stats["video_frames_out"] > 60
    await client.close()


async def test_slow_handler_gets_the_latest_frame(make_connections):
    """A handler slower than the camera is fed the newest picture: latency does not grow."""

    def slow(frame):
        time.sleep(0.15)
        return frame

    connections = make_connections(slow, mode="send-receive", modality="video")
    client, _ = await connect_video(connections.offer, "slow")
    connections.set_input("slow")
    await wait_for(lambda: len(client.frames) > 25, timeout=20)
    session = connections.engine.get("slow")
    assert session.stats()["video_frames_skipped"] > 20
    # The counter in what comes back trails the counter being sent by a few frames, not seconds.
    sent_now = client.pc.getSenders()[0].track.n
    # (A slow stream's picture may come back smaller: an aiortc peer's REMB follows the rate sent.)
    received = read_counter(shown(client.frames[-1][1]), flipped=False)
    assert (sent_now - received) % 256 < 30, (sent_now, received)
    await client.close()


async def test_wrong_outputs_are_reported_and_converted(make_connections):
    outputs = iter(["a string", None, np.zeros((H, W), np.uint8), np.zeros((H, W, 4), np.uint8)])

    def odd(frame):
        try:
            return next(outputs)
        except StopIteration:
            return np.zeros((H, W, 3), np.float32)

    connections = make_connections(odd, mode="send-receive", modality="video")
    client, _ = await connect_video(connections.offer, "odd")
    connections.set_input("odd")
    await wait_for(lambda: sum('"error"' in m for m in client.messages) >= 3, timeout=15)
    text = " ".join(client.messages)
    assert "returned a str" in text
    assert "returned None" in text
    assert "dtype float32" in text
    # Grayscale and RGBA frames were converted and sent, not rejected.
    assert connections.engine.get("odd").stats()["video_frames_out"] >= 2
    await client.close()


async def test_receive_mode_generator_frames_arrive_in_order(make_connections):
    def frames():
        for n in range(45):
            yield pattern(n)

    connections = make_connections(frames, mode="receive", modality="video")
    client, answer = await connect_video(connections.offer, "gen", send=False)
    assert answer["type"] == "answer"
    t0 = time.monotonic()
    connections.set_input("gen")
    await wait_for(lambda: len(client.frames) >= 40, timeout=15)
    counters = [read_counter(f, flipped=False) for _, f in client.frames]
    assert counters == sorted(counters), counters
    elapsed = client.frames[-1][0] - t0
    assert elapsed > 1.0, f"paced at <= 30 fps, not a burst ({elapsed:.2f} s for {len(counters)} frames)"
    await client.close()


async def test_audio_video_through_one_handler(make_connections):
    """Both tracks flow through one AudioVideoStreamHandler: audio echoed, video flipped."""
    from aiortc import RTCPeerConnection, RTCSessionDescription
    from handlers import FlipEcho
    from peer import ArrayAudioTrack, Recording, _record, tone
    from video_peer import CounterTrack

    connections = make_connections(FlipEcho(), mode="send-receive", modality="audio-video")
    pc = RTCPeerConnection()
    pc.createDataChannel("text")
    pc.addTrack(ArrayAudioTrack(tone(440, 5.0)))
    pc.addTrack(CounterTrack())
    audio, video = Recording(), []
    tasks = []

    @pc.on("track")
    def on_track(track):
        import asyncio

        if track.kind == "audio":
            tasks.append(asyncio.ensure_future(_record(track, audio)))
        else:

            async def grab():
                while True:
                    video.append((await track.recv()).to_ndarray(format="bgr24"))

            tasks.append(asyncio.ensure_future(grab()))

    await pc.setLocalDescription(await pc.createOffer())
    answer = await connections.offer({"sdp": pc.localDescription.sdp, "type": "offer", "webrtc_id": "av"})
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    await wait_for(lambda: len(video) > 30 and len(audio.chunks) > 50, timeout=20)
    assert np.abs(audio.audio()[-24000:]).max() > 0.1, "audio echoed"
    assert band_at_bottom(video[-1]), "video flipped"
    for t in tasks:
        t.cancel()
    await pc.close()
