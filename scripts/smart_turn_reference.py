"""Copies Smart Turn v3.2 into the engine and writes the reference output its pieces are checked against.

Smart Turn v3 (BSD-2-Clause, Daily) ships in the `pipecat-ai` wheel with a numpy reference of its
input features (Whisper's log-mel, after Hugging Face transformers, Apache-2.0). This script
downloads that wheel from PyPI (no install, no pipecat dependency), runs the reference on the
speech fixtures exactly as pipecat prepares audio for the model (the last 8 s, zero-padded in
front), and writes every 8th frame of the (80, 800) features as little-endian f32 to
`tests/data/smart_turn/<name>.mel` (what `rust/media/src/mel.rs`'s tests read). It also copies the
model and its license notice to `rust/media/assets/` (compiled into the engine) and writes the
probabilities onnxruntime gives on the reference features of whole and cut fixtures to
`tests/data/smart_turn/probabilities.tsv` (what `rust/media/src/smart_turn.rs`'s tests read).

    python scripts/smart_turn_reference.py            # needs numpy, onnxruntime and PyPI
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
MODEL = "pipecat/audio/turn/smart_turn/data/smart-turn-v3.2-cpu.onnx"
ASSETS = Path(__file__).resolve().parent.parent / "rust" / "media" / "assets"
ROOT = Path(__file__).resolve().parent.parent
SPEECH = ROOT / "tests" / "data" / "speech"
OUT = ROOT / "tests" / "data" / "smart_turn"
FIXTURES = ("one_sentence", "long_reply_interrupt")
SAMPLES = 16000 * 8
#: (fixture, the fraction of it kept) scored for the probability references: whole requests and
#: requests cut mid-sentence.
CUTS = (
    ("one_sentence", 1.0),
    ("one_sentence", 0.45),
    ("two_sentences", 0.6),
    ("two_sentences", 1.0),
    ("long_reply_interrupt", 0.3),
    ("stop_word", 1.0),
    ("stop_word", 0.4),
)


def reference_module(workdir: Path):
    subprocess.run(
        [sys.executable, "-m", "pip", "download", PIPECAT, "--no-deps", "-d", str(workdir), "-q"], check=True
    )
    wheel = next(workdir.glob("pipecat_ai-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        source = workdir / "whisper_features.py"
        source.write_bytes(z.read(FEATURES))
        (ASSETS / "smart-turn-v3.2-cpu.onnx").write_bytes(z.read(MODEL))
        license_file = next(n for n in z.namelist() if n.endswith(".dist-info/licenses/LICENSE"))
        (ASSETS / "SMART_TURN_LICENSE").write_bytes(z.read(license_file))
    spec = importlib.util.spec_from_file_location("whisper_features", source)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def last_8_seconds(audio: np.ndarray) -> np.ndarray:
    if audio.size >= SAMPLES:
        return audio[-SAMPLES:]
    return np.pad(audio, (SAMPLES - audio.size, 0))


def read_wav(name: str) -> np.ndarray:
    with wave.open(str(SPEECH / f"{name}.wav")) as w:
        assert w.getframerate() == 16000 and w.getnchannels() == 1
        return np.frombuffer(w.readframes(w.getnframes()), np.int16).astype(np.float32) / 32768.0


def write_probabilities(features) -> None:
    import onnxruntime

    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    # As the engine does (rust/media/src/smart_turn.rs): exact int8 products on every x86 CPU.
    options.add_session_config_entry("session.x64quantprecision", "1")
    session = onnxruntime.InferenceSession(str(ASSETS / "smart-turn-v3.2-cpu.onnx"), options)
    lines = ["# fixture\tfraction kept\tprobability (onnxruntime on pipecat's features)"]
    for name, cut in CUTS:
        audio = read_wav(name)
        audio = audio[: int(audio.size * cut)]
        mel = features(last_8_seconds(audio), do_normalize=True)
        (probability,) = session.run(None, {"input_features": mel[None].astype(np.float32)})[0].reshape(-1)
        lines.append(f"{name}\t{cut}\t{probability:.6f}")
        print(f"{name} {cut}: {probability:.4f}")
    (OUT / "probabilities.tsv").write_text("\n".join(lines) + "\n")


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
        write_probabilities(features)


if __name__ == "__main__":
    main()
