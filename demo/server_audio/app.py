"""Seed example "Audio Server-To-Client": a button starts a stream of generated audio.

The seed reads `audio_file.wav` with pydub; this offline version synthesises a short chime per step
(no file or network needed). Run: python demo/server_audio/app.py
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from gradio_webrtc import WebRTC

RATE = 24000


def chime(step: int) -> np.ndarray:
    """A 0.8 s two-tone chime, pitched by step, as int16 shaped (1, N) like the seed's pydub array."""
    t = np.arange(int(0.8 * RATE)) / RATE
    hz = 440 * 2 ** (step / 12)
    wave = 0.4 * np.sin(2 * np.pi * hz * t) + 0.2 * np.sin(2 * np.pi * 1.5 * hz * t)
    envelope = np.exp(-3 * t)
    return (wave * envelope * 32767).astype(np.int16).reshape(1, -1)


def generation(num_steps):
    for step in range(int(num_steps)):
        yield (RATE, chime(step))


with gr.Blocks() as demo:
    audio = WebRTC(label="Stream", mode="receive", modality="audio")
    num_steps = gr.Slider(label="Number of Steps", minimum=1, maximum=10, step=1, value=5)
    button = gr.Button("Generate")

    audio.stream(fn=generation, inputs=[num_steps], outputs=[audio], trigger=button.click)

if __name__ == "__main__":
    demo.launch()
