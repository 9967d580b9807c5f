"""An aiortc peer that plays the browser's part in tests: sends audio from an array, records what it gets.

aiortc is an independent WebRTC implementation, so a session that works with it speaks real
WebRTC (ICE, DTLS, SRTP, SCTP), not just our own dialect.
"""

from __future__ import annotations

import asyncio
import contextlib
import fractions
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import (
    RTCConfiguration,
    RTCIceServer,
    RTCIceTransportPolicy,
    RTCPeerConnection,
    RTCSessionDescription,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack

RATE = 48000
FRAME = 960  # 20 ms


class ArrayAudioTrack(MediaStreamTrack):
    """Plays an int16 mono array at 48 kHz in real time, then silence. Records when each frame left."""

    kind = "audio"

    def __init__(self, samples: np.ndarray | None = None) -> None:
        super().__init__()
        self.samples = np.zeros(0, np.int16) if samples is None else samples.astype(np.int16)
        self.pos = 0
        self.start: float | None = None
        self.sent_at: dict[int, float] = {}  # sample index -> wall time it was handed to the encoder

    def play(self, samples: np.ndarray) -> None:
        """Appends samples to play after what is queued."""
        self.samples = np.concatenate([self.samples[self.pos :], samples.astype(np.int16)])
        self.pos = 0

    async def recv(self) -> av.AudioFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
            self.count = 0
        wait = self.start + self.count * FRAME / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        chunk = self.samples[self.pos : self.pos + FRAME]
        self.pos += len(chunk)
        if len(chunk) < FRAME:
            chunk = np.concatenate([chunk, np.zeros(FRAME - len(chunk), np.int16)])
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate = RATE
        frame.pts = self.count * FRAME
        frame.time_base = fractions.Fraction(1, RATE)
        self.sent_at[self.count] = time.monotonic()
        self.count += 1
        return frame


class DtxAudioTrack(ArrayAudioTrack):
    """Like `ArrayAudioTrack`, but silent stretches go out as Opus DTX does: one 20 ms packet per
    400 ms, the RTP timestamps jumping over the time nothing was sent (sequence numbers unbroken)."""

    EVERY = 20  # frames: 400 ms

    async def recv(self) -> av.AudioFrame:
        frame = await super().recv()
        while not frame.to_ndarray().any() and (self.count - 1) % self.EVERY:
            frame = await super().recv()  # skipped: not sent, but its time passes
        return frame


@dataclass
class Recording:
    """Received audio as mono float32 at 48 kHz, with the wall time each frame arrived."""

    chunks: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)

    def audio(self) -> np.ndarray:
        return np.concatenate(self.chunks) if self.chunks else np.zeros(0, np.float32)


@dataclass
class Client:
    pc: RTCPeerConnection
    channel: Any
    track: ArrayAudioTrack | None
    recording: Recording
    messages: list[str]
    webrtc_id: str = ""
    tasks: list[asyncio.Task[Any]] = field(default_factory=list)

    async def close(self) -> None:
        for t in self.tasks:
            t.cancel()
        await self.pc.close()

    def selected_pair_types(self) -> tuple[str, str] | None:
        """(local, remote) candidate types of the nominated pair, from aioice's internals."""
        for transceiver in self.pc.getTransceivers():
            ice = transceiver.sender.transport.transport
            conn = ice._connection
            pair = getattr(conn, "_nominated", {}).get(1)
            if pair is not None:
                return pair.local_candidate.type, pair.remote_candidate.type
        return None


def _keep_rtp_timestamps() -> None:
    """aiortc's Opus decoder numbers its frames itself (pts 0, 960, ...), losing the RTP
    timestamps; the recorder needs them to hear a DTX gap, as a browser's jitter buffer does."""
    from aiortc.codecs.opus import OpusDecoder

    if getattr(OpusDecoder.decode, "keeps_rtp_timestamps", False):
        return
    decode = OpusDecoder.decode

    def decode_keeping_timestamps(self: Any, encoded_frame: Any) -> Any:
        frames = decode(self, encoded_frame)
        for frame in frames:
            frame.pts = encoded_frame.timestamp
        return frames

    decode_keeping_timestamps.keeps_rtp_timestamps = True  # type: ignore[attr-defined]
    OpusDecoder.decode = decode_keeping_timestamps  # type: ignore[method-assign]


