"""The server side of tests/apps/link_page.html: a `Stream` that flips the camera's pictures,
mounted on FastAPI, and `/stats` with each session's counters.

    python tests/apps/link_page_app.py PORT
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import uvicorn
from fastapi import FastAPI
from fastapi.responses import HTMLResponse

from gradio_webrtc import Stream


def flip(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[::-1])


stream = Stream(flip, modality="video", mode="send-receive")
app = FastAPI()
stream.mount(app)


@app.get("/stats")
def stats(webrtc_id: str) -> dict[str, Any]:
    connection = stream.connections.get(webrtc_id)
    return dict(connection.session.stats()) if connection is not None else {}


@app.get("/")
def page() -> HTMLResponse:
    return HTMLResponse((Path(__file__).parent / "link_page.html").read_text())


if __name__ == "__main__":
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
