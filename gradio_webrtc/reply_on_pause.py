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
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from ._engine import pause_defaults
from .stream_handler import StreamHandler

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


@dataclass
class SileroVadOptions:
    """Silero VAD settings (the original's names and defaults).

    `threshold`: window probability that counts as speech (with Silero's 0.15 hysteresis below it
    right after speech). `min_speech_duration_ms`: shorter speech runs do not start an utterance.
    `speech_pad_ms`: audio kept before the first speech. `max_speech_duration_s`: caps an utterance.
    `min_silence_duration_ms` and `window_size_samples` are accepted for compatibility: the sliding
    rule above decides the pause, and the v6 model uses 32 ms windows (512 samples at 16 kHz; 256 at
    8 kHz, where `input_sample_rate=8000` runs Silero's 8 kHz network without resampling).
    """

    threshold: float = _DEFAULTS["threshold"]
    min_speech_duration_ms: int = round(_DEFAULTS["min_speech_duration"] * 1000)
    max_speech_duration_s: float = math.inf
    min_silence_duration_ms: int = 2000
    window_size_samples: int = 1024
    speech_pad_ms: int = round(_DEFAULTS["speech_pad"] * 1000)


class ReplyOnPause(StreamHandler):
    """Replies to each utterance with `fn`'s output.

    The positional parameters are gradio_webrtc 0.0.31's, in its order; the later additions are
    keyword-only, so `ReplyOnPause(fn, AlgoOptions(...))` means what it meant there.

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
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        algo_options: AlgoOptions | None = None,
        model_options: SileroVadOptions | None = None,
        expected_layout: Literal["mono", "stereo"] = "mono",
        output_sample_rate: int = 24000,
        output_frame_size: int = 480,
        input_sample_rate: int = 48000,
        *,
        can_interrupt: bool = True,
        startup_fn: Callable[..., Any] | None = None,
        needs_args: bool = False,
    ) -> None:
        super().__init__(expected_layout, output_sample_rate, output_frame_size, input_sample_rate)
        if not callable(fn):
            raise TypeError(f"ReplyOnPause needs a generator function, got {type(fn).__name__}")
        self.fn = fn
        self.startup_fn = startup_fn
        self.algo_options = algo_options or AlgoOptions()
        self.model_options = model_options or SileroVadOptions()
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

    def pause_options(self) -> dict[str, float]:
        """The options the engine's pause detector takes, in seconds."""
        a, m = self.algo_options, self.model_options
        return {
            "audio_chunk_duration": float(a.audio_chunk_duration),
            "started_talking_threshold": float(a.started_talking_threshold),
            "speech_threshold": float(a.speech_threshold),
            "threshold": float(m.threshold),
            "min_speech_duration": m.min_speech_duration_ms / 1000,
            "speech_pad": m.speech_pad_ms / 1000,
            "max_continuous_speech": float(min(a.max_continuous_speech_s, m.max_speech_duration_s)),
        }

    def call(self, audio: tuple[int, Any]) -> Any:
        """Starts `fn` for one utterance (with the other inputs when it takes them)."""
        if self.needs_args and self.latest_args:
            return self.fn(audio, *self.latest_args[1:])
        return self.fn(audio)

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
        }

    def copy(self) -> ReplyOnPause:
        return ReplyOnPause(self.fn, **self._settings())
