"""Pause detection models: the interface (`PauseDetectionModel`) and the bundled Silero VAD."""

from .protocol import ModelOptions, PauseDetectionModel
from .silero import SileroVADModel, SileroVadOptions, get_silero_model

__all__ = ["ModelOptions", "PauseDetectionModel", "SileroVADModel", "SileroVadOptions", "get_silero_model"]
