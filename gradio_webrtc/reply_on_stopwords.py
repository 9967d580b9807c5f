"""`ReplyOnStopWords`: like `ReplyOnPause`, but only for what is said after a stop word.

The engine streams each utterance to the stop-word detector while it is spoken (~100 ms pieces),
so the page gets the `stopword` message as soon as the stop word ("ok computer", "hello llama",
...) is recognised, while the user is still talking. When the user pauses, `fn` is called with the
audio that follows the stop word — or, if the stop word was all the user said, with the next
utterance. Utterances without a stop word get no reply.

The default detector is offline keyword spotting with pocketsphinx (its English model ships with
the PyPI package; `pip install "gradio-webrtc-rs[stopword]"`). Any object with a
`detect(sample_rate, audio) -> float | None` method (seconds where the stop word ends) can replace
it, e.g. one built on your own speech-to-text; give it `start()`/`feed()` (see
`StreamingStopWordDetector`) to be told while the user talks rather than at the pause, and `copy()`
if it keeps per-stream state (each session then gets its own).
"""

from __future__ import annotations

import re
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from ._engine import Resampler
from .pause_detection import PauseDetectionModel
from .reply_on_pause import AlgoOptions, ReplyOnPause, SileroVadOptions
from .turn_detection import TurnDetector

#: An utterance needs this much audio after the stop word to be a request in itself.
MIN_REQUEST_S = 0.5


class StopWordDetector(Protocol):
    """Finds a stop word in a whole utterance."""

    def detect(self, sample_rate: int, audio: np.ndarray) -> float | None:
        """Seconds into `audio` (mono int16) at which a stop word ends, or None."""
        ...


@runtime_checkable
class StreamingStopWordDetector(Protocol):
    """Finds a stop word while the utterance is being spoken."""

    def start(self) -> None:
        """A new utterance begins."""
        ...

    def feed(self, sample_rate: int, audio: np.ndarray) -> float | None:
        """The next piece of the utterance (mono int16); seconds since `start()` at which a stop
        word ended, the first time one is heard, else None."""
        ...


class PocketSphinxDetector:
    """Keyword spotting with pocketsphinx's bundled US-English acoustic model and dictionary.

    Streams: `start()` then `feed()` pieces as the user talks; `detect()` runs a whole utterance.
    One decoder spots every phrase (a keyword list); it loads (~0.08 s) on first use, in the thread
    that uses it, and each session works on its own `copy()`.

    Args:
        stop_words: single words or short phrases; each word must be in pocketsphinx's dictionary
            (common English words are), so list spelling variants the dictionary knows
            ("okay computer", "ok computer").
        threshold: the keyword-spotting threshold; lower finds more (and more false alarms).
    """

    def __init__(self, stop_words: Sequence[str], threshold: float = 1e-20) -> None:
        try:
            import pocketsphinx  # noqa: F401
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "ReplyOnStopWords' default detector needs pocketsphinx: pip install 'gradio-webrtc-rs[stopword]'"
            ) from exc
        phrases = [" ".join(re.findall(r"[a-z']+", w.lower())) for w in stop_words]
        phrases = [p for p in phrases if p]
        if not phrases:
            raise ValueError("ReplyOnStopWords needs at least one stop word")
        self.stop_words = phrases
        self.threshold = threshold
        self._decoder: Any = None
        self._in_utterance = False
        self._resampler: Resampler | None = None
        self._resampler_rate = 0
        self._fed = 0  # 16 kHz samples fed since start()
        self._pending = np.zeros(0, np.int16)  # 16 kHz samples short of a whole 100 ms chunk
        self._heard: float | None = None

    def copy(self) -> PocketSphinxDetector:
        return PocketSphinxDetector(self.stop_words, self.threshold)

    def _load(self) -> Any:
        from pocketsphinx import Decoder

        # pocketsphinx reads a keyword list from a file: "phrase /threshold/" per line.
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "stop_words.kws"
            path.write_text("".join(f"{p} /{self.threshold:g}/\n" for p in self.stop_words))
            return Decoder(kws=str(path), samprate=16000, lm=None)

    def start(self) -> None:
        if self._decoder is None:
            self._decoder = self._load()
        if self._in_utterance:
            self._decoder.end_utt()
        self._decoder.start_utt()
        self._in_utterance = True
        self._resampler = None
        self._fed = 0
        self._pending = np.zeros(0, np.int16)
        self._heard = None

    def feed(self, sample_rate: int, audio: np.ndarray) -> float | None:
        if not self._in_utterance:
            self.start()
        if self._resampler is None or self._resampler_rate != sample_rate:
            # The engine's low-delay resampler, streaming: pieces convert as the whole would.
            self._resampler, self._resampler_rate = Resampler(sample_rate, 16000), sample_rate
        if self._heard is not None:
            return None  # reported already
        pcm = np.concatenate([self._pending, self._resampler.process(np.asarray(audio, np.int16))])
        # Whole 100 ms chunks only: the decoder sees the same chunks however the audio was cut.
        whole = len(pcm) - len(pcm) % 1600
        self._pending = pcm[whole:]
        for i in range(0, whole, 1600):
            self._fed += 1600
            self._decoder.process_raw(pcm[i : i + 1600].tobytes(), False, False)
            if self._decoder.hyp() is not None:
                self._heard = self._fed / 16000
                return self._heard
        return None

    def detect(self, sample_rate: int, audio: np.ndarray) -> float | None:
        self.start()
        return self.feed(sample_rate, np.asarray(audio).reshape(-1))


