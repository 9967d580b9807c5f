#!/usr/bin/env bash
# Builds the component's frontend bundle for one Gradio major with @gradio/preview.
#
#   scripts/build_frontend.sh 5 .venv/bin/python     -> gradio_webrtc/templates/gradio5/
#   scripts/build_frontend.sh 6 .venv6/bin/python    -> gradio_webrtc/templates/gradio6/
#
# @gradio/preview discovers components by running its examine.py in <dir>/backend against
# <dir>/pyproject.toml (a hatch project with the "gradio-custom-component" keyword). Our package is
# a maturin project at the repository root, so we point preview at a small generated staging
# directory instead; examine.py then imports the installed gradio_webrtc and reads WebRTC's
# TEMPLATE_DIR (switched on the gradio major) and FRONTEND_DIR.
set -euo pipefail
major="$1"
python="$(cd "$(dirname "$2")" && pwd)/$(basename "$2")"
root="$(cd "$(dirname "$0")/.." && pwd)"
stage="$root/target/frontend-stage-$major"
case "$major" in
  5) source_dir="$root/frontend5" ;;
  6) source_dir="$root/frontend" ;;
  *) echo "unsupported gradio major: $major" >&2; exit 2 ;;
esac
installed="$("$python" -c 'import gradio; print(gradio.__version__.split(".")[0])')"
[ "$installed" = "$major" ] || { echo "$python has gradio $installed, not $major" >&2; exit 2; }
mkdir -p "$stage/backend"
cat > "$stage/pyproject.toml" <<TOML
[project]
name = "gradio_webrtc"
keywords = ["gradio-custom-component"]

[tool.hatch.build]
artifacts = []
TOML
gradio_root="$("$python" -c 'import gradio, os; print(os.path.dirname(gradio.__file__))')/templates/frontend"
cd "$stage"
# The bundle being built does not exist yet: let the package import without it.
GRADIO_WEBRTC_NO_FRONTEND=1 PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}" node "$source_dir/node_modules/@gradio/preview/dist/index.js" \
  --component-directory "$stage" --root "$gradio_root" --mode build --python-path "$python"
test -f "$root/gradio_webrtc/templates/gradio$major/component/index.js" || {
  echo "the gradio $major build produced no component bundle" >&2; exit 1; }
echo "built gradio_webrtc/templates/gradio$major"
