"""`fastrtc.text_to_speech`."""

from gradio_webrtc.text_to_speech import CartesiaTTSOptions, KokoroTTSOptions, get_tts_model

__all__ = ["CartesiaTTSOptions", "KokoroTTSOptions", "get_tts_model"]
