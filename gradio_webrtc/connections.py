"""The signalling side of a stream: offers in, sessions and their handlers out, per component.

`Connections` owns one engine and every session of one stream (one `WebRTC.stream(...)` call, or
one demo server). Nothing here is class-level: two components in one app have two independent
registries and limits (the original shared them process-wide).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from ._engine import Engine, EngineError
from .reply_on_pause import ReplyOnPause
from .session_runner import SessionRunner
from .stream_handler import StreamHandlerBase

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from ._engine import Session, StreamTransport
    from .outputs import AdditionalOutputs

logger = logging.getLogger("gradio_webrtc")

Mode = Literal["send-receive", "receive", "send"]
Modality = Literal["video", "audio", "audio-video"]


class UnknownConnectionError(KeyError):
    """No live connection has this `webrtc_id` (it ended, or never started)."""

    def __init__(self, webrtc_id: str) -> None:
        super().__init__(webrtc_id)
        self.webrtc_id = webrtc_id

    def __str__(self) -> str:
        return f"no connection with webrtc_id {self.webrtc_id!r}: it has ended or never started"


async def resolve_config(source: Any) -> Any:
    """Calls a config function (sync ones in a thread, async ones awaited); values pass through."""
    if not callable(source):
        return source
    if inspect.iscoroutinefunction(source):
        return await source()
    result = await asyncio.to_thread(source)
    return await result if inspect.isawaitable(result) else result


def failed(error: str, **meta: Any) -> dict[str, Any]:
    """The original's failure answer to an offer: `{"status": "failed", "meta": {"error": ...}}`."""
    return {"status": "failed", "meta": {"error": error, **meta}}


@dataclass
class Connection:
    """One live session, its handler and what it has produced for other components."""

    session: Session
    handler: Any
    runner: SessionRunner | None = None
    outputs: deque[AdditionalOutputs] = field(default_factory=deque)
    args: list[Any] | None = None
    #: Set (on the server loop) whenever `outputs` gets an item.
    outputs_ready: asyncio.Event = field(default_factory=asyncio.Event)


