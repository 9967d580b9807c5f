"""Session churn: does the server give back everything a session took?

Against the benchmark server's ReplyOnPause app (a real Gradio Blocks, bench/server.py), aiortc
clients one after another: connect through the component's `offer`, speak a Piper sentence, wait
for the reply's first audio, then leave: every other session closes cleanly, the rest vanish (their
UDP sockets closed under aiortc: no DTLS close_notify, no SCTP abort, as a crashed tab or a lost
network). Phases: `--sessions` sessions with `--at-once` running together, then `--burst`
connecting at the same moment, then `--sessions` more. After each phase, once the server reports no
live session, it reads the server's RSS, open fds, OS threads, and (this package) engine sessions
and tokio tasks. RSS is also sampled during the phases; the slope is a least-squares fit of RSS
against sessions served, in kB per session, over the second half of the run (after warm-up).

    python bench/churn.py [--sessions 1000] [--at-once 8] [--burst 64] [--impl rust|original]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psutil
from aiortc import RTCPeerConnection
from common import ARRIVALS, HERE, negotiate, record_arrivals_only, slope, start_server
from reply_latency import LOUD_BYTES, SpeakerTrack

#: `--trim`: after each phase, the server's Python object count and its RSS after malloc_trim(0).
TRIM = False

#: How long a session waits for the reply before it counts as failed.
REPLY_TIMEOUT_S = 10.0


@dataclass
class Outcome:
    replied: bool
    error: str | None = None


def vanish(pc: RTCPeerConnection) -> None:
    """Cuts the network under aiortc: closes its UDP sockets without any DTLS or SCTP goodbye."""
    for transceiver in pc.getTransceivers():
        transport = transceiver.receiver.transport
        if transport is None:
            continue
        for protocol in transport.transport.iceGatherer._connection._protocols:
            protocol.transport.close()


async def one_session(base: str, idx: int, leave_cleanly: bool) -> Outcome:
    """Connect, speak once, wait for the reply's first audio, leave (cleanly or by vanishing)."""
    pc = RTCPeerConnection()
    pc.createDataChannel("text")
    track = SpeakerTrack()
    track.speaking = True
    pc.addTrack(track)
    receiver = None
    try:
        await negotiate(pc, base, f"churn-{idx}-{time.time_ns()}")
        receiver = pc.getTransceivers()[0].receiver
        deadline = time.monotonic() + REPLY_TIMEOUT_S
        while time.monotonic() < deadline:
            ended = track.speech_ended[0] if track.speech_ended else None
            arrivals = ARRIVALS.get(id(receiver), [])
            if ended is not None and any(t > ended and size > LOUD_BYTES for t, size, *_ in arrivals):
                return Outcome(True)
            await asyncio.sleep(0.05)
        return Outcome(False, "no reply")
    except Exception as exc:  # a refused or failed session is a figure, not a crash
        return Outcome(False, f"{type(exc).__name__}: {exc}")
    finally:
        if receiver is not None:
            ARRIVALS.pop(id(receiver), None)
        if not leave_cleanly:
            vanish(pc)
        await pc.close()


def server_stats(base: str, server: psutil.Process) -> dict[str, Any]:
    with urllib.request.urlopen(f"{base}/stats", timeout=10) as r:
        stats = json.loads(r.read())
    return {
        "rss_mb": round(server.memory_info().rss / 2**20, 1),
        "fds": server.num_fds(),
        "threads": server.num_threads(),
        "sessions": stats["sessions"],
        "engine_sessions": stats.get("engine_sessions"),
        "runtime_tasks": stats.get("runtime_tasks"),
    }


def drained(base: str, server: psutil.Process, timeout: float = 120) -> tuple[dict[str, Any], float]:
    """Waits until the server holds no session (engine included); returns its stats and the wait."""
    t0 = time.monotonic()
    while True:
        stats = server_stats(base, server)
        if stats["sessions"] == 0 and not stats["engine_sessions"]:
            return stats, time.monotonic() - t0
        if time.monotonic() - t0 > timeout:
            return stats, time.monotonic() - t0
        time.sleep(0.5)


