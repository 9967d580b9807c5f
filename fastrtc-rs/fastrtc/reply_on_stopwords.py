"""`fastrtc.reply_on_stopwords`: `ReplyOnStopWords` in fastrtc 0.0.34's argument order.

fastrtc spots stop words by transcribing with Moonshine (`fastrtc[stopword]`); so does this one
when that extra is installed (`SpeechToTextStopWords`), and otherwise uses the engine's offline
keyword spotter (pocketsphinx, `gradio-webrtc-rs[stopword]`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, Literal

from gradio_webrtc import reply_on_stopwords as _core
from gradio_webrtc.reply_on_pause import AlgoOptions
from gradio_webrtc.reply_on_stopwords import SpeechToTextStopWords, stop_word_detected

from .pause_detection import ModelOptions, PauseDetectionModel
from .reply_on_pause import ReplyOnPause
from .speech_to_text import get_stt_model, stt_for_chunks

__all__ = [
    "AlgoOptions",
    "ModelOptions",
    "PauseDetectionModel",
    "ReplyOnPause",
    "ReplyOnStopWords",
    "get_stt_model",
    "stop_word_detected",
    "stt_for_chunks",
]


def _default_detector(stop_words: Sequence[str]) -> Any:
    try:
        import moonshine_onnx  # noqa: F401
    except ImportError:
        pass
    else:
        return SpeechToTextStopWords(get_stt_model("moonshine/base"), stop_words)
    try:
        return _core.PocketSphinxDetector(stop_words)
    except ImportError:
        raise ImportError(
            "ReplyOnStopWords needs a speech-to-text model: pip install 'fastrtc-rs[stopword]' "
            "(Moonshine, as fastrtc) or 'gradio-webrtc-rs[stopword]' (pocketsphinx)"
        ) from None


class ReplyOnStopWords(_core.ReplyOnStopWords):
    """Replies only to what the user says after one of `stop_words` (fastrtc's order:
    `(fn, stop_words, startup_fn, algo_options, model_options, can_interrupt, expected_layout,
    output_sample_rate, output_frame_size, input_sample_rate, model, needs_args)`)."""

    def __init__(
        self,
        fn: Callable[..., Any],
        stop_words: list[str],
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
        detector: Any = None,
        turn_detector: Any = None,
    ) -> None:
        super().__init__(
            fn,
            stop_words,
            algo_options,
            model_options,
            expected_layout,
            output_sample_rate,
            output_frame_size,
            input_sample_rate,
            can_interrupt=can_interrupt,
            detector=detector if detector is not None else _default_detector(stop_words),
            startup_fn=startup_fn,
            needs_args=needs_args,
            model=model,
            turn_detector=turn_detector,
        )

    @property
    def stt_model(self) -> Any:
        """The speech-to-text model spotting the stop words (fastrtc's attribute), if one does."""
        return getattr(self.detector, "stt_model", None)

    def stop_word_detected(self, text: str) -> bool:
        return stop_word_detected(text, self.stop_words)

    def copy(self) -> ReplyOnStopWords:
        copy_detector = getattr(self.detector, "copy", None)
        return type(self)(
            self.fn,
            self.stop_words,
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
            detector=copy_detector() if callable(copy_detector) else self.detector,
            turn_detector=self.turn_detector,
        )
