"""The main demo's parrot over a WebSocket: a plain page (no Gradio, no WebRTC) that streams the
microphone as μ-law to `Stream`'s `/websocket/offer` route and plays the replies.

The page answers the server's `send_input` with the chat so far (`POST /input_hook`) and shows the
turns it receives as server-sent events (`GET /outputs`): the same handler as `demo/app.py`, over
another transport. The app defines those two routes itself, as fastrtc's guides write them; they
answer only the client that started the stream (the package binds `set_input` and `output_stream`
to it while serving a request).

    python demo/websocket_client/app.py [--port 7861]    (then open http://127.0.0.1:7861)
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import gradio as gr
import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, StreamingResponse

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from app import parrot

from gradio_webrtc import ReplyOnPause, Stream

PAGE = (Path(__file__).parent / "index.html").read_text()
CHATBOT = {"type": "messages"} if "type" in inspect.signature(gr.Chatbot.__init__).parameters else {}


def build() -> FastAPI:
    chat = gr.Chatbot(label="Turns", **CHATBOT)
    stream = Stream(
        ReplyOnPause(parrot, input_sample_rate=16000, output_sample_rate=24000),
        modality="audio",
        mode="send-receive",
        additional_inputs=[chat],
        additional_outputs=[chat],
        additional_outputs_handler=lambda old, new: new,
        concurrency_limit=int(os.environ.get("CONCURRENCY", 10)),
        time_limit=float(os.environ.get("TIME_LIMIT", 300)),
    )
    app = FastAPI()
    stream.mount(app)

    @app.post("/input_hook")
    async def input_hook(request: Request) -> dict[str, str]:
        body = await request.json()
        stream.set_input(body["webrtc_id"], *body["inputs"])
        return {"status": "ok"}

    @app.get("/outputs")
    async def outputs(webrtc_id: str) -> StreamingResponse:
        async def events() -> AsyncIterator[str]:
            async for output in stream.output_stream(webrtc_id):
                yield f"event: output\ndata: {json.dumps(list(output.args))}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")

    @app.get("/")
    def page() -> HTMLResponse:
        return HTMLResponse(PAGE)

    app.state.stream = stream
    return app


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", 7861)))
    parser.add_argument("--host", default="127.0.0.1")
    args = parser.parse_args()
    print(f"running on http://{args.host}:{args.port}", flush=True)
    uvicorn.run(build(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
