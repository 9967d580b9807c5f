"""Video over the links users have: loss, jitter and a capped downlink, this package beside the
original (gradio_webrtc 0.0.31) in one run.

One aiortc client per row sends a live-encoded 640x480 picture at 30 fps (aiortc's VP8 encoder: it
answers keyframe requests and follows the server's REMB, as a browser does) to the `flip` handler
(`bench/server.py --app flip`) and reads back the flipped pictures. The picture is textured (fixed
noise over gradients, costly to encode, as a camera's is) and carries a frame counter in large
blocks that survive low bit rates.

The network is emulated in the client's UDP layer (aioice's datagram protocol; this kernel has no
`sch_netem`, see bench/lossy_network.py), the same for both libraries:
* loss: every datagram, both ways (or one: `--loss-way up|down`), dropped with the given
  probability;
* jitter: the rest delayed by a uniform 0-30 ms (so also reordered);
* a capped downlink (server to client): a FIFO served at the given rate that holds at most 300 ms
  of data, tail drop: a home or mobile access link.

Figures, after the first 5 s: received frame rate (distinct pictures a second), glass-to-glass
latency p50/p95 (a picture's capture to its flipped version decoded at the client), the
longest freeze and the time frozen (waits over 100 ms between pictures), and the server's
sending rate.

    python bench/video_network.py [--loss 0 5 10 20] [--loss-way both] [--caps 2 1 0.5 0.25]
        [--seconds 25] [--repeat 1] [--only rust|original] [--verbose]

Freezes on a lossy link vary from run to run (one packet lost with its repair request decides
the longest), so `--repeat N` runs every row N times (the two libraries taking turns, both servers up
throughout) and the table gives the median of each figure, the longest freeze and the
time frozen with their range.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import itertools
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import av
import numpy as np
from aiortc import RTCPeerConnection, RTCRtpSender
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from common import API, HERE, negotiate, pct, start_server, wait_drained

sys.path.insert(0, str(HERE.parent / "tests"))
from link import Link, shaped

W, H, FPS = 640, 480, 30
WARM_S = 5.0
QUEUE_S = 0.3
JITTER_S = 0.030
BITS = 12
VERBOSE = False
LOSS_WAY = "both"


def texture() -> np.ndarray:
    """A fixed textured picture: gradients under noise (BGR)."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:H, 0:W]
    base = np.stack([(x * 255 // W), (y * 255 // H), ((x + y) * 255 // (W + H))], axis=-1)
    noise = rng.integers(-40, 40, (H, W, 3))
    return np.clip(base + noise, 0, 255).astype(np.uint8)


TEXTURE = texture()


def picture(n: int, t: float) -> np.ndarray:
    """The textured picture, a band moving across it, and `n` in BITS blocks of 48x48 on a
    white strip at the top (black = 1)."""
    frame = TEXTURE.copy()
    x = int(t * 120) % (W - 60)
    frame[200:280, x : x + 60] = (40, 200, 40)
    frame[:64] = 255
    for bit in range(BITS):
        if (n >> bit) & 1:
            frame[8:56, 8 + bit * 52 : 56 + bit * 52] = 0
    return frame


def read(y: np.ndarray) -> int | None:
    """The counter in a received picture's Y plane (flipped: the strip is at the bottom), found
    by the strip's left margin, which is always white."""
    if y[H - 56 : H - 8, 1:6].mean() > 200:
        rows = slice(H - 50, H - 14)
    elif y[8:56, 1:6].mean() > 200:
        rows = slice(14, 50)
    else:
        return None
    n = 0
    for bit in range(BITS):
        n |= (y[rows, 14 + bit * 52 : 50 + bit * 52].mean() < 110) << bit
    return n


def luma(frame: av.VideoFrame) -> np.ndarray:
    """The Y plane at 640x480: a picture the server scaled down for a narrow link is shown
    scaled back up, as a browser's <video> element does."""
    if (frame.width, frame.height) != (W, H):
        frame = frame.reformat(width=W, height=H, format="yuv420p")
    plane = frame.planes[0]
    return np.frombuffer(plane, np.uint8).reshape(frame.height, plane.line_size)[:, : frame.width]


class LiveTrack(MediaStreamTrack):
    """Raw pictures at 30 fps; aiortc encodes them (and answers PLI with a keyframe)."""

    kind = "video"

    def __init__(self) -> None:
        super().__init__()
        self.n = 0
        self.start: float | None = None
        self.sent: dict[int, float] = {}

    async def recv(self) -> av.VideoFrame:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.n / FPS - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        counter = self.n % (1 << BITS)
        frame = av.VideoFrame.from_ndarray(picture(counter, self.n / FPS), format="bgr24")
        frame.pts, frame.time_base = self.n * 3000, fractions.Fraction(1, 90000)
        self.sent[counter] = time.monotonic()
        self.n += 1
        return frame


#: Verbose only: per video sequence number, when it was first asked for, how often, and when it
#: (or its retransmission) arrived.
ASKED: dict[int, list[float]] = {}
ARRIVED: dict[int, float] = {}


def _record_repairs() -> None:
    """Wraps aiortc's receiver to record ASKED and ARRIVED (with --verbose only: it costs the
    client's loop a little per packet)."""
    from aiortc.rtcrtpreceiver import NackGenerator, RTCRtpReceiver

    add = NackGenerator.add
    nack = RTCRtpReceiver._send_rtcp_nack

    def added(self: NackGenerator, packet: Any) -> bool:
        ARRIVED.setdefault(packet.sequence_number, time.monotonic())
        return add(self, packet)

    async def asked(self: RTCRtpReceiver, media_ssrc: int, lost: list[int]) -> None:
        now = time.monotonic()
        for seq in lost:
            ASKED.setdefault(seq, []).append(now)
        await nack(self, media_ssrc, lost)

    NackGenerator.add = added  # type: ignore[method-assign]
    RTCRtpReceiver._send_rtcp_nack = asked  # type: ignore[method-assign]


def repair_summary() -> str:
    """How the client's requests for lost packets went: a wait under 5 ms was a packet the jitter
    had only reordered."""
    waits, asks, never = [], [], 0
    for seq, times in ASKED.items():
        got = ARRIVED.get(seq)
        if got is None or got < times[0]:
            never += got is None
            continue
        waits.append(got - times[0])
        asks.append(sum(1 for t in times if t < got))
    if not waits:
        return "no repairs"
    w = np.array(waits) * 1000
    a = np.array(asks)
    return (
        f"asked {len(ASKED)} (never came {never}), ask-to-arrival p50 {np.median(w):.0f} "
        f"p90 {np.percentile(w, 90):.0f} max {w.max():.0f} ms; under 5 ms (reordered) {np.mean(w < 5):.0%}; "
        f"asked more than once {np.mean(a > 1):.0%}"
    )


@dataclass
class Row:
    impl: str
    setting: str
    fps: float = 0.0
    p50: float = float("nan")
    p95: float = float("nan")
    longest_freeze: float = 0.0
    frozen: float = 0.0
    down_kbps: float = 0.0
    queue_drops: int = 0
    #: The client's longest event-loop stall while measuring: the emulated link is clocked by that
    #: loop, so a stall delivers what arrived meanwhile as one burst (tail drops under a cap).
    client_stall: float = 0.0
    latencies: list[float] = field(default_factory=list)
    error: str | None = None


async def run_row(impl: str, base: str, setting: str, loss: float, cap: float | None, seconds: float) -> Row:
    """One row, with this process's aiortc traffic through a fresh emulated link (the same
    random pattern for both libraries)."""
    link = Link(loss=loss, loss_way=LOSS_WAY, jitter_s=JITTER_S, cap_bps=cap, queue_s=QUEUE_S)
    with shaped(link):
        return await _run_row(link, Row(impl, setting), base, seconds)


async def _run_row(link: Link, row: Row, base: str, seconds: float) -> Row:
    impl = row.impl
    ASKED.clear()
    ARRIVED.clear()
    pc = RTCPeerConnection()
    pc.createDataChannel("text")
    track = LiveTrack()
    transceiver = pc.addTransceiver(track, direction="sendrecv")
    # VP8 with RTX, as browsers offer (aiortc's default offer would put H.264 beside VP8).
    transceiver.setCodecPreferences(
        [c for c in RTCRtpSender.getCapabilities("video").codecs if c.mimeType in ("video/VP8", "video/rtx")]
    )
    arrivals: list[tuple[float, int]] = []
    measuring_from = float("inf")
    tasks: list[asyncio.Task[None]] = []

    @pc.on("track")
    def on_track(remote: MediaStreamTrack) -> None:
        async def grab() -> None:
            with contextlib.suppress(MediaStreamError):
                while True:
                    frame = await remote.recv()
                    now = time.monotonic()
                    n = read(luma(frame))
                    if n is None:
                        continue
                    sent = track.sent.get(n)
                    if now >= measuring_from:
                        arrivals.append((now, n))
                        if sent is not None and 0 <= now - sent < 5.0:
                            row.latencies.append(now - sent)

        tasks.append(asyncio.ensure_future(grab()))

    async def watch_loop() -> None:
        loop = asyncio.get_running_loop()
        while True:
            due = loop.time() + 0.01
            await asyncio.sleep(0.01)
            if loop.time() >= measuring_from:
                row.client_stall = max(row.client_stall, loop.time() - due)

    tasks.append(asyncio.ensure_future(watch_loop()))
    webrtc_id = f"net-{time.time_ns()}"
    try:
        await negotiate(pc, base, webrtc_id, timeout=60)
        await asyncio.to_thread(API[base][1], webrtc_id)
    except Exception as exc:
        row.error = str(exc)
        await pc.close()
        return row
    await asyncio.sleep(WARM_S)
    measuring_from = time.monotonic()
    await asyncio.sleep(seconds)
    t_end = time.monotonic()
    row.down_kbps = link.kbps_since(measuring_from, t_end)
    if VERBOSE and impl == "rust":
        import json
        import urllib.request

        with urllib.request.urlopen(f"{base}/stats", timeout=5) as r:
            stats = json.load(r).get("session_stats", {}).get(webrtc_id, {})
        print({k: v for k, v in stats.items() if "video" in k}, flush=True)
    row.queue_drops = link.drops_since(measuring_from)
    for t in tasks:
        t.cancel()
    await pc.close()
    firsts: list[tuple[float, int]] = []  # each distinct picture's first arrival
    seen: set[int] = set()
    for t, n in arrivals:
        if n not in seen:
            seen.add(n)
            firsts.append((t, n))
    distinct = [t for t, _ in firsts]
    times = [measuring_from, *distinct, t_end]
    gaps = [b - a for a, b in itertools.pairwise(times)]
    row.fps = len(distinct) / (t_end - measuring_from)
    row.longest_freeze = max(gaps)
    row.frozen = sum(g for g in gaps if g > 0.1)
    if VERBOSE:
        # Each gap as (its length, pictures skipped over, the latency of the picture that ended
        # it): a skip means a picture was dropped on the way, a long latency that one was late.
        big = [
            (round((t - t0) * 1000), int((n - n0) % (1 << BITS)) - 1, round((t - track.sent.get(n, t)) * 1000))
            for (t0, n0), (t, n) in itertools.pairwise(firsts)
            if t - t0 > 0.1
        ]
        print(f"  gaps over 100 ms ({len(big)}) as (ms, skipped, latency ms): {big}", flush=True)
        print(f"  repairs: {repair_summary()}", flush=True)
    row.p50, row.p95 = pct(row.latencies, 0.5), pct(row.latencies, 0.95)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--loss", type=float, nargs="*", default=[0, 5, 10, 20], help="percent (both ways, see --loss-way)"
    )
    parser.add_argument(
        "--loss-way", choices=["both", "up", "down"], default="both", help="the way --loss applies (up: to the server)"
    )
    parser.add_argument("--caps", type=float, nargs="*", default=[2, 1, 0.5, 0.25], help="downlink Mbit/s")
    parser.add_argument("--seconds", type=float, default=25.0)
    parser.add_argument("--only", choices=["rust", "original"])
    parser.add_argument(
        "--verbose",
        action="store_true",
        help="per row: the server's video stats, the freezes, the client's repair requests",
    )
    parser.add_argument("--repeat", type=int, default=1, help="runs of every row (the table gives medians)")
    args = parser.parse_args()
    global VERBOSE, LOSS_WAY
    VERBOSE, LOSS_WAY = args.verbose, args.loss_way
    if VERBOSE:
        _record_repairs()
    way = "" if LOSS_WAY == "both" else f" {LOSS_WAY}"
    settings = [(f"{loss:g} % loss{way}", loss / 100, None) for loss in args.loss]
    settings += [(f"{cap:g} Mbit/s", 0.0, cap * 1e6) for cap in args.caps]
    impls = {"rust": sys.executable, "original": str(HERE / ".venv-original" / "bin" / "python")}
    impls = {impl: python for impl, python in impls.items() if not args.only or impl == args.only}
    rows: list[Row] = []
    servers: dict[str, tuple[Any, str]] = {}
    try:
        for impl, python in impls.items():
            servers[impl] = start_server(python, "async", "flip")
        # Both servers stay up and the libraries take turns run by run (the first one alternating),
        # so a slower spell of the machine falls on both alike.
        for (setting, loss, cap), n in itertools.product(settings, range(args.repeat)):
            order = list(servers) if n % 2 == 0 else list(reversed(servers))
            for impl in order:
                base = servers[impl][1]
                row = asyncio.run(run_row(impl, base, setting, loss, cap, args.seconds))
                rows.append(row)
                print(
                    f"[{impl}] {setting}: {row.fps:.1f} fps, latency {row.p50 * 1000:.0f}/{row.p95 * 1000:.0f} ms, "
                    f"longest freeze {row.longest_freeze * 1000:.0f} ms, frozen {row.frozen:.1f} s, "
                    f"down {row.down_kbps:.0f} kbit/s, queue drops {row.queue_drops}, "
                    f"client loop stall {row.client_stall * 1000:.0f} ms"
                    + (f", error {row.error}" if row.error else ""),
                    flush=True,
                )
                wait_drained(base)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
        for proc, _ in servers.values():
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
    print_table(rows, args.seconds, args.repeat)


def print_table(rows: list[Row], seconds: float, repeat: int) -> None:
    """The rows as a Markdown table; with repeats, the median of each figure over a setting's
    runs, and the range of the longest freeze and the time frozen."""
    runs = f", median of {repeat} runs" if repeat > 1 else ""
    print(f"\nVideo 640x480@30 (textured, live VP8), {seconds:.0f} s per row after {WARM_S:.0f} s{runs}")
    print("| impl | network | fps | latency p50 | p95 | longest freeze | frozen | downlink used |")
    print("|---|---|---|---|---|---|---|---|")

    def ms(seconds: float) -> str:
        return "—" if np.isnan(seconds) else f"{seconds * 1000:.0f} ms"

    groups: dict[tuple[str, str], list[Row]] = {}
    for r in rows:
        groups.setdefault((r.impl, r.setting), []).append(r)
    for (impl, setting), group in groups.items():

        def mid(figure: str, group: list[Row] = group) -> float:
            return float(np.median([getattr(r, figure) for r in group]))

        def spread(figure: str, scale: float, fmt: str, group: list[Row] = group) -> str:
            values = [getattr(r, figure) * scale for r in group]
            if len(values) == 1:
                return ""
            return f" ({min(values):{fmt}}-{max(values):{fmt}})"

        print(
            f"| {impl} | {setting} | {mid('fps'):.1f} | {ms(mid('p50'))} | {ms(mid('p95'))} | "
            f"{mid('longest_freeze') * 1000:.0f} ms{spread('longest_freeze', 1000, '.0f')} | "
            f"{mid('frozen'):.1f} s{spread('frozen', 1, '.1f')} | {mid('down_kbps'):.0f} kbit/s |"
        )


if __name__ == "__main__":
    main()
