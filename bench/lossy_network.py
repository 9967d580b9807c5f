"""Bad networks: ReplyOnPause and video with packet loss and jitter, this package beside the original.

For each loss rate (0, 5, 10 and 20 % by default) with up to 30 ms of jitter, one aiortc client
holds a ReplyOnPause conversation (bench/reply_latency.py: a Piper sentence every 7 s, the reply
timed from the end of speech to its first audible packet) and another sends 640x480 VP8 to the
flip handler (bench/video_flip.py) for `--seconds`. Figures: reply latency p50/p95 and the share
of utterances answered; received video fps, the longest picture freeze and the time frozen
(waits over 100 ms between pictures), and the server's PLI/NACK-driven recovery shows in them.

The impairment is applied in the client's UDP layer (aioice's datagram protocol): every datagram
in both directions (STUN, DTLS, RTP, RTCP) is dropped with the loss probability and the rest are
delayed by a uniform 0-30 ms, so they also arrive reordered, as `tc netem loss p delay 15ms 15ms`
would do. netem itself is not available here: the kernel of this machine has no `sch_netem`
(`tc qdisc add dev lo root netem` answers "Specified qdisc kind is unknown"), so a network
namespace with a netem veth cannot be built; the userspace impairment gives the same packet pattern
to both libraries.

    python bench/lossy_network.py [--loss 0 5 10 20] [--jitter-ms 30] [--cycles 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import random
import sys
from pathlib import Path
from typing import Any

import psutil
import reply_latency
import video_flip
from aioice.ice import StunProtocol
from aiortc.rtcrtpreceiver import RTCRtpReceiver
from common import HERE, record_arrivals_only, start_server, wait_drained

_recv = StunProtocol.datagram_received
_send_data = StunProtocol.send_data
_send_stun = StunProtocol.send_stun


def impair(loss: float, jitter: float, seed: int = 1) -> None:
    """Every datagram of this process's aiortc peers, both ways: dropped with `loss`, else delayed
    uniformly in [0, jitter] seconds."""
    rng = random.Random(seed)

    def later(fn: Any, *args: Any) -> None:
        if rng.random() < loss:
            return
        asyncio.get_running_loop().call_later(rng.uniform(0, jitter), _safely, fn, *args)

    def recv(self: StunProtocol, data: Any, addr: Any) -> None:
        later(_recv, self, data, addr)

    async def send_data(self: StunProtocol, data: bytes, addr: Any) -> None:
        later(lambda: self.transport.sendto(data, addr))

    def send_stun(self: StunProtocol, message: Any, addr: Any) -> None:
        later(_send_stun, self, message, addr)

    StunProtocol.datagram_received = recv  # type: ignore[method-assign]
    StunProtocol.send_data = send_data  # type: ignore[method-assign]
    StunProtocol.send_stun = send_stun  # type: ignore[method-assign]


def _safely(fn: Any, *args: Any) -> None:
    with contextlib.suppress(Exception):  # a socket closed while the packet was "in flight"
        fn(*args)


def restore() -> None:
    StunProtocol.datagram_received = _recv  # type: ignore[method-assign]
    StunProtocol.send_data = _send_data  # type: ignore[method-assign]
    StunProtocol.send_stun = _send_stun  # type: ignore[method-assign]


def measure(
    python: str, losses: list[float], jitter: float, cycles: int, seconds: float
) -> dict[float, dict[str, Any]]:
    rows: dict[float, dict[str, Any]] = {loss: {} for loss in losses}
    record_arrivals_only()  # the reply is timed from packet arrivals, nothing decoded
    proc, base = start_server(python, "async", "reply")
    try:
        server = psutil.Process(proc.pid)
        asyncio.run(reply_latency.run_round(base, server, 1, 1))  # warm-up (the original's numba)
        wait_drained(base)
        for loss in losses:
            impair(loss / 100, jitter)
            try:
                r = asyncio.run(reply_latency.run_round(base, server, 1, cycles))
            finally:
                restore()
            rows[loss].update(reply_p50=r["p50"], reply_p95=r["p95"], answered=r["answered"], reply_failed=r["failed"])
            print(f"  loss {loss:>4.0f} %: reply {r}", flush=True)
            wait_drained(base)
    finally:
        proc.terminate()
        proc.wait(10)
    # Pictures are decoded (to read their counters); arrivals timed by video_flip's receiver hook.
    RTCRtpReceiver._handle_rtp_packet = video_flip._timed_handle_rtp  # type: ignore[method-assign]
    proc, base = start_server(python, "async", "flip")
    try:
        server = psutil.Process(proc.pid)
        for loss in losses:
            impair(loss / 100, jitter)
            try:
                ok, failed, _cpu, _ = asyncio.run(
                    video_flip.run_clients(
                        server, 1, lambda i, up, go: video_flip.client(base, i, up, go, seconds), 0.05, 2.0
                    )
                )
            finally:
                restore()
            v = ok[0] if ok else None
            rows[loss].update(
                fps=v.fps if v else 0.0,
                longest_freeze=v.longest_gap if v else float("nan"),
                frozen=v.frozen if v else float("nan"),
                video_failed=failed,
            )
            print(f"  loss {loss:>4.0f} %: video {rows[loss]}", flush=True)
            wait_drained(base)
    finally:
        proc.terminate()
        proc.wait(10)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loss", type=float, nargs="+", default=[0, 5, 10, 20])
    parser.add_argument("--jitter-ms", type=float, default=30)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--only", choices=["rust", "original"])
    args = parser.parse_args()
    impls = {"rust": sys.executable, "original": str(HERE / ".venv-original" / "bin" / "python")}
    results = {}
    for name, python in impls.items():
        if args.only and name != args.only:
            continue
        if not Path(python).exists():
            print(f"[{name}] skipped: {python} missing (run bench/setup_original.sh)")
            continue
        print(f"[{name}]", flush=True)
        results[name] = measure(python, args.loss, args.jitter_ms / 1000, args.cycles, args.seconds)
    print(f"\nLoss (both ways) with 0-{args.jitter_ms:.0f} ms jitter: ReplyOnPause and VP8 flip, one client each")
    header = (
        f"{'impl':9} {'loss':>5} {'reply p50':>9} {'p95':>7} {'answered':>8} "
        f"{'video fps':>9} {'longest freeze':>14} {'frozen':>7}"
    )
    print(header)
    print("-" * len(header))
    for name, rows in results.items():
        for loss, r in rows.items():
            print(
                f"{name:9} {loss:>4.0f}% {r['reply_p50'] * 1000:>7.0f}ms {r['reply_p95'] * 1000:>5.0f}ms"
                f" {r['answered']:>8.0%} {r['fps']:>9.1f} {r['longest_freeze'] * 1000:>12.0f}ms {r['frozen']:>6.1f}s"
            )


if __name__ == "__main__":
    main()