class Connections:
    """Accepts offers for one stream and runs a handler per connection.

    Args:
        handler: a `StreamHandler`-family instance (copied per connection) for send modes, or a
            generator function for receive mode.
        mode: direction of media (`"send-receive"`, `"send"` or `"receive"`).
        modality: `"audio"` here; video arrives with the video engine.
        concurrency_limit: most simultaneous connections; None means unlimited.
        time_limit: seconds after which a connected session is closed.
        ice_servers: server-side ICE configuration (`RTCConfiguration` shape), or a sync/async
            function returning one (called for every connection).
        engine: an engine to use instead of a new one (tests pass one with short ICE timeouts).
    """

    def __init__(
        self,
        handler: Any,
        *,
        mode: Mode = "send-receive",
        modality: Modality = "audio",
        concurrency_limit: int | None = 1,
        time_limit: float | None = None,
        ice_servers: dict[str, Any] | Callable[[], Any] | None = None,
        engine: Engine | None = None,
    ) -> None:
        self.handler = handler
        self.mode = mode
        self.modality = modality
        self.concurrency_limit = concurrency_limit
        self.time_limit = time_limit
        # A callable (e.g. get_hf_turn_credentials) is resolved for every connection, so short-lived
        # TURN credentials never go stale while the app runs.
        self.ice_servers = ice_servers if callable(ice_servers) else None
        static = None if callable(ice_servers) else ice_servers
        self.engine = engine if engine is not None else Engine(ice_servers=static)
        self.connections: dict[str, Connection] = {}
        # Offers being answered: they hold their slot from the first check on.
        self._pending: set[str] = set()
        self._watchers: set[asyncio.Task[None]] = set()
        # The server's event loop, learnt from the first offer: `set_input` arrives from Gradio's
        # worker threads and must start runners there.
        self._loop: asyncio.AbstractEventLoop | None = None

    def __len__(self) -> int:
        """Live connections plus offers being answered (each holds a slot)."""
        return len(self.connections) + len(self._pending)

    async def offer(self, body: dict[str, Any]) -> dict[str, Any]:
        """Handles `{sdp, type, webrtc_id}` and returns `{sdp, type}` or a failure meta."""
        if not isinstance(body, dict):
            return failed("invalid_offer", message="the offer must be a JSON object")
        webrtc_id, sdp, kind = body.get("webrtc_id"), body.get("sdp"), body.get("type")
        if not isinstance(webrtc_id, str) or not webrtc_id:
            return failed("invalid_offer", message="the offer has no webrtc_id")
        if not isinstance(sdp, str) or not isinstance(kind, str):
            return failed("invalid_offer", message="the offer needs string fields sdp and type")
        self._loop = asyncio.get_running_loop()
        if webrtc_id in self.connections or webrtc_id in self._pending:
            return failed("connection_already_exists")
        # The slot is taken here, before any await: offers arriving together cannot all pass the
        # check and then exceed the limit.
        if self.concurrency_limit is not None and len(self) >= self.concurrency_limit:
            return failed("concurrency_limit_reached", limit=self.concurrency_limit)
        self._pending.add(webrtc_id)
        try:
            return await self._accept(webrtc_id, sdp, kind)
        finally:
            self._pending.discard(webrtc_id)

    async def _accept(self, webrtc_id: str, sdp: str, kind: str) -> dict[str, Any]:
        handler = self.handler.copy() if isinstance(self.handler, StreamHandlerBase) else self.handler
        sends = self.mode != "send"  # the server sends media to the browser
        receives = self.mode != "receive"
        audio = self.modality in ("audio", "audio-video")
        video = self.modality in ("video", "audio-video")
        try:
            per_session = await resolve_config(self.ice_servers) if self.ice_servers is not None else None
        except Exception as exc:
            logger.exception("the server ICE configuration function failed")
            return failed("ice_configuration_failed", message=f"could not get ICE servers: {exc}")
        try:
            session = await self.engine.accept_offer(
                sdp,
                kind,
                webrtc_id,
                send_audio=audio and sends,
                recv_audio=audio and receives,
                send_video=video and sends,
                recv_video=video and receives,
                input_sample_rate=getattr(handler, "input_sample_rate", 48000),
                input_channels=2 if getattr(handler, "expected_layout", "mono") == "stereo" else 1,
                time_limit=self.time_limit,
                ice_servers=per_session,
                pause=handler.pause_options() if isinstance(handler, ReplyOnPause) else None,
                can_interrupt=getattr(handler, "can_interrupt", True),
                stream_speech=getattr(handler, "streams_speech", False),
            )
        except EngineError as exc:
            # Each kind of refusal has its own name, so the page can say what went wrong.
            error = getattr(exc, "kind", "invalid_offer")
            logger.info("offer for %s refused (%s): %s", webrtc_id, error, exc)
            return failed(error, message=str(exc))
        self._adopt(session, handler)
        return session.answer

    async def open_stream(
        self, stream_id: str, *, codec: str = "mulaw", in_rate: int | None = None, out_rate: int | None = None
    ) -> tuple[Session, StreamTransport] | dict[str, Any]:
        """A session carried by the caller (a WebSocket client, a phone call) instead of WebRTC:
        `codec` ("mulaw" or "pcm16") payloads at `in_rate`/`out_rate` Hz (default: the handler's
        input and output rates). Same limits, handler copies and clean-up as `offer`. Returns the
        session and its transport, or a failure meta like `offer`'s."""
        if not stream_id:
            return failed("invalid_offer", message="the stream has no id")
        self._loop = asyncio.get_running_loop()
        if stream_id in self.connections or stream_id in self._pending:
            return failed("connection_already_exists")
        if self.concurrency_limit is not None and len(self) >= self.concurrency_limit:
            return failed("concurrency_limit_reached", limit=self.concurrency_limit)
        handler = self.handler.copy() if isinstance(self.handler, StreamHandlerBase) else self.handler
        try:
            session, transport = self.engine.open_stream(
                stream_id,
                codec=codec,
                in_rate=in_rate or getattr(handler, "input_sample_rate", 48000),
                out_rate=out_rate or getattr(handler, "output_sample_rate", 24000),
                send_audio=self.mode != "send",
                recv_audio=self.mode != "receive",
                input_sample_rate=getattr(handler, "input_sample_rate", 48000),
                input_channels=2 if getattr(handler, "expected_layout", "mono") == "stereo" else 1,
                time_limit=self.time_limit,
                pause=handler.pause_options() if isinstance(handler, ReplyOnPause) else None,
                can_interrupt=getattr(handler, "can_interrupt", True),
                stream_speech=getattr(handler, "streams_speech", False),
            )
        except EngineError as exc:
            error = getattr(exc, "kind", "invalid_offer")
            logger.info("stream %s refused (%s): %s", stream_id, error, exc)
            return failed(error, message=str(exc))
        self._adopt(session, handler)
        return session, transport

    def _adopt(self, session: Session, handler: Any) -> Connection:
        """Registers a new session and starts its handler (receive mode: on its first inputs)."""
        assert self._loop is not None
        connection = Connection(session=session, handler=handler)
        self.connections[session.webrtc_id] = connection
        # Whatever happens to the handler, the end of the session frees the slot.
        self._watchers.add(self._loop.create_task(self._forget_when_closed(connection)))
        if self.mode != "receive":
            self._start(connection, handler)
        return connection

    async def _forget_when_closed(self, connection: Connection) -> None:
        webrtc_id = connection.session.webrtc_id
        reason = await connection.session.wait_closed()
        if connection.runner is None:
            logger.info("session %s ended before its handler started: %s", webrtc_id, reason)
            if self.connections.get(webrtc_id) is connection:
                del self.connections[webrtc_id]
        self._watchers.discard(asyncio.current_task())  # type: ignore[arg-type]

    def _start(self, connection: Connection, handler: Any) -> None:
        webrtc_id = connection.session.webrtc_id

        def on_outputs(outputs: AdditionalOutputs) -> None:
            connection.outputs.append(outputs)
            connection.outputs_ready.set()

        def on_end(reason: str) -> None:
            if self.connections.get(webrtc_id) is connection:
                del self.connections[webrtc_id]

        assert self._loop is not None, "runners start after an offer"
        connection.runner = SessionRunner(
            connection.session,
            handler,
            self._loop,
            on_outputs,
            on_end,
            modality=self.modality,
            mode=self.mode,
            get_args=lambda: connection.args,
        )
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            connection.runner.start()
        else:
            self._loop.call_soon_threadsafe(connection.runner.start)

    def set_input(self, webrtc_id: str, *args: Any) -> None:
        """Stores the latest extra-input values for a connection (the `tick`/`change` path).

        In receive mode the first call starts the generator with these arguments.

        Raises:
            UnknownConnectionError: no live connection has this id.
        """
        connection = self.connections.get(webrtc_id)
        if connection is None:
            raise UnknownConnectionError(webrtc_id)
        connection.args = list(args)
        if isinstance(connection.handler, StreamHandlerBase):
            connection.handler.set_args(list(args))
        elif self.mode == "receive" and connection.runner is None:
            fn = connection.handler
            self._start(connection, lambda: fn(*args))

    def pop_outputs(self, webrtc_id: str) -> AdditionalOutputs | None:
        """The oldest undelivered `AdditionalOutputs` of a connection, if any."""
        connection = self.connections.get(webrtc_id)
        if connection is None or not connection.outputs:
            return None
        return connection.outputs.popleft()

    async def output_stream(self, webrtc_id: str) -> AsyncIterator[AdditionalOutputs]:
        """Every `AdditionalOutputs` of a connection, as it comes, until its session ends.

        Raises:
            UnknownConnectionError: no live connection has this id.
        """
        connection = self.connections.get(webrtc_id)
        if connection is None:
            raise UnknownConnectionError(webrtc_id)
        closed = asyncio.ensure_future(connection.session.wait_closed())
        try:
            while True:
                while connection.outputs:
                    yield connection.outputs.popleft()
                if closed.done():
                    return
                connection.outputs_ready.clear()
                ready = asyncio.ensure_future(connection.outputs_ready.wait())
                await asyncio.wait([ready, closed], return_when=asyncio.FIRST_COMPLETED)
                ready.cancel()
        finally:
            closed.cancel()

    def close(self) -> None:
        """Ends every session (their handlers shut down as the sessions close)."""
        self.engine.close()
