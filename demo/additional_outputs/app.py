"""Seed example "Additional Outputs", offline: each utterance adds a turn to a Chatbot.

The seed transcribes with an audio LLM; with no model here, the "transcript" reports what was heard
(its length and loudness), which is enough to watch AdditionalOutputs update two components.
Run: python demo/additional_outputs/app.py
"""

from __future__ import annotations

import inspect

import gradio as gr
import numpy as np

from gradio_webrtc import AdditionalOutputs, ReplyOnPause, WebRTC


def transcribe(audio: tuple[int, np.ndarray], transformers_convo: list[dict], gradio_convo: list[dict]):
    rate, array = audio
    level = 20 * np.log10(np.sqrt(np.mean((array.astype(np.float32) / 32768) ** 2)) + 1e-9)
    response = f"I heard {array.shape[1] / rate:.1f} s of speech at {level:.0f} dBFS."
    transformers_convo = [*(transformers_convo or []), {"role": "assistant", "content": response}]
    gradio_convo = [*(gradio_convo or []), {"role": "assistant", "content": response}]
    yield AdditionalOutputs(transformers_convo, gradio_convo)


chatbot_kwargs = {"type": "messages"} if "type" in inspect.signature(gr.Chatbot.__init__).parameters else {}

with gr.Blocks() as demo:
    transformers_convo = gr.State(value=[])
    with gr.Row():
        with gr.Column():
            audio = WebRTC(label="Stream", mode="send", modality="audio")
        with gr.Column():
            transcript = gr.Chatbot(label="transcript", **chatbot_kwargs)

    audio.stream(
        ReplyOnPause(transcribe), inputs=[audio, transformers_convo, transcript], outputs=[audio], time_limit=90
    )
    audio.on_additional_outputs(
        lambda s, a: (s, a), outputs=[transformers_convo, transcript], queue=False, show_progress="hidden"
    )

if __name__ == "__main__":
    demo.launch()
