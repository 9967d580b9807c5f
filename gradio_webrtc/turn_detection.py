"""End of turn: a model, not only a silence timer, decides when the user has finished.

`ReplyOnPause(fn, turn_detector=SmartTurn())` changes how the engine ends an utterance. After
`silence` seconds of silence (0.2 by default) it asks the detector whether what was said so far is
a finished turn: if so it replies at once, ~0.3 s sooner than the pause rule's ~0.5 s; if not, it
keeps listening, through pauses of up to `max_silence` seconds (2.0), and speech that resumes in
that time continues the same utterance. The detector runs on the engine's worker threads, never on
the media path: audio keeps flowing while it thinks, and a slow detector delays only its own
decision.

`SmartTurn` is Smart Turn v3.2 (Daily, BSD-2-Clause; hears prosody and words, 8 s of audio),
compiled into the engine and run by ONNX Runtime's library from the `onnxruntime` wheel
(`pip install "gradio-webrtc-rs[turn]"`): nothing is downloaded at run time.

Your own detector: any callable `(sample_rate, int16 array of shape (1, N)) -> probability that
the turn is complete`, or a `TurnDetector` subclass to set its timings too. It gets the whole
utterance so far and is called from a worker thread (e.g. transcribe it and ask a text model
whether the sentence is finished).
"""

from __future__ import annotations

import importlib.util
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ._engine import EndOfTurnConfig, SmartTurnModel

__all__ = ["SmartTurn", "TurnDetector", "onnxruntime_library", "turn_config"]

#: Environment variables naming ONNX Runtime's shared library (ours first, then `ort`'s).
LIBRARY_VARIABLES = ("GRADIO_WEBRTC_ONNXRUNTIME", "ORT_DYLIB_PATH")


class TurnDetector:
    """An end-of-turn detector for `ReplyOnPause(turn_detector=...)`: subclass it and implement
    `__call__`.

    Args:
        threshold: a probability at least this means the turn is complete.
        silence: seconds of silence after which the detector is asked.
        max_silence: the longest silence (seconds) the turn is held when the detector says the
            user is not done (or does not answer in time).
    """

    def __init__(self, threshold: float = 0.5, silence: float = 0.2, max_silence: float = 2.0) -> None:
        self.threshold = threshold
        self.silence = silence
        self.max_silence = max_silence

    def __call__(self, audio: tuple[int, np.ndarray]) -> float:
        """The probability that `audio` (the utterance so far: rate, int16 `(1, N)`) is a finished
        turn. Called from a worker thread, once per candidate pause."""
        raise NotImplementedError

    def engine_detector(self) -> Any:
        """What the engine calls: this object (from a worker thread, with the GIL)."""
        return self

    def engine_config(self) -> EndOfTurnConfig:
        """The engine's form of this detector and its timings (checked: a `ValueError` for a
        threshold outside 0-1 or `max_silence < silence`)."""
        return EndOfTurnConfig(
            self.engine_detector(),
            silence=float(self.silence),
            max_silence=float(self.max_silence),
            threshold=float(self.threshold),
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(threshold={self.threshold}, silence={self.silence}, max_silence={self.max_silence})"
        )


def onnxruntime_library() -> str:
    """The path of ONNX Runtime's shared library: `$GRADIO_WEBRTC_ONNXRUNTIME` or
    `$ORT_DYLIB_PATH` if set, else the one inside the installed `onnxruntime` wheel (found
    without importing it)."""
    for variable in LIBRARY_VARIABLES:
        if os.environ.get(variable):
            return os.environ[variable]
    spec = importlib.util.find_spec("onnxruntime")
    if spec is not None and spec.origin is not None:
        capi = Path(spec.origin).parent / "capi"
        for pattern in ("libonnxruntime.so.*", "libonnxruntime.*.dylib", "onnxruntime.dll"):
            found = sorted(capi.glob(pattern))
            if found:
                return str(found[-1])
    raise ImportError(
        "SmartTurn runs on ONNX Runtime's library, which comes with the onnxruntime wheel: "
        "pip install 'gradio-webrtc-rs[turn]' (or set GRADIO_WEBRTC_ONNXRUNTIME to the library's path)"
    )


class SmartTurn(TurnDetector):
    """Smart Turn v3.2 in the engine (see the module documentation). The model loads on first
    use (about 0.1 s) and is shared by every session of the handler.

    Args:
        threshold, silence, max_silence: as `TurnDetector`.
        onnxruntime_library: the path of ONNX Runtime's shared library (default: the
            `onnxruntime` wheel's, see `onnxruntime_library()`).
    """

    def __init__(
        self,
        threshold: float = 0.5,
        silence: float = 0.2,
        max_silence: float = 2.0,
        *,
        onnxruntime_library: str | None = None,
    ) -> None:
        super().__init__(threshold, silence, max_silence)
        self.library = onnxruntime_library
        self._model: SmartTurnModel | None = None
        self._loading = threading.Lock()

    def model(self) -> SmartTurnModel:
        """The loaded model (loads it the first time)."""
        with self._loading:
            if self._model is None:
                self._model = SmartTurnModel(self.library or onnxruntime_library())
            return self._model

    def __call__(self, audio: tuple[int, np.ndarray]) -> float:
        rate, samples = audio
        return self.model().probability(int(rate), np.asarray(samples).reshape(-1))

    def engine_detector(self) -> SmartTurnModel:
        # The engine calls the model itself, without Python or the GIL.
        return self.model()


def turn_config(detector: TurnDetector | Callable[..., Any] | None) -> EndOfTurnConfig | None:
    """The engine's end-of-turn configuration for `ReplyOnPause(turn_detector=detector)`."""
    if detector is None:
        return None
    if isinstance(detector, TurnDetector):
        return detector.engine_config()
    if callable(detector):
        return EndOfTurnConfig(detector)
    raise TypeError(
        "turn_detector must be a TurnDetector (e.g. SmartTurn()) or a callable "
        f"(sample_rate, audio) -> probability, got {type(detector).__name__}"
    )
