"""`fastrtc.stream`: `Stream` (the same class as gradio_webrtc's) and fastrtc's `Body` model."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from gradio_webrtc.stream import Stream, UIArgs

from .webrtc import WebRTC

__all__ = ["Body", "Stream", "UIArgs", "WebRTC"]


class Body(BaseModel):
    """The JSON an offer route takes: an offer, or a trickled candidate."""

    sdp: str | None = None
    candidate: dict[str, Any] | None = None
    type: str
    webrtc_id: str
