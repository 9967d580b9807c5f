"""`ReplyOnStopWords`: like `ReplyOnPause`, but only for what is said after a stop word.

Each utterance the engine's pause detector completes is checked for a stop word ("ok computer",
"hello llama", ...). If one is heard, the page gets the `stopword` message and `fn` is called with
the audio that follows the stop word — or, if the stop word was all the user said, with the next
utterance. Utterances without a stop word get no reply.

The default detector is offline keyword spotting with pocketsphinx (its English model ships with
the PyPI package; `pip install gradio_webrtc[stopword]`). Any object with a
`detect(sample_rate, audio) -> float | None` method (seconds where the stop word ends) can replace
it, e.g. one built on your own speech-to-text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import numpy as np

from .reply_on_pause import AlgoOptions, ReplyOnPause, SileroVadOptions

#: An utterance needs this much audio after the stop word to be a request in itself.
MIN_REQUEST_S = 0.5


class StopWordDetector(Protocol):
    """Finds a stop word in an utterance."""

    def detect(self, sample_rate: int, audio: np.ndarray) -> float | None:
        """Seconds into `audio` (mono int16) at which a stop word ends, or None."""
        ...


def to_16k(sample_rate: int, audio: np.ndarray) -> np.ndarray:
    """Mono int16 audio resampled to 16 kHz (band-limited, by FFT: utterances are short)."""
    x = audio.astype(np.float64)
    if sample_rate == 16000 or len(x) == 0:
        return audio.astype(np.int16)
    n = round(len(x) * 16000 / sample_rate)
    spectrum = np.fft.rfft(x)[: n // 2 + 1]
    return np.clip(np.fft.irfft(spectrum, n) * (n / len(x)), -32768, 32767).astype(np.int16)


class PocketSphinxDetector:
    """Keyword spotting with pocketsphinx's bundled US-English acoustic model and dictionary.

    Args:
        stop_words: single words or short phrases; each word must be in pocketsphinx's dictionary
            (common English words are), so list spelling variants the dictionary knows
            ("okay computer", "ok computer").
        threshold: the keyword-spotting threshold; lower finds more (and more false alarms).
    """

    def __init__(self, stop_words: Sequence[str], threshold: float = 1e-20) -> None:
        try:
            from pocketsphinx import Decoder
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "ReplyOnStopWords' default detector needs pocketsphinx: pip install 'gradio_webrtc[stopword]'"
            ) from exc
        phrases = [" ".join(re.findall(r"[a-z']+", w.lower())) for w in stop_words]
        phrases = [p for p in phrases if p]
        if not phrases:
            raise ValueError("ReplyOnStopWords needs at least one stop word")
        self.stop_words = phrases
        self._decoders = [Decoder(keyphrase=p, kws_threshold=threshold, samprate=16000, lm=None) for p in phrases]

    def detect(self, sample_rate: int, audio: np.ndarray) -> float | None:
        pcm = to_16k(sample_rate, np.asarray(audio).reshape(-1)).tobytes()
        best: float | None = None
        for decoder in self._decoders:
            decoder.start_utt()
            for i in range(0, len(pcm), 3200):  # 100 ms at a time, as a stream
                decoder.process_raw(pcm[i : i + 3200], False, False)
                if decoder.hyp() is not None:
                    end = (i + 3200) / 32000
                    best = end if best is None else min(best, end)
                    break
            decoder.end_utt()
        return best


class ReplyOnStopWords(ReplyOnPause):
    """Replies, with `fn`, only to what the user says after one of `stop_words`.

    Args:
        fn: as for `ReplyOnPause`.
        stop_words: the wake words or phrases.
        detector: a `StopWordDetector`; default `PocketSphinxDetector(stop_words)`.
        Other arguments: as `ReplyOnPause`.
    """

    def __init__(
        self,
        fn: Callable[..., Any],
        stop_words: Sequence[str],
        algo_options: AlgoOptions | None = None,
        model_options: SileroVadOptions | None = None,
        expected_layout: Literal["mono", "stereo"] = "mono",
        output_sample_rate: int = 24000,
        output_frame_size: int = 480,
        input_sample_rate: int = 48000,
        can_interrupt: bool = True,
        detector: StopWordDetector | None = None,
        startup_fn: Callable[..., Any] | None = None,
        needs_args: bool = False,
    ) -> None:
        super().__init__(
            fn,
            startup_fn=startup_fn,
            algo_options=algo_options,
            model_options=model_options,
            can_interrupt=can_interrupt,
            expected_layout=expected_layout,
            output_sample_rate=output_sample_rate,
            output_frame_size=output_frame_size,
            input_sample_rate=input_sample_rate,
            needs_args=needs_args,
        )
        self.stop_words = list(stop_words)
        self.detector = detector if detector is not None else PocketSphinxDetector(self.stop_words)
        self.armed = False

    def call(self, audio: tuple[int, Any]) -> Any:
        """The reply to one utterance, or None when it is not addressed to us."""
        rate, array = audio
        if self.armed:
            self.armed = False
            return super().call(audio)
        heard = self.detector.detect(rate, array[0])
        if heard is None:
            return None
        self.send_message_sync("stopword")
        rest = array[:, int(heard * rate) :]
        if rest.shape[1] < MIN_REQUEST_S * rate:
            self.armed = True  # "ok computer" ... [pause] ... the request comes next
            return None
        return super().call((rate, rest))

    def copy(self) -> ReplyOnStopWords:
        return ReplyOnStopWords(
            self.fn,
            self.stop_words,
            self.algo_options,
            self.model_options,
            self.expected_layout,  # type: ignore[arg-type]
            self.output_sample_rate,
            self.output_frame_size,
            self.input_sample_rate,
            self.can_interrupt,
            self.detector,
            self.startup_fn,
            self.needs_args,
        )