def stop_word_detected(text: str, stop_words: Sequence[str]) -> bool:
    """True if `text` (a transcript) holds one of `stop_words`: its words in order, whole, any
    case, separated by any whitespace, optionally followed by punctuation."""
    lowered = text.lower()
    for phrase in stop_words:
        words = phrase.lower().strip().split()
        if words and re.search(r"\b" + r"\s+".join(re.escape(w) for w in words) + r"[.,!?]*\b", lowered):
            return True
    return False


class SpeechToTextStopWords:
    """Stop words found by transcribing, with any speech-to-text model (`stt((rate, audio)) -> str`,
    e.g. `get_stt_model()`): while the user talks, every `step` seconds of new speech the last
    `window` seconds are transcribed, and the stop word counts as heard at the end of that window
    (fastrtc's way: the request is what follows the window that held it).

    Args:
        stt_model: the model (shared by every session: it keeps no per-stream state).
        stop_words: the phrases.
        window, step: seconds transcribed each time, and seconds between transcriptions.
    """

    def __init__(self, stt_model: Any, stop_words: Sequence[str], window: float = 2.0, step: float = 0.5) -> None:
        self.stt_model = stt_model
        self.stop_words = list(stop_words)
        self.window, self.step = window, step
        self.start()

    def copy(self) -> SpeechToTextStopWords:
        return SpeechToTextStopWords(self.stt_model, self.stop_words, self.window, self.step)

    def start(self) -> None:
        self._audio = np.zeros(0, np.int16)
        self._rate = 16000
        self._since = 0
        self._heard: float | None = None

    def feed(self, sample_rate: int, audio: np.ndarray) -> float | None:
        if self._heard is not None:
            return None
        self._rate = sample_rate
        self._audio = np.concatenate([self._audio, np.asarray(audio, np.int16).reshape(-1)])
        self._since += int(np.asarray(audio).size)
        if self._since < self.step * sample_rate:
            return None
        self._since = 0
        recent = self._audio[-int(self.window * sample_rate) :]
        if stop_word_detected(self.stt_model.stt((sample_rate, recent)), self.stop_words):
            self._heard = len(self._audio) / sample_rate
            return self._heard
        return None

    def detect(self, sample_rate: int, audio: np.ndarray) -> float | None:
        self.start()
        samples = np.asarray(audio).reshape(-1)
        step = max(1, int(self.step * sample_rate))
        for i in range(0, len(samples), step):
            if (at := self.feed(sample_rate, samples[i : i + step])) is not None:
                return at
        if self._since and stop_word_detected(
            self.stt_model.stt((sample_rate, self._audio[-int(self.window * sample_rate) :])), self.stop_words
        ):
            return len(self._audio) / sample_rate
        return None


