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
from .outputs import AdditionalOutputs, CloseStream, Warning, WebRTCError
from .pause_detection import ModelOptions, PauseDetectionModel, SileroVadOptions, get_silero_model
from .replica import READY_PATH, Replica, replica
from .reply_on_pause import AlgoOptions, ReplyOnPause
from .reply_on_stopwords import PocketSphinxDetector, ReplyOnStopWords, SpeechToTextStopWords, StopWordDetector
from .speech_to_text import MoonshineSTT, get_stt_model
from .stream import Stream, UIArgs
from .stream_handler import (
    AsyncAudioVideoStreamHandler,
    AsyncStreamHandler,
    AudioEmitType,
    AudioVideoStreamHandler,
    StreamHandler,
    StreamHandlerBase,
    VideoEmitType,
    VideoStreamHandler,
)
from .text_to_speech import CartesiaTTSOptions, KokoroTTSOptions, get_tts_model
from .turn_detection import SmartTurn, TurnDetector
from .utils import (
    WebRTCData,
    aggregate_bytes_to_16bit,
    async_aggregate_bytes_to_16bit,
    audio_to_bytes,
    audio_to_file,
    audio_to_float32,
    audio_to_int16,
    create_message,
    get_current_context,
    wait_for_item,
)
from .webrtc import WebRTC

__version__ = _engine.__version__

# Close every session before the interpreter finalizes, so no engine task touches Python then.
atexit.register(_engine.shutdown)

__all__ = [
    "READY_PATH",
    "AdditionalOutputs",
    "AlgoOptions",
    "AsyncAudioVideoStreamHandler",
    "AsyncStreamHandler",
    "AudioEmitType",
    "AudioVideoStreamHandler",
    "CartesiaTTSOptions",
    "CloseStream",
    "KokoroTTSOptions",
    "ModelOptions",
    "MoonshineSTT",
    "PauseDetectionModel",
    "PocketSphinxDetector",
    "Replica",
    "ReplyOnPause",
    "ReplyOnStopWords",
    "SileroVadOptions",
    "SmartTurn",
    "SpeechToTextStopWords",
    "StopWordDetector",
    "Stream",
    "StreamHandler",
    "StreamHandlerBase",
    "TurnDetector",
    "UIArgs",
    "VideoEmitType",
    "VideoStreamHandler",
    "Warning",
    "WebRTC",
    "WebRTCData",
    "WebRTCError",
    "__version__",
    "aggregate_bytes_to_16bit",
    "async_aggregate_bytes_to_16bit",
    "audio_to_bytes",
    "audio_to_file",
    "audio_to_float32",
    "audio_to_int16",
    "create_message",
    "get_cloudflare_turn_credentials",
    "get_cloudflare_turn_credentials_async",
    "get_current_context",
    "get_hf_turn_credentials",
    "get_hf_turn_credentials_async",
    "get_silero_model",
    "get_stt_model",
    "get_tts_model",
    "get_turn_credentials",
    "get_turn_credentials_async",
    "get_turn_rest_credentials",
    "get_twilio_turn_credentials",
    "replica",
    "wait_for_item",
]
