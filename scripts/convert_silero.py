"""Converts Silero VAD v6 (16 kHz and 8 kHz) from the MIT-licensed `silero-vad` wheel into the engine's weights.

Run once, offline, from a virtualenv with `onnx`, `onnxruntime` and `numpy`:

    pip download --no-deps silero-vad==6.2.3 -d /tmp/silero && unzip -o /tmp/silero/*.whl -d /tmp/silero
    python scripts/convert_silero.py /tmp/silero/silero_vad/data

The argument is the wheel's data directory (or its `silero_vad.onnx` itself). That model holds both
networks: its top-level `If` node on `sr == 16000` runs the 16 kHz subgraph (then-branch; the same
tensors as `silero_vad_openvino_16k.onnx`) or the 8 kHz one (else-branch). Both have the same 15
tensors under the same names (prefixed `If_0_then_branch__Inline_0__` / `If_0_else_branch__Inline_0__`
in the graph); at 8 kHz the STFT basis is (130, 1, 128) instead of (258, 1, 256) and the first
encoder layer takes 65 channels instead of 129.

Writes `rust/media/assets/silero_vad_v6_16k.bin` and `silero_vad_v6_8k.bin` (each network's 15
tensors, float32) and, under `rust/media/tests/data/`, the probabilities onnxruntime gives (driving
`silero_vad.onnx` exactly as the wheel's streaming `OnnxWrapper` does) for:

* `silero_reference.bin`: a deterministic test signal, 16 kHz;
* `silero_speech_reference.bin`: `tests/data/speech/one_sentence.wav`, 16 kHz;
* `silero_8k_reference.bin`: the same sentence downsampled to 8 kHz (FFT truncation, in numpy).

`cargo test` compares the Rust forward pass against them.

Weights file format (little-endian): b"SILERO6\\0", u32 tensor count, then per tensor: u32 name
length, name (UTF-8), u32 rank, u32 dims..., float32 data.
Reference file format (little-endian): u32 n_audio, u32 n_probs, int16 audio, float32 probs.
"""

from __future__ import annotations

import struct
import sys
import wave
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
# Per rate, as `silero_vad.utils_vad.OnnxWrapper.__call__`: samples per window, context kept.
WINDOW = {16000: 512, 8000: 256}
CONTEXT = {16000: 64, 8000: 32}


def reference_signal() -> np.ndarray:
    """3 s: a buzzy harmonic 'voice' with syllable-rate modulation, 1 s silence, 1 s faint noise."""
    t = np.arange(16000 * 3) / 16000
    voice = sum(np.sin(2 * np.pi * 140 * k * t) / k for k in range(1, 12)) * (0.5 + 0.5 * np.sin(2 * np.pi * 4 * t))
    noise = 0.02 * np.random.default_rng(0).standard_normal(16000)
    audio = np.concatenate([0.3 * voice, np.zeros(16000), noise])
    return np.clip(np.round(audio * 32767), -32768, 32767).astype(np.int16)


