"""The page events whose wording differs between the two protocols this package speaks.

A connection's page (or client) asks for the handler's inputs, is told that additional outputs
wait, and sees a stop word heard. gradio_webrtc 0.0.31's pages read plain strings for these;
fastrtc 0.0.34's pages `JSON.parse` every message and read `{"type": ..., "data": ...}`. Each
connection speaks one of them: the `WebRTC` component of `gradio_webrtc` the first (its own page
reads both), `fastrtc`'s component and every `Stream` route the second. Every other message
(`log`, `error`, `warning`, `end_stream`) is JSON in both.
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


def page_event(kind: PageEvent, protocol: Protocol) -> str:
    """The text of one page event in `protocol`."""
    if protocol == "fastrtc":
        return json.dumps({"type": kind, "data": _DATA[kind]})
    return PLAIN_EVENTS[kind]


def as_json(message: str) -> str:
    """A message as a JSON-only client (fastrtc's, a WebSocket) reads it: plain events become
    their JSON form, JSON passes unchanged."""
    for kind, plain in PLAIN_EVENTS.items():
        if message == plain:
            return page_event(kind, "fastrtc")  # type: ignore[arg-type]
    return message
