"""Every demo builds its app, wires its stream, and its handler produces valid media offline.

Each check runs in a fresh interpreter: building a gr.Blocks in-process leaves an asyncio event loop
and its sockets unclosed (Gradio's own doing), which pytest's strict warnings would blame on us.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

DEMOS = Path(__file__).parent.parent / "demo"

LOAD = """
import importlib.util, sys
spec = importlib.util.spec_from_file_location("demo", sys.argv[1])
demo = importlib.util.module_from_spec(spec); spec.loader.exec_module(demo)
from gradio_webrtc import WebRTC
streams = [b for b in demo.demo.blocks.values() if isinstance(b, WebRTC)]
assert streams and all(s.connections is not None for s in streams), "no wired WebRTC stream"
"""

CHECKS = {
    "server_audio": "rate, audio = next(demo.generation(3)); "
    "assert rate == 24000 and audio.dtype.name == 'int16' and audio.shape[0] == 1",
    "server_video": "import itertools; fs = list(itertools.islice(demo.generation(), 3)); "
    "assert all(f.shape == (360, 640, 3) and f.dtype.name == 'uint8' for f in fs)",
    "video_io": "import numpy as np; p = np.zeros((120, 160, 3), np.uint8); p[40:80, 40:80] = 255; "
    "o = demo.detection(p, 0.5); assert o.shape == p.shape and (o == (0, 255, 0)).all(axis=2).sum() > 40",
    "": "import numpy as np; items = list(demo.parrot((16000, np.ones((1, 16000), np.int16)), [])); "
    "assert len(items[0].args[0]) == 2 and items[1][1].dtype.name == 'int16'",
    "audio_echo": "",
    "stop_words": "import numpy as np; out = list(demo.generate((16000, np.zeros((1, 16000), np.int16)), '', '')); "
    "assert len(out) == 3",
    "reply_on_pause": "import numpy as np; out = list(demo.response((48000, np.zeros((1, 96000), np.int16)))); "
    "assert len(out) == 2 and out[0][0] == 24000",
    "additional_outputs": "import numpy as np; "
    "out = next(demo.transcribe((48000, np.ones((1, 48000), np.int16)), [], [])); "
    "assert 'I heard 1.0 s' in out.args[1][0]['content']",
}


@pytest.mark.parametrize("name", sorted(CHECKS))
def test_demo(name):
    code = LOAD + CHECKS[name]
    result = subprocess.run(
        [sys.executable, "-c", code, str(DEMOS / name / "app.py")], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-2000:]
