"""Seed example "Server-to-Client Only" video: a button starts a generated video stream.

The seed reads frames from a remote mp4 with OpenCV; this offline version renders a moving
pattern with numpy (30 fps, 10 s). Run: python demo/server_video/app.py
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from gradio_webrtc import WebRTC

W, H = 640, 360


def generation():
    y, x = np.mgrid[0:H, 0:W]
    for n in range(300):
        frame = np.empty((H, W, 3), np.uint8)
        frame[..., 0] = (x + n * 4) % 256  # blue ramp scrolling right
        frame[..., 1] = (y * 255 // H).astype(np.uint8)
        frame[..., 2] = 128 + 127 * np.sin((x + y) / 40 + n / 10)
        yield frame


with gr.Blocks() as demo:
    output_video = WebRTC(label="Video Stream", mode="receive", modality="video")
    button = gr.Button("Start", variant="primary")
    output_video.stream(fn=generation, inputs=None, outputs=[output_video], trigger=button.click)

if __name__ == "__main__":
    demo.launch()
