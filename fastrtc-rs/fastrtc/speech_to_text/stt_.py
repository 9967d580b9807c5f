"""`fastrtc.speech_to_text.stt_`."""

from gradio_webrtc.speech_to_text import MoonshineSTT, STTModel, get_stt_model, stt_for_chunks

__all__ = ["MoonshineSTT", "STTModel", "get_stt_model", "stt_for_chunks"]
