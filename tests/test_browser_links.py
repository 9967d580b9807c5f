"""Chromium's own WebRTC stack as the peer, behind a 500 kbit/s downlink with a 300 ms tail-drop
queue (tests/relay.py): the server's video follows Chromium's transport-cc feedback, stays under
the link, and Chromium keeps decoding what it sends. Chromium's own figures (frame rate, freezes,
jitter-buffer delay) are printed; bench/video_network.py has the same links with aiortc beside the
original library.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import numpy as np
from browser import chromium, wait_until_serving
from conftest import ROOT, _free_tcp_port
from relay import Relay

CAP = 500_000
W, H = 640, 480


def write_camera(path: Path, frames: int = 60) -> None:
    """A camera's picture: gradients under fixed noise (costly to encode), a bar moving across."""
    rng = np.random.default_rng(5)
    y, x = np.mgrid[0:H, 0:W]
    base = np.clip((x * 200 // W) + (y * 40 // H) + rng.integers(-30, 30, (H, W)), 16, 235).astype(np.uint8)
    uv = np.full((H // 2, W // 2), 128, np.uint8)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{W} H{H} F30:1 Ip A1:1 C420jpeg\n".encode())
        for n in range(frames):
            luma = base.copy()
            left = n * (W - 64) // frames
            luma[180:300, left : left + 64] = 235
            f.write(b"FRAME\n" + luma.tobytes() + uv.tobytes() + uv.tobytes())


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=5) as r:
        return json.load(r)


def test_video_follows_the_browsers_feedback_behind_a_capped_link(tmp_path):
    camera = tmp_path / "camera.y4m"
    write_camera(camera)
    port = _free_tcp_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "apps" / "link_page_app.py"), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    relay = Relay(cap_bps=CAP, queue_s=0.3)
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_serving(url, server)
        with chromium(video_file=camera) as browser:
            page = browser.new_page()

            def relay_to(host: str, port: int) -> int:
                relay.server = (host, port)
                return relay.port

            page.expose_function("relayTo", relay_to)
            page.goto(url)
            page.evaluate("start()")
            page.wait_for_function("state.connection === 'connected' || state.error", timeout=30000)
            assert page.evaluate("state.error") is None, page.evaluate("state.error")
            webrtc_id = page.evaluate("state.webrtcId")
            page.wait_for_timeout(8000)  # the estimate settles
            settled = time.monotonic()
            chrome0, server0 = page.evaluate("inbound()"), get(f"{url}/stats?webrtc_id={webrtc_id}")
            page.wait_for_timeout(12000)
            until = time.monotonic()
            chrome1, server1 = page.evaluate("inbound()"), get(f"{url}/stats?webrtc_id={webrtc_id}")
            page.screenshot(path=str(tmp_path / "link-page.png"))
    finally:
        relay.close()
        server.terminate()
        server.wait(10)
        log.close()

    seconds = until - settled
    decoded = chrome1["framesDecoded"] - chrome0["framesDecoded"]
    sent = server1["video_frames_out"] - server0["video_frames_out"]
    freezes = chrome1["freezeCount"] - chrome0["freezeCount"]
    frozen = chrome1["totalFreezesDuration"] - chrome0["totalFreezesDuration"]
    emitted = chrome1["jitterBufferEmittedCount"] - chrome0["jitterBufferEmittedCount"]
    buffered = (chrome1["jitterBufferDelay"] - chrome0["jitterBufferDelay"]) / max(emitted, 1)
    used = relay.kbps_since(settled, until)
    print(
        f"\nChromium behind {CAP // 1000} kbit/s / 300 ms: {decoded / seconds:.1f} fps decoded "
        f"({chrome1['frameWidth']}x{chrome1['frameHeight']}), {freezes} freezes ({frozen:.2f} s), "
        f"jitter buffer {buffered * 1000:.0f} ms, link used {used:.0f} kbit/s, "
        f"{relay.drops_since(settled)} tail drops, server estimate {server1['link_estimate'] // 1000} kbit/s"
    )
    assert server1["link_feedback"] == 1, "the estimate follows Chromium's transport-cc feedback"
    # The picture needs ~430 kbit/s, under the cap: the sender is application-limited, and GCC's
    # estimate may climb to its bound, 1.5x what got through plus 50 kbit/s (`EngineEstimator`;
    # seen at 771 kbit/s once under a loaded machine, ~400 kbit/s alone). What the link is
    # offered is checked below.
    assert server1["link_estimate"] <= 1.5 * CAP + 50_000, server1
    assert used < CAP / 1000, f"{used:.0f} kbit/s offered to a {CAP // 1000} kbit/s link"
    delivered = sum(1 for at, _ in relay.delivered if at >= settled)
    assert relay.drops_since(settled) <= delivered // 100, "the link's queue does not overflow"
    assert sent > 0 and decoded >= sent * 0.8, f"Chromium decoded {decoded} of the {sent} pictures sent"
