"""A voice app as a replica runs it (`deploy/cluster/local.sh N tests/apps/cluster_app.py`): each
reply is a short tone and an AdditionalOutputs naming the replica (its process id), so a test can
tell which replica answered a conversation through the balancer.

Also a `Stream` on FastAPI for the WebSocket route: `deploy/cluster/local.sh N cluster_app:app`
(run from tests/apps).
"""

from __future__ import annotations

import os

import gradio as gr
import numpy as np
from fastapi import FastAPI

from gradio_webrtc import AdditionalOutputs, ReplyOnPause, Stream, WebRTC

RATE = 24000


def reply(audio: tuple[int, np.ndarray]):
    """Half a second of 440 Hz for each utterance, and who answered."""
    t = np.arange(RATE // 2) / RATE
    yield RATE, (0.3 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16)
    yield AdditionalOutputs(str(os.getpid()))


with gr.Blocks() as demo:
    voice = WebRTC(label="Conversation", modality="audio", mode="send-receive", elem_id="conversation")
    replica = gr.Textbox(label="Replica")
    voice.stream(ReplyOnPause(reply), inputs=[voice], outputs=[voice], concurrency_limit=32, time_limit=120)
    voice.on_additional_outputs(lambda who: who, outputs=[replica])

stream = Stream(
    ReplyOnPause(reply, input_sample_rate=16000), modality="audio", mode="send-receive", concurrency_limit=64
)
app = FastAPI()
stream.mount(app)

if __name__ == "__main__":
    demo.launch()
