"""demo/websocket_client in Chromium: the fake microphone speaks, the parrot answers over a
WebSocket, the page plays the reply and shows the turn it got as a server-sent event."""

from __future__ import annotations

import subprocess
import sys

from browser import chromium, wait_until_serving
from conftest import ROOT, _free_tcp_port
from speech import DATA


def test_the_websocket_demo_answers_a_spoken_sentence(tmp_path):
    port = _free_tcp_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "demo" / "websocket_client" / "app.py"), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_serving(url, server)
        with chromium(audio_file=DATA / "one_sentence.wav") as browser:
            page = browser.new_page()
            page.goto(url)
            page.click("#start")
            page.wait_for_function("document.body.dataset.status === 'Streaming'", timeout=20000)
            page.wait_for_function("window.__demo.replies >= 1 && window.__demo.media > 25", timeout=30000)
            page.wait_for_selector("#turns p:has-text('Squawk')", timeout=15000)
            assert "(you spoke for" in page.inner_text("#turns")
            page.screenshot(path=str(tmp_path / "websocket-demo.png"))
            page.click("#stop")
            page.wait_for_function("document.body.dataset.status.startsWith('Stopped')", timeout=5000)
    finally:
        server.terminate()
        server.wait(10)
