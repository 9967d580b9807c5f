"""Text to speech, as fastrtc offers it: `get_tts_model("kokoro")` (ONNX, on CPU) or
`get_tts_model("cartesia", cartesia_api_key=...)` (Cartesia's API).

Loaded the way fastrtc loads them: Kokoro through the `kokoro-onnx` package (the `tts` extra:
`pip install "fastrtc-rs[tts]"` or `"gradio-webrtc-rs[tts]"`) with its weights from the Hugging
Face hub (`fastrtc/kokoro-onnx`: `kokoro-v1.0.onnx`, `voices-v1.0.bin`); Cartesia through the
`cartesia` package. Every model offers `tts(text) -> (rate, audio)` and the streaming
`stream_tts(text)` (async) / `stream_tts_sync(text)`, one sentence at a time.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Literal, Protocol

import numpy as np

__all__ = [
    "CartesiaTTSModel",
    "CartesiaTTSOptions",
    "KokoroTTSModel",
    "KokoroTTSOptions",
    "TTSModel",
    "TTSOptions",
    "get_tts_model",
]

MISSING_KOKORO = "Install fastrtc-rs[tts] (or gradio-webrtc-rs[tts]) for text-to-speech: pip install 'fastrtc-rs[tts]'"
MISSING_CARTESIA = "cartesia is not installed. Please install it using 'pip install cartesia'."


class TTSOptions:
    """The options of a text-to-speech model."""


class TTSModel(Protocol):
    def tts(self, text: str, options: Any = None) -> tuple[int, np.ndarray]: ...

    def stream_tts(self, text: str, options: Any = None) -> AsyncIterator[tuple[int, np.ndarray]]: ...

    def stream_tts_sync(self, text: str, options: Any = None) -> Iterator[tuple[int, np.ndarray]]: ...


@dataclass
class KokoroTTSOptions(TTSOptions):
    voice: str = "af_heart"
    speed: float = 1.0
    lang: str = "en-us"


@dataclass
class CartesiaTTSOptions(TTSOptions):
    voice: str = "71a7ad14-091c-4e8e-a314-022ece01c121"
    language: str = "en"
    emotion: list[str] = field(default_factory=list)
    cartesia_version: str = "2024-06-10"
    model: str = "sonic-2"
    sample_rate: int = 22050


def sentences(text: str) -> list[str]:
    """`text` cut after each `.`, `!` or `?` followed by whitespace; empty pieces dropped."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if s.strip()]


def _sync(stream: AsyncIterator[tuple[int, np.ndarray]]) -> Iterator[tuple[int, np.ndarray]]:
    """An async stream, driven to completion on a loop of its own (for sync handlers)."""
    loop = asyncio.new_event_loop()
    try:
        while True:
            try:
                yield loop.run_until_complete(stream.__anext__())
            except StopAsyncIteration:
                return
    finally:
        loop.run_until_complete(stream.aclose())  # type: ignore[attr-defined]
        loop.close()


class KokoroTTSModel:
    """Kokoro v1.0 (82M parameters, 24 kHz), through `kokoro-onnx`."""

    REPO = "fastrtc/kokoro-onnx"

    def __init__(self) -> None:
        try:
            from kokoro_onnx import Kokoro
        except ImportError as exc:
            raise ImportError(MISSING_KOKORO) from exc
        from huggingface_hub import hf_hub_download

        self.model = Kokoro(
            model_path=hf_hub_download(self.REPO, "kokoro-v1.0.onnx"),
            voices_path=hf_hub_download(self.REPO, "voices-v1.0.bin"),
        )

    def tts(self, text: str, options: KokoroTTSOptions | None = None) -> tuple[int, np.ndarray]:
        o = options or KokoroTTSOptions()
        audio, rate = self.model.create(text, voice=o.voice, speed=o.speed, lang=o.lang)
        return int(rate), np.asarray(audio, np.float32)

    async def stream_tts(
        self, text: str, options: KokoroTTSOptions | None = None
    ) -> AsyncIterator[tuple[int, np.ndarray]]:
        o = options or KokoroTTSOptions()
        for i, sentence in enumerate(sentences(text)):
            first = True
            async for audio, rate in self.model.create_stream(sentence, voice=o.voice, speed=o.speed, lang=o.lang):
                if i > 0 and first:
                    yield int(rate), np.zeros(int(rate) // 7, np.float32)  # a breath between sentences
                first = False
                yield int(rate), np.asarray(audio, np.float32)

    def stream_tts_sync(self, text: str, options: KokoroTTSOptions | None = None) -> Iterator[tuple[int, np.ndarray]]:
        yield from _sync(self.stream_tts(text, options))


class CartesiaTTSModel:
    """Cartesia's streaming voices (an API key; 16-bit PCM at the options' rate)."""

    def __init__(self, api_key: str) -> None:
        try:
            from cartesia import AsyncCartesia
        except ImportError as exc:
            raise RuntimeError(MISSING_CARTESIA) from exc
        self.client = AsyncCartesia(api_key=api_key)

    async def stream_tts(
        self, text: str, options: CartesiaTTSOptions | None = None
    ) -> AsyncIterator[tuple[int, np.ndarray]]:
        o = options or CartesiaTTSOptions()
        for sentence in sentences(text):
            pending = b""
            request = {
                "model_id": o.model,
                "transcript": sentence,
                "voice": {"mode": "id", "id": o.voice},
                "language": o.language,
                "output_format": {"container": "raw", "sample_rate": o.sample_rate, "encoding": "pcm_s16le"},
            }
            tts = self.client.tts
            # cartesia >= 3 names POST /tts/bytes `generate`; 2.x (fastrtc's) `bytes`.
            chunks = (await tts.generate(**request)).iter_bytes() if hasattr(tts, "generate") else tts.bytes(**request)
            async for chunk in chunks:
                data = pending + bytes(chunk)
                whole = len(data) - len(data) % 2
                pending = data[whole:]
                if whole:
                    yield o.sample_rate, np.frombuffer(data[:whole], np.int16)

    def stream_tts_sync(self, text: str, options: CartesiaTTSOptions | None = None) -> Iterator[tuple[int, np.ndarray]]:
        yield from _sync(self.stream_tts(text, options))

    def tts(self, text: str, options: CartesiaTTSOptions | None = None) -> tuple[int, np.ndarray]:
        o = options or CartesiaTTSOptions()
        pieces = [audio for _, audio in self.stream_tts_sync(text, o)]
        return o.sample_rate, np.concatenate(pieces) if pieces else np.zeros(0, np.int16)


@lru_cache
def get_tts_model(model: Literal["kokoro", "cartesia"] = "kokoro", **kwargs: Any) -> TTSModel:
    """A text-to-speech model, loaded once per process (Kokoro is warmed up)."""
    if model == "kokoro":
        kokoro = KokoroTTSModel()
        kokoro.tts("Hello, world!")
        return kokoro
    if model == "cartesia":
        return CartesiaTTSModel(api_key=kwargs.get("cartesia_api_key", ""))
    raise ValueError(f"Invalid model: {model}")
