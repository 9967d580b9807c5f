"""Audio echo in a Gradio app: the WebRTC component plays your microphone back to you.

python demo/audio_echo/app.py          (then open http://127.0.0.1:7860)
"""

from __future__ import annotations

import os
from typing import Any

import gradio as gr
import numpy as np

from gradio_webrtc import AdditionalOutputs, StreamHandler, WebRTC


class Echo(StreamHandler):
    """Returns each 20 ms frame as it arrives; reports the input level every second."""

    def __init__(self) -> None:
        super().__init__(input_sample_rate=48000, output_sample_rate=48000)
        self.frames: list[tuple[int, np.ndarray]] = []
        self.count = 0

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        self.frames.append(frame)

    def emit(self) -> Any:
        if not self.frames:
            return None
        rate, audio = self.frames.pop(0)
        self.count += 1
        if self.count % 50 == 0:
            level = float(np.sqrt(np.mean((audio.astype(np.float32) / 32768) ** 2)))
            return (rate, audio), AdditionalOutputs(f"{20 * np.log10(level + 1e-9):.0f} dBFS")
        return rate, audio

    def copy(self) -> Echo:
        return Echo()


with gr.Blocks(title="WebRTC echo") as demo:
    gr.Markdown("## Echo\nPress **Record**, allow the microphone, and speak: the server sends your voice back.")
    audio = WebRTC(label="Stream", mode="send-receive", modality="audio")
    level = gr.Textbox(label="Input level (updated every second)", elem_id="level")
    audio.stream(fn=Echo(), inputs=[audio], outputs=[audio], time_limit=int(os.environ.get("TIME_LIMIT", 300)))
    audio.on_additional_outputs(lambda text: text, outputs=[level], queue=False, show_progress="hidden")

if __name__ == "__main__":
    demo.launch(server_port=int(os.environ.get("PORT", 7860)))
