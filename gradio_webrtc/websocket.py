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

A malformed message (not JSON, bad base64, an unknown event, a field of the wrong type) is answered
with an error message and changes nothing else; a client that vanishes without `stop` ends its
session at once. What one client may cost is bounded before anything is parsed: a message larger
than `MAX_MESSAGE_BYTES` (a real client sends 20 ms per message, ~0.3-4 KB) or more messages than
`MESSAGES_PER_SECOND` end the stream with a reason (WebSocket close 1009 / 1008), and audio that runs
ahead of real time ends its session in the engine. Audio is decoded on the engine's threads, never
on the event loop.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import time
from typing import TYPE_CHECKING, Any

from .protocol import as_json

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from ._engine import Session, StreamTransport
    from .clients import Requester
    from .connections import Connections

logger = logging.getLogger("gradio_webrtc")

#: The largest WebSocket message read (checked before any parsing): 64 KiB holds 2 s of 8 kHz
#: μ-law or 0.5 s of 48 kHz pcm16 in base64, far more than the 20 ms a client sends at a time.
MAX_MESSAGE_BYTES = 64 * 1024
#: Messages a client may send per second, sustained (a burst of `MESSAGE_BURST` at once). A client
#: sends ~50 media messages a second plus a few others.
MESSAGES_PER_SECOND = 200.0
MESSAGE_BURST = 1000.0
#: Malformed messages logged per stream (the rest are counted, and summed up when it ends).
LOGGED_ERRORS = 5