_keep_rtp_timestamps()


async def _record(track: MediaStreamTrack, recording: Recording) -> None:
    """Records what a player would play: a gap in the RTP timestamps of up to a second (the
    server's DTX while it has nothing to say) is silence, so sample positions stay times."""
    expected: int | None = None
    with contextlib.suppress(MediaStreamError):
        while True:
            frame = await track.recv()
            if frame.pts is not None:
                gap = 0 if expected is None else (frame.pts - expected) % 2**32
                if 0 < gap <= RATE:
                    for _ in range(gap // FRAME):
                        recording.chunks.append(np.zeros(FRAME, np.float32))
                        recording.times.append(time.monotonic())
                expected = (frame.pts + frame.samples) % 2**32
            data = frame.to_ndarray()
            channels = len(frame.layout.channels)
            if frame.format.is_planar:
                mono = data.astype(np.float32).mean(axis=0)
            else:
                mono = data.reshape(-1, channels).astype(np.float32).mean(axis=1)
            if data.dtype == np.int16:
                mono = mono / 32768.0
            if frame.sample_rate != RATE:
                raise AssertionError(f"unexpected rate {frame.sample_rate}")
            recording.chunks.append(mono)
            recording.times.append(time.monotonic())


async def connect(
    offer_fn: Any,
    *,
    webrtc_id: str,
    send: bool = True,
    receive: bool = True,
    samples: np.ndarray | None = None,
    track: ArrayAudioTrack | None = None,
    ice_servers: list[RTCIceServer] | None = None,
    relay_only: bool = False,
    data_channel: bool = True,
) -> tuple[Client, dict[str, Any]]:
    """Offers to `offer_fn({sdp, type, webrtc_id})` and applies its answer (if it is one)."""
    policy = RTCIceTransportPolicy.RELAY if relay_only else RTCIceTransportPolicy.ALL
    pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers or [], iceTransportPolicy=policy))
    channel = pc.createDataChannel("text") if data_channel else None
    messages: list[str] = []
    if channel is not None:
        channel.on("message", messages.append)
    if send:
        track = track or ArrayAudioTrack(samples)
        if receive:
            pc.addTrack(track)
        else:
            pc.addTransceiver(track, direction="sendonly")
    elif receive:
        pc.addTransceiver("audio", direction="recvonly")
    recording = Recording()
    client = Client(pc, channel, track, recording, messages, webrtc_id=webrtc_id)

    @pc.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        if remote.kind == "audio":
            client.tasks.append(asyncio.ensure_future(_record(remote, recording)))

    await pc.setLocalDescription(await pc.createOffer())
    sdp = pc.localDescription.sdp
    answer = await offer_fn({"sdp": sdp, "type": "offer", "webrtc_id": webrtc_id})
    if isinstance(answer, dict) and answer.get("type") == "answer":
        await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    return client, answer


async def wait_for(predicate: Any, timeout: float = 10.0, interval: float = 0.05) -> None:
    """Polls `predicate()` until true; fails the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(interval)


def tone(hz: float, seconds: float, amplitude: float = 0.5, rate: int = RATE) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16)


def dominant_hz(x: np.ndarray, rate: int = RATE) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


def onset(x: np.ndarray, threshold: float = 0.05, rate: int = RATE) -> float | None:
    """Seconds into `x` where the 5 ms RMS first exceeds `threshold`."""
    win = rate // 200
    n = len(x) // win
    if n == 0:
        return None
    rms = np.sqrt((x[: n * win].reshape(n, win) ** 2).mean(axis=1))
    idx = np.nonzero(rms > threshold)[0]
    return None if len(idx) == 0 else idx[0] * win / rate
