"""The README's echo demo in a real browser: Chromium's fake microphone in, echoed audio out."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

from browser import chromium

ROOT = Path(__file__).parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_echo_demo_plays_back_the_microphone(tmp_path):
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "demo" / "custom_client" / "app.py"), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert server.stdout is not None
        assert "running on" in server.stdout.readline()
        with chromium() as browser:
            page = browser.new_page()
            page.goto(f"http://127.0.0.1:{port}/")
            page.click("#start")
            page.wait_for_function("document.getElementById('status').textContent.includes('connected')", timeout=15000)
            # The page's <audio> gets the remote track; measure its level with WebAudio for 3 s.
            level = page.evaluate(
                """async () => {
                    const stream = document.getElementById('out').srcObject;
                    const ctx = new AudioContext();
                    const analyser = ctx.createAnalyser();
                    ctx.createMediaStreamSource(stream).connect(analyser);
                    const buf = new Float32Array(analyser.fftSize);
                    let peak = 0;
                    for (let i = 0; i < 60; i++) {
                        await new Promise(r => setTimeout(r, 50));
                        analyser.getFloatTimeDomainData(buf);
                        for (const v of buf) peak = Math.max(peak, Math.abs(v));
                    }
                    return peak;
                }"""
            )
            # Chromium's fake microphone plays a beep; the echo must carry it back.
            assert level > 0.01, f"no echoed audio (peak {level})"
            page.screenshot(path=str(tmp_path / "echo-demo.png"))
            page.click("#stop")
            time.sleep(0.5)
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout:
            server.stdout.close()
