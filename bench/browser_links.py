"""Chromium's own WebRTC stack as the peer, over a lossy or capped link: what a browser user sees.

Headless Chromium sends a fake camera (a textured 640x480 picture with a moving bar) to the flipping
`Stream` of tests/apps/link_page_app.py and plays what comes back; every datagram crosses a UDP relay
(tests/relay.py) that drops the given share each way once the call is up, or caps the downlink with
a 300 ms tail-drop queue. Chromium's own `getStats()` gives the figures after a warm-up: frames decoded a second, its
freeze count and time frozen (its definition: a frame interval over 3x the average, or 150 ms above
it), its jitter-buffer delay and the picture size; the server's counters give the repairs (NACKed
packets, retransmissions sent, packets on Chromium's RTX stream) and its estimate of the link.

This package only: gradio_webrtc 0.0.31 has no `Stream` to mount beside it (bench/video_network.py
has both libraries, with aiortc as the client).

    python bench/browser_links.py [--loss 5 10 20] [--caps 0.5] [--seconds 15] [--warm 5]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import chromium, wait_until_serving  # noqa: E402
from conftest import _free_tcp_port  # noqa: E402
from relay import Relay  # noqa: E402
from test_browser_links import write_camera  # noqa: E402


def get(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.load(r)


def row(name: str, relay: Relay, loss: float, camera: Path, warm_s: float, seconds: float) -> dict[str, Any]:
    port = _free_tcp_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "apps" / "link_page_app.py"), str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_WEBRTC_DRAIN_ON_SIGTERM": "0"},
    )
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, server)
        with chromium(video_file=camera) as browser:
            page = browser.new_page()

            def relay_to(host: str, p: int) -> int:
                relay.server = (host, p)
                return relay.port

            page.expose_function("relayTo", relay_to)
            page.goto(url)
            page.evaluate("start()")
            page.wait_for_function("state.connection === 'connected' || state.error", timeout=30000)
            if page.evaluate("state.error"):
                raise RuntimeError(page.evaluate("state.error"))
            stats_url = f"{url}/stats?webrtc_id={page.evaluate('state.webrtcId')}"
            relay.loss = loss
            page.wait_for_timeout(int(warm_s * 1000))
            c0, s0, t0 = page.evaluate("inbound()"), get(stats_url), time.monotonic()
            page.wait_for_timeout(int(seconds * 1000))
            c1, s1, t1 = page.evaluate("inbound()"), get(stats_url), time.monotonic()
    finally:
        relay.close()
        server.terminate()
        server.wait(30)
    emitted = max(1, c1["jitterBufferEmittedCount"] - c0["jitterBufferEmittedCount"])
    return {
        "link": name,
        "fps": (c1["framesDecoded"] - c0["framesDecoded"]) / (t1 - t0),
        "size": f"{c1['frameWidth']}x{c1['frameHeight']}",
        "freezes": c1["freezeCount"] - c0["freezeCount"],
        "frozen": c1["totalFreezesDuration"] - c0["totalFreezesDuration"],
        "buffer_ms": 1000 * (c1["jitterBufferDelay"] - c0["jitterBufferDelay"]) / emitted,
        "asked": s1.get("video_nacks_sent", 0) - s0.get("video_nacks_sent", 0),
        "resent": s1.get("video_repairs_out", 0) - s0.get("video_repairs_out", 0),
        "rtx_in": s1.get("video_rtx_in", 0) - s0.get("video_rtx_in", 0),
        "estimate": s1.get("link_estimate", 0) / 1000,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--loss", type=float, nargs="*", default=[5, 10, 20], help="percent, each way")
    parser.add_argument("--caps", type=float, nargs="*", default=[0.5], help="downlink Mbit/s")
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--warm", type=float, default=5.0)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        camera = Path(tmp) / "camera.y4m"
        write_camera(camera)
        links = [(f"{p:g} % loss", {}, p / 100) for p in args.loss]
        links += [(f"{c:g} Mbit/s", {"cap_bps": c * 1e6, "queue_s": 0.3}, 0.0) for c in args.caps]
        for name, shape, loss in links:
            try:
                r = row(name, Relay(**shape), loss, camera, args.warm, args.seconds)
            except Exception as e:  # a row that fails is reported, the others still run
                print(f"{name}: {type(e).__name__}: {str(e).splitlines()[0]}", flush=True)
                continue
            print(r, flush=True)
            rows.append(r)
    print(f"\nChromium {time.strftime('%Y-%m-%d')}, {args.seconds:g} s per row after {args.warm:g} s")
    print("| link | fps decoded | picture | freezes | frozen | jitter buffer | asked / resent / RTX in | estimate |")
    print("|---|---|---|---|---|---|---|---|")
    for r in rows:
        print(
            f"| {r['link']} | {r['fps']:.1f} | {r['size']} | {r['freezes']} | {r['frozen']:.1f} s "
            f"| {r['buffer_ms']:.0f} ms | {r['asked']} / {r['resent']} / {r['rtx_in']} | {r['estimate']:.0f} kbit/s |"
        )


if __name__ == "__main__":
    main()
