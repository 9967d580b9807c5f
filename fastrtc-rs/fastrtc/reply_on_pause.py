"""`fastrtc.reply_on_pause`: `ReplyOnPause` in fastrtc 0.0.34's argument order."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

from gradio_webrtc import reply_on_pause as _core
from gradio_webrtc.reply_on_pause import AlgoOptions
from gradio_webrtc.stream_handler import StreamHandler

from .pause_detection import ModelOptions, PauseDetectionModel, SileroVadOptions, get_silero_model
from .utils import AdditionalOutputs, WebRTCData, create_message, split_output

__all__ = [
    "AdditionalOutputs",
    "AlgoOptions",
    "ModelOptions",
    "PauseDetectionModel",
    "ReplyFnGenerator",
    "ReplyOnPause",
    "SileroVadOptions",
    "StreamHandler",
    "WebRTCData",
    "create_message",
    "get_silero_model",
    "split_output",
]

ReplyFnGenerator = Callable[..., Any]


class ReplyOnPause(_core.ReplyOnPause):
    """Replies to each utterance with `fn`'s output (fastrtc's order:
    `(fn, startup_fn, algo_options, model_options, can_interrupt, expected_layout,
    output_sample_rate, output_frame_size, input_sample_rate, model, needs_args)`).

    The pause is found by the engine's Silero VAD in Rust unless `model` is a model of your own;
    `turn_detector=SmartTurn()` (keyword-only, not in fastrtc) adds the end-of-turn model.
    """

    def __init__(
        self,
        fn: ReplyFnGenerator,
        startup_fn: Callable[..., Any] | None = None,
        algo_options: AlgoOptions | None = None,
        model_options: ModelOptions | None = None,
        can_interrupt: bool = True,
        expected_layout: Literal["mono", "stereo"] = "mono",
        output_sample_rate: int = 24000,
        output_frame_size: int | None = None,
        input_sample_rate: int = 48000,
        model: PauseDetectionModel | None = None,
        needs_args: bool = False,
        *,
        turn_detector: Any = None,
    ) -> None:
        super().__init__(
            fn,
            algo_options,
            model_options,
            expected_layout,
            output_sample_rate,
            output_frame_size,
            input_sample_rate,
            can_interrupt=can_interrupt,
            startup_fn=startup_fn,
            needs_args=needs_args,
            model=model,
            turn_detector=turn_detector,
        )

    def copy(self) -> ReplyOnPause:
        return type(self)(
            self.fn,
            self.startup_fn,
            self.algo_options,
            self.model_options,
            self.can_interrupt,
            self.expected_layout,
            self.output_sample_rate,
            self.output_frame_size,
            self.input_sample_rate,
            self.model,
            self.needs_args,
            turn_detector=self.turn_detector,
        )
