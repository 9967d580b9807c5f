"""Prints the public surface of whichever `fastrtc` this interpreter imports, as JSON: every name
of `fastrtc.__all__` and of the submodules apps import, and the signature of every callable
(parameters in order: name, kind, default). `tests/test_fastrtc_api.py` runs it under fastrtc
0.0.34 and under this package and compares the two.
"""

from __future__ import annotations

import importlib
import inspect
import json
import sys
from typing import Any

SUBMODULES = [
    "fastrtc",
    "fastrtc.utils",
    "fastrtc.tracks",
    "fastrtc.reply_on_pause",
    "fastrtc.reply_on_stopwords",
    "fastrtc.stream",
    "fastrtc.webrtc",
    "fastrtc.credentials",
    "fastrtc.pause_detection",
    "fastrtc.pause_detection.protocol",
    "fastrtc.pause_detection.silero",
    "fastrtc.speech_to_text",
    "fastrtc.text_to_speech",
]
#: Methods whose signatures apps call.
METHODS = {
    "Stream": ["mount", "set_input", "output_stream", "fastphone", "fetch_latest_output", "clean_up"],
    "ReplyOnPause": ["copy", "trigger_response", "reset", "wait_for_args", "send_message"],
    "StreamHandler": ["set_args", "wait_for_args_sync", "send_message_sync", "reset"],
    "WebRTC": ["stream", "on_additional_outputs"],
}


def signature(obj: Any) -> list[list[str]] | None:
    try:
        sig = inspect.signature(obj)
    except (TypeError, ValueError):
        return None
    return [
        [p.name, p.kind.name, "<none>" if p.default is p.empty else repr(p.default)] for p in sig.parameters.values()
    ]


def describe() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name in SUBMODULES:
        try:
            module = importlib.import_module(name)
        except Exception as exc:
            out[name] = {"error": f"{type(exc).__name__}: {exc}"}
            continue
        names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
        entries = {}
        for attr in names:
            value = getattr(module, attr, None)
            entry: dict[str, Any] = {"present": hasattr(module, attr)}
            if callable(value):
                entry["signature"] = signature(value)
                for method in METHODS.get(attr, []):
                    entry[f"method:{method}"] = (
                        signature(getattr(value, method, None)) if hasattr(value, method) else None
                    )
            entries[attr] = entry
        out[name] = entries
    return out


if __name__ == "__main__":
    json.dump(describe(), sys.stdout)
