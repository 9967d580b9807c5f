"""`fastrtc.pause_detection.silero`: the bundled Silero VAD (no download, no onnxruntime)."""

from gradio_webrtc.pause_detection.silero import SileroVADModel, SileroVadOptions, get_silero_model

__all__ = ["SileroVADModel", "SileroVadOptions", "get_silero_model"]
