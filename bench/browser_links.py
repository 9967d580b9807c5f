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
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "tests"))

from relay import Relay  # noqa: E402
from test_browser_links import call_through  # noqa: E402


def row(name: str, relay: Relay, loss: float, tmp: Path, warm_s: float, seconds: float) -> dict[str, Any]:
    run = call_through(relay, tmp, settle_ms=int(warm_s * 1000), window_ms=int(seconds * 1000), loss=loss)
    c0, c1, s0, s1 = run.chrome0, run.chrome1, run.server0, run.server1
    emitted = max(1, c1["jitterBufferEmittedCount"] - c0["jitterBufferEmittedCount"])
    return {
        "link": name,
        "fps": (c1["framesDecoded"] - c0["framesDecoded"]) / (run.until - run.settled),
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
        links = [(f"{p:g} % loss", {}, p / 100) for p in args.loss]
        links += [(f"{c:g} Mbit/s", {"cap_bps": c * 1e6, "queue_s": 0.3}, 0.0) for c in args.caps]
        for name, shape, loss in links:
            try:
                r = row(name, Relay(**shape), loss, Path(tmp), args.warm, args.seconds)
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
