"""Seed example "Video Input/Output Streaming": webcam frames in, processed frames out.

The seed runs an object detector; this offline version outlines edges brighter than the
confidence threshold (numpy only), so the slider visibly changes the output.
Run: python demo/video_io/app.py
"""

from __future__ import annotations

import gradio as gr
import numpy as np

from gradio_webrtc import WebRTC


def detection(image, conf_threshold=0.3):
    """image: (H, W, 3) uint8 BGR. Returns the picture with strong edges painted green."""
    grey = image.astype(np.float32).mean(axis=2)
    gx = np.abs(np.diff(grey, axis=1, prepend=grey[:, :1]))
    gy = np.abs(np.diff(grey, axis=0, prepend=grey[:1, :]))
    edges = (gx + gy) > (1.0 - conf_threshold) * 120
    out = image.copy()
    out[edges] = (0, 255, 0)
    return out


with gr.Blocks() as demo:
    image = WebRTC(label="Stream", mode="send-receive", modality="video")
    conf_threshold = gr.Slider(label="Confidence Threshold", minimum=0.0, maximum=1.0, step=0.05, value=0.30)
    image.stream(fn=detection, inputs=[image, conf_threshold], outputs=[image], time_limit=10)

if __name__ == "__main__":
    demo.launch()
