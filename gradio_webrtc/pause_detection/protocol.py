"""The interface of a pause-detection model (fastrtc's `PauseDetectionModel`)."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np

from ..utils import AudioChunk

#: Whatever options a model takes (Silero's are `SileroVadOptions`).
ModelOptions = Any


@runtime_checkable
class PauseDetectionModel(Protocol):
    """A voice activity detector `ReplyOnPause(model=...)` can use.

    `vad((sample_rate, audio), options)` returns the seconds of speech in `audio` and the speech
    regions found (in samples); `warmup()` prepares the model. It is called from a worker thread,
    once per `AlgoOptions.audio_chunk_duration` of audio.
    """

    def vad(self, audio: tuple[int, np.ndarray], options: ModelOptions) -> tuple[float, list[AudioChunk]]: ...

    def warmup(self) -> None: ...
