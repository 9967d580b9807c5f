"""fastrtc apps as fastrtc's documentation writes them (`import fastrtc`, its argument order, its
names), several `Stream`s in one page. Run by this package's interpreter (fastrtc-rs provides the
`fastrtc` import name) and by fastrtc 0.0.34's own, and tested the same way
(`tests/test_fastrtc_apps.py`):

    python tests/apps/fastrtc_app.py PORT
"""

from __future__ import annotations

import sys

import gradio as gr
import numpy as np
from fastrtc import (
    AdditionalOutputs,
    AlgoOptions,
    CloseStream,
    ReplyOnPause,
    Stream,
    get_current_context,
)

RATE = 24000


def beep(hz: float, seconds: float = 0.6) -> tuple[int, np.ndarray]:
    t = np.arange(int(RATE * seconds)) / RATE
    return RATE, (0.4 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16).reshape(1, -1)


# -- the echo of fastrtc's quickstart: "yield audio" ------------------------------------------------


def echo(audio: tuple[int, np.ndarray]):
    yield audio


echo_stream = Stream(ReplyOnPause(echo), modality="audio", mode="send-receive")


# -- a chat: the transcript so far as an extra input, the new one as an additional output ---------


def respond(audio: tuple[int, np.ndarray], *inputs: object):
    # The chatbot is the last input: through its Gradio page, fastrtc 0.0.34 passes the
    # webrtc_id before the inputs (`fn(audio, webrtc_id, chatbot)`, against its own documentation).
    chatbot = list(inputs[-1] or []) if inputs else []  # type: ignore[call-overload]
    turn = len(chatbot) // 2 + 1
    seconds = audio[1].shape[-1] / audio[0]
    chatbot.append({"role": "user", "content": f"({seconds:.1f} s of audio)"})
    chatbot.append({"role": "assistant", "content": f"reply {turn}"})
    yield AdditionalOutputs(chatbot)
    yield beep(520)


chatbot = gr.Chatbot(type="messages", label="Conversation")
chat_stream = Stream(
    ReplyOnPause(respond, input_sample_rate=16000),
    modality="audio",
    mode="send-receive",
    additional_inputs=[chatbot],
    additional_outputs=[chatbot],
    additional_outputs_handler=lambda old, new: new,
)


# -- a greeting at start-up (fastrtc's order: `ReplyOnPause(fn, startup_fn)`), then a goodbye --------


def greet():
    yield beep(660, 0.5)


def goodbye(audio: tuple[int, np.ndarray]):
    context = get_current_context()
    yield AdditionalOutputs(f"bye {len(context.webrtc_id)}")
    yield beep(440, 0.5)
    yield CloseStream("Goodbye")


status = gr.Textbox(label="Status")
greeting_stream = Stream(
    ReplyOnPause(goodbye, greet, AlgoOptions(audio_chunk_duration=0.6)),
    modality="audio",
    mode="send-receive",
    additional_outputs=[status],
    additional_outputs_handler=lambda old, new: new,
)


# -- video with a slider, as the object-detection demo: `detection(image, conf_threshold)` ----------


def detection(image: np.ndarray, conf_threshold: float = 0.3) -> np.ndarray:
    flipped = np.flipud(image).copy()
    if conf_threshold > 0.5:
        flipped[:8] = (0, 255, 0)  # a green band: the slider reached the handler
    return flipped


video_stream = Stream(
    handler=detection,
    modality="video",
    mode="send-receive",
    additional_inputs=[gr.Slider(label="Confidence Threshold", value=0.3, minimum=0.0, maximum=1.0, step=0.05)],
)

# Four streams in one page: the tests tell their components apart by elem_id (a plain attribute of
# the component in both libraries).
for name, stream in (
    ("echo", echo_stream),
    ("chat", chat_stream),
    ("greeting", greeting_stream),
    ("video", video_stream),
):
    stream.webrtc_component.elem_id = name

with gr.Blocks() as demo:
    with gr.Tab("Echo"):
        echo_stream.ui.render()
    with gr.Tab("Chat"):
        chat_stream.ui.render()
    with gr.Tab("Greeting"):
        greeting_stream.ui.render()
    with gr.Tab("Video"):
        video_stream.ui.render()

if __name__ == "__main__":
    demo.launch(server_port=int(sys.argv[1]), server_name="127.0.0.1")
