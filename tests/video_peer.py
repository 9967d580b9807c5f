"""An aiortc peer that sends 640x480 frames carrying a counter and records the frames it gets back."""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender, RTCSessionDescription, VideoStreamTrack
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

W, H = 640, 480
BITS = 8
BAND = 40  # a white band at the top marks which way is up


def pattern(n: int) -> np.ndarray:
    """BGR frame: white band on top, then 8 blocks (80x80) whose brightness spells n in binary."""
    frame = np.full((H, W, 3), 40, np.uint8)
    frame[:BAND] = 255
    for bit in range(BITS):
        if (n >> bit) & 1:
            frame[80:160, bit * 80 : (bit + 1) * 80] = 230
    return frame


def shown(frame: np.ndarray) -> np.ndarray:
    """The picture at 640x480, as a page shows one the server scaled down for a narrow link."""
    h, w = frame.shape[:2]
    return frame[np.arange(H) * h // H][:, np.arange(W) * w // W]


def read_counter(frame: np.ndarray, flipped: bool) -> int:
    rows = slice(H - 160, H - 80) if flipped else slice(80, 160)
    n = 0
    for bit in range(BITS):
        if frame[rows, bit * 80 + 20 : (bit + 1) * 80 - 20].mean() > 135:
            n |= 1 << bit
    return n


def band_at_bottom(frame: np.ndarray) -> bool:
    return frame[H - BAND + 5 :].mean() > 200 and frame[5 : BAND - 5].mean() < 120


class CounterTrack(VideoStreamTrack):
    """30 fps of `pattern(n)`, n = 0, 1, 2, ...; with `textured`, under camera-like noise (costly
    to encode, as a camera's picture is)."""

    def __init__(self, textured: bool = False) -> None:
        super().__init__()
        self.n = 0
        self.noise = np.random.default_rng(7).integers(-30, 30, (H, W, 3)) if textured else None

    async def recv(self) -> av.VideoFrame:
        pts, time_base = await self.next_timestamp()
        picture = pattern(self.n % 256)
        if self.noise is not None:
            picture = np.clip(picture + self.noise, 0, 255).astype(np.uint8)
        frame = av.VideoFrame.from_ndarray(picture, format="bgr24")
        frame.pts, frame.time_base = pts, time_base
        self.n += 1
        return frame


@dataclass
class VideoClient:
    pc: RTCPeerConnection
    frames: list[tuple[float, np.ndarray]] = field(default_factory=list)
    messages: list[str] = field(default_factory=list)
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await self.pc.close()


async def connect_video(
    offer_fn: Any,
    webrtc_id: str,
    *,
    codec: str = "video/VP8",
    send: bool = True,
    receive: bool = True,
    track: MediaStreamTrack | None = None,
) -> tuple[VideoClient, dict[str, Any]]:
    pc = RTCPeerConnection()
    client = VideoClient(pc)
    channel = pc.createDataChannel("text")
    channel.on("message", client.messages.append)
    direction = "sendrecv" if send and receive else ("sendonly" if send else "recvonly")
    transceiver = pc.addTransceiver((track or CounterTrack()) if send else "video", direction=direction)
    prefs = [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in (codec, "video/rtx")]
    transceiver.setCodecPreferences(prefs)

    @pc.on("track")
    def on_track(track: MediaStreamTrack) -> None:
        async def record() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await track.recv()
                    client.frames.append((time.monotonic(), frame.to_ndarray(format="bgr24")))

        client.tasks.append(asyncio.ensure_future(record()))

    await pc.setLocalDescription(await pc.createOffer())
    answer = await offer_fn({"sdp": pc.localDescription.sdp, "type": "offer", "webrtc_id": webrtc_id})
    if isinstance(answer, dict) and answer.get("type") == "answer":
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    return client, answer
