"""The main demo: talk, pause, and the server answers — ReplyOnPause, fully offline.

Speak a sentence and stop: when the engine detects the pause (Silero VAD in Rust), the reply
function runs once with your whole utterance. Here the "model" is a parrot — it answers with your
own words, a few semitones higher — and logs each turn in the chat beside it, through
AdditionalOutputs. Talk over the reply to interrupt it.

    make demo            (or: python demo/app.py, then open http://127.0.0.1:7860)
"""

from __future__ import annotations

import inspect
import os

import gradio as gr
import numpy as np

from gradio_webrtc import AdditionalOutputs, ReplyOnPause, WebRTC


def parrot(audio: tuple[int, np.ndarray], history: list[dict] | None):
    """Replies with the utterance pitched up (played faster), in 0.2 s pieces, and logs the turn."""
    rate, samples = audio
    seconds = samples.shape[1] / rate
    history = [*(history or []), {"role": "user", "content": f"(you spoke for {seconds:.1f} s)"}]
    history.append({"role": "assistant", "content": "Squawk! Here it is again, a little higher."})
    yield AdditionalOutputs(history)
    voice = samples[0].astype(np.float32)
    higher = np.interp(np.arange(0, len(voice), 1.26), np.arange(len(voice)), voice).astype(np.int16)
    piece = rate // 5
    for start in range(0, len(higher), piece):
        yield rate, higher[start : start + piece].reshape(1, -1)


# Gradio 5 needs type="messages" for role dicts; Gradio 6 has only that format (no `type`).
CHATBOT = {"type": "messages"} if "type" in inspect.signature(gr.Chatbot.__init__).parameters else {}

with gr.Blocks(title="gradio_webrtc: reply on pause") as demo:
    gr.Markdown(
        "## Talk to the parrot\n"
        "Press **Record**, say a sentence, and pause: the server replies when you stop talking. "
        "Talk over it to interrupt."
    )
    with gr.Row():
        with gr.Column():
            audio = WebRTC(label="Conversation", mode="send-receive", modality="audio")
        with gr.Column():
            chat = gr.Chatbot(label="Turns", **CHATBOT)
    limit = int(os.environ.get("TIME_LIMIT", 300))
    audio.stream(ReplyOnPause(parrot), inputs=[audio, chat], outputs=[audio], time_limit=limit)
    audio.on_additional_outputs(lambda history: history, outputs=[chat], queue=False, show_progress="hidden")

if __name__ == "__main__":
    demo.launch(server_port=int(os.environ.get("PORT", 7860)))
