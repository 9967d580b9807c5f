"""The server side of tests/apps/fastrtc_page.html, as fastrtc's API guide has an app write it:
a `Stream` mounted on FastAPI, then the app's own `/input_hook` and `/outputs`.

    python tests/apps/fastrtc_page_app.py PORT
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import gradio as gr
import numpy as np
import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse, StreamingResponse
from fastrtc import AdditionalOutputs, ReplyOnPause, Stream
from pydantic import BaseModel


def reply(audio: tuple[int, np.ndarray], name: str = "nobody"):
    seconds = audio[1].shape[-1] / audio[0]
    yield AdditionalOutputs(f"hello {name}, you spoke for {seconds:.1f} s")
    t = np.arange(24000) / 24000
    yield 24000, (0.4 * 32767 * np.sin(2 * np.pi * 520 * t)).astype(np.int16).reshape(1, -1)


stream = Stream(
    ReplyOnPause(reply),
    modality="audio",
    mode="send-receive",
    additional_inputs=[gr.Textbox(label="name")],
    additional_outputs=[gr.Textbox(label="said")],
    additional_outputs_handler=lambda old, new: new,
)
app = FastAPI()
stream.mount(app)


class InputData(BaseModel):
    webrtc_id: str
    name: str


@app.post("/input_hook")
async def input_hook(body: InputData):
    stream.set_input(body.webrtc_id, body.name)
    return {"status": "ok"}


@app.get("/outputs")
def outputs(webrtc_id: str):
    async def output_stream():
        async for output in stream.output_stream(webrtc_id):
            yield f"event: output\ndata: {json.dumps(output.args[0])}\n\n"

    return StreamingResponse(output_stream(), media_type="text/event-stream")


@app.get("/")
def index():
    return HTMLResponse((Path(__file__).parent / "fastrtc_page.html").read_text())


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
