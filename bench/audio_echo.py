"""Audio echo benchmark: K concurrent WebRTC clients against one server, ours and the original.

Each client is an aiortc peer that sends pre-encoded Opus (a 300 ms, 440 Hz burst once a second,
silence in between) and timestamps every returned RTP packet on arrival, without decoding it in
real time. So the clients cost little CPU, and the latency measured is the server's plus the
network's, without the client's jitter buffer (aiortc holds ~80 ms of audio before playing it, a
browser ~20-60 ms). Two readings per burst: at the wire (the first packet big enough to carry
tone) and after decoding (the payloads are decoded afterwards; the first 20 ms frame whose level
shows the tone, at its packet's arrival time).

`--from-connect` makes the clients stream bursts from the moment they connect, as a browser does
(the default waits until every client is up): audio that arrives before a handler starts must not
become a standing delay. The first three bursts are then not counted.

Figures per K: connection set-up time (offer -> connected), round-trip latency p50/p95 (burst left
the client -> first loud packet of its echo arrived), fraction of the burst audio that came back,
and server CPU per stream (% of one core, from the server process's CPU time).

    python bench/audio_echo.py [--k 1 4 16 64] [--bursts 8] [--only rust|original] [--client aiortc|engine]

`--client engine` replaces the aiortc peers with `gradio_webrtc.testing` calls (this package's Rust
engine in the browser's role, signalling through Gradio's API as the page does). They send PCM
(encoded by the engine) and time the first loud decoded frame of each echo; the burst's send time
is when it was queued behind an empty send queue, so up to one 20 ms frame early. The table's
"client CPU" column is this process's CPU per session: the cost of the load generator itself.

The original library runs from bench/.venv-original (create it with bench/setup_original.sh); it is
skipped with a note if that virtualenv is missing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import fractions
import os
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from common import ARRIVALS, negotiate, pct, record_arrivals_only, run_both, run_clients

HERE = Path(__file__).parent
RATE, FRAME = 48000, 960
BURST_FRAMES, PERIOD_FRAMES = 15, 50  # 300 ms of tone per second
LOUD_BYTES = 40  # Opus packets of silence are a few bytes; of the tone, well over 100


def encode_packets() -> tuple[list[bytes], bytes]:
    """Opus packets of the tone (one per 20 ms) and of silence, encoded once with libopus."""
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format, codec.bit_rate = RATE, "mono", "s16", 64000
    t = np.arange(BURST_FRAMES * FRAME) / RATE
    signal = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    chunks = [signal[i * FRAME : (i + 1) * FRAME] for i in range(BURST_FRAMES)] + [np.zeros(FRAME, np.int16)] * 10
    packets: list[bytes] = []
    for i, chunk in enumerate(chunks):
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, i * FRAME, fractions.Fraction(1, RATE)
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets[:BURST_FRAMES], packets[-1]


TONE, SILENCE = encode_packets()


class BurstTrack(MediaStreamTrack):
    """Sends pre-encoded packets in real time: a burst every PERIOD_FRAMES, silence otherwise."""

    kind = "audio"

    def __init__(self, from_connect: bool = False) -> None:
        super().__init__()
        self.start: float | None = None
        self.n = 0
        self.sending = from_connect  # else bursts start once the measurement starts
        self.burst_sent: list[float] = []

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.n * FRAME / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        phase = self.n % PERIOD_FRAMES
        if phase == 0 and self.sending:
            self.burst_sent.append(time.monotonic())
        loud = self.sending and phase < BURST_FRAMES and self.burst_sent
        packet = av.Packet(TONE[phase] if loud else SILENCE)
        packet.pts, packet.time_base = self.n * FRAME, fractions.Fraction(1, RATE)
        self.n += 1
        return packet


@dataclass
class ClientResult:
    setup_s: float = float("nan")
    latencies: list[float] = field(default_factory=list)
    decoded: list[float] = field(default_factory=list)
    returned: float = 0.0
    error: str | None = None


def decoded_levels(arrivals: list[tuple[float, int, bytes, int]]) -> list[tuple[float, float]]:
    """(arrival time, RMS of its decoded 20 ms frame) per packet, decoded in RTP sequence order as
    a receiver would (an overloaded client's socket hands packets over out of order)."""
    if not arrivals:
        return []
    first = arrivals[0][3]
    ordered = sorted(arrivals, key=lambda a: (a[3] - first) % 65536)
    codec = av.CodecContext.create("libopus", "r")
    codec.sample_rate, codec.layout = RATE, "mono"
    levels = []
    for t, _, payload, _ in ordered:
        frames = codec.decode(av.Packet(payload))
        x = np.concatenate([f.to_ndarray().astype(np.float32).reshape(-1) for f in frames]) if frames else []
        if len(x) and frames[0].format.name.startswith("s16"):
            x = x / 32768.0
        levels.append((t, float(np.sqrt(np.mean(np.square(x)))) if len(x) else 0.0))
    return levels


async def run_client(
    base: str, idx: int, connected: asyncio.Event, go: asyncio.Event, bursts: int, from_connect: bool = False
) -> tuple[ClientResult, Any]:
    result = ClientResult()
    pc = RTCPeerConnection()
    pc.createDataChannel("text")
    track = BurstTrack(from_connect)
    pc.addTrack(track)
    t0 = time.monotonic()
    try:
        await negotiate(pc, base, f"bench-{idx}-{time.time_ns()}")
        result.setup_s = time.monotonic() - t0
    except Exception as exc:  # counted as a failed client
        result.error = str(exc)
        connected.set()
        return result, pc
    connected.set()
    await go.wait()
    track.sending = True
    skip = len(track.burst_sent) + (3 if from_connect else 0)
    await asyncio.sleep((bursts + (3 if from_connect else 0)) * PERIOD_FRAMES * FRAME / RATE + 1.0)
    receiver = pc.getTransceivers()[0].receiver
    arrivals = ARRIVALS.get(id(receiver), [])
    levels = decoded_levels(arrivals)
    sent = track.burst_sent[skip : skip + bursts]
    loud_back = 0
    for i, s in enumerate(sent):
        end = sent[i + 1] if i + 1 < len(sent) else s + PERIOD_FRAMES * FRAME / RATE
        loud = [t for t, size, *_ in arrivals if s <= t < end and size > LOUD_BYTES]
        if loud:
            result.latencies.append(loud[0] - s)
        heard = [t for t, level in levels if s <= t < end and level > 0.05]
        if heard:
            result.decoded.append(heard[0] - s)
        loud_back += min(len(loud), BURST_FRAMES)
    result.returned = loud_back / (BURST_FRAMES * len(sent)) if sent else 0.0
    return result, pc


class _Hangup:
    """`close()` for an engine client, as `run_clients` expects of a peer connection."""

    def __init__(self, stack: contextlib.AsyncExitStack) -> None:
        self.stack = stack

    async def close(self) -> None:
        await self.stack.aclose()


async def run_engine_client(
    base: str, connected: asyncio.Event, go: asyncio.Event, bursts: int
) -> tuple[ClientResult, Any]:
    """The same bursts from a `gradio_webrtc.testing` call: 300 ms of tone, 700 ms of silence."""
    from gradio_webrtc.testing import connect

    result = ClientResult()
    stack = contextlib.AsyncExitStack()
    t0 = time.monotonic()
    try:
        call = await stack.enter_async_context(connect(base))
        result.setup_s = time.monotonic() - t0
    except Exception as exc:  # counted as a failed client
        result.error = str(exc)
        connected.set()
        return result, _Hangup(stack)
    connected.set()
    t = np.arange(BURST_FRAMES * FRAME) / RATE
    period = np.zeros(PERIOD_FRAMES * FRAME, np.int16)
    period[: len(t)] = (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    await call.silence(0.2)
    await go.wait()
    back = 0.0
    for _ in range(bursts):
        await call.flush()
        sent = time.monotonic()
        await call.send_audio(RATE, period, realtime=False)
        try:
            reply = await call.reply(timeout=2.0, gap=0.3, level=0.05)
        except AssertionError:  # no echo within 2 s: counted as audio that did not come back
            continue
        result.decoded.append(reply.started_at - sent)
        back += min(reply.duration / (BURST_FRAMES * FRAME / RATE), 1.0)
    result.returned = back / bursts
    return result, _Hangup(stack)


async def run_round(
    base: str, server: psutil.Process, k: int, bursts: int, from_connect: bool, client: str = "aiortc"
) -> dict[str, Any]:
    if client == "engine":

        def start(i: int, up: asyncio.Event, go: asyncio.Event) -> Any:
            return run_engine_client(base, up, go, bursts)

    else:

        def start(i: int, up: asyncio.Event, go: asyncio.Event) -> Any:
            return run_client(base, i, up, go, bursts, from_connect)

    ok, failed, cpu, client_cpu = await run_clients(server, k, start, 0.02, 1.0)
    latencies = [x for r in ok for x in r.latencies]
    decoded = [x for r in ok for x in r.decoded]
    worst = max((pct(r.decoded, 0.5) for r in ok if r.decoded), default=float("nan"))
    return {
        "k": k,
        "failed": failed,
        "setup_p50": pct([r.setup_s for r in ok], 0.5),
        "p50": pct(latencies, 0.5),
        "p95": pct(latencies, 0.95),
        "decoded_p50": pct(decoded, 0.5),
        "decoded_p95": pct(decoded, 0.95),
        "worst_session_p50": worst,
        "returned": statistics.mean([r.returned for r in ok]) if ok else 0.0,
        "cpu_per_stream": cpu,
        "client_cpu": client_cpu,
    }


def main() -> None:
    record_arrivals_only()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 4, 16, 64])
    parser.add_argument("--bursts", type=int, default=8)
    parser.add_argument("--handler", choices=["async", "sync"], default="async")
    parser.add_argument("--only", choices=["rust", "original"])
    parser.add_argument("--from-connect", action="store_true", help="stream bursts from the moment of connecting")
    parser.add_argument("--client", choices=["aiortc", "engine"], default="aiortc", help="the load generator")
    args = parser.parse_args()
    if args.client == "engine" and args.from_connect:
        parser.error("--from-connect is measured with the aiortc clients only")

    rows = run_both(
        "echo",
        args.handler,
        args.k,
        args.only,
        lambda base, server, k: run_round(base, server, k, args.bursts, args.from_connect, args.client),
    )

    mode = "streaming from connect" if args.from_connect else "bursts once all are connected"
    print(
        f"\nAudio echo, {args.handler} handler, {args.bursts} bursts per client ({mode}), {args.client} clients,"
        f" {os.cpu_count()} cores"
    )
    header = (
        f"{'impl':9} {'K':>3} {'fail':>4} {'setup p50':>10} {'wire p50':>8} {'wire p95':>8} {'dec p50':>8}"
        f" {'dec p95':>8} {'worst session':>13} {'audio back':>10} {'CPU/stream':>10} {'client CPU':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, table in rows.items():
        for r in table:
            print(
                f"{name:9} {r['k']:>3} {r['failed']:>4} {r['setup_p50'] * 1000:>8.0f}ms {r['p50'] * 1000:>6.0f}ms"
                f" {r['p95'] * 1000:>6.0f}ms {r['decoded_p50'] * 1000:>6.0f}ms {r['decoded_p95'] * 1000:>6.0f}ms"
                f" {r['worst_session_p50'] * 1000:>11.0f}ms {r['returned'] * 100:>9.1f}% {r['cpu_per_stream']:>9.1f}%"
                f" {r['client_cpu']:>9.1f}%"
            )


if __name__ == "__main__":
    main()
