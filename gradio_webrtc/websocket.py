"""Streams over WebSockets: fastrtc's `/websocket/offer` protocol and Twilio Media Streams.

Both carry base64 μ-law in JSON `media` events; the engine's stream transport decodes it, runs the
same media session as WebRTC (resampling, pause detection, barge-in) and paces the reply at 20 ms.
This module only speaks the JSON:

* plain (fastrtc-compatible): the client sends `{"event": "start", "websocket_id": ...}`, then
  `{"event": "media", "media": {"payload": <base64 μ-law at the handler's input rate>}}`, `ping`
  and `stop`; the server sends `media` (μ-law at the handler's output rate), `pong`, the side
  channel as `{"type": ..., "data": ...}` (`send_input`, `fetch_output`, `log`, `stopword`, and
  `{"type": "error" | "warning", "message": ...}`), and `{"event": "clear"}` when the user
  interrupts a reply. A refused stream gets `{"status": "failed", "meta": {...}}` and is closed.
* phone (Twilio Media Streams): `connected`, `start` (with `streamSid`), `media` (μ-law 8 kHz),
  `mark`, `stop` in; `media`, `mark` (at the end of each reply's audio) and `clear` (on barge-in,
  so the caller stops hearing the interrupted reply) out, each with the `streamSid`.

A malformed message (not JSON, bad base64, an unknown event) is answered with an error message and
changes nothing else; a client that vanishes without `stop` ends its session at once.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from ._engine import Session, StreamTransport
    from .connections import Connections

logger = logging.getLogger("gradio_webrtc")

#: The data channel's plain strings, in the `{"type", "data"}` shape fastrtc's clients read.
_SIDE_CHANNEL = {
    "tick": {"type": "send_input", "data": []},
    "change": {"type": "fetch_output", "data": []},
    "stopword": {"type": "stopword", "data": ""},
}


def side_channel_json(message: str) -> str:
    """A side-channel message as a WebSocket client expects it (JSON ones pass unchanged)."""
    mapped = _SIDE_CHANNEL.get(message)
    return json.dumps(mapped) if mapped is not None else message


class StreamSocket:
    """One WebSocket carrying one stream session, in the plain or the phone protocol."""

    def __init__(self, websocket: WebSocket, connections: Connections, *, phone: bool = False) -> None:
        self.ws = websocket
        self.connections = connections
        self.phone = phone
        self.stream_sid: str | None = None
        self.session: Session | None = None
        self.transport: StreamTransport | None = None
        self.marks_sent = 0
        self.marks_played: list[str] = []

    async def serve(self) -> None:
        """Runs until the client leaves or the session ends."""
        await self.ws.accept()
        sender: asyncio.Task[None] | None = None
        try:
            async for text in self._messages():
                if self.transport is not None and '"media"' in text:
                    # The hot path (50 a second): parsed, decoded and pushed in the engine.
                    try:
                        if self.transport.push_media_event(text):
                            continue
                    except ValueError as exc:
                        await self._error(f"media: {exc}")
                        continue
                event = await self._parse(text)
                if event is None:
                    continue
                kind = event.get("event")
                if kind == "start":
                    if self.session is not None:
                        await self._error("the stream has started already")
                        continue
                    if not await self._start(event):
                        return
                    sender = asyncio.create_task(self._send_loop())
                elif kind == "media":
                    await self._media(event)
                elif kind == "ping":
                    await self.ws.send_json({"event": "pong"})
                elif kind == "stop":
                    return
                elif kind == "mark" and self.phone:
                    name = (event.get("mark") or {}).get("name")
                    if isinstance(name, str):
                        self.marks_played.append(name)
                elif kind == "connected" and self.phone:
                    pass
                else:
                    await self._error(f"unknown event {kind!r}")
        finally:
            if self.session is not None:
                self.session.close()
            if sender is not None:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(sender, 1.0)
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _messages(self) -> Any:
        from starlette.websockets import WebSocketDisconnect

        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                if text is None and message.get("bytes") is not None:
                    text = message["bytes"].decode("utf-8", "replace")
                yield text or ""
        except (WebSocketDisconnect, RuntimeError):
            return

    async def _parse(self, text: str) -> dict[str, Any] | None:
        try:
            event = json.loads(text)
        except ValueError:
            await self._error("a message that is not JSON")
            return None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            await self._error('a message without an "event"')
            return None
        return event

    async def _error(self, what: str) -> None:
        """Tells the client what was wrong with its message; nothing else changes."""
        if self.phone:
            logger.warning("phone stream %s: ignored %s", self.stream_sid, what)
            return
        with contextlib.suppress(Exception):
            await self.ws.send_text(json.dumps({"type": "error", "message": f"ignored {what}"}))

    async def _start(self, event: dict[str, Any]) -> bool:
        if self.phone:
            start = event.get("start") or {}
            sid = event.get("streamSid") or start.get("streamSid")
            stream_id, rates = sid, (8000, 8000)
        else:
            stream_id, rates = event.get("websocket_id"), (None, None)
        if not isinstance(stream_id, str) or not stream_id:
            await self._error("a start without an id")
            return True
        self.stream_sid = stream_id
        opened = await self.connections.open_stream(stream_id, codec="mulaw", in_rate=rates[0], out_rate=rates[1])
        if isinstance(opened, dict):
            await self.ws.send_json(opened)
            logger.info("stream %s refused: %s", stream_id, opened["meta"]["error"])
            return False
        self.session, self.transport = opened
        return True

    async def _media(self, event: dict[str, Any]) -> None:
        if self.transport is None:
            await self._error("media before start")
            return
        payload = (event.get("media") or {}).get("payload")
        try:
            data = base64.b64decode(payload, validate=True) if isinstance(payload, str) else None
        except (binascii.Error, ValueError):
            data = None
        if data is None:
            await self._error("media without a base64 payload")
            return
        try:
            self.transport.push(data)
        except ValueError as exc:
            await self._error(f"media: {exc}")

    def _tagged(self, message: dict[str, Any]) -> dict[str, Any]:
        return {**message, "streamSid": self.stream_sid} if self.phone else message

    async def _send_loop(self) -> None:
        """Sends what the engine hands over until the session ends, then closes the socket."""
        assert self.transport is not None
        try:
            sid = self.stream_sid if self.phone else None
            while (item := await self.transport.next_event(sid)) is not None:
                kind, data = item
                if kind == "media":
                    await self.ws.send_text(data)  # type: ignore[arg-type]
                elif kind == "clear":
                    await self.ws.send_json(self._tagged({"event": "clear"}))
                elif kind == "mark" and self.phone:
                    self.marks_sent += 1
                    await self.ws.send_json(
                        self._tagged({"event": "mark", "mark": {"name": f"reply-{self.marks_sent}"}})
                    )
                elif kind == "message" and not self.phone:
                    await self.ws.send_text(side_channel_json(data))  # type: ignore[arg-type]
        except Exception:
            logger.debug("stream %s: sending stopped", self.stream_sid, exc_info=True)
        with contextlib.suppress(Exception):
            await self.ws.close()


async def serve_websocket(websocket: WebSocket, connections: Connections) -> None:
    """fastrtc's `/websocket/offer` protocol on `websocket`, for `connections`' handler."""
    await StreamSocket(websocket, connections).serve()


async def serve_phone(websocket: WebSocket, connections: Connections) -> None:
    """Twilio Media Streams on `websocket`, for `connections`' handler."""
    await StreamSocket(websocket, connections, phone=True).serve()


def twiml(websocket_url: str, greeting: str = "Connecting to the AI assistant.") -> str:
    """The TwiML that connects an incoming call to a Media Streams WebSocket."""
    from xml.sax.saxutils import escape, quoteattr

    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Say>{escape(greeting)}</Say>"
        f"<Connect><Stream url={quoteattr(websocket_url)} /></Connect>"
        "<Say>The call has been disconnected.</Say></Response>"
    )
