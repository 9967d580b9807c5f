"""fastrtc 0.0.34's API on gradio_webrtc's Rust engine.

`pip install fastrtc-rs` provides the `fastrtc` import name: apps written for fastrtc run
unchanged, with fastrtc's signatures, defaults and wire messages (its JSON page events), on this
package's engine (WebRTC, codecs, Silero VAD and pause detection in Rust).
"""

from gradio_webrtc import __version__
from gradio_webrtc.reply_on_pause import AlgoOptions
from gradio_webrtc.stream_handler import (
    AsyncAudioVideoStreamHandler,
    AsyncStreamHandler,
    AudioEmitType,
    AudioVideoStreamHandler,
    StreamHandler,
    VideoEmitType,
    VideoStreamHandler,
)

from .credentials import (
    get_cloudflare_turn_credentials,
    get_cloudflare_turn_credentials_async,
    get_hf_turn_credentials,
    get_hf_turn_credentials_async,
    get_turn_credentials,
    get_turn_credentials_async,
    get_twilio_turn_credentials,
)
from .pause_detection import ModelOptions, PauseDetectionModel, SileroVadOptions, get_silero_model
from .reply_on_pause import ReplyOnPause
from .reply_on_stopwords import ReplyOnStopWords
from .speech_to_text import MoonshineSTT, get_stt_model
from .stream import Stream, UIArgs
from .text_to_speech import CartesiaTTSOptions, KokoroTTSOptions, get_tts_model
from .utils import (
    AdditionalOutputs,
    CloseStream,
    Warning,  # noqa: A004 - fastrtc's public name
    WebRTCData,
    WebRTCError,
    aggregate_bytes_to_16bit,
    async_aggregate_bytes_to_16bit,
    audio_to_bytes,
    audio_to_file,
    audio_to_float32,
    audio_to_int16,
    get_current_context,
    wait_for_item,
)
from .webrtc import WebRTC

__all__ = [
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
    "ReplyOnPause",
    "ReplyOnStopWords",
    "SileroVadOptions",
    "Stream",
    "StreamHandler",
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
    "get_twilio_turn_credentials",
    "wait_for_item",
]
