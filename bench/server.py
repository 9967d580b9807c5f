"""Benchmark server for whichever gradio_webrtc this interpreter has installed.

Apps: `echo` (audio echo handler), `flip` (video send-receive, the frame flipped vertically) and
`reply` (ReplyOnPause answering each utterance with a short tone).
Serves a real Gradio Blocks app (FastAPI, uvicorn) holding one `WebRTC` component, so clients use
the component's real HTTP API exactly as the page does: `POST /gradio_api/component_server/` with
`fn_name="offer"`, and the `tick` event through Gradio's queue. `GET /bench-info` tells the component
id and the tick dependency, `GET /stats` the live sessions (for this package also each one's engine
counters). Both libraries run the same script.

    python bench/server.py --port 8123 [--app echo|flip] [--handler async|sync]
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import inspect
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


def algo_options() -> Any:
    """The pause rule: the defaults, or `audio_chunk_duration` from BENCH_AUDIO_CHUNK_DURATION."""
    chunk = os.environ.get("BENCH_AUDIO_CHUNK_DURATION")
    return gradio_webrtc.AlgoOptions(audio_chunk_duration=float(chunk)) if chunk else None


def turn_options() -> dict[str, Any]:
    """`turn_detector=SmartTurn(**options)` when BENCH_SMART_TURN holds the options (JSON), for
    bench/turn_taking.py; nothing otherwise (the pause rule alone)."""
    options = os.environ.get("BENCH_SMART_TURN")
    if options is None:
        return {}
    import json

    from gradio_webrtc import SmartTurn

    return {"turn_detector": SmartTurn(**json.loads(options))}


def build(app: str, kind: str) -> tuple[Any, Any, Any]:
    """`(blocks, component, live-session counter)` for the installed library: a real Gradio app."""
    import gradio as gr

    modality = "video" if app == "flip" else "audio"
    handler = {
        "echo": lambda: make_handler(kind),
        "flip": lambda: flip,
        "reply": lambda: gradio_webrtc.ReplyOnPause(reply, algo_options=algo_options(), **turn_options()),
    }[app]()
    with gr.Blocks() as blocks:
        component = gradio_webrtc.WebRTC(mode="send-receive", modality=modality)
        # Every benchmark client connects from 127.0.0.1: no per-address offer limit (this package's).
        extra = (
            {"offers_per_minute": None} if "offers_per_minute" in inspect.signature(component.stream).parameters else {}
        )
        component.stream(fn=handler, inputs=[component], outputs=[component], concurrency_limit=10_000, **extra)
    connections = getattr(component, "connections", None)
    if connections is not None and hasattr(connections, "engine"):
        return blocks, component, lambda: len(connections)
    return blocks, component, lambda: len(type(component).connections)  # the original's class-level dict


def serve(port: int, app: str, kind: str) -> None:
    """Serves the Gradio app (the component's real HTTP API) plus the benchmark's two endpoints."""
    import gradio as gr
    import uvicorn
    from fastapi import FastAPI

    blocks, component, live = build(app, kind)
    api = FastAPI()

    @api.get("/stats")
    def stats() -> dict[str, Any]:
        """Live sessions, and for this package the engine's sessions and its runtime's tasks."""
        out: dict[str, Any] = {"sessions": live(), "pid": os.getpid()}
        engine = getattr(getattr(component, "connections", None), "engine", None)
        if engine is not None:
            from gradio_webrtc import _engine

            out["engine_sessions"] = engine.session_count()
            out["runtime_tasks"] = _engine.runtime_tasks()
            connections = component.connections.connections  # type: ignore[union-attr]
            out["session_stats"] = {i: c.session.stats() for i, c in list(connections.items())}
        return out

    @api.get("/memory")
    def memory(types: bool = False, collect: bool = True, garbage: bool = False) -> dict[str, Any]:
        """Diagnostics for bench/churn.py: Python objects alive, and RSS before and after glibc's
        `malloc_trim(0)` (memory freed but kept by the allocator comes back; a leak does not)."""
        import ctypes
        import gc

        import psutil

        me = psutil.Process()
        before = me.memory_info().rss
        cycles: dict[str, int] = {}
        if garbage:  # what the session cycles are made of
            gc.set_debug(gc.DEBUG_SAVEALL)
            gc.collect()
            cycles = dict(collections.Counter(type(o).__qualname__ for o in gc.garbage).most_common(40))
            gc.garbage.clear()
            gc.set_debug(0)
        unreachable = gc.collect() if collect else 0
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        objects = gc.get_objects()
        counts = collections.Counter(type(o).__qualname__ for o in objects) if types else {}
        return {
            "types": dict(counts),
            "garbage": cycles,
            "py_objects": len(objects),
            "unreachable": unreachable,
            "rss_mb": round(before / 2**20, 1),
            "trimmed_rss_mb": round(me.memory_info().rss / 2**20, 1),
        }

    @api.get("/bench-info")
    def info() -> dict[str, Any]:
        """What clients need to talk to the component: its id and its `tick` dependency."""
        config = blocks.get_config_file()
        tick = next(
            i
            for i, d in enumerate(config["dependencies"])
            if [component._id, "tick"] in [list(t) for t in d["targets"]]
        )
        return {"component_id": component._id, "tick_fn_index": tick}

    api = gr.mount_gradio_app(api, blocks, path="/")
    server = uvicorn.Server(uvicorn.Config(api, host="127.0.0.1", port=port, log_level="warning"))

    async def run() -> None:
        task = asyncio.create_task(server.serve())
        while not server.started:
            await asyncio.sleep(0.05)
        print(f"ready {port}", flush=True)
        await task

    asyncio.run(run())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--app", choices=["echo", "flip", "reply"], default="echo")
    parser.add_argument("--handler", choices=["async", "sync"], default="async")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    if os.environ.get("BENCH_DEBUG"):
        logging.getLogger("gradio_webrtc").setLevel(logging.DEBUG)
    serve(args.port, args.app, args.handler)


if __name__ == "__main__":
    main()