def downsample_by_2(audio: np.ndarray) -> np.ndarray:
    """int16 at 16 kHz -> int16 at 8 kHz: keep the spectrum below 4 kHz (rfft, truncate, irfft)."""
    n = len(audio) - len(audio) % 2
    m = n // 2
    spectrum = np.fft.rfft(audio[:n].astype(np.float64))[: m // 2 + 1]
    out = np.fft.irfft(spectrum, n=m) * (m / n)
    return np.clip(np.round(out), -32768, 32767).astype(np.int16)


def branches(model: onnx.ModelProto) -> dict[int, dict[str, np.ndarray]]:
    """The tensors of the two subgraphs of the top-level `If (sr == 16000)`, keyed by sample rate."""
    constants = {
        n.output[0]: numpy_helper.to_array(onnx.helper.get_attribute_value(n.attribute[0]))
        for n in model.graph.node
        if n.op_type == "Constant"
    }
    equal = {n.output[0]: n for n in model.graph.node if n.op_type == "Equal"}
    for node in model.graph.node:
        if node.op_type != "If" or node.input[0] not in equal:
            continue
        operands = equal[node.input[0]].input
        if "sr" not in operands:
            continue
        other = [constants[i] for i in operands if i != "sr"]
        if len(other) != 1 or int(other[0]) != 16000:
            raise SystemExit(f"unexpected condition on sr: {operands}")
        graphs = {a.name: a.g for a in node.attribute}
        return {16000: tensors_of(graphs["then_branch"]), 8000: tensors_of(graphs["else_branch"])}
    raise SystemExit("not the dual-rate Silero v6 model: no If node on `sr`")


def tensors_of(graph: onnx.GraphProto) -> dict[str, np.ndarray]:
    found = {}
    for node in graph.node:
        if node.op_type == "Constant":
            name = node.output[0].split("__")[-1]
            if name in TENSORS:
                found[name] = numpy_helper.to_array(onnx.helper.get_attribute_value(node.attribute[0]))
    missing = set(TENSORS) - set(found)
    if missing:
        raise SystemExit(f"not a Silero v6 subgraph: missing {sorted(missing)}")
    return found


def write_weights(path: Path, tensors: dict[str, np.ndarray]) -> None:
    out = bytearray(b"SILERO6\0" + struct.pack("<I", len(TENSORS)))
    for name in TENSORS:
        array = tensors[name].astype("<f4")
        out += struct.pack("<I", len(name)) + name.encode() + struct.pack("<I", array.ndim)
        out += struct.pack(f"<{array.ndim}I", *array.shape) + array.tobytes()
    path.write_bytes(bytes(out))
    print(f"wrote {path} ({path.stat().st_size} bytes)")


def probabilities(session: ort.InferenceSession, audio: np.ndarray, rate: int) -> np.ndarray:
    """onnxruntime's probability for each full window of `audio` (int16), streamed like `OnnxWrapper`."""
    window, context_size = WINDOW[rate], CONTEXT[rate]
    state = np.zeros((2, 1, 128), np.float32)
    context = np.zeros(context_size, np.float32)
    sr = np.array(rate, dtype="int64")
    probs = []
    x = audio.astype(np.float32) / 32768
    for i in range(0, len(x) - window + 1, window):
        chunk = np.concatenate([context, x[i : i + window]])
        p, state = session.run(None, {"input": chunk[None, :], "state": state, "sr": sr})
        context = chunk[-context_size:]
        probs.append(float(p[0, 0]))
    return np.array(probs, "<f4")


def write_reference(path: Path, audio: np.ndarray, probs: np.ndarray) -> None:
    """Stores `audio` (int16) and the probability for each window of it."""
    path.write_bytes(struct.pack("<II", len(audio), len(probs)) + audio.astype("<i2").tobytes() + probs.tobytes())
    print(f"wrote {path} ({len(probs)} windows)")


def main(arg: str) -> None:
    path = Path(arg)
    model_path = path / "silero_vad.onnx" if path.is_dir() else path
    weights = branches(onnx.load(str(model_path)))
    # The single-rate 16 kHz export, when it is there, must hold the very same tensors.
    openvino = model_path.parent / "silero_vad_openvino_16k.onnx"
    if openvino.exists():
        single = tensors_of(onnx.load(str(openvino)).graph)
        if not all(np.array_equal(single[n], weights[16000][n]) for n in TENSORS):
            raise SystemExit(f"{openvino.name} and the 16 kHz branch of {model_path.name} differ")
    assets = ROOT / "rust" / "media" / "assets"
    write_weights(assets / "silero_vad_v6_16k.bin", weights[16000])
    write_weights(assets / "silero_vad_v6_8k.bin", weights[8000])

    session = ort.InferenceSession(str(model_path))
    data = ROOT / "rust" / "media" / "tests" / "data"
    signal = reference_signal()
    write_reference(data / "silero_reference.bin", signal, probabilities(session, signal, 16000))
    # Real speech (made by scripts/make_speech_fixtures.py), so the comparison covers speech too.
    with wave.open(str(ROOT / "tests" / "data" / "speech" / "one_sentence.wav")) as f:
        if (f.getframerate(), f.getnchannels(), f.getsampwidth()) != (16000, 1, 2):
            raise SystemExit("one_sentence.wav is not 16 kHz int16 mono")
        speech = np.frombuffer(f.readframes(f.getnframes()), "<i2")
    write_reference(data / "silero_speech_reference.bin", speech, probabilities(session, speech, 16000))
    speech8k = downsample_by_2(speech)
    probs8k = probabilities(session, speech8k, 8000)
    write_reference(data / "silero_8k_reference.bin", speech8k, probs8k)
    print(f"8 kHz speech: {int((probs8k > 0.5).sum())} of {len(probs8k)} windows over 0.5")


if __name__ == "__main__":
    main(sys.argv[1])