class ReplyOnStopWords(ReplyOnPause):
    """Replies, with `fn`, only to what the user says after one of `stop_words`.

    Args:
        fn: as for `ReplyOnPause`.
        stop_words: the wake words or phrases.
        detector: a `StopWordDetector` (optionally streaming); default
            `PocketSphinxDetector(stop_words)`.
        turn_detector: as for `ReplyOnPause`: the request after the stop word ends when the
            end-of-turn model says it is finished.
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
        output_frame_size: int | None = 480,
        input_sample_rate: int = 48000,
        *,
        can_interrupt: bool = True,
        detector: StopWordDetector | None = None,
        startup_fn: Callable[..., Any] | None = None,
        needs_args: bool = False,
        model: PauseDetectionModel | None = None,
        turn_detector: TurnDetector | Callable[..., Any] | None = None,
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
            model=model,
            turn_detector=turn_detector,
        )
        self.stop_words = list(stop_words)
        self.detector = detector if detector is not None else PocketSphinxDetector(self.stop_words)
        self.streams_speech = isinstance(self.detector, StreamingStopWordDetector)
        self.armed = False
        self._fed = 0  # samples of the current utterance given to the streaming detector
        self._heard: float | None = None  # where the stop word ended in it, once heard
        self._gap = False  # pieces were dropped: decide on the whole utterance instead

    def hear(self, sample_rate: int, audio: np.ndarray, offset: int) -> None:
        """A piece of the utterance being spoken (from the engine, with `streams_speech`)."""
        detector = self.detector
        assert isinstance(detector, StreamingStopWordDetector)
        if self.armed:
            return  # the stop word came already: this utterance is the request
        if offset == 0:
            detector.start()
            self._fed, self._heard, self._gap = 0, None, False
        if offset != self._fed:
            self._gap = True  # the engine dropped pieces while we were busy
        self._fed = offset + audio.shape[-1]
        if self._gap or self._heard is not None:
            return
        at = detector.feed(sample_rate, audio.reshape(-1))
        if at is not None:
            self._heard = at
            self.send_page_event("stopword")

    def call(self, audio: tuple[int, Any]) -> Any:
        """The reply to one utterance, or None when it is not addressed to us."""
        rate, array = audio
        if self.armed:
            self.armed = False
            return super().call(audio)
        heard = self._stop_word_end(rate, array[0])
        self._fed, self._heard, self._gap = 0, None, False
        if heard is None:
            return None
        rest = array[:, int(heard * rate) :]
        if rest.shape[1] < MIN_REQUEST_S * rate:
            self.armed = True  # "ok computer" ... [pause] ... the request comes next
            return None
        return super().call((rate, rest))

    def _stop_word_end(self, rate: int, samples: np.ndarray) -> float | None:
        """Seconds into the utterance where the stop word ends; sends `stopword` if not yet sent."""
        if self.streams_speech and not self._gap and self._fed > 0:
            if self._heard is not None:
                return self._heard
            detector = self.detector
            assert isinstance(detector, StreamingStopWordDetector)
            at = detector.feed(rate, samples[self._fed :]) if self._fed < len(samples) else None
        else:
            at = self.detector.detect(rate, samples)
        if at is not None:
            self.send_page_event("stopword")
        return at

    def copy(self) -> ReplyOnStopWords:
        copy_detector = getattr(self.detector, "copy", None)
        return ReplyOnStopWords(
            self.fn,
            self.stop_words,
            detector=copy_detector() if callable(copy_detector) else self.detector,
            **self._settings(),
        )
