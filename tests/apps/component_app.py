"""One Gradio page with a WebRTC component per scenario the tests exercise (run under Gradio 5 or 6).

python tests/apps/component_app.py PORT
"""

from __future__ import annotations

import sys
import time
from typing import Any, ClassVar

import gradio as gr
import numpy as np

from gradio_webrtc import AdditionalOutputs, ReplyOnPause, StreamHandler, WebRTC, WebRTCData

HERE = __import__("pathlib").Path(__file__).resolve().parent


class Echo(StreamHandler):
    """Plays the microphone back; every 25 frames yields a counter for a Textbox."""

    #: Handlers of live sessions, newest last (this test app's probe; not how apps keep state).
    live: ClassVar[list[Echo]] = []

    def __init__(self) -> None:
        super().__init__(input_sample_rate=48000)
        self.frames: list[tuple[int, np.ndarray]] = []
        self.n = 0
        self.received = 0

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        self.received += 1
        self.frames.append(frame)

    def emit(self) -> Any:
        if not self.frames:
            return None
        self.n += 1
        frame = self.frames.pop(0)
        if self.n % 25 == 0:
            return frame, AdditionalOutputs(f"frames echoed: {self.n}")
        return frame

    def copy(self) -> Echo:
        copy = Echo()
        Echo.live.append(copy)
        return copy

    def shutdown(self) -> None:
        if self in Echo.live:
            Echo.live.remove(self)


class SliderTone(StreamHandler):
    """Asks the page for the slider value (a `tick`), then plays a tone at that frequency."""

    def __init__(self) -> None:
        super().__init__()
        self.phase = 0

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        pass

    def emit(self) -> Any:
        if not self.args_set.is_set():
            self.wait_for_args_sync()
        hz = float(self.latest_args[1])
        n = 2400  # 100 ms at 24 kHz
        t = (self.phase + np.arange(n)) / 24000
        self.phase += n
        return 24000, (0.4 * np.sin(2 * np.pi * hz * t)).astype(np.float32)

    def copy(self) -> SliderTone:
        return SliderTone()


class Faulty(Echo):
    def emit(self) -> Any:
        if len(self.frames) > 10:
            self.frames.clear()
            raise RuntimeError("the model crashed on purpose")
        return None

    def copy(self) -> Faulty:
        return Faulty()


