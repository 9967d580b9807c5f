"""`ReplyOnPause`: call a generator once the user has finished speaking, stream its reply back.

Pause detection runs in the engine (Silero VAD v6 in Rust, weights bundled; no download, no
onnxruntime): input audio never reaches Python frame by frame. When a pause is detected, `fn` is
called once with the whole utterance `(sample_rate, int16 array of shape (1, N))` (plus the other
inputs' values when it takes more parameters), and what it yields — audio, `AdditionalOutputs`, or
both — is streamed back in real time.

The rule (evaluated at every 32 ms VAD step, see `AlgoOptions`): the user starts talking when the
last `audio_chunk_duration` seconds hold more than `started_talking_threshold` seconds of speech;
after that, a pause is the first step at which the last `audio_chunk_duration` seconds hold less
than `speech_threshold` seconds of speech. With the defaults that is 0.5 s after the VAD's last
speech window, which itself trails the voice by ~50 ms: expect the reply to start ~0.6 s after the
user's last word (`AlgoOptions(audio_chunk_duration=0.5)` makes it ~0.1 s sooner, at the cost of
cutting in on slower speakers' short pauses).
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._engine import PauseConfig, pause_defaults
from .pause_detection import PauseDetectionModel, SileroVADModel, SileroVadOptions
from .stream_handler import StreamHandler
from .turn_detection import TurnDetector, turn_config

#: The engine's defaults for the pause rule: the one copy of them (seconds; `threshold` a probability).
_DEFAULTS = pause_defaults()


@dataclass
class AlgoOptions:
    """The pause rule, in seconds (the original's names and defaults).

    Args:
        audio_chunk_duration: length of the sliding window the rule looks at.
        started_talking_threshold: speech in the window that starts an utterance.
        speech_threshold: less speech than this in the window, once talking, is a pause.
        max_continuous_speech_s: an utterance this long is answered anyway (fastrtc's option).
    """

    audio_chunk_duration: float = _DEFAULTS["audio_chunk_duration"]
    started_talking_threshold: float = _DEFAULTS["started_talking_threshold"]
    speech_threshold: float = _DEFAULTS["speech_threshold"]
    max_continuous_speech_s: float = _DEFAULTS["max_continuous_speech"]


class ReplyOnPause(StreamHandler):
    """Replies to each utterance with `fn`'s output.

    The positional parameters are gradio_webrtc 0.0.31's, in its order; the later additions are
    keyword-only, so `ReplyOnPause(fn, AlgoOptions(...))` means what it meant there. (`fastrtc`'s
    `ReplyOnPause` takes fastrtc 0.0.34's order.)

    Args:
        fn: a (sync or async) generator function taking `(sample_rate, audio)` and optionally the
            other inputs' values; it yields `(rate, array)`, `AdditionalOutputs`, or both.
        algo_options, model_options: the pause rule and VAD settings.
        expected_layout, output_sample_rate, output_frame_size, input_sample_rate: as
            `StreamHandler` (the utterance is delivered at `input_sample_rate`).
        can_interrupt: talking during a reply stops it at once (its queued audio is dropped and
            the generator closed); without it the user is not heard during a reply.
        startup_fn: optional generator run once when the connection starts (e.g. a greeting).
        needs_args: ask for the other inputs before each reply even if `fn` takes one parameter.
        model: a `PauseDetectionModel` to detect pauses with instead of the engine's Silero VAD
            (fastrtc's rule: its `vad()` is called from a worker thread on back-to-back chunks of
            `audio_chunk_duration`). `get_silero_model()` is the engine's own: same as None.
        turn_detector: an end-of-turn model that decides, at a short silence, whether the user is
            done (`SmartTurn()`, or a callable `(rate, audio) -> probability` of your own): the
            reply comes sooner after a finished request and not into a thinking pause. See
            `gradio_webrtc.turn_detection`. Needs the engine's pause detection (not `model`).
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        algo_options: AlgoOptions | None = None,
        model_options: SileroVadOptions | None = None,
        expected_layout: Literal["mono", "stereo"] = "mono",
        output_sample_rate: int = 24000,
        output_frame_size: int | None = 480,
        input_sample_rate: int = 48000,
        *,
        can_interrupt: bool = True,
        startup_fn: Callable[..., Any] | None = None,
        needs_args: bool = False,
        model: PauseDetectionModel | None = None,
        turn_detector: TurnDetector | Callable[..., Any] | None = None,
    ) -> None:
        super().__init__(expected_layout, output_sample_rate, output_frame_size, input_sample_rate)
        if not callable(fn):
            raise TypeError(f"ReplyOnPause needs a generator function, got {type(fn).__name__}")
        if model is not None and not isinstance(model, PauseDetectionModel):
            raise TypeError(f"model must have vad() and warmup() (a PauseDetectionModel), got {type(model).__name__}")
        self.turn_detector = turn_detector
        #: The end-of-turn stage as the engine takes it (checked, and the model loaded, here).
        self.end_of_turn = turn_config(turn_detector)
        if self.end_of_turn is not None and model is not None and not isinstance(model, SileroVADModel):
            raise ValueError(
                "turn_detector works with the engine's pause detection; it cannot be combined with a model= of your own"
            )
        self.fn = fn
        self.startup_fn = startup_fn
        self.algo_options = algo_options or AlgoOptions()
        self.model_options = model_options
        #: The pause detector: None or the bundled Silero run in the engine; anything else in Python.
        self.model = model
        self.can_interrupt = can_interrupt
        #: The engine also streams each utterance while it is spoken, to `hear()` (stop words).
        self.streams_speech = False
        self.is_async = inspect.isasyncgenfunction(fn)
        params = [
            p
            for p in inspect.signature(fn).parameters.values()
            if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD, p.VAR_POSITIONAL)
        ]
        self.needs_args = needs_args or len(params) > 1

    @property
    def custom_model(self) -> PauseDetectionModel | None:
        """The model pauses are detected with in Python, or None when the engine detects them."""
        return None if self.model is None or isinstance(self.model, SileroVADModel) else self.model

    def pause_options(self) -> PauseConfig | None:
        """The options the engine's pause detector takes, in seconds (None when a custom model
        detects pauses: the engine then hands over every frame). Checked when made: a negative
        threshold is a `ValueError` here."""
        if self.custom_model is not None:
            return None
        a = self.algo_options
        m = self.model_options if isinstance(self.model_options, SileroVadOptions) else SileroVadOptions()
        return PauseConfig(
            audio_chunk_duration=float(a.audio_chunk_duration),
            started_talking_threshold=float(a.started_talking_threshold),
            speech_threshold=float(a.speech_threshold),
            threshold=float(m.threshold),
            min_speech_duration=m.min_speech_duration_ms / 1000,
            speech_pad=m.speech_pad_ms / 1000,
            max_continuous_speech=float(min(a.max_continuous_speech_s, m.max_speech_duration_s)),
            end_of_turn=self.end_of_turn,
        )

    def call(self, audio: tuple[int, Any]) -> Any:
        """Starts `fn` for one utterance (with the other inputs when it takes them). With a
        textbox component (`WebRTCData` first), `fn` gets that value with the utterance in `.audio`."""
        from .utils import WebRTCData

        first = self.latest_args[0] if self.latest_args else None
        if isinstance(first, WebRTCData):
            first.audio = audio
            return self.fn(first, *self.latest_args[1:])
        if self.needs_args and self.latest_args:
            return self.fn(audio, *self.latest_args[1:])
        return self.fn(audio)

    def trigger_response(self) -> None:
        """Replies now, to what the user has said so far (possibly nothing): e.g. when text was
        submitted beside the microphone, or a button asks for an answer."""
        if self._end_utterance is not None:
            self._end_utterance()
        elif not self._ended:  # the session is starting: it replies once it has
            self._end_pending = True

    def hear(self, sample_rate: int, audio: Any, offset: int) -> None:
        """A piece of the utterance being spoken, int16 `(1, n)` (only when `streams_speech`)."""

    # The engine keeps the audio until a pause: nothing arrives frame by frame.
    def receive(self, frame: tuple[int, Any]) -> None:
        pass

    def emit(self) -> Any:
        return None

    def _settings(self) -> dict[str, Any]:
        """Every constructor argument but `fn`, by name: what `copy()` passes on (subclasses too)."""
        return {
            "algo_options": self.algo_options,
            "model_options": self.model_options,
            "expected_layout": self.expected_layout,
            "output_sample_rate": self.output_sample_rate,
            "output_frame_size": self.output_frame_size,
            "input_sample_rate": self.input_sample_rate,
            "can_interrupt": self.can_interrupt,
            "startup_fn": self.startup_fn,
            "needs_args": self.needs_args,
            "model": self.model,
            "turn_detector": self.turn_detector,
        }

    def copy(self) -> ReplyOnPause:
        return ReplyOnPause(self.fn, **self._settings())
