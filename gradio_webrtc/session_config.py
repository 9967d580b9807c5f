"""What a session does, as one checked value: the engine's `SessionConfig`, built from the handler
and the component's settings in one place.

Every field is checked by the engine when the value is made (a wrong rate or a negative threshold
is a `ValueError` here), and the same value goes to every transport: a WebRTC offer, a WebSocket
or phone stream, the testing client's call.
"""

from __future__ import annotations

from typing import Any, Literal

from ._engine import PauseConfig, SessionConfig
from .protocol import Protocol
from .reply_on_pause import ReplyOnPause
from .stream_handler import StreamHandlerBase

Direction = Literal["send-receive", "receive", "send"]
Modality = Literal["video", "audio", "audio-video"]


def handler_rates(handler: Any) -> tuple[int, int]:
    """The handler's input and output sample rates (a plain video callable has the defaults)."""
    if isinstance(handler, StreamHandlerBase):
        return handler.input_sample_rate, handler.output_sample_rate
    return 48000, 24000


def pause_config(handler: Any) -> PauseConfig | None:
    """The engine's pause options for `handler` (None: no pause detection in the engine)."""
    return handler.pause_options() if isinstance(handler, ReplyOnPause) else None


def session_config(
    handler: Any,
    *,
    mode: Direction,
    modality: Modality = "audio",
    time_limit: float | None = None,
    protocol: Protocol = "0.0.31",
) -> SessionConfig:
    """The configuration of one session of `handler` in `mode` ("send-receive": both ways;
    "receive": the server only sends; "send": the server only receives) for `modality`."""
    sends = mode != "send"
    receives = mode != "receive"
    audio = modality in ("audio", "audio-video")
    video = modality in ("video", "audio-video")
    stereo = isinstance(handler, StreamHandlerBase) and handler.expected_layout == "stereo"
    replies = isinstance(handler, ReplyOnPause)
    return SessionConfig(
        send_audio=audio and sends,
        recv_audio=audio and receives,
        send_video=video and sends,
        recv_video=video and receives,
        input_sample_rate=handler_rates(handler)[0],
        input_channels=2 if stereo else 1,
        time_limit=time_limit,
        pause=pause_config(handler),
        can_interrupt=handler.can_interrupt if replies else True,
        stream_speech=handler.streams_speech if replies else False,
        protocol=protocol,
    )
