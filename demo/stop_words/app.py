"""Seed example "Reply On Stopwords", offline: say "ok computer ..." and the server answers.

Keyword spotting runs offline (pocketsphinx, `pip install "gradio-webrtc-rs[stopword]"`); the reply here
is a short chime instead of a model's answer, and the "history" and "code" inputs of the seed are
plain components. Run: python demo/stop_words/app.py
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from gradio_webrtc import ReplyOnStopWords, WebRTC


def generate(audio: tuple[int, np.ndarray], history: str, code: str):
    """This function must yield audio frames"""
    sampling_rate = 24000
    t = np.arange(int(0.4 * sampling_rate)) / sampling_rate
    for hz in (523, 659, 784):
        chime = 0.3 * np.sin(2 * np.pi * hz * t) * np.exp(-5 * t)
        yield (sampling_rate, (chime * 32767).astype(np.int16).reshape(1, -1), "mono")


with gr.Blocks() as demo:
    gr.HTML("<h1 style='text-align: center'>Say “ok computer …” (Powered by WebRTC ⚡️)</h1>")
    with gr.Column():
        with gr.Group():
            webrtc = WebRTC(mode="send-receive", modality="audio")
        history = gr.Textbox(label="history", value="")
        code = gr.Code(label="code", value="print('hello')")
    webrtc.stream(
        ReplyOnStopWords(generate, input_sample_rate=16000, stop_words=["computer", "ok computer"]),
        inputs=[webrtc, history, code],
        outputs=[webrtc],
        time_limit=90,
        concurrency_limit=10,
    )

if __name__ == "__main__":
    demo.launch()
