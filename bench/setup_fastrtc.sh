#!/usr/bin/env bash
# Installs fastrtc 0.0.34 (the original's successor, with the Stream/WebSocket API) into its own
# virtualenv, bench/.venv-fastrtc, so the WebSocket benchmark can run it beside this package. Its VAD
# model is the same hub entry the original uses: bench/setup_original.sh lays it out offline.
set -euo pipefail
cd "$(dirname "$0")"
if [ ! -x .venv-fastrtc/bin/python ]; then
  python3 -m venv .venv-fastrtc
fi
.venv-fastrtc/bin/pip install -q --upgrade pip
.venv-fastrtc/bin/pip install -q "fastrtc[vad]==0.0.34" "gradio>=5.45,<6" websockets psutil
./setup_original.sh >/dev/null
echo "fastrtc installed in bench/.venv-fastrtc"
