"""gradio_webrtc: real-time audio and video over WebRTC for Gradio apps, on a Rust engine."""

from __future__ import annotations

import atexit

from . import _engine
from .credentials import (
    get_cloudflare_turn_credentials,
    get_cloudflare_turn_credentials_async,
    get_hf_turn_credentials,
    get_hf_turn_credentials_async,
    get_turn_credentials,
    get_turn_credentials_async,
    get_turn_rest_credentials,
    get_twilio_turn_credentials,
)
from .outputs import AdditionalOutputs, Warning, WebRTCError
from .reply_on_pause import AlgoOptions, ReplyOnPause, SileroVadOptions
from .reply_on_stopwords import PocketSphinxDetector, ReplyOnStopWords, StopWordDetector
from .stream import Stream, UIArgs
from .stream_handler import (
    AsyncAudioVideoStreamHandler,
    AsyncStreamHandler,
    AudioEmitType,
    AudioVideoStreamHandler,
    StreamHandler,
    StreamHandlerBase,
    VideoEmitType,
)
from .utils import (
    aggregate_bytes_to_16bit,
    async_aggregate_bytes_to_16bit,
    audio_to_bytes,
    audio_to_file,
    audio_to_float32,
    audio_to_int16,
)
from .webrtc import WebRTC

__version__ = _engine.__version__

# Close every session before the interpreter finalizes, so no engine task touches Python then.
atexit.register(_engine.shutdown)

__all__ = [
    "AdditionalOutputs",
    "AlgoOptions",
    "AsyncAudioVideoStreamHandler",
    "AsyncStreamHandler",
    "AudioEmitType",
    "AudioVideoStreamHandler",
    "PocketSphinxDetector",
    "ReplyOnPause",
    "ReplyOnStopWords",
    "SileroVadOptions",
    "StopWordDetector",
    "Stream",
    "StreamHandler",
    "StreamHandlerBase",
    "UIArgs",
    "VideoEmitType",
    "Warning",
    "WebRTC",
    "WebRTCError",
    "__version__",
    "aggregate_bytes_to_16bit",
    "async_aggregate_bytes_to_16bit",
    "audio_to_bytes",
    "audio_to_file",
    "audio_to_float32",
    "audio_to_int16",
    "get_cloudflare_turn_credentials",
    "get_cloudflare_turn_credentials_async",
    "get_hf_turn_credentials",
    "get_hf_turn_credentials_async",
    "get_turn_credentials",
    "get_turn_credentials_async",
    "get_turn_rest_credentials",
    "get_twilio_turn_credentials",
]
