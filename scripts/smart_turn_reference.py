"""Writes the reference output the engine's Smart Turn pieces are checked against.

Smart Turn v3 (BSD-2-Clause, Daily) ships in the `pipecat-ai` wheel with a numpy reference of its
input features (Whisper's log-mel, after Hugging Face transformers, Apache-2.0). This script
downloads that wheel from PyPI (no install, no pipecat dependency), runs the reference on the
speech fixtures exactly as pipecat prepares audio for the model (the last 8 s, zero-padded in
front), and writes every 8th frame of the (80, 800) features as little-endian f32 to
`tests/data/smart_turn/<name>.mel` (what `rust/media/src/mel.rs`'s tests read).

    python scripts/smart_turn_reference.py            # needs numpy and PyPI
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import wave
import zipfile
from pathlib import Path

import numpy as np

PIPECAT = "pipecat-ai==1.14.0"
FEATURES = "pipecat/audio/turn/smart_turn/_whisper_features.py"
ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "tests" / "data" / "speech"
OUT = ROOT / "tests" / "data" / "smart_turn"
FIXTURES = ("one_sentence", "long_reply_interrupt")
SAMPLES = 16000 * 8


def reference_module(workdir: Path):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", PIPECAT, "--no-deps", "-d", str(workdir), "-q"], check=True
    )
    wheel = next(workdir.glob("pipecat_ai-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        source = workdir / "whisper_features.py"
        source.write_bytes(z.read(FEATURES))
    spec = importlib.util.spec_from_file_location("whisper_features", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def last_8_seconds(audio: np.ndarray) -> np.ndarray:
    if audio.size >= SAMPLES:
        return audio[-SAMPLES:]
    return np.pad(audio, (SAMPLES - audio.size, 0))


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        features = reference_module(Path(tmp)).compute_whisper_log_mel_features
        for name in FIXTURES:
            with wave.open(str(SPEECH / f"{name}.wav")) as w:
                assert w.getframerate() == 16000 and w.getnchannels() == 1
                pcm = np.frombuffer(w.readframes(w.getnframes()), np.int16)
            mel = features(last_8_seconds(pcm.astype(np.float32) / 32768.0), do_normalize=True)
            assert mel.shape == (80, 800)
            path = OUT / f"{name}.mel"
            path.write_bytes(np.ascontiguousarray(mel[:, ::8]).astype("<f4").tobytes())
            print(f"{path.relative_to(ROOT)}: {mel.shape} -> every 8th frame, range {mel.min():.3f}..{mel.max():.3f}")


if __name__ == "__main__":
    main()
