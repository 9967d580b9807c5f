"""The two ways pages read their events.

A connection's page (or client) asks for the handler's inputs, is told that additional outputs
wait, and sees a stop word heard. gradio_webrtc 0.0.31's pages read plain strings for these;
fastrtc 0.0.34's pages `JSON.parse` every message and read `{"type": ..., "data": ...}`. Each
connection speaks one of them: the `WebRTC` component of `gradio_webrtc` the first (its own page
reads both), `fastrtc`'s component and every `Stream` route the second. Every other message
(`log`, `error`, `warning`, `end_stream`) is JSON in both.

The engine words every event (`Session.send_event`, one Rust enum, `_engine.PAGE_EVENTS`); what is
left here is for text that does not come from it: a stand-in channel's wording, and a JSON-only
client's view of a handler's own plain messages.
"""

from __future__ import annotations

import json
from typing import Literal

#: `"0.0.31"`: plain strings; `"fastrtc"`: fastrtc 0.0.34's JSON.
Protocol = Literal["0.0.31", "fastrtc"]
PageEvent = Literal["send_input", "fetch_output", "stopword"]

#: gradio_webrtc 0.0.31's words for the events.
PLAIN_EVENTS: dict[str, str] = {"send_input": "tick", "fetch_output": "change", "stopword": "stopword"}
#: fastrtc's `data` of each event.
_DATA: dict[str, list[str] | str] = {"send_input": [], "fetch_output": [], "stopword": ""}


def as_json(message: str) -> str:
    """A message as a JSON-only client (fastrtc's, a WebSocket) reads it: plain events become
    their JSON form, JSON passes unchanged."""
    for kind, plain in PLAIN_EVENTS.items():
        if message == plain:
            return json.dumps({"type": kind, "data": _DATA[kind]})
    return message
