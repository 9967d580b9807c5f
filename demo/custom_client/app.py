"""Echo demo: talk into the microphone and hear yourself back through the Rust engine.

Runs on the standard library only (an HTTP server for the page and the `/offer` endpoint), so it
works before any Gradio app exists. Open the printed URL and press Start.

    python demo/custom_client/app.py [--port 7860] [--host 127.0.0.1]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import numpy as np

from gradio_webrtc import AdditionalOutputs, StreamHandler
from gradio_webrtc.connections import Connections

PAGE = (Path(__file__).parent / "index.html").read_bytes()


class Echo(StreamHandler):
    """Plays back what it hears, 0.5 s later, and reports the input level once a second."""

    def __init__(self) -> None:
        super().__init__(input_sample_rate=48000, output_sample_rate=48000)
        self.frames: list[tuple[int, np.ndarray]] = []
        self.count = 0

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        self.frames.append(frame)

    def emit(self) -> Any:
        if len(self.frames) < 25:  # 25 frames of 20 ms = 0.5 s delay, so you can hear the echo
            return None
        rate, audio = self.frames.pop(0)
        self.count += 1
        if self.count % 50 == 0:
            level = float(np.sqrt(np.mean((audio.astype(np.float32) / 32768) ** 2)))
            return (rate, audio), AdditionalOutputs(f"input level {20 * np.log10(level + 1e-9):.0f} dBFS")
        return rate, audio

    def copy(self) -> Echo:
        return Echo()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")

    loop = asyncio.new_event_loop()
    threading.Thread(target=loop.run_forever, daemon=True, name="asyncio").start()
    connections = Connections(Echo(), mode="send-receive", modality="audio", concurrency_limit=10, time_limit=300)

    class Handler(BaseHTTPRequestHandler):
        def _reply(self, status: int, body: bytes, kind: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def do_GET(self) -> None:
            if self.path in ("/", "/index.html"):
                self._reply(200, PAGE, "text/html; charset=utf-8")
            else:
                self._reply(404, b"not found", "text/plain")

        def do_POST(self) -> None:
            if self.path != "/offer":
                self._reply(404, b"not found", "text/plain")
                return
            try:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
            except ValueError:
                body = None
            answer = asyncio.run_coroutine_threadsafe(connections.offer(body), loop).result(30)
            self._reply(200, json.dumps(answer).encode(), "application/json")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            logging.getLogger("http").debug(format, *args)

    server = ThreadingHTTPServer((args.host, args.port), Handler)
    print(f"Echo demo running on http://{args.host}:{args.port}  (Ctrl+C to stop)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        connections.close()


if __name__ == "__main__":
    main()
