#!/usr/bin/env bash
# Installs the library we replace (gradio_webrtc 0.0.31, on gradio 5.45, its last working pairing) into
# its own virtualenv, bench/.venv-original, so benchmarks can run it side by side with ours.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv-original/bin/python ]; then
  python3 -m venv .venv-original
fi
.venv-original/bin/pip install -q --upgrade pip
.venv-original/bin/pip install -q "gradio-webrtc==0.0.31" "gradio==5.45.0" "aiortc==1.16.0" psutil
echo "original library installed in bench/.venv-original"
