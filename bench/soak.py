"""Soak: K ReplyOnPause conversations for a long time; does anything drift?

K aiortc clients (default 16) each speak a Piper sentence every 7 s to the benchmark server's
ReplyOnPause app (bench/server.py, a real Gradio Blocks) for `--minutes` (default 30). Per window
(default 5 minutes): reply latency p50/p95 (end of speech -> first audible reply packet), turns
answered and failed, the server's RSS, fds and threads. At the end: the RSS slope over the run
(least squares over per-minute samples, MB per hour) and the total of failed turns.

    python bench/soak.py [--k 16] [--minutes 30] [--window 5] [--impl rust|original]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

import psutil
from aiortc import RTCPeerConnection
from common import ARRIVALS, HERE, negotiate, pct, record_arrivals_only, slope, start_server
from reply_latency import CYCLE_S, LOUD_BYTES, SpeakerTrack


class Speaker:
    """One conversation: its peer, its track, and the turns measured so far."""

    def __init__(self, idx: int) -> None:
        self.idx = idx
        self.pc = RTCPeerConnection()
        self.pc.createDataChannel("text")
        self.track = SpeakerTrack()
        self.pc.addTrack(self.track)
        self.checked = 0  # utterances already turned into figures
        self.turns: list[tuple[float, float | None]] = []  # (speech ended, latency or None)

    async def start(self, base: str) -> None:
        await negotiate(self.pc, base, f"soak-{self.idx}-{time.time_ns()}")
        await asyncio.sleep(self.idx * 0.41 % CYCLE_S)  # speakers spread over the cycle
        self.track.cycle_start, self.track.speaking = self.track.n, True

    def collect(self, now: float) -> None:
        """Turns whose answer window (the rest of the cycle) has passed; prunes old arrivals."""
        receiver = self.pc.getTransceivers()[0].receiver
        arrivals = ARRIVALS.get(id(receiver), [])
        ended = self.track.speech_ended
        while self.checked < len(ended) and ended[self.checked] + CYCLE_S - 1.0 < now:
            t = ended[self.checked]
            loud = next((a for a, size, *_ in arrivals if t < a < t + CYCLE_S - 1.0 and size > LOUD_BYTES), None)
            self.turns.append((t, None if loud is None else loud - t))
            self.checked += 1
        keep_from = ended[self.checked - 1] if self.checked else 0.0
        ARRIVALS[id(receiver)] = [a for a in arrivals if a[0] >= keep_from]

    @property
    def closed(self) -> bool:
        return self.pc.connectionState in ("failed", "closed")


def rss_slope_mb_per_hour(samples: list[tuple[float, float]]) -> float:
    return 3600 * slope(samples)


async def soak(base: str, server: psutil.Process, k: int, minutes: float, window_min: float) -> None:
    speakers = [Speaker(i) for i in range(k)]
    for s in speakers:
        await s.start(base)
    t0 = time.monotonic()
    end = t0 + minutes * 60
    next_window = t0 + window_min * 60
    window_start = t0
    rss: list[tuple[float, float]] = []
    header = f"{'window':>9} {'turns':>6} {'failed':>6} {'p50':>7} {'p95':>7} {'RSS MB':>7} {'fds':>5} {'threads':>7}"
    print(header)
    print("-" * len(header), flush=True)
    all_turns: list[tuple[float, float | None]] = []
    while True:
        await asyncio.sleep(min(60.0, max(0.0, next_window - time.monotonic())))
        now = time.monotonic()
        rss.append((now - t0, server.memory_info().rss / 2**20))
        for s in speakers:
            s.collect(now)
        if now >= next_window or now >= end:
            turns = [(t, lat) for s in speakers for t, lat in s.turns if window_start <= t < next_window]
            all_turns += turns
            latencies = [lat for _, lat in turns if lat is not None]
            failed = sum(lat is None for _, lat in turns)
            label = f"{(window_start - t0) / 60:.0f}-{(min(now, next_window) - t0) / 60:.0f} min"
            print(
                f"{label:>9} {len(turns):>6} {failed:>6} {pct(latencies, 0.5) * 1000:>5.0f}ms"
                f" {pct(latencies, 0.95) * 1000:>5.0f}ms {rss[-1][1]:>7.1f} {server.num_fds():>5}"
                f" {server.num_threads():>7}",
                flush=True,
            )
            window_start, next_window = next_window, next_window + window_min * 60
        if now >= end:
            break
    lost = sum(s.closed for s in speakers)  # before closing them ourselves
    for s in speakers:
        await s.pc.close()
    failed = sum(lat is None for _, lat in all_turns)
    print(
        f"\n{k} conversations, {minutes:.0f} min: {len(all_turns)} turns, {failed} failed,"
        f" RSS slope {rss_slope_mb_per_hour(rss):+.1f} MB/h ({rss[0][1]:.0f} -> {rss[-1][1]:.0f} MB),"
        f" connections lost {lost}"
    )


def main() -> None:
    record_arrivals_only()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, default=16)
    parser.add_argument("--minutes", type=float, default=30)
    parser.add_argument("--window", type=float, default=5)
    parser.add_argument("--impl", choices=["rust", "original"], default="rust")
    args = parser.parse_args()
    python = sys.executable if args.impl == "rust" else str(HERE / ".venv-original" / "bin" / "python")
    if not Path(python).exists():
        sys.exit(f"{python} missing (run bench/setup_original.sh)")
    proc, base = start_server(python, "async", "reply")
    try:
        print(f"[{args.impl}] soak: {args.k} ReplyOnPause conversations, {args.minutes:.0f} min")
        asyncio.run(soak(base, psutil.Process(proc.pid), args.k, args.minutes, args.window))
    finally:
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
