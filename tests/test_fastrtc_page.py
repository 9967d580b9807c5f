"""A page written for fastrtc's client protocol, in Chromium, against a fastrtc app on this engine:
trickled ICE, JSON data-channel messages, inputs through the app's `/input_hook`, outputs through
its `/outputs` (tests/apps/fastrtc_page.html and fastrtc_page_app.py)."""

from __future__ import annotations

import os
import subprocess
import sys

from browser import chromium, wait_until_serving
from conftest import ROOT, _free_tcp_port
from speech import DATA


def test_a_fastrtc_page_gets_its_reply_and_outputs(tmp_path):
    port = _free_tcp_port()
    server = subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "apps" / "fastrtc_page_app.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, "GRADIO_ANALYTICS_ENABLED": "False"},
    )
    try:
        url = f"http://127.0.0.1:{port}/"
        wait_until_serving(url, server)
        with chromium(audio_file=DATA / "one_sentence.wav") as browser:
            page = browser.new_page()
            page.goto(url)
            page.evaluate("start()")
            page.wait_for_function("state.connection === 'connected'", timeout=20000)
            page.wait_for_function("state.outputs.length >= 1", timeout=40000)
            state = page.evaluate("state")
            page.screenshot(path=str(tmp_path / "fastrtc-page.png"))
        assert state["offer"] == "answer"
        assert state["candidates"] and all(c == {"status": "success"} for c in state["candidates"]), state
        assert {"type": "send_input", "data": []} in state["messages"], "fastrtc's JSON, not 'tick'"
        assert "pause_detected" in state["logs"] and "response_starting" in state["logs"], state["logs"]
        assert state["outputs"][0].startswith("hello Ada, you spoke for"), state["outputs"]
        assert all(isinstance(m, dict) for m in state["messages"]), "every message parsed as JSON"
    finally:
        server.terminate()
        server.wait(10)
        if server.stdout:
            server.stdout.close()
