"""Audio echo server for benchmarks, for whichever gradio_webrtc this interpreter has installed.

Serves `POST /offer` (the component's wire protocol: `{sdp, type, webrtc_id}` -> answer) and
`GET /stats` (live sessions) on a small asyncio HTTP server, so both libraries are driven the same
way. With the original library the offer goes to a real `WebRTC` component's `offer` server function.

    python bench/echo_server.py --port 8123 [--handler async|sync]
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


def build(kind: str) -> tuple[Any, Any]:
    """Returns `(offer coroutine function, live-session counter)` for the installed library."""
    handler = make_handler(kind)
    try:
        from gradio_webrtc.connections import Connections
    except ImportError:  # the original library: a real component in a Blocks app
        import gradio as gr

        with gr.Blocks():
            component = gradio_webrtc.WebRTC(mode="send-receive", modality="audio")
            component.stream(fn=handler, inputs=[component], outputs=[component], concurrency_limit=10_000)
        return component.offer, lambda: len(component.connections)
    connections = Connections(handler, mode="send-receive", modality="audio", concurrency_limit=None)
    return connections.offer, lambda: len(connections)


async def serve(port: int, kind: str) -> None:
    offer, live = build(kind)

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
    parser.add_argument("--handler", choices=["async", "sync"], default="async")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(serve(args.port, args.handler))


if __name__ == "__main__":
    main()
