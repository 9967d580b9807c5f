#!/usr/bin/env bash
# Long runs of the property tests over everything that parses a peer's bytes (rust/engine/src/fuzz.rs,
# rust/media/src/fuzz.rs): RTP video through the frame assembler and the VP8/H.264 depacketisers,
# damaged VP8/H.264 frames into the decoders, Opus RTP with any sequence numbers, μ-law, offers
# (any text and mutated browser offers) and WebSocket media events.
#
#   bench/fuzz.sh [cases per property, default 200000]
#
# CI runs 256 cases per property. A failing case is saved under proptest-regressions/ next to the
# crate (commit it: it is replayed first on every later run) and printed; add it as a named test.
set -euo pipefail
cd "$(dirname "$0")/.."
cases="${1:-200000}"
start=$(date +%s)
PROPTEST_CASES="$cases" cargo test --release -p gradio-webrtc-engine -p gradio-webrtc-media fuzz:: -- --test-threads=2
echo "fuzz: ${cases} cases per property, $(( $(date +%s) - start )) s"
