"""A stream given a phone number with `Stream.fastphone()` (tests/test_fastphone.py runs it with
the FastPhone service redirected to a local stand-in):

    GRADIO_WEBRTC_FASTPHONE_API=http://127.0.0.1:N python tests/apps/fastphone_app.py PORT
"""

from __future__ import annotations

import signal
import sys

import numpy as np
from fastrtc import ReplyOnPause, Stream


def answer(audio):
    t = np.arange(4000) / 8000
    yield 8000, (0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)


if __name__ == "__main__":
    # The test stops this app with Ctrl-C (SIGINT). A test run started in the background of a shell
    # (`make test &`, `nohup`) ignores SIGINT and its children inherit that: Python then installs
    # no KeyboardInterrupt handler, and Ctrl-C would never arrive. Take the default back.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    port = int(sys.argv[1])
    stream = Stream(ReplyOnPause(answer, input_sample_rate=8000), modality="audio", mode="send-receive")
    stream.fastphone(token="hf_test_token", port=port, public_url=f"https://phone-{port}.example.net")
