"""Speech to text, as fastrtc offers it: `get_stt_model()` gives a Moonshine model (ONNX, on CPU).

Loaded the way fastrtc loads it: the `fastrtc-moonshine-onnx` package (the `stt` extra:
`pip install "fastrtc-rs[stt]"` or `"gradio-webrtc-rs[stt]"`) fetches the weights from the Hugging
Face hub (`UsefulSensors/moonshine`, `onnx/merged/<size>/float/{encoder_model,
decoder_model_merged}.onnx`) and runs them with onnxruntime; audio at other rates is converted to
16 kHz by the engine's resampler.
"""

from __future__ import annotations

import logging
import os
from functools import lru_cache
from typing import Literal, Protocol

import numpy as np

from .._engine import Resampler
from ..utils import AudioChunk

__all__ = ["MoonshineSTT", "STTModel", "get_stt_model", "stt_for_chunks"]

logger = logging.getLogger("gradio_webrtc")

MISSING = (
    "Install fastrtc-rs[stt] (or gradio-webrtc-rs[stt]) for speech-to-text and stopword detection support: "
    "pip install 'fastrtc-rs[stt]'"
)


class STTModel(Protocol):
    """A speech-to-text model: `stt((sample_rate, audio)) -> text`."""

    def stt(self, audio: tuple[int, np.ndarray]) -> str: ...


def to_16k_float(audio: tuple[int, np.ndarray]) -> np.ndarray:
    """Mono float32 at 16 kHz, shape (1, N), from int16 or float audio at any rate."""
    rate, array = audio
    samples = np.asarray(array).reshape(-1)
    if samples.dtype != np.int16:
        samples = np.clip(np.round(samples.astype(np.float32) * 32767), -32768, 32767).astype(np.int16)
    if rate != 16000:
        samples = Resampler(int(rate), 16000).process(samples)
    return (samples.astype(np.float32) / 32768.0).reshape(1, -1)


class MoonshineSTT:
    """Moonshine speech recognition (`"moonshine/base"` or `"moonshine/tiny"`)."""

    def __init__(self, model: Literal["moonshine/base", "moonshine/tiny"] = "moonshine/base") -> None:
        try:
            from moonshine_onnx import MoonshineOnnxModel, load_tokenizer
        except ImportError as exc:
            raise ImportError(MISSING) from exc
        self.model = MoonshineOnnxModel(model_name=model)
        self.tokenizer = load_tokenizer()

    def stt(self, audio: tuple[int, np.ndarray]) -> str:
        tokens = self.model.generate(to_16k_float(audio))
        return str(self.tokenizer.decode_batch(tokens)[0])


@lru_cache
def get_stt_model(model: Literal["moonshine/base", "moonshine/tiny"] = "moonshine/base") -> STTModel:
    """A speech-to-text model, loaded once per process and warmed up."""
    os.environ["TOKENIZERS_PARALLELISM"] = "false"
    stt = MoonshineSTT(model)
    print("INFO:\t  Warming up STT model.", flush=True)
    stt.stt((16000, np.zeros(16000, np.int16)))
    print("INFO:\t  STT model warmed up.", flush=True)
    return stt


def stt_for_chunks(stt_model: STTModel, audio: tuple[int, np.ndarray], chunks: list[AudioChunk]) -> str:
    """The transcripts of `audio`'s `chunks` (speech regions, in samples), joined by spaces."""
    rate, samples = audio
    return " ".join(stt_model.stt((rate, samples[c["start"] : c["end"]])) for c in chunks)
