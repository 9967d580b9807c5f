"""`fastrtc.pause_detection.protocol`."""

from gradio_webrtc.pause_detection.protocol import ModelOptions, PauseDetectionModel

__all__ = ["ModelOptions", "PauseDetectionModel"]
