"""`fastrtc.pause_detection`: the model interface and the bundled Silero VAD (run in Rust)."""

from gradio_webrtc.pause_detection import (
    ModelOptions,
    PauseDetectionModel,
    SileroVADModel,
    SileroVadOptions,
    get_silero_model,
)

__all__ = ["ModelOptions", "PauseDetectionModel", "SileroVADModel", "SileroVadOptions", "get_silero_model"]
