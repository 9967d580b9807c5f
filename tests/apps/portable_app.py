"""One app in the API that gradio_webrtc 0.0.31, fastrtc 0.0.34 and this package share, so the
same tests run against all three (`tests/test_testing_client.py`). Run by any of their interpreters:

    python tests/apps/portable_app.py PORT            # gradio_webrtc (this package or 0.0.31)
    PORTABLE_LIB=fastrtc python tests/apps/portable_app.py PORT
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from typing import Any

import gradio as gr
import numpy as np

library = importlib.import_module(os.environ.get("PORTABLE_LIB", "gradio_webrtc"))
AdditionalOutputs = library.AdditionalOutputs
AudioVideoStreamHandler = library.AudioVideoStreamHandler
ReplyOnPause = library.ReplyOnPause
StreamHandler = library.StreamHandler
WebRTC = library.WebRTC
WebRTCError = library.WebRTCError


class Echo(StreamHandler):
    """Plays the microphone back; every 50 frames yields a counter."""

    def __init__(self) -> None:
        super().__init__(input_sample_rate=48000, output_sample_rate=48000)
        self.frames: list[Any] = []
        self.n = 0

    def receive(self, frame: Any) -> None:
        self.frames.append(frame)

    def emit(self) -> Any:
        if not self.frames:
            return None
        self.n += 1
        frame = self.frames.pop(0)
        return (frame, AdditionalOutputs(f"echoed {self.n}")) if self.n % 50 == 0 else frame

    def copy(self) -> Echo:
        return Echo()


class Tone(StreamHandler):
    """A tone at the slider's frequency (asks the page for it with `tick`). Made in real time,
    at most 0.2 s ahead: 0.0.31 queues whatever `emit` returns without bound, so a faster
    producer would play a new frequency only after everything made before it."""

    def __init__(self) -> None:
        super().__init__(input_sample_rate=48000, output_sample_rate=24000)
        self.phase = 0
        self.started: float | None = None

    def receive(self, frame: Any) -> None:
        pass

    def emit(self) -> Any:
        if not self.args_set.is_set():
            self.wait_for_args_sync()
        # The slider is the last argument: fastrtc 0.0.34 puts the webrtc_id before the inputs
        # (["__webrtc_value__", webrtc_id, hz]) where gradio_webrtc has ["__webrtc_value__", hz].
        hz = float(self.latest_args[-1])
        if self.started is None:
            self.started = time.monotonic()
        ahead = self.started + self.phase / 24000 - 0.2 - time.monotonic()
        time.sleep(max(ahead, 0))
        t = (self.phase + np.arange(2400)) / 24000
        self.phase += 2400
        return 24000, (0.4 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16).reshape(1, -1)

    def copy(self) -> Tone:
        return Tone()


class Refuses(Echo):
    """Raises `WebRTCError` on the 10th microphone frame (in `receive`: 0.0.31 sends the error
    to the page only from there, where the data channel is known to the thread)."""

    def receive(self, frame: Any) -> None:
        self.n += 1
        if self.n == 10:
            raise WebRTCError("the model refused on purpose")

    def emit(self) -> Any:
        return None

    def copy(self) -> Refuses:
        return Refuses()


def answer(audio: Any) -> Any:
    """One reply per utterance: its length, then 1.5 s of 520 Hz."""
    rate, samples = audio
    yield AdditionalOutputs(f"heard {samples.shape[1] / rate:.1f} s")
    for i in range(15):
        t = (i * 2400 + np.arange(2400)) / 24000
        yield 24000, (0.4 * 32767 * np.sin(2 * np.pi * 520 * t)).astype(np.int16).reshape(1, -1)


def beeps(seconds: float) -> Any:
    for i in range(int(seconds * 10)):
        t = (i * 2400 + np.arange(2400)) / 24000
        yield 24000, (0.4 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(1, -1)


def flip(frame: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(frame[::-1])


class Both(AudioVideoStreamHandler):
    """Audio echoed, pictures flipped (the last one again while none is new: 0.0.31 calls
    `video_emit` on its event loop, so it must not wait)."""

    def __init__(self) -> None:
        super().__init__(input_sample_rate=48000, output_sample_rate=48000)
        self.frames: list[Any] = []
        self.picture = np.zeros((240, 320, 3), np.uint8)

    def receive(self, frame: Any) -> None:
        self.frames.append(frame)

    def emit(self) -> Any:
        return self.frames.pop(0) if self.frames else None

    def video_receive(self, frame: np.ndarray) -> None:
        self.picture = flip(frame)

    def video_emit(self) -> Any:
        return self.picture

    def copy(self) -> Both:
        return Both()


def listen(audio: Any) -> Any:
    """Send mode: no audio back, only what was heard."""
    rate, samples = audio
    yield AdditionalOutputs(f"listened to {samples.shape[1] / rate:.1f} s")


def brightness(frame: np.ndarray) -> Any:
    """Send mode video: no pictures back, only a reading of each."""
    return AdditionalOutputs(f"brightness {frame.mean():.0f}")


def camera() -> Any:
    for n in range(150):
        picture = np.zeros((180, 320, 3), np.uint8)
        picture[:, : 2 * n % 320] = (255, 0, 0)  # a blue bar growing from the left (BGR)
        time.sleep(1 / 30)
        yield picture


with gr.Blocks() as demo:
    echo = WebRTC(label="Echo", mode="send-receive", modality="audio")
    echoed = gr.Textbox(label="echoed")
    echo.stream(fn=Echo(), inputs=[echo], outputs=[echo], concurrency_limit=4)
    echo.on_additional_outputs(lambda text: text, outputs=[echoed], queue=False)

    tone = WebRTC(label="Tone", mode="send-receive", modality="audio")
    hz = gr.Slider(200, 2000, value=550, label="hz")
    tone.stream(fn=Tone(), inputs=[tone, hz], outputs=[tone], concurrency_limit=4)

    refuses = WebRTC(label="Refuses", mode="send-receive", modality="audio")
    refuses.stream(fn=Refuses(), inputs=[refuses], outputs=[refuses], concurrency_limit=4)

    parrot = WebRTC(label="Parrot", mode="send-receive", modality="audio")
    heard = gr.Textbox(label="heard")
    parrot.stream(fn=ReplyOnPause(answer), inputs=[parrot], outputs=[parrot], concurrency_limit=4)
    parrot.on_additional_outputs(lambda text: text, outputs=[heard], queue=False)

    player = WebRTC(label="Player", mode="receive", modality="audio")
    seconds = gr.Slider(1, 10, value=2, label="seconds")
    play = gr.Button("Play")
    player.stream(fn=beeps, inputs=[seconds], outputs=[player], trigger=play.click, concurrency_limit=4)

    flipper = WebRTC(label="Flip", mode="send-receive", modality="video")
    flipper.stream(fn=flip, inputs=[flipper], outputs=[flipper], concurrency_limit=4)

    both = WebRTC(label="Both", mode="send-receive", modality="audio-video")
    both.stream(fn=Both(), inputs=[both], outputs=[both], concurrency_limit=4)

    listener = WebRTC(label="Listener", mode="send", modality="audio")
    listened = gr.Textbox(label="listened")
    listener.stream(fn=ReplyOnPause(listen), inputs=[listener], outputs=[listener], concurrency_limit=4)
    listener.on_additional_outputs(lambda text: text, outputs=[listened], queue=False)

    watcher = WebRTC(label="Watcher", mode="send", modality="video")
    seen = gr.Textbox(label="seen")
    watcher.stream(fn=brightness, inputs=[watcher], outputs=[watcher], concurrency_limit=4)
    watcher.on_additional_outputs(lambda text: text, outputs=[seen], queue=False)

    screen = WebRTC(label="Camera", mode="receive", modality="video")
    start = gr.Button("Start")
    screen.stream(fn=camera, inputs=None, outputs=[screen], trigger=start.click, concurrency_limit=4)

    timed = WebRTC(label="Timed", mode="send-receive", modality="audio")
    timed.stream(fn=Echo(), inputs=[timed], outputs=[timed], time_limit=3, concurrency_limit=4)

if __name__ == "__main__":
    demo.launch(server_name="127.0.0.1", server_port=int(sys.argv[1]))
