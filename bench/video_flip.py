"""Video benchmark: K concurrent WebRTC clients sending 640x480 @ 30 fps to a flip handler.

Each aiortc client sends pre-encoded VP8 (a looped 64-frame clip whose pictures carry a frame
counter in large blocks; encoded once, so sending costs the client almost nothing), receives the
server's flipped pictures, reads the counter back and times each picture: latency = picture left
the client -> the first RTP packet of its flipped version arrived (the client still decodes every
picture to read the counter, but aiortc's jitter buffer, which holds each picture until the next
one starts, ~33 ms, is not counted: browsers render complete frames at once). Figures per K: connection set-up,
latency p50/p95, received fps per stream, and the server's CPU per stream.

    python bench/video_flip.py [--k 1 4 8 16] [--seconds 8] [--only rust|original]

Both libraries run the same `bench/server.py --app flip` (a real WebRTC component, modality
"video"); the original from bench/.venv-original (see bench/setup_original.sh).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import itertools
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from common import API, negotiate, pct, run_both, run_clients

HERE = Path(__file__).parent
W, H, FPS, CLIP = 640, 480, 30, 64


def picture(n: int) -> np.ndarray:
    """Grey picture, white band on top, n in 6 bits as 6 blocks of 100x100."""
    frame = np.full((H, W, 3), 60, np.uint8)
    frame[:40] = 255
    for bit in range(6):
        if (n >> bit) & 1:
            frame[100:200, 20 + bit * 100 : 100 + bit * 100] = 230
    return frame


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane of a decoded picture, without any colour conversion (cheap for the client)."""
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]


def read(y: np.ndarray) -> int | None:
    """The counter of a received picture (its Y plane, flipped or not)."""
    flipped = y[H - 35 :].mean() > 200
    rows = slice(H - 200, H - 100) if flipped else slice(100, 200)
    n = 0
    for bit in range(6):
        n |= (y[rows, 40 + bit * 100 : 80 + bit * 100].mean() > 140) << bit
    return n


def encode_clip() -> list[bytes]:
    codec = av.CodecContext.create("libvpx", "w")
    codec.width, codec.height, codec.pix_fmt = W, H, "yuv420p"
    codec.bit_rate, codec.gop_size = 1_500_000, CLIP
    codec.time_base = fractions.Fraction(1, FPS)
    codec.options = {"deadline": "realtime", "cpu-used": "8", "lag-in-frames": "0"}
    packets: list[bytes] = []
    for n in range(CLIP):
        frame = av.VideoFrame.from_ndarray(picture(n), format="bgr24").reformat(format="yuv420p")
        frame.pts = n
        packets += [bytes(p) for p in codec.encode(frame)]
    packets += [bytes(p) for p in codec.encode(None)]
    assert len(packets) == CLIP, len(packets)
    return packets


CLIP_PACKETS = encode_clip()

#: First arrival time of each RTP timestamp, per receiver (filled by the wrapper below).
FIRST_ARRIVAL: dict[int, dict[int, float]] = {}
_handle_rtp = RTCRtpReceiver._handle_rtp_packet


async def _timed_handle_rtp(self: RTCRtpReceiver, packet: Any, arrival_time_ms: int) -> None:
    FIRST_ARRIVAL.setdefault(id(self), {}).setdefault(packet.timestamp, time.monotonic())
    await _handle_rtp(self, packet, arrival_time_ms)


RTCRtpReceiver._handle_rtp_packet = _timed_handle_rtp  # type: ignore[method-assign]


