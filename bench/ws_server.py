"""WebSocket benchmark server for whichever library is importable: `Stream(...).mount(app)`.

`--lib rust` uses this package (`gradio_webrtc`), `--lib fastrtc` fastrtc 0.0.34; the handler code
is the same. Apps: `echo` (receive() queues frames, emit() returns them; 16 kHz in and out) and
`reply` (ReplyOnPause answering each utterance with a 0.5 s tone at 16 kHz).

    python bench/ws_server.py --port 8124 --lib rust|fastrtc --app echo|reply
"""

from __future__ import annotations

import argparse
import collections
import importlib
import logging
import os
from typing import Any

import numpy as np

RATE = 16000


def build(lib: str, app: str) -> Any:
    module = importlib.import_module("gradio_webrtc" if lib == "rust" else "fastrtc")

    class Echo(module.StreamHandler):
        def __init__(self) -> None:
            super().__init__(input_sample_rate=RATE, output_sample_rate=RATE, output_frame_size=RATE // 50)
            self.frames: collections.deque[Any] = collections.deque()

        def receive(self, frame: Any) -> None:
            self.frames.append(frame)

        def emit(self) -> Any:
            return self.frames.popleft() if self.frames else None

        def copy(self) -> Echo:
            return Echo()

    def reply(audio: Any) -> Any:
        t = np.arange(RATE // 10) / RATE
        for i in range(5):
            yield RATE, (0.4 * 32767 * np.sin(2 * np.pi * 660 * (t + i / 10))).astype(np.int16).reshape(1, -1)

    handler = Echo() if app == "echo" else module.ReplyOnPause(reply, input_sample_rate=RATE, output_sample_rate=RATE)
    return module.Stream(handler, modality="audio", mode="send-receive", concurrency_limit=10_000)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--lib", choices=["rust", "fastrtc"], required=True)
    parser.add_argument("--app", choices=["echo", "reply"], default="echo")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    import uvicorn
    from fastapi import FastAPI

    stream = build(args.lib, args.app)
    app = FastAPI()
    stream.mount(app)

    @app.get("/stats")
    def stats() -> dict[str, Any]:
        info: dict[str, Any] = {"pid": os.getpid()}
        connections = getattr(getattr(stream, "webrtc_component", None), "connections", None)
        if args.lib == "rust" and connections is not None:
            sessions = [c.session.stats() for c in connections.connections.values()]
            info["sessions"] = [
                {
                    k: s[k]
                    for k in ("input_queued", "output_buffered", "output_frames_trimmed", "frames_in", "late_frames")
                }
                for s in sessions
            ]
        return info

    config = uvicorn.Config(app, host="127.0.0.1", port=args.port, log_level="warning", ws_ping_interval=None)
    server = uvicorn.Server(config)
    print(f"ready {args.port}", flush=True)
    server.run()


if __name__ == "__main__":
    main()
