"""The signalling side of a stream: offers in, sessions and their handlers out, per component.

`Connections` owns one engine and every session of one stream (one `WebRTC.stream(...)` call, or
one demo server). Nothing here is class-level: two components in one app have two independent
registries and limits (the original shared them process-wide).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import threading
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from . import limits
from ._engine import Engine, EngineError, check_webrtc_id
from .clients import UNKNOWN_CLIENT as UNKNOWN
from .clients import Requester, current_requester
from .protocol import Protocol
from .replica import RESTARTING, affinity_cookie, replica
from .reply_on_pause import ReplyOnPause
from .session_config import handler_rates, session_config
from .session_runner import SessionRunner
from .stream_handler import StreamHandlerBase, VideoStreamHandler

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable, Iterator

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


#: Additional outputs a connection keeps for its page at most. A handler that yields them faster
#: than the page fetches them (one queued Gradio event each) would otherwise grow memory and the
#: queue without bound: past this, the oldest are dropped and the page is warned once.
MAX_PENDING_OUTPUTS = 100
#: Candidates held for an offer still being answered (an offer carries at most 64 too).
MAX_EARLY_CANDIDATES = 64
#: "change" notices a page may have outstanding (each makes it fetch one output). More are sent
#: as it fetches, so a burst of outputs never becomes a burst of Gradio events.
OUTPUT_NOTICES = 4


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
    #: The Gradio session (`session_hash`), or the owner token of a `Stream` route, that made the
    #: connection, when known: only it may set the inputs of this connection or read its outputs.
    owner: str | None = None
    #: The address of the client that made it (`clients.client_address`), when known.
    client: str | None = None
    #: Receive mode: the generator was asked to start (by the first inputs).
    started: bool = False
    #: The WebSocket it came through, if any (the handler's `get_current_context().websocket`).
    websocket: Any = None
    #: "change" notices sent to the page and not yet answered by a fetch (`OUTPUT_NOTICES`).
    notices: int = 0
    #: Outputs dropped because the page fell `MAX_PENDING_OUTPUTS` behind.
    dropped_outputs: int = 0
    #: Guards `outputs`/`notices`: handlers yield on worker threads, Gradio fetches on others.
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answers(self, requester: Requester | None) -> bool:
        """True if `requester` may set this connection's inputs and read its outputs: the server
        itself (None); for a connection made by an owner, the same owner; else, or for a caller
        that presents no owner (a page that keeps no cookie), a caller from the same known address."""
        if requester is None or (self.owner is None and self.client is None):
            return True
        if self.owner is not None and requester.owner is not None:
            return requester.owner == self.owner
        return self.client not in (None, UNKNOWN) and requester.client == self.client

    def add_output(self, outputs: AdditionalOutputs) -> bool:
        """Queues one output; True if the page should be told ("change")."""
        with self.lock:
            self.outputs.append(outputs)
            dropped = len(self.outputs) > MAX_PENDING_OUTPUTS
            if dropped:
                self.outputs.popleft()
                self.dropped_outputs += 1
            notify = self.notices < OUTPUT_NOTICES
            if notify:
                self.notices += 1
        if dropped and self.dropped_outputs == 1:
            message = (
                f"the handler yields AdditionalOutputs faster than the page shows them; keeping the newest "
                f"{MAX_PENDING_OUTPUTS}, older ones are dropped"
            )
            logger.warning("session %s: %s", self.session.webrtc_id, message)
            with contextlib.suppress(Exception):
                self.session.send_event("warning", message)
        return notify

    def take_output(self) -> AdditionalOutputs | None:
        """The oldest queued output (the page answered a notice); sends another notice while
        outputs wait that no notice covers."""
        with self.lock:
            item = self.outputs.popleft() if self.outputs else None
            self.notices = max(0, self.notices - 1)
            more = min(OUTPUT_NOTICES, len(self.outputs)) - self.notices
            self.notices += max(0, more)
        for _ in range(more):
            with contextlib.suppress(Exception):
                self.session.send_event("fetch_output")
        return item


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
        offers_per_minute: connections (offers, WebSocket starts, unsigned phone calls) one
            client address may start per minute (None: no limit); clients that cannot be told
            apart share one allowance.
        show_error: tells whether a handler's exception text may be shown to the page (Gradio's
            `show_error`); otherwise the page hears that the handler failed, and the log has why.
        protocol: how page events are worded for WebRTC connections (`protocol.py`); WebSocket
            and phone streams always get fastrtc's JSON.
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
        offers_per_minute: float | None = limits.DEFAULT_OFFERS_PER_MINUTE,
        show_error: Callable[[], bool] = lambda: False,
        protocol: Protocol = "0.0.31",
    ) -> None:
        self.handler = handler
        self.show_error = show_error
        self.protocol: Protocol = protocol
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
        # Candidates trickled while their offer was being answered, by id.
        self._early_candidates: dict[str, list[tuple[Requester, dict[str, Any]]]] = {}
        # Waiters for the next new connection (`wait_for_new_connection`).
        self._arrivals: list[asyncio.Future[None]] = []
        # The server's event loop, learnt from the first offer: `set_input` arrives from Gradio's
        # worker threads and must start runners there.
        self._loop: asyncio.AbstractEventLoop | None = None
        self.rate_limiter = None if offers_per_minute is None else limits.OfferRateLimiter(offers_per_minute)
        limits.track(self)

    def __len__(self) -> int:
        """Live connections plus offers being answered (each holds a slot)."""
        return len(self.connections) + len(self._pending)

    async def offer(
        self, body: dict[str, Any], *, owner: str | None = None, client: str | None = None
    ) -> dict[str, Any]:
        """Handles `{sdp, type, webrtc_id}` and returns `{sdp, type}` or a failure meta.

        Args:
            body: the page's offer.
            owner: the Gradio session (or the owner token of a `Stream` route) making it; the
                connection answers only to it.
            client: the client's address (`clients.client_address`): offers count against it,
                and a caller that presents no owner must come from it.
        """
        if not isinstance(body, dict):
            return failed("invalid_offer", message="the offer must be a JSON object")
        if body.get("type") == "ice-candidate":
            return await self.add_ice_candidate(body, Requester(owner=owner, client=client))
        webrtc_id, sdp, kind = body.get("webrtc_id"), body.get("sdp"), body.get("type")
        if not isinstance(webrtc_id, str) or not webrtc_id:
            return failed("invalid_offer", message="the offer has no webrtc_id")
        if not isinstance(sdp, str) or not isinstance(kind, str):
            return failed("invalid_offer", message="the offer needs string fields sdp and type")
        if (refused := self._admit(webrtc_id, client)) is not None:
            return refused
        self._pending.add(webrtc_id)
        try:
            answer = await self._accept(webrtc_id, sdp, kind, owner, client)
        finally:
            self._pending.discard(webrtc_id)
            early = self._early_candidates.pop(webrtc_id, [])
        for requester, candidate in early:
            applied = await self.add_ice_candidate({"webrtc_id": webrtc_id, "candidate": candidate}, requester)
            if applied.get("status") != "success":
                logger.info("a candidate trickled during the offer of %s was not applied: %s", webrtc_id, applied)
        return answer

    async def add_ice_candidate(self, body: dict[str, Any], requester: Requester) -> dict[str, Any]:
        """A candidate the page trickled after its offer (`{"type": "ice-candidate", "webrtc_id",
        "candidate": RTCIceCandidate.toJSON()}`, as fastrtc's page code sends them): given to the
        connection's ICE agent. Only the connection's owner may add one; anyone else is answered
        as for an unknown id. Answers fastrtc's `{"status": "success"}` or a failure meta
        (`unknown_connection`, `invalid_candidate_format`)."""
        webrtc_id, candidate = body.get("webrtc_id"), body.get("candidate")
        if not isinstance(webrtc_id, str):
            return failed("unknown_connection")
        if candidate is None or candidate == "" or (isinstance(candidate, dict) and not candidate.get("candidate")):
            return {"status": "success"}  # the end of candidates
        if not isinstance(candidate, dict):
            return failed("invalid_candidate_format")
        if webrtc_id in self._pending:
            # fastrtc's page trickles while its offer is still being answered: held until then.
            early = self._early_candidates.setdefault(webrtc_id, [])
            if len(early) >= MAX_EARLY_CANDIDATES:
                return failed("invalid_candidate_format")
            early.append((requester, candidate))
            return {"status": "success"}
        connection = self.connections.get(webrtc_id)
        if connection is None or not connection.answers(requester):
            return failed("unknown_connection")
        try:
            await connection.session.add_ice_candidate(json.dumps(candidate))
        except ValueError as exc:
            logger.info("a trickled candidate for %s was refused: %s", webrtc_id, exc)
            return failed("invalid_candidate_format")
        return {"status": "success"}

    def _admit(self, stream_id: str, client: str | None, *, rate_limited: bool = True) -> dict[str, Any] | None:
        """The one admission check of every way in (offers, WebSocket starts, phone calls): a valid
        id, the client's rate, no duplicate, the concurrency limit and the server's cap. Returns the
        failure answer, or None once the caller may take the slot. Runs without awaiting, so
        requests arriving together cannot all pass and then exceed the limits."""
        try:
            check_webrtc_id(stream_id)  # before the id reaches a log line or a registry
        except EngineError as exc:
            return failed("invalid_offer", message=str(exc))
        self._loop = asyncio.get_running_loop()
        if replica.draining:
            return failed("server_draining", message=RESTARTING, **affinity_cookie())
        if rate_limited and self.rate_limiter is not None and (wait := self.rate_limiter.allow(client or UNKNOWN)):
            logger.warning("rate limit reached for a client (%.0f s to wait)", wait)
            return failed(
                "rate_limited",
                retry_after=round(wait, 1),
                message=f"Too many connection attempts; try again in {wait:.0f} s.",
            )
        if stream_id in self.connections or stream_id in self._pending:
            return failed("connection_already_exists")
        if self.concurrency_limit is not None and len(self) >= self.concurrency_limit:
            return failed("concurrency_limit_reached", limit=self.concurrency_limit)
        cap = limits.max_sessions()
        if cap is not None and limits.live_sessions() >= cap:
            logger.warning("refused a connection: this server is at its cap of %d sessions", cap)
            busy = "The server is at capacity; please try again later."
            return failed("server_busy", limit=cap, message=busy, **affinity_cookie())
        return None

    def _handler_copy(self) -> Any:
        return self.handler.copy() if isinstance(self.handler, StreamHandlerBase) else self.handler

    async def _accept(
        self, webrtc_id: str, sdp: str, kind: str, owner: str | None, client: str | None
    ) -> dict[str, Any]:
        handler = self._handler_copy()
        try:
            per_session = await resolve_config(self.ice_servers) if self.ice_servers is not None else None
        except Exception as exc:
            logger.error("the server ICE configuration function failed: %s", type(exc).__name__)
            return failed("ice_configuration_failed", message="could not get the server's ICE servers")
        try:
            config = session_config(
                handler, mode=self.mode, modality=self.modality, time_limit=self.time_limit, protocol=self.protocol
            )
            session = await self.engine.accept_offer(sdp, kind, webrtc_id, config, ice_servers=per_session)
        except EngineError as exc:
            # Each kind of refusal has its own name, so the page can say what went wrong.
            error = exc.kind
            logger.info("offer for %s refused (%s): %s", webrtc_id, error, exc)
            return failed(error, message=str(exc))
        self._adopt(session, handler, owner, client)
        return session.answer

    async def open_stream(
        self,
        stream_id: str,
        *,
        codec: str = "mulaw",
        in_rate: int | None = None,
        out_rate: int | None = None,
        owner: str | None = None,
        client: str | None = None,
        rate_limited: bool = True,
        phone: bool = False,
        websocket: Any = None,
    ) -> tuple[Session, StreamTransport] | dict[str, Any]:
        """A session carried by the caller (a WebSocket client, a phone call) instead of WebRTC:
        `codec` ("mulaw" or "pcm16") payloads at `in_rate`/`out_rate` Hz (default: the handler's
        input and output rates). Same admission, handler copies and clean-up as `offer` (a caller
        that authenticated itself, e.g. Twilio, skips the per-client rate: `rate_limited=False`).
        `phone` marks the handler (`phone_mode`: no page to ask for inputs); `websocket` is what
        the handler's `get_current_context()` names. Returns the session and its transport, or a
        failure meta like `offer`'s."""
        if not stream_id:
            return failed("invalid_offer", message="the stream has no id")
        if (refused := self._admit(stream_id, client, rate_limited=rate_limited)) is not None:
            return refused
        handler = self._handler_copy()
        if phone and isinstance(handler, StreamHandlerBase):
            handler.phone_mode = True
        try:
            config = session_config(handler, mode=self.mode, time_limit=self.time_limit, protocol="fastrtc")
            rates = handler_rates(handler)
            session, transport = self.engine.open_stream(
                stream_id, config, codec=codec, in_rate=in_rate or rates[0], out_rate=out_rate or rates[1]
            )
        except EngineError as exc:
            error = exc.kind
            logger.info("stream %s refused (%s): %s", stream_id, error, exc)
            return failed(error, message=str(exc))
        self._adopt(session, handler, owner, client, websocket=websocket)
        return session, transport

    def _adopt(
        self,
        session: Session,
        handler: Any,
        owner: str | None = None,
        client: str | None = None,
        *,
        websocket: Any = None,
    ) -> Connection:
        """Registers a new session; its handler starts once the peer is connected (receive mode:
        on its first inputs), so an offer that never connects runs no handler code."""
        assert self._loop is not None
        connection = Connection(session=session, handler=handler, owner=owner, client=client, websocket=websocket)
        self.connections[session.webrtc_id] = connection
        for waiter in self._arrivals:
            if not waiter.done():
                waiter.set_result(None)
        self._arrivals.clear()
        # Whatever happens to the handler, the end of the session frees the slot.
        self._watchers.add(self._loop.create_task(self._watch(connection)))
        return connection

    async def _watch(self, connection: Connection) -> None:
        """Starts the handler when the peer connects; frees the slot when the session ends,
        before the handler's `shutdown()` runs (a slow one must not hold the slot)."""
        session = connection.session
        if await session.wait_connected() and self.mode != "receive":
            self._start(connection, connection.handler)
        reason = await session.wait_closed()
        if self.connections.get(session.webrtc_id) is connection:
            del self.connections[session.webrtc_id]
        if connection.runner is None:
            logger.info("session %s ended before its handler started: %s", session.webrtc_id, reason)
        self._watchers.discard(asyncio.current_task())  # type: ignore[arg-type]

    def _start(self, connection: Connection, handler: Any) -> None:
        """Starts the session's runner on the server loop (from any thread)."""

        def on_outputs(outputs: AdditionalOutputs) -> bool:
            notify = connection.add_output(outputs)
            connection.outputs_ready.set()
            return notify

        assert self._loop is not None, "runners start after an offer"
        connection.runner = SessionRunner(
            connection.session,
            handler,
            self._loop,
            on_outputs,
            modality=self.modality,
            mode=self.mode,
            get_args=lambda: connection.args,
            show_error=self.show_error,
            websocket=connection.websocket,
            fps=self.handler.fps if isinstance(self.handler, VideoStreamHandler) else None,
        )
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is self._loop:
            connection.runner.start()
        else:
            self._loop.call_soon_threadsafe(connection.runner.start)

    async def wait_for_new_connection(self, timeout: float) -> None:
        """Returns when the next connection is registered, or after `timeout` seconds."""
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._arrivals.append(waiter)
        try:
            await asyncio.wait_for(waiter, timeout)
        except asyncio.TimeoutError:
            pass
        finally:
            if waiter in self._arrivals:
                self._arrivals.remove(waiter)

    def _connection(self, webrtc_id: str, requester: Requester | None) -> Connection:
        """The live connection `webrtc_id`, if `requester` may use it (`Connection.answers`).
        Anyone else gets the same error as for an unknown id, so it learns nothing.

        Raises:
            UnknownConnectionError: no live connection has this id for this requester.
        """
        if requester is None:
            requester = current_requester.get()
        connection = self.connections.get(webrtc_id)
        if connection is None:
            raise UnknownConnectionError(webrtc_id)
        if not connection.answers(requester):
            logger.warning("a client that did not make connection %s tried to use it; refused", webrtc_id)
            raise UnknownConnectionError(webrtc_id)
        return connection

    def set_input(self, webrtc_id: str, *args: Any, requester: Requester | None = None) -> None:
        """Stores the latest extra-input values for a connection (the `tick`/`change` path).

        In receive mode the first call starts the generator with these arguments (later calls
        only update them).

        Args:
            requester: who is asking (default: the request being served, `current_requester`;
                outside any request, the server itself, which may use every connection).

        Raises:
            UnknownConnectionError: no live connection has this id (for this requester).
        """
        connection = self._connection(webrtc_id, requester)
        connection.args = list(args)
        if isinstance(connection.handler, StreamHandlerBase):
            connection.handler.set_args(list(args))
        elif self.mode == "receive" and connection.runner is None and not connection.started:
            connection.started = True  # two ticks at once must not start two generators
            fn = connection.handler
            self._start(connection, lambda: fn(*args))

    def trigger_response(self, webrtc_id: str, requester: Requester | None = None) -> bool:
        """Asks the connection's `ReplyOnPause` to reply now (`trigger_response`); False if it has
        none (or the id is not the requester's)."""
        try:
            connection = self._connection(webrtc_id, requester)
        except UnknownConnectionError:
            return False
        handler = connection.handler
        if not isinstance(handler, ReplyOnPause):
            return False
        handler.trigger_response()
        return True

    # -- fastrtc's dict of connections: `webrtc_id in stream.connections`, `stream.connections[id]`

    def __contains__(self, webrtc_id: object) -> bool:
        return webrtc_id in self.connections

    def __getitem__(self, webrtc_id: str) -> Connection:
        return self.connections[webrtc_id]

    def __iter__(self) -> Iterator[str]:
        return iter(list(self.connections))

    def keys(self) -> list[str]:
        return list(self.connections)

    def values(self) -> list[Connection]:
        return list(self.connections.values())

    def items(self) -> list[tuple[str, Connection]]:
        return list(self.connections.items())

    def get(self, webrtc_id: str, default: Any = None) -> Any:
        return self.connections.get(webrtc_id, default)

    def pop_outputs(self, webrtc_id: str, requester: Requester | None = None) -> AdditionalOutputs | None:
        """The oldest undelivered `AdditionalOutputs` of a connection, if any (and if `requester`
        may read them)."""
        try:
            connection = self._connection(webrtc_id, requester)
        except UnknownConnectionError:
            return None
        return connection.take_output()

    def output_stream(self, webrtc_id: str, requester: Requester | None = None) -> AsyncIterator[AdditionalOutputs]:
        """Every `AdditionalOutputs` of a connection, as it comes, until its session ends.

        Raises:
            UnknownConnectionError: at once, if no live connection has this id (for this
                requester).
        """
        return self._outputs(self._connection(webrtc_id, requester))

    async def _outputs(self, connection: Connection) -> AsyncIterator[AdditionalOutputs]:
        closed = asyncio.ensure_future(connection.session.wait_closed())
        try:
            while True:
                while (item := connection.take_output()) is not None:
                    yield item
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