class ClosedByLimitError(Exception):
    """The client went past a limit: the stream ends with a WebSocket close `code` and `reason`."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(reason)
        self.code, self.reason = code, reason


class StreamSocket:
    """One WebSocket carrying one stream session, in the plain or the phone protocol.

    Args:
        requester: who opened the socket (its owner cookie and address): the session is bound to
            it, and starts count against its address.
        signed: the socket's upgrade carried a valid Twilio signature, so its starts skip the
            per-client rate (all of Twilio's calls come from a few addresses).
    """

    def __init__(
        self,
        websocket: WebSocket,
        connections: Connections,
        requester: Requester | None = None,
        *,
        phone: bool = False,
        signed: bool = False,
    ) -> None:
        self.ws = websocket
        self.connections = connections
        self.requester = requester
        self.phone = phone
        self.signed = signed
        self.stream_sid: str | None = None
        self.session: Session | None = None
        self.transport: StreamTransport | None = None
        self.marks_sent = 0
        #: Twilio's `mark` events (a mark's audio has played): counted, never kept.
        self.marks_played = 0
        self.errors = 0
        self._allowance = MESSAGE_BURST
        self._last = time.monotonic()

    async def serve(self) -> None:
        """Runs until the client leaves, the session ends, or the client goes past a limit."""
        await self.ws.accept()
        sender: asyncio.Task[None] | None = None
        try:
            async for text in self._messages():
                if self.transport is not None and '"media"' in text:
                    # The hot path (50 a second): parsed in the engine, decoded on its threads.
                    try:
                        if self.transport.push_media_event(text):
                            continue
                    except ValueError as exc:
                        await self._error(f"media: {exc}")
                        if self.session is not None and self.session.closed:
                            return
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
                    self.marks_played += 1
                elif kind in ("connected", "dtmf") and self.phone:
                    pass
                else:
                    await self._error(f"unknown event {_short(kind)}")
        except ClosedByLimitError as limit:
            logger.warning("stream %s closed: %s", self.stream_sid or "(not started)", limit.reason)
            if self.session is not None:
                self.session.fail(limit.reason)
                self.session.close(limit.reason)
            with contextlib.suppress(Exception):
                if not self.phone:
                    await self.ws.send_text(json.dumps({"type": "error", "message": limit.reason}))
                await self.ws.close(code=limit.code, reason=limit.reason[:120])
        finally:
            if self.errors > LOGGED_ERRORS:
                logger.warning("stream %s: %d malformed messages in all", self.stream_sid, self.errors)
            if self.session is not None:
                self.session.close()
            if sender is not None:
                with contextlib.suppress(asyncio.TimeoutError, asyncio.CancelledError):
                    await asyncio.wait_for(sender, 1.0)
            with contextlib.suppress(Exception):
                await self.ws.close()

    def _count_message(self) -> None:
        """The message rate: a token bucket of `MESSAGES_PER_SECOND`."""
        now = time.monotonic()
        self._allowance = min(MESSAGE_BURST, self._allowance + (now - self._last) * MESSAGES_PER_SECOND)
        self._last = now
        if self._allowance < 1.0:
            raise ClosedByLimitError(1008, f"more than {MESSAGES_PER_SECOND:.0f} messages a second")
        self._allowance -= 1.0

    async def _messages(self) -> Any:
        from starlette.websockets import WebSocketDisconnect

        try:
            while True:
                message = await self.ws.receive()
                if message["type"] == "websocket.disconnect":
                    return
                text = message.get("text")
                data = message.get("bytes")
                # Bounded before anything is decoded or parsed.
                size = len(text) if text is not None else len(data) if data is not None else 0
                if size > MAX_MESSAGE_BYTES:
                    raise ClosedByLimitError(1009, f"a message of {size} bytes (at most {MAX_MESSAGE_BYTES})")
                self._count_message()
                if text is None and data is not None:
                    text = data.decode("utf-8", "replace")
                yield text or ""
        except (WebSocketDisconnect, RuntimeError):
            return

    async def _parse(self, text: str) -> dict[str, Any] | None:
        try:
            event = json.loads(text)
        except (ValueError, RecursionError):
            await self._error("a message that is not JSON")
            return None
        if not isinstance(event, dict) or not isinstance(event.get("event"), str):
            await self._error('a message without an "event"')
            return None
        return event

    async def _error(self, what: str) -> None:
        """Tells the client what was wrong with its message; nothing else changes. The log gets
        the first few per stream (a client could otherwise write the log at its own pace)."""
        self.errors += 1
        if self.errors <= LOGGED_ERRORS:
            logger.warning("stream %s: ignored %s", self.stream_sid or "(not started)", what)
        if self.phone:
            return
        with contextlib.suppress(Exception):
            await self.ws.send_text(json.dumps({"type": "error", "message": f"ignored {what}"}))

    async def _start(self, event: dict[str, Any]) -> bool:
        if self.phone:
            start = event.get("start")
            sid = event.get("streamSid") or (start.get("streamSid") if isinstance(start, dict) else None)
            stream_id, rates = sid, (8000, 8000)
        else:
            stream_id, rates = event.get("websocket_id"), (None, None)
        if not isinstance(stream_id, str) or not stream_id:
            await self._error("a start without an id")
            return True
        requester = self.requester
        opened = await self.connections.open_stream(
            stream_id,
            codec="mulaw",
            in_rate=rates[0],
            out_rate=rates[1],
            owner=requester.owner if requester else None,
            client=requester.client if requester else None,
            rate_limited=not self.signed,
            phone=self.phone,
            websocket=self.ws,
        )
        if isinstance(opened, dict):
            await self.ws.send_json(opened)
            # The id is named in the log only once it passed the engine's check.
            logger.info("a stream was refused: %s", opened["meta"]["error"])
            return False
        self.stream_sid = stream_id
        self.session, self.transport = opened
        return True

    async def _media(self, event: dict[str, Any]) -> None:
        if self.transport is None:
            await self._error("media before start")
            return
        media = event.get("media")
        payload = media.get("payload") if isinstance(media, dict) else None
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
                    await self.ws.send_text(as_json(data))  # type: ignore[arg-type]
        except Exception:
            logger.debug("stream %s: sending stopped", self.stream_sid, exc_info=True)
        with contextlib.suppress(Exception):
            await self.ws.close()


async def serve_websocket(websocket: WebSocket, connections: Connections, requester: Requester | None = None) -> None:
    """fastrtc's `/websocket/offer` protocol on `websocket`, for `connections`' handler."""
    await StreamSocket(websocket, connections, requester).serve()


async def serve_phone(
    websocket: WebSocket, connections: Connections, requester: Requester | None = None, *, signed: bool = False
) -> None:
    """Twilio Media Streams on `websocket`, for `connections`' handler (`signed`: Twilio's signature
    on the upgrade was checked)."""
    await StreamSocket(websocket, connections, requester, phone=True, signed=signed).serve()


def _short(value: Any) -> str:
    """A client's value for a log line or an error message: its repr, cut to 40 characters."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def twiml(websocket_url: str, greeting: str = "Connecting to the AI assistant.") -> str:
    """The TwiML that connects an incoming call to a Media Streams WebSocket."""
    from xml.sax.saxutils import escape, quoteattr

    return (
        '<?xml version="1.0" encoding="UTF-8"?><Response>'
        f"<Say>{escape(greeting)}</Say>"
        f"<Connect><Stream url={quoteattr(websocket_url)} /></Connect>"
        "<Say>The call has been disconnected.</Say></Response>"
    )