def beeps(seconds: float) -> Any:
    """Receive mode: 440 Hz for `seconds`, yielded in 100 ms chunks faster than real time."""
    rate = 24000
    for i in range(int(seconds * 10)):
        t = (i * rate // 10 + np.arange(rate // 10)) / rate
        yield rate, (0.5 * 32767 * np.sin(2 * np.pi * 440 * t)).astype(np.int16).reshape(1, -1)
        time.sleep(0.02)


def answer(audio: tuple[int, np.ndarray]) -> Any:
    """ReplyOnPause: says how long the utterance was, then plays a 1 s tone."""
    rate, samples = audio
    yield AdditionalOutputs(f"heard {samples.shape[1] / rate:.1f} s")
    for i in range(10):
        t = (i * 2400 + np.arange(2400)) / 24000
        yield 24000, (0.4 * 32767 * np.sin(2 * np.pi * 520 * t)).astype(np.int16).reshape(1, -1)


def say_typed(data: WebRTCData) -> Any:
    """The textbox variant (fastrtc's calling convention: one `WebRTCData`, the utterance in
    `.audio`): each submitted text comes back as an AdditionalOutputs."""
    yield AdditionalOutputs(f"typed: {data.textbox}")


def bars() -> Any:
    """Receive mode video: 90 frames of a green picture with a moving white bar, ~30 fps."""
    for n in range(90):
        frame = np.zeros((240, 320, 3), np.uint8)
        frame[:, :, 1] = 160
        frame[:, (n * 3) % 300 : (n * 3) % 300 + 20] = 255
        yield frame


with gr.Blocks(title="gradio_webrtc test page") as demo:
    with gr.Row():
        echo = WebRTC(label="Echo", mode="send-receive", modality="audio", elem_id="echo")
        echo_count = gr.Textbox(label="echo count", elem_id="echo-count")
    echo.stream(fn=Echo(), inputs=[echo], outputs=[echo], concurrency_limit=1)
    echo.on_additional_outputs(lambda text: text, outputs=[echo_count], queue=False, show_progress="hidden")

    with gr.Row():
        echo2 = WebRTC(label="Second echo", mode="send-receive", modality="audio", elem_id="echo2")
    echo2.stream(fn=Echo(), inputs=[echo2], outputs=[echo2], concurrency_limit=1)

    with gr.Row():
        tone = WebRTC(label="Slider tone", mode="send-receive", modality="audio", elem_id="tone")
        hz = gr.Slider(200, 2000, value=550, step=10, label="frequency", elem_id="hz")
    tone.stream(fn=SliderTone(), inputs=[tone, hz], outputs=[tone], concurrency_limit=4)

    with gr.Row():
        player = WebRTC(label="Server audio", mode="receive", modality="audio", elem_id="player")
        seconds = gr.Slider(1, 10, value=4, step=1, label="seconds", elem_id="seconds")
        start = gr.Button("Generate", elem_id="generate")
    player.stream(fn=beeps, inputs=[seconds], outputs=[player], trigger=start.click, concurrency_limit=4)

    with gr.Row():
        timed = WebRTC(label="Timed", mode="send-receive", modality="audio", elem_id="timed")
    timed.stream(fn=Echo(), inputs=[timed], outputs=[timed], time_limit=3, concurrency_limit=4)

    with gr.Row():
        faulty = WebRTC(label="Faulty", mode="send-receive", modality="audio", elem_id="faulty")
    faulty.stream(fn=Faulty(), inputs=[faulty], outputs=[faulty], concurrency_limit=4)

    with gr.Row():
        fresh = WebRTC(
            label="Fresh credentials",
            mode="send-receive",
            modality="audio",
            elem_id="fresh",
            rtc_configuration=lambda: {"iceServers": [{"urls": "stun:127.0.0.1:3478"}], "note": f"t={time.time()}"},
        )
    fresh.stream(fn=Echo(), inputs=[fresh], outputs=[fresh], concurrency_limit=4)

    with gr.Row():
        flip = WebRTC(label="Flip", mode="send-receive", modality="video", elem_id="flip")
        flip.stream(
            fn=lambda frame: np.ascontiguousarray(frame[::-1]), inputs=[flip], outputs=[flip], concurrency_limit=4
        )

    with gr.Row():
        movie = WebRTC(label="Server video", mode="receive", modality="video", elem_id="movie")
        play = gr.Button("Play", elem_id="play")
    movie.stream(fn=bars, inputs=None, outputs=[movie], trigger=play.click, concurrency_limit=4)

    with gr.Row():
        parrot = WebRTC(label="Parrot", mode="send-receive", modality="audio", elem_id="parrot")
        heard = gr.Textbox(label="heard", elem_id="heard")
    parrot.stream(fn=ReplyOnPause(answer), inputs=[parrot], outputs=[parrot], concurrency_limit=4)
    parrot.on_additional_outputs(lambda text: text, outputs=[heard], queue=False, show_progress="hidden")

    with gr.Row():
        limited = WebRTC(label="Rate limited", mode="send-receive", modality="audio", elem_id="limited")
    limited.stream(fn=Echo(), inputs=[limited], outputs=[limited], concurrency_limit=4, offers_per_minute=3)

    with gr.Row():
        typed = WebRTC(
            label="Typed",
            mode="send-receive",
            modality="audio",
            elem_id="typed",
            variant="textbox",
            icon=str(HERE / "robot.svg"),
            icon_radius=20,
        )
        typed_out = gr.Textbox(label="typed out", elem_id="typed-out")
    typed.stream(fn=ReplyOnPause(say_typed), inputs=[typed], outputs=[typed], concurrency_limit=4)
    typed.on_additional_outputs(lambda text: text, outputs=[typed_out], queue=False, show_progress="hidden")

STREAMS = [echo, echo2, tone, player, timed, faulty, fresh, flip, movie, parrot, limited, typed]

if __name__ == "__main__":
    import uvicorn
    from fastapi import FastAPI

    app = FastAPI()

    @app.get("/sessions")
    def sessions() -> dict[str, int]:
        """Live sessions over every component: tests wait for 0 between scenarios."""
        return {"sessions": sum(s.connections.engine.session_count() for s in STREAMS if s.connections)}

    @app.get("/echo-stats")
    def echo_stats() -> dict[str, Any]:
        """The live `echo` session: frames its handler received so far, and the engine's counters."""
        engine = echo.connections.engine
        ids = engine.session_ids()
        if not ids or not Echo.live:
            return {}
        session = engine.get(ids[0])
        handler = Echo.live[-1]
        return {
            "received": handler.received,
            "handler_queue": len(handler.frames),
            "output_buffered": session.output_buffered() if session else 0.0,
            "stats": session.stats() if session else {},
        }

    app = gr.mount_gradio_app(app, demo, path="/")
    print("Running on local URL: http://127.0.0.1:" + sys.argv[1], flush=True)
    uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning")
