"""What a stranger can do to a server's open routes, this package beside fastrtc 0.0.34 in one run.

Each library serves the same `Stream` echo app (`bench/ws_server.py`) under uvicorn, with
`TWILIO_AUTH_TOKEN` set. A victim streams 16 kHz μ-law over `/websocket/offer` in real time and
pings every 50 ms; meanwhile an attacker:

* sends one `media` event carrying N MB of μ-law (4, 8, 11 MB: under uvicorn's 16 MiB message limit)
  — the victim's worst ping round trip in the 10 s after it, the server's memory growth, and what
  happened to the attacker's socket;
* posts `POST /telephone/incoming` and opens `WS /telephone/handler` with no `X-Twilio-Signature`
  (a stranger's call reaching the handler and its paid models).

    python bench/open_routes.py [--libs rust,fastrtc] [--sizes 4,8,11]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import psutil
import websockets

HERE = Path(__file__).parent
ROOT = HERE.parent
PYTHONS = {"rust": ROOT / ".venv" / "bin" / "python", "fastrtc": HERE / ".venv-fastrtc" / "bin" / "python"}
RATE = 16000


def start(lib: str) -> tuple[subprocess.Popen[str], int]:
    from common import free_port

    port = free_port()
    proc = subprocess.Popen(
        [str(PYTHONS[lib]), str(HERE / "ws_server.py"), "--port", str(port), "--lib", lib],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "TWILIO_AUTH_TOKEN": "bench-token", "HF_HUB_OFFLINE": "1"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.startswith("ready"):
            break
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    time.sleep(1.0)
    return proc, port


async def victim(port: int, stop: asyncio.Event, rtts: list[tuple[float, float]]) -> None:
    """Streams silence-ish μ-law in real time and pings every 50 ms; records (sent at, round trip)."""
    async with websockets.connect(f"ws://127.0.0.1:{port}/websocket/offer", max_size=None) as ws:
        await ws.send(json.dumps({"event": "start", "websocket_id": "victim"}))
        pending: list[float] = []

        async def read() -> None:
            async for raw in ws:
                message = json.loads(raw)
                if message.get("event") == "pong" and pending:
                    sent = pending.pop(0)
                    rtts.append((sent, time.monotonic() - sent))

        reader = asyncio.create_task(read())
        payload = base64.b64encode(bytes([0xFF]) * (RATE // 50)).decode()
        n, start_at = 0, time.monotonic()
        while not stop.is_set():
            await ws.send(json.dumps({"event": "media", "media": {"payload": payload}}))
            if n % 3 == 0:
                pending.append(time.monotonic())
                await ws.send(json.dumps({"event": "ping"}))
            n += 1
            await asyncio.sleep(max(0.0, start_at + n * 0.02 - time.monotonic()))
        reader.cancel()


async def oversized(port: int, megabytes: float, pid: int) -> dict[str, Any]:
    rtts: list[tuple[float, float]] = []
    stop = asyncio.Event()
    task = asyncio.create_task(victim(port, stop, rtts))
    await asyncio.sleep(2.0)
    process = psutil.Process(pid)
    rss_before = process.memory_info().rss
    peak = rss_before
    outcome = "open"
    sent_at = time.monotonic()
    async with websockets.connect(f"ws://127.0.0.1:{port}/websocket/offer", max_size=None) as ws:
        await ws.send(json.dumps({"event": "start", "websocket_id": f"attacker{int(megabytes)}"}))
        raw = bytes([0x7F]) * int(megabytes * 1024 * 1024 * 3 / 4)
        await ws.send(json.dumps({"event": "media", "media": {"payload": base64.b64encode(raw).decode()}}))
        sent_at = time.monotonic()
        deadline = sent_at + 10
        while time.monotonic() < deadline:
            peak = max(peak, process.memory_info().rss)
            try:
                await asyncio.wait_for(ws.recv(), 0.2)
            except asyncio.TimeoutError:
                continue
            except websockets.ConnectionClosed as closed:
                outcome = f"closed {closed.rcvd.code if closed.rcvd else '?'}"
                break
    stop.set()
    await task
    after = [rtt for at, rtt in rtts if at >= sent_at - 0.1]
    return {
        "stall_ms": max(after, default=float("nan")) * 1000,
        "rss_mb": (peak - rss_before) / 1e6,
        "attacker": outcome,
    }


async def unsigned_phone(port: int) -> dict[str, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/telephone/incoming", b"CallSid=CA1&From=%2B1555", method="POST"
    )
    request.add_header("Content-Type", "application/x-www-form-urlencoded")
    try:
        with urllib.request.urlopen(request, timeout=10) as r:
            webhook = r.status
    except urllib.error.HTTPError as err:
        webhook = err.code
    try:
        async with websockets.connect(f"ws://127.0.0.1:{port}/telephone/handler") as ws:
            await ws.send(json.dumps({"event": "start", "streamSid": "MZ1", "start": {"streamSid": "MZ1"}}))
            await ws.send(
                json.dumps({"event": "media", "media": {"payload": base64.b64encode(b"\xff" * 160).decode()}})
            )
            await asyncio.sleep(0.5)
            stream = "accepted"
    except websockets.InvalidStatus as err:
        stream = f"refused ({err.response.status_code})"
    except websockets.ConnectionClosed:
        stream = "closed"
    return {"webhook": webhook, "stream": stream}


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--libs", default="rust,fastrtc")
    parser.add_argument("--sizes", default="4,8,11")
    args = parser.parse_args()
    sys.path.insert(0, str(HERE))
    rows = []
    for lib in args.libs.split(","):
        if not PYTHONS[lib].exists():
            print(f"{lib}: {PYTHONS[lib]} is missing (make other-libs)")
            continue
        proc, port = start(lib)
        try:
            for size in [float(s) for s in args.sizes.split(",")]:
                result = await oversized(port, size, proc.pid)
                rows.append((lib, f"{size:g} MB media event", result))
                print(lib, size, result, flush=True)
            phone = await unsigned_phone(port)
            rows.append((lib, "unsigned phone", phone))
            print(lib, phone, flush=True)
        finally:
            proc.terminate()
            proc.wait(10)
    print()
    print("| library | probe | victim's worst ping | server memory | attacker |")
    print("|---|---|---|---|---|")
    for lib, probe, r in rows:
        if "stall_ms" in r:
            print(f"| {lib} | {probe} | {r['stall_ms']:.0f} ms | +{r['rss_mb']:.0f} MB | {r['attacker']} |")
        else:
            print(f"| {lib} | {probe} | | | webhook HTTP {r['webhook']}, Media Stream {r['stream']} |")


if __name__ == "__main__":
    asyncio.run(main())
