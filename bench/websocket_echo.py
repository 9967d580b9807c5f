"""WebSocket benchmark: this package beside fastrtc 0.0.34 over fastrtc's `/websocket/offer` route.

The same app on both (`bench/ws_server.py`: `Stream(handler).mount(app)` under uvicorn). K clients
(the `websockets` package) each stream μ-law at 16 kHz in real time from the moment they connect:
a 300 ms 440 Hz burst once a second. Figures per K: echo round trip (burst left the client -> the
first media message whose decoded audio carries it) p50/p95 after three warm-up bursts, how evenly
the reply's media messages arrive (p95 distance of their spacing from 20 ms), and server CPU per
stream. `--reply` measures ReplyOnPause instead: the end of a spoken sentence (Piper fixture) -> the
first reply media message.

    python bench/websocket_echo.py [--k 1 16 64] [--reply-k 1 16] [--only rust|fastrtc]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import json
import os
import subprocess
import sys
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import websockets
from common import HERE, free_port, pct

sys.path.insert(0, str(HERE.parent / "tests"))
from speech import load, speech_ends

RATE = 16000
CHUNK = RATE // 50
BURSTS, WARM_UP = 8, 3
PYTHONS = {"rust": sys.executable, "fastrtc": str(HERE / ".venv-fastrtc" / "bin" / "python")}


def ulaw_encode(x: np.ndarray) -> bytes:
    s = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int32)
    sign = np.where(s < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(s), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def ulaw_decode(data: bytes) -> np.ndarray:
    u = ~np.frombuffer(data, np.uint8)
    sign, exponent, mantissa = u & 0x80, (u >> 4) & 0x07, u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    return np.where(sign != 0, -(magnitude - 0x84), magnitude - 0x84).astype(np.float32) / 32768.0


@dataclass
class Result:
    trips: list[float] = field(default_factory=list)
    spacing: list[float] = field(default_factory=list)
    error: str | None = None


async def client(url: str, idx: int, audio: np.ndarray, marks: list[float], window: float) -> Result:
    """Streams `audio` in real time; for each mark (seconds into `audio`), the delay until a media
    message carrying loud audio arrives within `window` after it."""
    result = Result()
    try:
        ws = await websockets.connect(f"{url}/websocket/offer", max_size=None, ping_interval=None)
    except OSError as exc:
        result.error = str(exc)
        return result
    await ws.send(json.dumps({"event": "start", "websocket_id": f"bench-{idx}-{time.time_ns()}"}))
    received: list[tuple[float, float]] = []

    async def read() -> None:
        try:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("event") == "media":
                    x = ulaw_decode(base64.b64decode(message["media"]["payload"]))
                    received.append((time.monotonic(), float(np.sqrt(np.mean(x**2))) if len(x) else 0.0))
                elif message.get("status") == "failed":
                    result.error = str(message)
        except websockets.ConnectionClosed:
            pass

    reader = asyncio.create_task(read())
    start = time.monotonic()
    for n, i in enumerate(range(0, len(audio), CHUNK)):
        payload = base64.b64encode(ulaw_encode(audio[i : i + CHUNK])).decode()
        await ws.send(json.dumps({"event": "media", "media": {"payload": payload}}))
        await asyncio.sleep(max(0.0, start + (n + 1) * CHUNK / RATE - time.monotonic()))
    await asyncio.sleep(1.0)
    await ws.send(json.dumps({"event": "stop"}))
    await ws.close()
    reader.cancel()
    for mark in marks:
        sent = start + mark
        loud = [t for t, level in received if sent <= t < sent + window and level > 0.05]
        if loud:
            result.trips.append(loud[0] - sent)
            burst = [t for t, _ in received if loud[0] <= t < loud[0] + 0.28]
            result.spacing += [abs(b - a - 0.02) for a, b in itertools.pairwise(burst)]
    return result


def bursts() -> tuple[np.ndarray, list[float]]:
    t = np.arange(int(0.3 * RATE)) / RATE
    period = np.zeros(RATE, np.float32)
    period[: len(t)] = 0.5 * np.sin(2 * np.pi * 440 * t)
    return np.tile(period, BURSTS + WARM_UP), [float(k) for k in range(WARM_UP, WARM_UP + BURSTS)]


def speech() -> tuple[np.ndarray, list[float]]:
    sentence = load("one_sentence", RATE).astype(np.float32) / 32768.0
    audio = np.concatenate([sentence, np.zeros(3 * RATE, np.float32)])
    return audio, [speech_ends(load("one_sentence", 48000))[0]]


async def run_round(url: str, server: psutil.Process, k: int, reply: bool) -> dict[str, Any]:
    audio, marks = speech() if reply else bursts()
    window = 3.0 if reply else 0.9
    cpu0, t0 = sum(server.cpu_times()[:2]), time.monotonic()
    tasks = []
    for i in range(k):
        tasks.append(asyncio.create_task(client(url, i, audio, marks, window)))
        await asyncio.sleep(0.02)
    results = await asyncio.gather(*tasks)
    cpu = (sum(server.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0) / k * 100
    ok = [r for r in results if r.error is None]
    trips = [x for r in ok for x in r.trips]
    spacing = [x for r in ok for x in r.spacing]
    return {
        "k": k,
        "failed": k - len(ok),
        "answered": len(trips) / (len(marks) * k),
        "p50": pct(trips, 0.5),
        "p95": pct(trips, 0.95),
        "spacing_p95": pct(spacing, 0.95),
        "cpu_per_stream": cpu,
    }


def serve(impl: str, app: str) -> tuple[subprocess.Popen[str], str, psutil.Process]:
    port = free_port()
    proc = subprocess.Popen(
        [PYTHONS[impl], str(HERE / "ws_server.py"), "--port", str(port), "--lib", impl, "--app", app],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            pid = json.loads(urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5).read())["pid"]
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the {impl} WebSocket server did not start") from None
            time.sleep(0.3)
    return proc, f"ws://127.0.0.1:{port}", psutil.Process(pid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--k", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--reply-k", type=int, nargs="+", default=[1, 16])
    parser.add_argument("--only", choices=["rust", "fastrtc"])
    args = parser.parse_args()
    rows: dict[str, list[tuple[str, dict[str, Any]]]] = {}
    for impl, python in PYTHONS.items():
        if args.only and impl != args.only:
            continue
        if not Path(python).exists():
            print(f"[{impl}] skipped: {python} missing (run bench/setup_fastrtc.sh)")
            continue
        rows[impl] = []
        for app, ks in (("echo", args.k), ("reply", args.reply_k)):
            proc, url, server = serve(impl, app)
            try:
                for k in ks:
                    row = asyncio.run(run_round(url, server, k, app == "reply"))
                    rows[impl].append((app, row))
                    print(f"[{impl}] {app} K={k}: {json.dumps(row)}", flush=True)
                    time.sleep(2)
            finally:
                proc.terminate()
                proc.wait(10)
    print(f"\nWebSocket route, μ-law 16 kHz, {os.cpu_count()} cores")
    header = (
        f"{'impl':8} {'app':6} {'K':>3} {'fail':>4} {'p50':>8} {'p95':>8} {'answered':>9} {'spacing p95':>11}"
        f" {'CPU/stream':>10}"
    )
    print(header)
    print("-" * len(header))
    for impl, table in rows.items():
        for app, r in table:
            print(
                f"{impl:8} {app:6} {r['k']:>3} {r['failed']:>4} {r['p50'] * 1000:>6.0f}ms {r['p95'] * 1000:>6.0f}ms"
                f" {r['answered'] * 100:>8.0f}% {r['spacing_p95'] * 1000:>9.1f}ms {r['cpu_per_stream']:>9.1f}%"
            )


if __name__ == "__main__":
    main()
