"""`fastrtc.text_to_speech.tts`."""

from gradio_webrtc.text_to_speech import (
    CartesiaTTSModel,
    CartesiaTTSOptions,
    KokoroTTSModel,
    KokoroTTSOptions,
    TTSModel,
    TTSOptions,
    get_tts_model,
)

__all__ = [
    "CartesiaTTSModel",
    "CartesiaTTSOptions",
    "KokoroTTSModel",
    "KokoroTTSOptions",
    "TTSModel",
    "TTSOptions",
    "get_tts_model",
]
