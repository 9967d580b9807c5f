"""The handler base class contract and the messages helpers."""

from __future__ import annotations

import json

import pytest
from handlers import Echo

from gradio_webrtc import AdditionalOutputs, Warning, WebRTCError
from gradio_webrtc.outputs import current_channel, split_output
from gradio_webrtc.stream_handler import WEBRTC_VALUE


class Sink:
    def __init__(self) -> None:
        self.sent: list[str] = []

    def send(self, message: str) -> None:
        self.sent.append(message)


def test_defaults_match_the_original():
    h = Echo()
    assert (h.expected_layout, h.output_sample_rate, h.output_frame_size, h.input_sample_rate) == (
        "mono",
        24000,
        960,
        48000,
    )
    assert h.latest_args == []
    assert not h.args_set.is_set()
    assert h.channel is None


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"expected_layout": "surround"}, "expected_layout"),
        ({"input_sample_rate": 100}, "input_sample_rate"),
        ({"output_sample_rate": "24000"}, "output_sample_rate"),
    ],
)
def test_bad_formats_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Echo(**kwargs)


def test_args_channel_and_copy():
    h = Echo()
    h.set_args(["a", 2])
    assert h.latest_args == [WEBRTC_VALUE, "a", 2]
    assert h.args_set.is_set()
    h.reset()
    assert not h.args_set.is_set()
    sink = Sink()
    h.set_channel(sink)
    h.send_message_sync("hi")
    assert sink.sent == ["hi"]
    twin = h.copy()
    assert twin is not h and twin.latest_args == [] and twin.channel is None
    with pytest.raises(RuntimeError, match="not attached"):
        _ = twin.loop


def test_errors_and_warnings_reach_the_current_channel():
    sink = Sink()
    token = current_channel.set(sink)
    try:
        Warning("careful")
        with pytest.raises(WebRTCError, match="broken"):
            raise WebRTCError("broken")
    finally:
        current_channel.reset(token)
    assert [json.loads(m) for m in sink.sent] == [
        {"type": "warning", "message": "careful"},
        {"type": "error", "message": "broken"},
    ]
    Warning("nobody listens")  # no channel in this context: silently nothing


def test_split_output():
    extra = AdditionalOutputs(1, "two")
    audio = (24000, None)
    assert split_output(extra) == (None, extra)
    assert split_output((audio, extra)) == (audio, extra)
    assert split_output(audio) == (audio, None)
    assert split_output(None) == (None, None)
    assert repr(extra) == "AdditionalOutputs(1, 'two')"
