#!/usr/bin/env bash
# Installs the library we replace (gradio_webrtc 0.0.31, on gradio 5.45, its last working pairing) into
# its own virtualenv, bench/.venv-original, so benchmarks can run it side by side with ours.
#
# Its ReplyOnPause downloads a Silero v4 model from the Hugging Face hub at first use; offline, the
# same model is taken from the faster-whisper 1.0.2 wheel on PyPI and laid out as the hub cache entry
# it asks for (run the benchmarks with HF_HUB_OFFLINE=1, which bench/common.py sets).
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv-original/bin/python ]; then
  python3 -m venv .venv-original
fi
.venv-original/bin/pip install -q --upgrade pip
.venv-original/bin/pip install -q "gradio-webrtc==0.0.31" "gradio==5.45.0" "aiortc==1.16.0" psutil librosa onnxruntime
cache="${HF_HOME:-$HOME/.cache/huggingface}/hub/models--freddyaboulton--silero-vad"
if [ ! -f "$cache/snapshots/offline/silero_vad.onnx" ]; then
  tmp="$(mktemp -d)"
  .venv-original/bin/pip download -q --no-deps "faster-whisper==1.0.2" -d "$tmp"
  mkdir -p "$cache/snapshots/offline" "$cache/refs"
  .venv-original/bin/python -c "import sys, zipfile; z = zipfile.ZipFile(sys.argv[1]); open(sys.argv[2], 'wb').write(z.read('faster_whisper/assets/silero_vad.onnx'))" \
    "$tmp"/faster_whisper-1.0.2-*.whl "$cache/snapshots/offline/silero_vad.onnx"
  printf offline > "$cache/refs/main"
  rm -rf "$tmp"
fi
echo "original library installed in bench/.venv-original"
