"""`fastrtc.utils` on gradio_webrtc's engine: the same names, fastrtc 0.0.34's behaviour."""

from __future__ import annotations

import warnings
from collections.abc import Awaitable, Callable
from typing import Any

import numpy as np

from gradio_webrtc import utils as _utils
from gradio_webrtc.utils import (
    AUDIO_PTIME,
    AdditionalOutputs,
    AudioChunk,
    CloseStream,
    Context,
    DataChannel,
    Warning,  # noqa: A004 - fastrtc's public name
    WebRTCData,
    WebRTCError,
    WebRTCModel,
    aggregate_bytes_to_16bit,
    async_aggregate_bytes_to_16bit,
    audio_to_bytes,
    audio_to_file,
    create_message,
    current_channel,
    current_context,
    get_current_context,
    split_output,
    wait_for_item,
    webrtc_error_handler,
)

__all__ = [
    "AUDIO_PTIME",
    "AdditionalOutputs",
    "AudioChunk",
    "CloseStream",
    "Context",
    "DataChannel",
    "RTCConfigurationCallable",
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

#: A browser ICE configuration, or a function (sync or async) returning one.
RTCConfigurationCallable = dict[str, Any] | Callable[[], dict[str, Any]] | Callable[[], Awaitable[dict[str, Any]]]

_TUPLE_WARNING = (
    "Passing a (sr, audio) tuple to audio_to_float32() is deprecated and will be removed in a future release. "
    "Pass only the audio array."
)


def _array(audio: np.ndarray | tuple[int, np.ndarray]) -> np.ndarray:
    if isinstance(audio, tuple):
        warnings.warn(_TUPLE_WARNING, UserWarning, stacklevel=3)
        return audio[1]
    return audio


def audio_to_float32(audio: np.ndarray | tuple[int, np.ndarray]) -> np.ndarray:
    """int16 audio to float32 in [-1, 1); float32 passes through (fastrtc's warning for a tuple)."""
    array = np.asarray(_array(audio))
    if array.dtype not in (np.int16, np.float32):
        raise TypeError(f"Unsupported audio data type: {array.dtype}")
    return _utils.audio_to_float32(array)


def audio_to_int16(audio: np.ndarray | tuple[int, np.ndarray]) -> np.ndarray:
    """float32 audio in [-1, 1] to int16; int16 passes through (fastrtc's warning for a tuple)."""
    array = np.asarray(_array(audio))
    if array.dtype not in (np.int16, np.float32):
        raise TypeError(f"Unsupported audio data type: {array.dtype}")
    return _utils.audio_to_int16(array)
