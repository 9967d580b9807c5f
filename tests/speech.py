"""The Piper speech fixtures (tests/data/speech, made by scripts/make_speech_fixtures.py)."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

DATA = Path(__file__).parent / "data" / "speech"


def load(name: str, rate: int = 48000) -> np.ndarray:
    """A fixture as int16 mono at `rate` (FFT resampling from the stored 16 kHz)."""
    with wave.open(str(DATA / f"{name}.wav")) as f:
        audio = np.frombuffer(f.readframes(f.getnframes()), "<i2").astype(np.float64)
        src = f.getframerate()
    n = round(len(audio) * rate / src)
    spectrum = np.fft.rfft(audio)
    spectrum = np.pad(spectrum, (0, max(0, n // 2 + 1 - len(spectrum))))[: n // 2 + 1]
    return np.clip(np.fft.irfft(spectrum, n) * (n / len(audio)), -32768, 32767).astype(np.int16)


def speech_ends(audio: np.ndarray, rate: int = 48000) -> list[float]:
    """Seconds at which each spoken segment ends (100 ms envelope, gaps over 0.5 s split segments)."""
    hop = rate // 10
    env = np.array([np.abs(audio[i : i + hop]).max() for i in range(0, len(audio), hop)]) > 500
    ends, quiet = [], 0
    for i, loud in enumerate(env):
        if loud:
            quiet = 0
        else:
            quiet += 1
            if quiet == 6 and i >= 6 and env[i - 6]:
                ends.append((i - 5) * 0.1)
    return ends