async def sequence(
    base: str, server: psutil.Process, first: int, n: int, at_once: int, samples: list[tuple[int, float]]
) -> list[Outcome]:
    """`n` sessions, `at_once` at a time; RSS sampled every `at_once` sessions."""
    outcomes: list[Outcome] = []
    for start in range(first, first + n, at_once):
        batch = range(start, min(start + at_once, first + n))
        outcomes += await asyncio.gather(*(one_session(base, i, i % 2 == 0) for i in batch))
        samples.append((start + len(batch), server.memory_info().rss / 2**20))
    return outcomes


def slope_kb(samples: list[tuple[int, float]]) -> float:
    """Least-squares slope of RSS (MB) over sessions served, in kB per session."""
    return 1024 * slope([(float(x), y) for x, y in samples])


def report(name: str, stats: dict[str, Any], wait: float, base: str | None = None) -> None:
    extra = ""
    if base is not None and TRIM:
        with urllib.request.urlopen(f"{base}/memory", timeout=60) as r:
            extra = f" {json.loads(r.read())}"
    print(f"  {name:<18} {json.dumps(stats)}  (drained in {wait:.1f} s){extra}", flush=True)


async def churn(base: str, server: psutil.Process, n: int, at_once: int, burst: int) -> dict[str, Any]:
    samples: list[tuple[int, float]] = []
    # Warm-up: the VAD model, codecs and Gradio's first requests allocate once.
    await sequence(base, server, 0, 2 * at_once, at_once, [])
    before, wait = drained(base, server)
    report("after warm-up", before, wait, base)
    t0 = time.monotonic()
    first = await sequence(base, server, 0, n, at_once, samples)
    stats, wait = drained(base, server)
    report(f"after {n}", stats, wait, base)
    burst_outcomes = list(await asyncio.gather(*(one_session(base, n + i, i % 2 == 0) for i in range(burst))))
    stats, wait = drained(base, server)
    report(f"after burst {burst}", stats, wait, base)
    second = await sequence(base, server, n + burst, n, at_once, samples)
    after, wait = drained(base, server)
    report(f"after {n} more", after, wait, base)
    outcomes = first + burst_outcomes + second
    errors: dict[str, int] = {}
    for o in outcomes:
        if o.error:
            errors[o.error[:80]] = errors.get(o.error[:80], 0) + 1
    half = samples[len(samples) // 2 :]
    return {
        "sessions": len(outcomes),
        "replied": sum(o.replied for o in outcomes),
        "errors": errors,
        "minutes": round((time.monotonic() - t0) / 60, 1),
        "before": before,
        "after": after,
        "slope_kb_per_session": round(slope_kb(samples), 1),
        "slope_kb_per_session_second_half": round(slope_kb(half), 1) if len(half) > 2 else None,
    }


def main() -> None:
    record_arrivals_only()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1000)
    parser.add_argument("--at-once", type=int, default=8)
    parser.add_argument("--burst", type=int, default=64)
    parser.add_argument("--impl", choices=["rust", "original"], default="rust")
    parser.add_argument("--trim", action="store_true", help="after each phase, malloc_trim(0) the server (diagnostic)")
    args = parser.parse_args()
    global TRIM
    TRIM = args.trim
    python = sys.executable if args.impl == "rust" else str(HERE / ".venv-original" / "bin" / "python")
    if not Path(python).exists():
        sys.exit(f"{python} missing (run bench/setup_original.sh)")
    proc, base = start_server(python, "async", "reply")
    try:
        server = psutil.Process(proc.pid)
        print(f"[{args.impl}] churn: {args.sessions} + burst {args.burst} + {args.sessions}, {args.at_once} at once")
        result = asyncio.run(churn(base, server, args.sessions, args.at_once, args.burst))
    finally:
        proc.terminate()
        proc.wait(10)
    b, a = result["before"], result["after"]
    print(
        f"\n[{args.impl}] {result['sessions']} sessions in {result['minutes']} min, {result['replied']} replied,"
        f" errors {result['errors'] or 'none'}\n"
        f"  RSS {b['rss_mb']} -> {a['rss_mb']} MB, slope {result['slope_kb_per_session']} kB/session"
        f" (second half {result['slope_kb_per_session_second_half']}),"
        f" fds {b['fds']} -> {a['fds']}, threads {b['threads']} -> {a['threads']},"
        f" tokio tasks {b['runtime_tasks']} -> {a['runtime_tasks']}"
    )


if __name__ == "__main__":
    main()
