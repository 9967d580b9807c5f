"""Benchmark server for whichever gradio_webrtc this interpreter has installed.

Apps: `echo` (audio echo handler), `flip` (video send-receive, the frame flipped vertically) and
`reply` (ReplyOnPause answering each utterance with a short tone).
Serves `POST /offer` (the component's wire protocol: `{sdp, type, webrtc_id}` -> answer),
`POST /set_input` (what the page's first `tick` does: hand the inputs to the connection) and
`GET /stats` (live sessions) on a small asyncio HTTP server, so both libraries are driven the same
way. With the original library the offer goes to a real `WebRTC` component's `offer` server function.

    python bench/server.py --port 8123 [--app echo|flip] [--handler async|sync]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import logging
import os
from typing import Any

import gradio_webrtc


def make_handler(kind: str) -> Any:
    """The echo handler from the libraries' docs, written once for both."""
    if kind == "async":

        class AsyncEcho(gradio_webrtc.AsyncStreamHandler):
            def __init__(self) -> None:
                super().__init__(input_sample_rate=48000, output_sample_rate=48000, output_frame_size=960)
                self.queue: asyncio.Queue[Any] = asyncio.Queue()

            async def receive(self, frame: Any) -> None:
                self.queue.put_nowait(frame)

            async def emit(self) -> Any:
                return await self.queue.get()

            def copy(self) -> AsyncEcho:
                return AsyncEcho()

        return AsyncEcho()

    class SyncEcho(gradio_webrtc.StreamHandler):
        def __init__(self) -> None:
            super().__init__(input_sample_rate=48000, output_sample_rate=48000, output_frame_size=960)
            self.frames: collections.deque[Any] = collections.deque()

        def receive(self, frame: Any) -> None:
            self.frames.append(frame)

        def emit(self) -> Any:
            return self.frames.popleft() if self.frames else None

        def copy(self) -> SyncEcho:
            return SyncEcho()

    return SyncEcho()


def flip(frame: Any) -> Any:
    """The video handler: the picture upside down (a copy, as a model's output would be)."""
    return frame[::-1].copy()


def reply(audio: Any) -> Any:
    """ReplyOnPause's function: a 0.5 s 660 Hz tone in 0.1 s pieces (a stand-in for TTS output)."""
    import numpy as np

    for i in range(5):
        t = (i * 2400 + np.arange(2400)) / 24000
        yield 24000, (0.4 * 32767 * np.sin(2 * np.pi * 660 * t)).astype(np.int16).reshape(1, -1)


def build(app: str, kind: str) -> tuple[Any, Any, Any]:
    """`(offer, set_input, live-session counter)` for the installed library, through a real component."""
    import gradio as gr

    modality = "video" if app == "flip" else "audio"
    handler = {
        "echo": lambda: make_handler(kind),
        "flip": lambda: flip,
        "reply": lambda: gradio_webrtc.ReplyOnPause(reply),
    }[app]()
    with gr.Blocks():
        component = gradio_webrtc.WebRTC(mode="send-receive", modality=modality)
        component.stream(fn=handler, inputs=[component], outputs=[component], concurrency_limit=10_000)
    connections = getattr(component, "connections", None)
    live = (lambda: len(connections)) if connections is not None and hasattr(connections, "engine") else None
    if live is None:  # the original keeps its sessions in a class-level dict
        live = lambda: len(type(component).connections)  # noqa: E731
    return component.offer, component.set_input, live


async def serve(port: int, app: str, kind: str) -> None:
    offer, set_input, live = build(app, kind)

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request = await reader.readline()
            method, path, _ = request.decode().split(" ", 2)
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b"\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            body = await reader.readexactly(length) if length else b""
            if method == "POST" and path == "/offer":
                result: Any = await offer(json.loads(body))
            elif method == "POST" and path == "/set_input":
                set_input(json.loads(body)["webrtc_id"])
                result = {"ok": True}
            elif path == "/stats":
                result = {"sessions": live(), "pid": os.getpid()}
            else:
                result = {"error": "not found"}
            payload = json.dumps(result).encode()
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n")
            writer.write(f"Content-Length: {len(payload)}\r\nConnection: close\r\n\r\n".encode() + payload)
            await writer.drain()
        except Exception:
            logging.exception("request failed")
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", port, backlog=256)
    print(f"ready {port}", flush=True)
    async with server:
        await server.serve_forever()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", choices=["echo", "flip", "reply"], default="echo")
    parser.add_argument("--handler", choices=["async", "sync"], default="async")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if os.environ.get("BENCH_DEBUG"):
        logging.getLogger("gradio_webrtc").setLevel(logging.DEBUG)
    asyncio.run(serve(args.port, args.app, args.handler))


if __name__ == "__main__":
    main()
