"""What the Smart Turn model itself says on the end-of-turn corpus, offline (no server, no engine).

For every request of bench/.cache/turn_corpus/ (bench/make_turn_corpus.py), the model's "complete"
probability on the audio up to `--silence` s after the inner pause began (where a detector that
asks the model after that much silence would ask it) and up to `--silence` s after the request's
end; the features are the reference ones (Whisper log-mel from the `pipecat-ai` wheel, fetched by
scripts/smart_turn_reference.py), the model rust/media/assets/smart-turn-v3.2-cpu.onnx on
onnxruntime. Tells apart what bench/turn_taking.py's `model` variant owes to the model and what to
the engine around it.

    python bench/turn_model_offline.py [--silence 0.2] [--threshold 0.5]   # needs numpy, onnxruntime, pip
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT / "scripts"))
sys.path.insert(0, str(HERE))
import make_turn_corpus as corpus  # noqa: E402
import smart_turn_reference as reference  # noqa: E402

MODEL = ROOT / "rust" / "media" / "assets" / "smart-turn-v3.2-cpu.onnx"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--silence", type=float, default=0.2, help="seconds of silence the model hears")
    parser.add_argument("--threshold", type=float, default=0.5, help="'complete' above this probability")
    args = parser.parse_args()
    import onnxruntime

    manifest = corpus.OUT / "manifest.json"
    if not manifest.exists():
        sys.exit("no corpus: run bench/make_turn_corpus.py (or bench/turn_taking.py) first")
    items = json.loads(manifest.read_text())["items"]
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = options.inter_op_num_threads = 1
    session = onnxruntime.InferenceSession(str(MODEL), options)
    tail = round(args.silence * corpus.RATE)
    with tempfile.TemporaryDirectory() as tmp:
        features = reference.reference_module(Path(tmp)).compute_whisper_log_mel_features

        def probability(audio: np.ndarray) -> float:
            mel = features(reference.last_8_seconds(audio), do_normalize=True)
            return float(session.run(None, {"input_features": mel[None].astype(np.float32)})[0].reshape(-1)[0])

        for item in items:
            with wave.open(str(corpus.OUT / item["file"])) as f:
                audio = np.frombuffer(f.readframes(f.getnframes()), "<i2").astype(np.float32) / 32768
            item["p_end"] = probability(audio[: item["speech_end"] + tail])
            item["p_pause"] = None if item["pause_start"] is None else probability(audio[: item["pause_start"] + tail])

    def complete(values: list[float]) -> str:
        if not values:
            return "-"
        return f"{sum(v > args.threshold for v in values)}/{len(values)} ({np.median(values):.2f})"

    print(
        f"\nSmart Turn v3.2 offline, {args.silence:.2f} s of silence heard, 'complete' = p > {args.threshold}:"
        " count (median p)"
    )
    header = f"{'rendering':14} {'noise':6} {'complete at the inner pause':>28} {'complete at the end':>22}"
    print(header)
    print("-" * len(header))
    for method in ("espeak-break", "piper-insert", "phrases", "whole"):
        for noise in ("clean", "noisy"):
            cell = [i for i in items if i["method"] == method and (i["noise"] == "clean") == (noise == "clean")]
            pauses = [i["p_pause"] for i in cell if i["p_pause"] is not None]
            print(f"{method:14} {noise:6} {complete(pauses):>28} {complete([i['p_end'] for i in cell]):>22}")
    for voice in ("espeak", "joe"):
        cell = [i for i in items if (i["voice"][0] == "joe") == (voice == "joe")]
        pauses = [i["p_pause"] for i in cell if i["p_pause"] is not None]
        print(f"{'voice ' + voice:14} {'all':6} {complete(pauses):>28} {complete([i['p_end'] for i in cell]):>22}")


if __name__ == "__main__":
    main()
