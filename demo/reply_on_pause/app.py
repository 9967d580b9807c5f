"""Seed example "Reply on Pause", offline: the generator answers each utterance with a chime.

The seed's `response` runs a speech model; here the reply is synthesised so the example runs with
no model or network: one rising note per second of speech. Run: python demo/reply_on_pause/app.py
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from gradio_webrtc import ReplyOnPause, WebRTC


def response(audio: tuple[int, np.ndarray]):
    """This function must yield audio frames"""
    rate, array = audio
    notes = max(1, round(array.shape[1] / rate))
    sampling_rate = 24000
    for i in range(notes):
        t = np.arange(int(0.3 * sampling_rate)) / sampling_rate
        note = 0.3 * np.sin(2 * np.pi * 440 * 2 ** (i / 12) * t) * np.exp(-4 * t)
        yield (sampling_rate, (note * 32767).astype(np.int16).reshape(1, -1), "mono")


with gr.Blocks() as demo:
    gr.HTML("<h1 style='text-align: center'>Chat (Powered by WebRTC ⚡️)</h1>")
    with gr.Column():
        with gr.Group():
            audio = WebRTC(mode="send-receive", modality="audio")
        audio.stream(fn=ReplyOnPause(response), inputs=[audio], outputs=[audio], time_limit=60)

if __name__ == "__main__":
    demo.launch()
