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
from dataclasses import dataclass
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


@dataclass
class Run:
    """Chromium's and the server's counters at the start and the end of the measured window."""

    chrome0: dict
    chrome1: dict
    server0: dict
    server1: dict
    settled: float
    until: float
    answer: str


def call_through(relay: Relay, tmp_path: Path, settle_ms: int = 8000, window_ms: int = 12000, loss: float = 0.0) -> Run:
    """Chromium sends the camera through `relay` to the flipping server and plays it back; `loss`
    (each way) starts once connected (the handshake under loss is another subject)."""
    camera = tmp_path / "camera.y4m"
    write_camera(camera)
    port = _free_tcp_port()
    log = (tmp_path / "server.log").open("w")
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "apps" / "link_page_app.py"), str(port)],
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False", "GRADIO_WEBRTC_DRAIN_ON_SIGTERM": "0"},
    )
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
            relay.loss = loss
            page.wait_for_timeout(settle_ms)  # the estimate settles
            settled = time.monotonic()
            chrome0, server0 = page.evaluate("inbound()"), get(f"{url}/stats?webrtc_id={webrtc_id}")
            page.wait_for_timeout(window_ms)
            until = time.monotonic()
            chrome1, server1 = page.evaluate("inbound()"), get(f"{url}/stats?webrtc_id={webrtc_id}")
            answer = page.evaluate("state.answer")
            page.screenshot(path=str(tmp_path / "link-page.png"))
    finally:
        relay.close()
        server.terminate()
        server.wait(10)
        log.close()
    return Run(chrome0, chrome1, server0, server1, settled, until, answer)


def test_video_follows_the_browsers_feedback_behind_a_capped_link(tmp_path):
    relay = Relay(cap_bps=CAP, queue_s=0.3)
    run = call_through(relay, tmp_path)
    chrome0, chrome1, server0, server1 = run.chrome0, run.chrome1, run.server0, run.server1
    settled, until = run.settled, run.until

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


def test_chromium_repairs_on_rtx_both_ways_behind_a_lossy_link(tmp_path):
    """5 % of the datagrams lost each way: Chromium offers RTX (RFC 4588) and the answer takes it,
    so lost video is asked for (NACK) and resent on the repair stream in both directions: Chromium
    counts retransmissions received (it counts only those on RTX), the server counts repairs that
    came on Chromium's RTX stream, and the pictures keep being decoded."""
    run = call_through(Relay(), tmp_path, settle_ms=4000, window_ms=10000, loss=0.05)
    seconds = run.until - run.settled
    chrome0, chrome1, server0, server1 = run.chrome0, run.chrome1, run.server0, run.server1
    decoded = chrome1["framesDecoded"] - chrome0["framesDecoded"]
    resent_to_chrome = chrome1["retransmittedPacketsReceived"] - chrome0["retransmittedPacketsReceived"]
    print(
        f"\nChromium behind 5 % loss: {decoded / seconds:.1f} fps decoded "
        f"({chrome1['frameWidth']}x{chrome1['frameHeight']}), "
        f"{chrome1['freezeCount'] - chrome0['freezeCount']} freezes, "
        f"{resent_to_chrome} repairs received, {chrome1['nackCount'] - chrome0['nackCount']} NACKs sent; "
        f"server: {server1['video_repairs_out'] - server0['video_repairs_out']} repairs sent, "
        f"{server1['video_rtx_in'] - server0['video_rtx_in']} received, "
        f"{server1['video_nacks_sent'] - server0['video_nacks_sent']} packets asked for; "
        f"estimate {server1['link_estimate'] // 1000} kbit/s"
    )
    video = run.answer.split("m=video")[1]
    rtx = [line for line in video.splitlines() if line.endswith(" rtx/90000")]
    assert rtx and "a=ssrc-group:FID " in video, "the answer takes Chromium's RTX and names a repair stream"
    assert server1["video_repairs_out"] > server0["video_repairs_out"], server1
    assert resent_to_chrome > 0, "Chromium got the server's repairs on the RTX stream"
    assert server1["video_rtx_in"] > server0["video_rtx_in"], "and Chromium sent on its RTX stream (repairs, probes)"
    # The server's tail probes (padding-only packets after its pictures on a lossy link) reached
    # Chromium through the call; it decoded the pictures around them (below).
    assert server1["video_tail_probes"] > 0, server1
    # Random loss is not congestion: the estimate stays above what the picture needs (~430 kbit/s).
    # (Repairs on RTX once went unnumbered, then unrecorded, by transport-cc: it fell to 50-90 kbit/s.)
    assert server1["link_estimate"] >= 300_000, server1
    sent = server1["video_frames_out"] - server0["video_frames_out"]
    assert sent > 0 and decoded >= sent * 0.8, f"Chromium decoded {decoded} of the {sent} pictures sent"