class ClipTrack(MediaStreamTrack):
    """Sends the pre-encoded clip in a loop at 30 fps and remembers when each picture left."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.start: float | None = None
        self.sent: dict[int, float] = {}  # counter -> last time it was sent

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.n / FPS - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        packet = av.Packet(CLIP_PACKETS[self.n % CLIP])
        packet.pts, packet.time_base = self.n * 3000, fractions.Fraction(1, 90000)
        self.sent[self.n % CLIP] = time.monotonic()
        self.n += 1
        return packet


@dataclass
class Result:
    setup_s: float = float("nan")
    latencies: list[float] = field(default_factory=list)
    fps: float = 0.0
    #: The longest wait between two received pictures while measuring, and the time spent in waits
    #: over 100 ms (three frame intervals): the picture stood still.
    longest_gap: float = 0.0
    frozen: float = 0.0
    error: str | None = None


async def client(base: str, idx: int, up: asyncio.Event, go: asyncio.Event, seconds: float) -> tuple[Result, Any]:
    result = Result()
    pc = RTCPeerConnection()
    pc.createDataChannel("text")
    track = ClipTrack()
    transceiver = pc.addTransceiver(track, direction="sendrecv")
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType == "video/VP8"]
    )
    received: list[tuple[float, np.ndarray]] = []
    tasks: list[asyncio.Task[None]] = []
    measuring = False

    @pc.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        async def grab() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await remote.recv()
                    if measuring:
                        now = time.monotonic()
                        arrived = FIRST_ARRIVAL.get(id(transceiver.receiver), {}).get(frame.pts, now)
                        n = read(luma(frame))
                        sent = track.sent.get(n) if n is not None else None
                        if sent is not None and 0 <= arrived - sent < 2.0:
                            result.latencies.append(arrived - sent)
                        received.append((now, frame))

        tasks.append(asyncio.ensure_future(grab()))

    t0 = time.monotonic()
    webrtc_id = f"bench-{idx}-{time.time_ns()}"
    try:
        await negotiate(pc, base, webrtc_id)
        result.setup_s = time.monotonic() - t0
        await asyncio.to_thread(API[base][1], webrtc_id)
    except Exception as exc:
        result.error = str(exc)
        up.set()
        return result, pc
    up.set()
    await go.wait()
    measuring = True
    t_start = time.monotonic()
    await asyncio.sleep(seconds)
    measuring = False
    t_end = time.monotonic()
    times = [t_start] + [t for t, _ in received if t >= t_start] + [t_end]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    result.fps = (len(times) - 2) / (t_end - t_start)
    result.longest_gap = max(gaps)
    result.frozen = sum(g for g in gaps if g > 0.1)
    for t in tasks:
        t.cancel()
    return result, pc


async def run_round(base: str, server: psutil.Process, k: int, seconds: float) -> dict[str, Any]:
    # Settle 2 s after connecting: past the first keyframes.
    ok, failed, cpu, _client_cpu = await run_clients(
        server, k, lambda i, up, go: client(base, i, up, go, seconds), 0.05, 2.0
    )
    latencies = [x for r in ok for x in r.latencies]
    return {
        "k": k,
        "failed": failed,
        "setup_p50": pct([r.setup_s for r in ok], 0.5),
        "p50": pct(latencies, 0.5),
        "p95": pct(latencies, 0.95),
        "fps": float(np.mean([r.fps for r in ok])) if ok else 0.0,
        "min_fps": min((r.fps for r in ok), default=0.0),
        "cpu_per_stream": cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 4, 8, 16])
    parser.add_argument("--seconds", type=float, default=8.0)
    parser.add_argument("--only", choices=["rust", "original"])
    args = parser.parse_args()
    rows = run_both(
        "flip", "async", args.k, args.only, lambda base, server, k: run_round(base, server, k, args.seconds)
    )
    print(f"\nVideo flip 640x480@30, VP8, {args.seconds:.0f} s per client, {os.cpu_count()} cores")
    header = (
        f"{'impl':9} {'K':>3} {'fail':>4} {'setup p50':>10} {'lat p50':>8} {'lat p95':>8} {'fps':>6}"
        f" {'min fps':>8} {'CPU/stream':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, table in rows.items():
        for r in table:
            print(
                f"{name:9} {r['k']:>3} {r['failed']:>4} {r['setup_p50'] * 1000:>8.0f}ms {r['p50'] * 1000:>6.0f}ms"
                f" {r['p95'] * 1000:>6.0f}ms {r['fps']:>6.1f} {r['min_fps']:>8.1f} {r['cpu_per_stream']:>9.1f}%"
            )


if __name__ == "__main__":
    main()
