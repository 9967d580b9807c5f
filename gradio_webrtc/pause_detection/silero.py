"""The bundled Silero VAD behind fastrtc's `PauseDetectionModel` interface.

`ReplyOnPause` runs this model in the engine, in Rust, on every 32 ms window: passing
`model=get_silero_model()` (as fastrtc apps do) changes nothing. Calling `vad()` yourself runs the
same network on a whole chunk and returns its speech regions the way Silero's timestamp rule
finds them: speech starts where the probability reaches `threshold` and ends after
`min_silence_duration_ms` below `threshold - 0.15`; regions shorter than `min_speech_duration_ms`
are dropped and the rest padded by `speech_pad_ms`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._engine import pause_defaults, speech_probabilities
from ..utils import AudioChunk
from .protocol import ModelOptions, PauseDetectionModel

__all__ = ["SileroVADModel", "SileroVadOptions", "get_silero_model"]

#: The engine's defaults: the one copy of them (seconds; `threshold` a probability).
_DEFAULTS = pause_defaults()


@dataclass
class SileroVadOptions:
    """Silero VAD settings (the original's names and defaults).

    `threshold`: window probability that counts as speech (with Silero's 0.15 hysteresis below it
    right after speech). `min_speech_duration_ms`: shorter speech runs do not start an utterance.
    `speech_pad_ms`: audio kept before the first speech. `max_speech_duration_s`: caps an utterance.
    `min_silence_duration_ms` ends a region in `vad()`'s timestamps; the engine's pause rule uses
    `AlgoOptions` instead. `window_size_samples` is accepted for compatibility: the v6 model uses
    32 ms windows (512 samples at 16 kHz; 256 at 8 kHz, where `input_sample_rate=8000` runs
    Silero's 8 kHz network without resampling).
    """

    threshold: float = _DEFAULTS["threshold"]
    min_speech_duration_ms: int = round(_DEFAULTS["min_speech_duration"] * 1000)
    max_speech_duration_s: float = math.inf
    min_silence_duration_ms: int = 2000
    window_size_samples: int = 1024
    speech_pad_ms: int = round(_DEFAULTS["speech_pad"] * 1000)


class SileroVADModel:
    """Silero VAD v6 in Rust (weights inside the package: no download, no onnxruntime)."""

    #: Rate the speech regions of `vad()` are counted at (fastrtc's model works at 16 kHz).
    SAMPLING_RATE = 16000

    def vad(self, audio: tuple[int, np.ndarray], options: ModelOptions = None) -> tuple[float, list[AudioChunk]]:
        """Seconds of speech in `audio` and its speech regions, in samples at 16 kHz."""
        rate, array = audio
        samples = np.asarray(array).reshape(-1)
        if samples.dtype == np.int16:
            samples = samples.astype(np.float32) / 32768.0
        samples = samples.astype(np.float32, copy=False)
        o = options if isinstance(options, SileroVadOptions) else SileroVadOptions()
        probs, vad_rate = speech_probabilities(int(rate), np.ascontiguousarray(samples))
        window = 512 if vad_rate == 16000 else 256
        scale = self.SAMPLING_RATE / vad_rate
        total = int(len(samples) * vad_rate / rate)
        chunks = speech_regions(probs, window, total, vad_rate, o)
        chunks = [{"start": int(c["start"] * scale), "end": int(c["end"] * scale)} for c in chunks]
        speech = sum(c["end"] - c["start"] for c in chunks) / self.SAMPLING_RATE
        return speech, chunks  # type: ignore[return-value]

    def warmup(self) -> None:
        """Runs the network once (its weights are already in memory: this only touches them)."""
        self.vad((16000, np.zeros(16000, np.float32)))


def speech_regions(probs: list[float], window: int, total: int, rate: int, o: SileroVadOptions) -> list[AudioChunk]:
    """Silero's timestamp rule over window probabilities: regions in samples at `rate`."""
    min_speech = rate * o.min_speech_duration_ms / 1000
    min_silence = rate * o.min_silence_duration_ms / 1000
    pad = int(rate * o.speech_pad_ms / 1000)
    max_speech = rate * o.max_speech_duration_s
    low = max(o.threshold - 0.15, 0.01)
    regions: list[AudioChunk] = []
    start: int | None = None
    silence_since: int | None = None
    for i, p in enumerate(probs):
        at = i * window
        if p >= o.threshold:
            silence_since = None
            if start is None:
                start = at
        elif start is not None and p < low:
            if silence_since is None:
                silence_since = at
            if at - silence_since >= min_silence:
                if silence_since - start > min_speech:
                    regions.append({"start": start, "end": silence_since})
                start, silence_since = None, None
        if start is not None and at + window - start > max_speech:
            regions.append({"start": start, "end": at + window})
            start, silence_since = None, None
    if start is not None and total - start > min_speech:
        regions.append({"start": start, "end": total})
    # Pad each region, splitting the gap where padding would overlap the next one.
    for k, region in enumerate(regions):
        region["start"] = max(0, region["start"] - pad) if k == 0 else region["start"]
        if k + 1 < len(regions):
            gap = regions[k + 1]["start"] - region["end"]
            if gap < 2 * pad:
                region["end"] += gap // 2
                regions[k + 1]["start"] = max(0, regions[k + 1]["start"] - gap // 2)
            else:
                region["end"] = min(total, region["end"] + pad)
                regions[k + 1]["start"] = max(0, regions[k + 1]["start"] - pad)
        else:
            region["end"] = min(total, region["end"] + pad)
    return regions


@lru_cache(maxsize=1)
def get_silero_model() -> PauseDetectionModel:
    """The bundled Silero VAD (one per process). `ReplyOnPause(model=get_silero_model())` is the
    same as no `model`: the engine runs it."""
    return SileroVADModel()
