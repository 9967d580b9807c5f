"""`fastrtc.tracks`: the handler classes (run by gradio_webrtc's engine, not aiortc tracks)."""

from __future__ import annotations

from collections.abc import Callable, Generator
from typing import Any

import numpy as np

from gradio_webrtc.stream_handler import (
    AsyncAudioVideoStreamHandler,
    AsyncStreamHandler,
    AudioEmitType,
    AudioVideoStreamHandler,
    StreamHandler,
    StreamHandlerBase,
    VideoEmitType,
    VideoStreamHandler,
)

from .utils import (
    AdditionalOutputs,
    CloseStream,
    Context,
    DataChannel,
    WebRTCData,
    WebRTCError,
    create_message,
    current_channel,
    current_context,
    split_output,
)

__all__ = [
    "AdditionalOutputs",
    "AsyncAudioVideoStreamHandler",
    "AsyncHandler",
    "AsyncStreamHandler",
    "AudioEmitType",
    "AudioVideoStreamHandler",
    "AudioVideoStreamHandlerImpl",
    "CloseStream",
    "Context",
    "DataChannel",
    "EmitType",
    "HandlerType",
    "StreamHandler",
    "StreamHandlerBase",
    "StreamHandlerImpl",
    "VideoEmitType",
    "VideoEventHandler",
    "VideoNDArray",
    "VideoStreamHandler",
    "VideoStreamHandlerImpl",
    "WebRTCData",
    "WebRTCError",
    "create_message",
    "current_channel",
    "current_context",
    "split_output",
]

VideoNDArray = np.ndarray
EmitType = AudioEmitType
VideoEventHandler = Callable[..., Any]
VideoEventGenerator = Generator[Any, None, None]
StreamHandlerImpl = StreamHandler | AsyncStreamHandler
AudioVideoStreamHandlerImpl = AudioVideoStreamHandler | AsyncAudioVideoStreamHandler
VideoStreamHandlerImpl = VideoStreamHandler | Callable[..., Any]
AsyncHandler = AsyncStreamHandler | AsyncAudioVideoStreamHandler
HandlerType = StreamHandlerImpl | AudioVideoStreamHandlerImpl | VideoStreamHandlerImpl | Callable[..., Any]
