"""ReplyOnPause benchmark: end of speech -> first reply audio, K concurrent speakers.

Each aiortc client speaks a Piper-synthesised sentence (tests/data/speech/one_sentence.wav,
pre-encoded to Opus once), pauses, and repeats; the server's ReplyOnPause answers each utterance
with a short tone. Latency = the client sent the last frame of speech -> the first RTP packet of
the reply arrived (so it includes the pause rule's wait: the defaults need ~0.5 s of silence).
Figures per K: latency p50/p95, replies per utterance, server CPU per stream.

    python bench/reply_latency.py [--k 1 16 64] [--cycles 3] [--only rust|original]

The original runs from bench/.venv-original (bench/setup_original.sh; its VAD model is laid out
offline there) with default options on both sides.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import os
import time
import wave
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
CYCLE_S = 7.0
LOUD_BYTES = 40


def speech_packets() -> tuple[list[bytes], int, bytes]:
    """The sentence as 20 ms Opus packets at 48 kHz, the index of its last speech frame, silence."""
    with wave.open(str(HERE.parent / "tests" / "data" / "speech" / "one_sentence.wav")) as f:
        audio16 = np.frombuffer(f.readframes(f.getnframes()), "<i2").astype(np.float64)
    n = len(audio16) * 3
    spectrum = np.pad(np.fft.rfft(audio16), (0, n // 2 + 1 - (len(audio16) // 2 + 1)))
    audio = np.clip(np.fft.irfft(spectrum, n) * 3, -32768, 32767).astype(np.int16)
    loud = np.nonzero(np.abs(audio) > 500)[0]
    last_speech_frame = int(loud[-1]) // FRAME
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format, codec.bit_rate = RATE, "mono", "s16", 48000
    packets: list[bytes] = []
    frames = [audio[i : i + FRAME] for i in range(0, len(audio) - FRAME + 1, FRAME)] + [np.zeros(FRAME, np.int16)] * 5
    for i, chunk in enumerate(frames):
        frame = av.AudioFrame.from_ndarray(chunk.reshape(1, -1), format="s16", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = RATE, i * FRAME, fractions.Fraction(1, RATE)
        packets += [bytes(p) for p in codec.encode(frame)]
    return packets[: len(frames) - 5], last_speech_frame, packets[-1]


SPEECH, LAST_SPEECH, SILENCE = speech_packets()


class SpeakerTrack(MediaStreamTrack):
    """Speaks the sentence at the start of every CYCLE_S seconds; records when speech ended."""

    kind = "audio"

    def __init__(self) -> None:
        super().__init__()
        self.start: float | None = None
        self.n = 0
        self.speaking = False
        self.cycle_start = 0
        self.speech_ended: list[float] = []

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.n * FRAME / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        per_cycle = int(CYCLE_S * RATE / FRAME)
        phase = (self.n - self.cycle_start) % per_cycle
        data = SILENCE
        if self.speaking and phase < len(SPEECH):
            data = SPEECH[phase]
            if phase == LAST_SPEECH:
                self.speech_ended.append(time.monotonic())
        packet = av.Packet(data)
        packet.pts, packet.time_base = self.n * FRAME, fractions.Fraction(1, RATE)
        self.n += 1
        return packet


@dataclass
class Result:
    latencies: list[float] = field(default_factory=list)
    detections: list[float] = field(default_factory=list)
    replies: int = 0
    utterances: int = 0
    error: str | None = None


async def client(base: str, idx: int, up: asyncio.Event, go: asyncio.Event, cycles: int) -> tuple[Result, Any]:
    result = Result()
    pc = RTCPeerConnection()
    channel = pc.createDataChannel("text")
    detected: list[float] = []

    @channel.on("message")
    def _on_message(message: Any) -> None:
        if isinstance(message, str) and "pause_detected" in message:
            detected.append(time.monotonic())

    track = SpeakerTrack()
    pc.addTrack(track)
    try:
        await negotiate(pc, base, f"bench-{idx}-{time.time_ns()}")
    except Exception as exc:
        result.error = str(exc)
        up.set()
        return result, pc
    up.set()
    await go.wait()
    await asyncio.sleep(idx * 0.013)  # speakers do not all stop talking in the same 20 ms
    track.cycle_start, track.speaking = track.n, True
    await asyncio.sleep(cycles * CYCLE_S + 1.0)
    arrivals = ARRIVALS.get(id(pc.getTransceivers()[0].receiver), [])
    result.utterances = len(track.speech_ended)
    for i, ended in enumerate(track.speech_ended):
        limit = track.speech_ended[i + 1] if i + 1 < len(track.speech_ended) else ended + CYCLE_S
        loud = [t for t, size, *_ in arrivals if ended < t < limit and size > LOUD_BYTES]
        pauses = [t for t in detected if ended < t < limit]
        if pauses:
            result.detections.append(pauses[0] - ended)
        if loud:
            result.replies += 1
            result.latencies.append(loud[0] - ended)
    return result, pc


async def run_round(base: str, server: psutil.Process, k: int, cycles: int) -> dict[str, Any]:
    ok, failed, cpu, _client_cpu = await run_clients(
        server, k, lambda i, up, go: client(base, i, up, go, cycles), 0.02, 1.0
    )
    latencies = [x for r in ok for x in r.latencies]
    detections = [x for r in ok for x in r.detections]
    return {
        "k": k,
        "failed": failed,
        "p50": pct(latencies, 0.5),
        "p95": pct(latencies, 0.95),
        "detect_p50": pct(detections, 0.5) if detections else None,
        "answered": sum(r.replies for r in ok) / max(1, sum(r.utterances for r in ok)),
        "cpu_per_stream": cpu,
    }


def _ms(seconds: float | None) -> str:
    return "-" if seconds is None else f"{seconds * 1000:.0f}ms"


def main() -> None:
    record_arrivals_only()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--only", choices=["rust", "original"])
    parser.add_argument(
        "--audio-chunk-duration", type=float, help="AlgoOptions.audio_chunk_duration on both sides (default 0.6)"
    )
    args = parser.parse_args()
    if args.audio_chunk_duration is not None:
        os.environ["BENCH_AUDIO_CHUNK_DURATION"] = str(args.audio_chunk_duration)
    # One unmeasured utterance first: the original compiles librosa's numba code (~1.5 s) on its
    # first VAD call, and both sides should be measured warm.
    rows = run_both(
        "reply",
        "async",
        args.k,
        args.only,
        lambda base, server, k: run_round(base, server, k, args.cycles),
        warm_up=lambda base, server: asyncio.run(run_round(base, server, 1, 1)),
    )
    rule = f"audio_chunk_duration={args.audio_chunk_duration}" if args.audio_chunk_duration else "default options"
    print(
        f"\nReplyOnPause, end of speech -> first reply audio, {args.cycles} sentences per client,"
        f" {rule}, {os.cpu_count()} cores"
    )
    header = (
        f"{'impl':9} {'K':>3} {'fail':>4} {'p50':>8} {'p95':>8} {'detect p50':>11} {'answered':>9} {'CPU/stream':>10}"
    )
    print(header)
    print("-" * len(header))
    for name, table in rows.items():
        for r in table:
            print(
                f"{name:9} {r['k']:>3} {r['failed']:>4} {r['p50'] * 1000:>6.0f}ms {r['p95'] * 1000:>6.0f}ms"
                f" {_ms(r.get('detect_p50')):>11}"
                f" {r['answered'] * 100:>8.0f}% {r['cpu_per_stream']:>9.1f}%"
            )


if __name__ == "__main__":
    main()
