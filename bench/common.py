"""Helpers shared by the benchmarks: the server process, its HTTP endpoints, percentiles."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent

#: Arrival log per aiortc receiver: (monotonic time, payload size, payload, RTP sequence number),
#: filled by `record_arrivals_only`.
ARRIVALS: dict[int, list[tuple[float, int, bytes, int]]] = {}


async def _record_rtp(self: Any, packet: Any, arrival_time_ms: int) -> None:
    ARRIVALS.setdefault(id(self), []).append(
        (time.monotonic(), len(packet.payload), bytes(packet.payload), packet.sequence_number)
    )


def record_arrivals_only() -> None:
    """Makes every aiortc receiver in this process log RTP arrivals instead of decoding them."""
    from aiortc.rtcrtpreceiver import RTCRtpReceiver

    RTCRtpReceiver._handle_rtp_packet = _record_rtp  # type: ignore[method-assign]


def post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    req = urllib.request.Request(url, json.dumps(body).encode(), {"Content-Type": "application/json"})
    with urllib.request.urlopen(req, timeout=60) as r:
        return json.loads(r.read())


def pct(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    values = sorted(values)
    return values[min(len(values) - 1, round(q * (len(values) - 1)))]


def slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of `y` over `x` (0 when every `x` is the same)."""
    xs, ys = [x for x, _ in points], [y for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    var = sum((x - mx) ** 2 for x in xs)
    return 0.0 if var == 0 else sum((x - mx) * (y - my) for x, y in points) / var


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_server(python: str, handler: str, app: str = "echo") -> tuple[subprocess.Popen[str], str]:
    port = free_port()
    log_path = os.environ.get("GW_SERVER_LOG")  # capture the server's stderr (diagnostics) when set
    stderr = open(log_path, "a") if log_path else subprocess.DEVNULL  # noqa: SIM115 - the child holds it
    proc = subprocess.Popen(
        [python, str(HERE / "server.py"), "--port", str(port), "--app", app, "--handler", handler],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=True,
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "GRADIO_ANALYTICS_ENABLED": "False",
            "GRADIO_WEBRTC_DRAIN_ON_SIGTERM": "0",  # SIGTERM ends a benchmark server at once
        },
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # the original prints a deprecation banner first
        if line.startswith("ready"):
            break
    else:
        proc.kill()
        raise RuntimeError("the benchmark server exited before it was ready")
    threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True).start()  # type: ignore[union-attr]
    base = f"http://127.0.0.1:{port}"
    gradio_api(base)
    return proc, base


#: Per server URL: `(offer, tick)` through the component's real Gradio HTTP API (see `gradio_api`).
API: dict[str, tuple[Any, Any]] = {}


def gradio_api(base: str) -> tuple[Any, Any]:
    """`(offer, tick)` callables that use the component's real Gradio HTTP API, as the page does."""
    import uuid

    with urllib.request.urlopen(f"{base}/bench-info", timeout=30) as r:
        info = json.loads(r.read())

    def offer(body: dict[str, Any]) -> dict[str, Any]:
        session = uuid.uuid4().hex[:11]
        payload = {"data": body, "component_id": info["component_id"], "fn_name": "offer", "session_hash": session}
        return post(f"{base}/gradio_api/component_server/", payload)

    def tick(webrtc_id: str) -> None:
        """The page's `tick`: runs `set_input` through the queue and waits for it to complete."""
        session = uuid.uuid4().hex[:11]
        post(
            f"{base}/gradio_api/queue/join",
            {"data": [webrtc_id], "event_data": None, "fn_index": info["tick_fn_index"], "session_hash": session},
        )
        with urllib.request.urlopen(f"{base}/gradio_api/queue/data?session_hash={session}", timeout=60) as r:
            for line in r:
                if b"process_completed" in line:
                    return

    API[base] = (offer, tick)
    return offer, tick


async def negotiate(pc: Any, base: str, webrtc_id: str, timeout: float = 30.0) -> None:
    """Offers through the component's `offer` server function and waits until the peer is connected."""
    import asyncio

    from aiortc import RTCSessionDescription

    connected = asyncio.Event()

    @pc.on("connectionstatechange")
    def _state() -> None:
        if pc.connectionState == "connected":
            connected.set()

    await pc.setLocalDescription(await pc.createOffer())
    body = {"sdp": pc.localDescription.sdp, "type": "offer", "webrtc_id": webrtc_id}
    answer = await asyncio.to_thread(API[base][0], body)
    if answer.get("type") != "answer":
        raise RuntimeError(f"offer refused: {answer}")
    await pc.setRemoteDescription(RTCSessionDescription(sdp=answer["sdp"], type="answer"))
    await asyncio.wait_for(connected.wait(), timeout)


async def run_clients(
    server: Any, k: int, start: Any, stagger: float, settle: float
) -> tuple[list[Any], int, float, float]:
    """Starts K clients (`start(i, up, go)` -> `(result, pc)`, `pc` anything with an async
    `close()`), staggered; once all are connected and `settle` seconds passed, releases them
    together and measures the server's CPU, and the clients' (this process), until they finish.

    Returns `(results of the clients without an error, failed count, server CPU % per stream,
    client CPU % per stream)`, CPU in % of one core.
    """
    import asyncio

    import psutil

    me = psutil.Process()

    ups = [asyncio.Event() for _ in range(k)]
    go = asyncio.Event()
    tasks = []
    for i in range(k):
        tasks.append(asyncio.create_task(start(i, ups[i], go)))
        await asyncio.sleep(stagger)  # offers arrive a little apart, as real users' do
    await asyncio.gather(*(e.wait() for e in ups))
    await asyncio.sleep(settle)
    cpu0, mine0, t0 = sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.monotonic()
    go.set()
    results = await asyncio.gather(*tasks)
    cpu1, mine1, t1 = sum(server.cpu_times()[:2]), sum(me.cpu_times()[:2]), time.monotonic()
    for _, pc in results:
        await pc.close()
    ok = [r for r, _ in results if r.error is None]
    per_stream = (t1 - t0) * max(1, len(ok)) / 100
    return ok, k - len(ok), (cpu1 - cpu0) / per_stream, (mine1 - mine0) / per_stream


def run_both(
    app: str, handler: str, ks: list[int], only: str | None, round_fn: Any, warm_up: Any = None
) -> dict[str, list[dict[str, Any]]]:
    """Runs `round_fn(base, server, k)` for every K on this package, then on the original."""
    import asyncio
    import sys

    import psutil

    impls = {"rust": sys.executable, "original": str(HERE / ".venv-original" / "bin" / "python")}
    rows: dict[str, list[dict[str, Any]]] = {}
    for name, python in impls.items():
        if only and name != only:
            continue
        if not Path(python).exists():
            print(f"[{name}] skipped: {python} missing (run bench/setup_original.sh)")
            continue
        proc, base = start_server(python, handler, app)
        server = psutil.Process(proc.pid)
        rows[name] = []
        try:
            if warm_up is not None:
                warm_up(base, server)
                wait_drained(base)
            for k in ks:
                row = asyncio.run(round_fn(base, server, k))
                rows[name].append(row)
                print(f"[{name}] K={k}: {json.dumps(row)}", flush=True)
                wait_drained(base)
        finally:
            proc.terminate()
            proc.wait(10)
    return rows


def wait_drained(base: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with urllib.request.urlopen(f"{base}/stats", timeout=10) as r:
            if json.loads(r.read())["sessions"] == 0:
                return
        time.sleep(0.5)
