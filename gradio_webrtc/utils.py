"""The helpers of the public API: audio conversions (`audio_to_bytes`, `aggregate_bytes_to_16bit`,
...), the connection a handler call belongs to (`get_current_context`), page messages
(`create_message`) and fastrtc's small utilities (`wait_for_item`, `WebRTCData`)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
import tempfile
import warnings
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol, TypedDict

import numpy as np
from gradio.data_classes import GradioModel, GradioRootModel

from .outputs import AdditionalOutputs, CloseStream, Warning, WebRTCError, current_channel, split_output  # noqa: A004 - fastrtc.utils names them

if TYPE_CHECKING:
    from collections.abc import AsyncIterable, AsyncIterator, Callable, Iterable, Iterator

__all__ = [
    "AUDIO_PTIME",
    "AdditionalOutputs",
    "AudioChunk",
    "CloseStream",
    "Context",
    "DataChannel",
    "Warning",
    "WebRTCData",
    "WebRTCError",
    "WebRTCModel",
    "aggregate_bytes_to_16bit",
    "async_aggregate_bytes_to_16bit",
    "audio_to_bytes",
    "audio_to_file",
    "audio_to_float32",
    "audio_to_int16",
    "create_message",
    "current_channel",
    "current_context",
    "get_current_context",
    "split_output",
    "wait_for_item",
    "webrtc_error_handler",
]

#: The duration of one audio frame on the wire, in seconds.
AUDIO_PTIME = 0.020


class AudioChunk(TypedDict):
    """A speech region found by a VAD, in samples."""

    start: int
    end: int


class DataChannel(Protocol):
    """What carries text to the page: the session's data channel, or a WebSocket."""

    def send(self, message: str) -> None: ...


class WebRTCData(GradioModel):
    """The component's value in its `variant="textbox"` form: the connection, the text typed beside
    the microphone, and (filled in by `ReplyOnPause`) the utterance."""

    webrtc_id: str
    textbox: str = ""
    audio: Any | None = None


class WebRTCModel(GradioRootModel):
    """The component's payload: a `WebRTCData` (textbox variant) or the `webrtc_id` string."""

    root: WebRTCData | str


@dataclass
class Context:
    """The connection a handler call belongs to: its id, and its WebSocket when it came through one."""

    webrtc_id: str
    websocket: Any = None


#: The connection of the handler code running in this task or thread (set by the session runner).
current_context: ContextVar[Context | None] = ContextVar("current_context", default=None)


def get_current_context() -> Context:
    """The `Context` of the connection whose handler is running here.

    Raises:
        RuntimeError: outside handler code.
    """
    context = current_context.get()
    if context is None:
        raise RuntimeError("No context found")
    return context


MessageType = Literal[
    "send_input", "end_stream", "fetch_output", "stopword", "error", "warning", "log", "update_connection"
]


def create_message(type: MessageType, data: list[Any] | str) -> str:  # noqa: A002 - fastrtc's name
    """A page message in the `{"type", "data"}` shape (`send_input`, `fetch_output`, `log`, ...)."""
    return json.dumps({"type": type, "data": data})


async def wait_for_item(queue: asyncio.Queue[Any], timeout: float = 0.1) -> Any:
    """The next item of `queue`, or None if none comes within `timeout` seconds (an `emit()` that
    must return promptly when it has nothing to say)."""
    with contextlib.suppress(asyncio.TimeoutError):
        return await asyncio.wait_for(queue.get(), timeout)
    return None


def webrtc_error_handler(func: Callable[..., Any]) -> Callable[..., Any]:
    """Wraps a sync or async function so that any exception it raises reaches the page as a
    `WebRTCError` (with the exception's text) and is raised on as one."""
    if inspect.iscoroutinefunction(func):

        @functools.wraps(func)
        async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return await func(*args, **kwargs)
            except WebRTCError:
                raise
            except Exception as exc:
                raise WebRTCError(str(exc)) from exc

        return async_wrapper

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except WebRTCError:
            raise
        except Exception as exc:
            raise WebRTCError(str(exc)) from exc

    return wrapper


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


def audio_to_int16(audio: np.ndarray | tuple[int, np.ndarray]) -> np.ndarray:
    """float32 audio in [-1, 1] to int16 (clipped); int16 passes through. Like `audio_to_float32`,
    the `(sample_rate, array)` tuple is accepted with a deprecation warning."""
    if isinstance(audio, tuple):
        warnings.warn(
            "audio_to_int16 takes the array; passing the (sample_rate, array) tuple is deprecated",
            DeprecationWarning,
            stacklevel=2,
        )
        audio = audio[1]
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
