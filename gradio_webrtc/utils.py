"""Audio helpers of the original's public API (`audio_to_bytes`, `aggregate_bytes_to_16bit`, ...)."""

from __future__ import annotations

import tempfile
import warnings
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Iterable, Iterator


def _mono_int16(audio: tuple[int, np.ndarray]) -> tuple[int, np.ndarray]:
    rate, array = audio
    data = np.asarray(array)
    if data.dtype != np.int16:
        data = audio_to_int16(data)
    return int(rate), data.reshape(-1)


def audio_to_bytes(audio: tuple[int, np.ndarray]) -> bytes:
    """Encodes mono `(sample_rate, array)` audio as MP3 bytes (LAME, 128 kb/s).

    Args:
        audio: sample rate and an int16 or float32 array of any shape holding one channel.
    """
    import lameenc

    rate, samples = _mono_int16(audio)
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(128)
    encoder.set_in_sample_rate(rate)
    encoder.set_channels(1)
    encoder.set_quality(2)
    return bytes(encoder.encode(samples.tobytes()) + encoder.flush())


def audio_to_file(audio: tuple[int, np.ndarray]) -> str:
    """Writes `audio` as an MP3 file in the temporary directory and returns its path."""
    with tempfile.NamedTemporaryFile(suffix=".mp3", delete=False) as f:
        f.write(audio_to_bytes(audio))
        return f.name


def audio_to_float32(audio: np.ndarray | tuple[int, np.ndarray]) -> np.ndarray:
    """int16 audio to float32 in [-1, 1); float32 passes through.

    The original took the `(sample_rate, array)` tuple and fastrtc takes the array; both work.
    """
    if isinstance(audio, tuple):
        warnings.warn(
            "audio_to_float32 takes the array; passing the (sample_rate, array) tuple is deprecated",
            DeprecationWarning,
            stacklevel=2,
        )
        audio = audio[1]
    array = np.asarray(audio)
    if array.dtype == np.int16:
        return array.astype(np.float32) / 32768.0
    if array.dtype == np.float32:
        return array
    raise TypeError(f"expected int16 or float32 audio, got {array.dtype}")


def audio_to_int16(audio: np.ndarray) -> np.ndarray:
    """float32 audio in [-1, 1] to int16 (clipped); int16 passes through."""
    array = np.asarray(audio)
    if array.dtype == np.int16:
        return array
    if array.dtype in (np.float32, np.float64):
        return np.clip(np.round(array * 32767.0), -32768, 32767).astype(np.int16)
    raise TypeError(f"expected int16 or float32 audio, got {array.dtype}")


def _aggregate(chunk: bytes, leftover: bytes) -> tuple[np.ndarray | None, bytes]:
    data = leftover + chunk
    usable = len(data) - len(data) % 2
    if usable == 0:
        return None, data
    return np.frombuffer(data[:usable], dtype=np.int16).reshape(1, -1), data[usable:]


def aggregate_bytes_to_16bit(chunks_iterator: Iterable[bytes]) -> Iterator[np.ndarray]:
    """Turns a stream of raw little-endian int16 bytes (e.g. a TTS HTTP stream) into `(1, n)` arrays.

    Chunks may split samples anywhere; the odd byte is carried over to the next chunk.
    """
    leftover = b""
    for chunk in chunks_iterator:
        array, leftover = _aggregate(chunk, leftover)
        if array is not None:
            yield array


async def async_aggregate_bytes_to_16bit(chunks_iterator: AsyncIterable[bytes]) -> AsyncIterator[np.ndarray]:
    """Async version of `aggregate_bytes_to_16bit`."""
    leftover = b""
    async for chunk in chunks_iterator:
        array, leftover = _aggregate(chunk, leftover)
        if array is not None:
            yield array


def is_audio_item(item: Any) -> bool:
    """Whether `item` looks like `(rate, array)` or `(rate, array, layout)`."""
    return (
        isinstance(item, tuple)
        and len(item) in (2, 3)
        and isinstance(item[0], (int, np.integer))
        and isinstance(item[1], np.ndarray)
    )
