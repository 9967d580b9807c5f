"""A Hugging Face Space (or a VM): the ReplyOnPause parrot, relayed through TURN.

Spaces accept no inbound UDP: the browser and the server's own peer both go through a TURN relay,
with short-lived credentials from the provider whose secret is set (`GRADIO_WEBRTC_TURN_SECRET` and
`GRADIO_WEBRTC_TURN_URLS` for your own coturn, as on a VM: the credentials are computed here and
expire, deploy/vm/turnserver.conf).
"""

from __future__ import annotations

import inspect
import os
from typing import Any

import gradio as gr
import numpy as np

from gradio_webrtc import (
    AdditionalOutputs,
    ReplyOnPause,
    WebRTC,
    get_cloudflare_turn_credentials,
    get_hf_turn_credentials,
    get_turn_rest_credentials,
    get_twilio_turn_credentials,
)


def turn_provider() -> Any:
    """The credentials function of the provider whose secrets are set (None: no TURN)."""
    env = os.environ
    if env.get("GRADIO_WEBRTC_TURN_SECRET"):
        return get_turn_rest_credentials
    if env.get("CLOUDFLARE_TURN_KEY_ID") and env.get("CLOUDFLARE_TURN_KEY_API_TOKEN"):
        return get_cloudflare_turn_credentials
    if env.get("TWILIO_ACCOUNT_SID") and env.get("TWILIO_AUTH_TOKEN"):
        return get_twilio_turn_credentials
    if env.get("HF_TOKEN"):
        return get_hf_turn_credentials
    return None


PROVIDER = turn_provider()


def browser_ice() -> dict[str, Any] | None:
    return PROVIDER() if PROVIDER else None


def server_ice() -> dict[str, Any] | None:
    """The server relays too: nothing can reach it over UDP on Spaces."""
    return {**PROVIDER(), "iceTransportPolicy": "relay"} if PROVIDER else None


def parrot(audio: tuple[int, np.ndarray], history: list[dict] | None):
    """Answers with the utterance a little higher, in 0.2 s pieces, and logs the turn."""
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

with gr.Blocks(title="Talk to the parrot") as demo:
    gr.Markdown("## Talk to the parrot\nPress **Record**, say a sentence, and pause.")
    with gr.Row():
        with gr.Column():
            audio = WebRTC(
                label="Conversation",
                mode="send-receive",
                modality="audio",
                rtc_configuration=browser_ice if PROVIDER else None,
                server_rtc_configuration=server_ice if PROVIDER else None,
            )
        with gr.Column():
            chat = gr.Chatbot(label="Turns", **CHATBOT)
    audio.stream(ReplyOnPause(parrot), inputs=[audio, chat], outputs=[audio], time_limit=180, concurrency_limit=20)
    audio.on_additional_outputs(lambda history: history, outputs=[chat], queue=False, show_progress="hidden")

if __name__ == "__main__":
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "0.0.0.0"))
