"""Converts Silero VAD v6 (16 kHz) from the MIT-licensed `silero-vad` wheel into the engine's weights.

Run once, offline, from a virtualenv with `onnx`, `onnxruntime` and `numpy`:

    pip download --no-deps silero-vad==6.2.3 -d /tmp/silero && unzip -o /tmp/silero/*.whl -d /tmp/silero
    python scripts/convert_silero.py /tmp/silero/silero_vad/data/silero_vad_openvino_16k.onnx

Writes `rust/media/assets/silero_vad_v6_16k.bin` (the network's 15 tensors, float32) and
`rust/media/tests/data/silero_reference.bin` (a deterministic test signal and the probabilities
onnxruntime gives for it, which `cargo test` compares the Rust forward pass against).

Weights file format (little-endian): b"SILERO6\\0", u32 tensor count, then per tensor: u32 name
length, name (UTF-8), u32 rank, u32 dims..., float32 data.
"""

from __future__ import annotations

import struct
import sys
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper

ROOT = Path(__file__).parent.parent
TENSORS = [
    "stft.forward_basis_buffer",
    *[f"encoder.{i}.reparam_conv.{p}" for i in range(4) for p in ("weight", "bias")],
    "decoder.rnn.weight_ih",
    "decoder.rnn.weight_hh",
    "decoder.rnn.bias_ih",
    "decoder.rnn.bias_hh",
    "decoder.decoder.2.weight",
    "decoder.decoder.2.bias",
]


def reference_signal() -> np.ndarray:
    """3 s: a buzzy harmonic 'voice' with syllable-rate modulation, 1 s silence, 1 s faint noise."""
    t = np.arange(16000 * 3) / 16000
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    noise = 0.02 * np.random.default_rng(0).standard_normal(16000)
    audio = np.concatenate([0.3 * voice, np.zeros(16000), noise])
    return np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)


def main(model_path: str) -> None:
    model = onnx.load(model_path)
    found = {}
    for node in model.graph.node:
        if node.op_type == "Constant":
            name = node.output[0].split("__")[-1]
            if name in TENSORS:
                found[name] = numpy_helper.to_array(onnx.helper.get_attribute_value(node.attribute[0]))
    missing = set(TENSORS) - set(found)
    if missing:
        raise SystemExit(f"not a Silero v6 16 kHz model: missing {sorted(missing)}")
    out = bytearray(b"SILERO6\0" + struct.pack("<I", len(TENSORS)))
    for name in TENSORS:
        array = found[name].astype("<f4")
        out += struct.pack("<I", len(name)) + name.encode() + struct.pack("<I", array.ndim)
        out += struct.pack(f"<{array.ndim}I", *array.shape) + array.tobytes()
    weights = ROOT / "rust" / "media" / "assets" / "silero_vad_v6_16k.bin"
    weights.write_bytes(bytes(out))

    audio = reference_signal()
    session = ort.InferenceSession(model_path)
    write_reference(ROOT / "rust" / "media" / "tests" / "data" / "silero_reference.bin", audio, session)
    # Real speech (made by scripts/make_speech_fixtures.py), so the comparison covers speech too.
    import wave

    with wave.open(str(ROOT / "tests" / "data" / "speech" / "one_sentence.wav")) as f:
        speech = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    write_reference(ROOT / "rust" / "media" / "tests" / "data" / "silero_speech_reference.bin", speech, session)
    print(f"wrote {weights} ({weights.stat().st_size} bytes) and the reference probabilities")


def write_reference(path: Path, audio: np.ndarray, session: ort.InferenceSession) -> None:
    """Stores `audio` (int16) and onnxruntime's probability for each 512-sample window of it."""
    state = np.zeros((2, 1, 128), np.float32)
    context = np.zeros(64, np.float32)
    probs = []
    x = audio.astype(np.float32) / 32768
    for i in range(0, len(x) - 511, 512):
        chunk = np.concatenate([context, x[i : i + 512]])
        context = chunk[-64:]
        p, state = session.run(None, {"input": chunk[None, :], "state": state})
        probs.append(float(p[0, 0]))
    path.write_bytes(
        struct.pack("<II", len(audio), len(probs)) + audio.astype("<i2").tobytes() + np.array(probs, "<f4").tobytes()
    )


if __name__ == "__main__":
    main(sys.argv[1])
