"""`Stream.fastphone()` against a local stand-in of fastrtc's FastPhone service.

The service has no published API reference; the stand-in answers as fastrtc 0.0.34's client
(`fastrtc/stream.py`, `fastphone`) expects it to: `POST /register` with `{"url": <host>}` and the
raw token in `Authorization`, answered with `{"code", "phone", "reset_date", "time_remaining"}`, or
HTTP 202 when the quota is spent; `POST /unregister` with `{"url", "code"}`. The first address
failing makes the client try the second, as fastrtc does.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
from conftest import ROOT, _free_tcp_port
from speech import load
from stream_server import TwilioCall, wait_for


class FastPhoneStandIn:
    def __init__(self, status: int = 200, fail: bool = False) -> None:
        self.requests: list[tuple[str, dict[str, Any], str | None]] = []
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stand_in.requests.append((self.path, body, self.headers.get("Authorization")))
                if fail:
                    self.send_response(503)
                    self.end_headers()
                    return
                if self.path == "/register" and status == 202:
                    self.send_response(202)
                    self.end_headers()
                    return
                reply = (
                    {"code": "4321", "phone": "+1 555 0100", "reset_date": "2027-01-01", "time_remaining": 125.0}
                    if self.path == "/register"
                    else {"status": "ok"}
                )
                data = json.dumps(reply).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Server:
    """Just what `TwilioCall.dial` needs: the WebSocket base URL."""

    def __init__(self, port: int) -> None:
        self.ws = f"ws://127.0.0.1:{port}"


def run_app(port: int, services: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(ROOT / "tests" / "apps" / "fastphone_app.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={
            **os.environ,
            "GRADIO_WEBRTC_FASTPHONE_API": services,
            "GRADIO_ANALYTICS_ENABLED": "False",
            # Calls come from fastrtc's service, not your Twilio account: no signature is checked.
            "TWILIO_AUTH_TOKEN": "a-token-the-service-does-not-sign-with",
        },
    )


async def test_fastphone_registers_serves_calls_and_gives_the_number_back():
    broken, service = FastPhoneStandIn(fail=True), FastPhoneStandIn()
    port = _free_tcp_port()
    app = run_app(port, f"{broken.url},{service.url}")
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(app.stdout), daemon=True).start()  # type: ignore[arg-type]
    try:
        await wait_for(lambda: any("Your FastPhone is now live" in line for line in lines), 60)
        printed = "".join(lines)
        assert "Call +1 555 0100 and use code 4321" in printed
        assert "You have 02:05 minutes remaining in your quota (Resetting on 2027-01-01)" in printed
        host = f"phone-{port}.example.net"
        assert broken.requests == [("/register", {"url": host}, "hf_test_token")], "the first address, tried"
        assert service.requests == [("/register", {"url": host}, "hf_test_token")]
        # The service connects a caller to the stream's phone route.
        call = await TwilioCall.dial(Server(port))
        await call.say(load("one_sentence", 8000).astype(np.float32) / 32768)
        await wait_for(lambda: any(m.get("event") == "media" for m in call.received), 15)
        await call.hang_up()
        app.send_signal(signal.SIGINT)  # Ctrl-C
        app.wait(15)
        assert ("/unregister", {"url": host, "code": "4321"}, "hf_test_token") in service.requests
        assert "Keyboard interruption in main thread... closing server." in "".join(lines)
    finally:
        if app.poll() is None:
            app.kill()
            app.wait(5)
        if app.stdout:
            app.stdout.close()
        broken.close()
        service.close()


def test_fastphone_says_when_the_quota_is_spent():
    service = FastPhoneStandIn(status=202)
    app = run_app(_free_tcp_port(), service.url)
    try:
        out, _ = app.communicate(timeout=60)
    finally:
        service.close()
    assert "You have run out of your quota" in out
    assert app.returncode == 0 and [r[0] for r in service.requests] == ["/register"]


def test_module_constants():
    from gradio_webrtc import fastphone

    assert fastphone.SERVICE == "https://api.fastrtc.org"
    assert fastphone.FALLBACK == "https://fastrtc-fastphone.hf.space"
