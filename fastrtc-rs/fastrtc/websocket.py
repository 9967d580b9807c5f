"""`fastrtc.websocket`: the WebSocket transport is gradio_webrtc's (`Stream`'s routes); this
module keeps fastrtc's helper for μ-law conversion."""

from __future__ import annotations

import numpy as np

from gradio_webrtc._engine import Resampler

__all__ = ["convert_to_mulaw"]


def convert_to_mulaw(audio_data: np.ndarray, original_rate: int, target_rate: int) -> bytes:
    """Audio (int16 or float) at `original_rate` as G.711 μ-law bytes at `target_rate`."""
    samples = np.asarray(audio_data).reshape(-1)
    if samples.dtype != np.int16:
        samples = np.clip(np.round(samples.astype(np.float32) * 32767), -32768, 32767).astype(np.int16)
    if original_rate != target_rate:
        samples = Resampler(original_rate, target_rate).process(samples)
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()
