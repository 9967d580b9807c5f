"""Drives one handler against one engine session: input in, emitted items out, event by event.

Everything here is woken by the engine: a frame arrived, the output queue drained, the reply was
interrupted, the session closed. No lane polls a timer. Each handler gets lanes (an input lane, an
output lane, video lanes) as tasks on the server's event loop; a sync handler's methods run on a
shared, bounded worker pool (`worker_pool()`), one call at a time per lane, so a session holds no
thread of its own. Every handler call runs with `current_channel` set, so `WebRTCError`/`Warning`
reach the right page. A handler that raises or emits something that is not audio is reported to
the page and the log; the session goes on. Anything the runner itself cannot go on with fails the
session (the page gets an error, the handler `shutdown()`, the slot is freed).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import os
import queue
import threading
import time
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any

import numpy as np

from .outputs import AdditionalOutputs, CloseStream, WebRTCError, current_channel, report_error, split_output
from .protocol import Protocol
from .python_pauses import PythonPauses
from .reply_on_pause import ReplyOnPause
from .stream_handler import (
    WEBRTC_VALUE,
    AsyncAudioVideoStreamHandler,
    AsyncStreamHandler,
    AudioVideoStreamHandler,
    StreamHandlerBase,
    VideoStreamHandler,
)
from .utils import Context, current_context

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from ._engine import Session

logger = logging.getLogger("gradio_webrtc")

#: Output queued ahead of real time before `emit` is called again. Enough to ride out a slow
#: generator step; small enough that interrupting a reply drops little.
OUTPUT_AHEAD_S = 0.5
#: Fastest rate at which generated video (receive mode, `video_emit`) is sent.
MAX_FPS = 30
#: How long a lane still busy in a handler call may take to notice that its session ended.
STOP_GRACE_S = 0.5
#: How long a handler's `shutdown()` may take before the runner stops waiting for it.
SHUTDOWN_S = 10.0
#: What the page hears of a handler's exception when the app does not show errors (`show_error`).
HIDDEN_ERROR = "The handler failed; the server's log has the details."


class OutputError(TypeError):
    """What a handler emitted cannot be sent (its type, shape, dtype or rate). The message describes
    the item, never its content, so the page is told whether or not the app shows errors."""


class WorkerPool(Executor):
    """The threads sync handlers run on, shared by every session.

    A few threads (`core`) serve the short calls of many sessions (`receive`, `emit`, a generator
    step). Handlers that block (`emit` waiting on a queue, `wait_for_args_sync`) would starve the
    rest of a fixed pool, so when a call has waited 50 ms with every thread busy the pool grows, up
    to `limit`. Threads beyond `core` retire after `retire_after` seconds without work (a burst of
    blocking handlers does not leave its threads behind); a server with 100 echo sessions runs on a
    handful.
    """

    GROW_AFTER_S = 0.05

    def __init__(self, core: int, limit: int, retire_after: float = 30.0) -> None:
        self._core, self._limit = core, max(core, limit)
        self._retire_after = retire_after
        self._spawned = 0
        self._pending = 0
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    @property
    def threads(self) -> int:
        """Threads started so far."""
        return len(self._threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        future: Future[Any] = Future()
        with self._lock:
            self._jobs.put((future, lambda: fn(*args, **kwargs), ()))
            self._pending += 1
            # Calls queued but not yet taken, against threads waiting for one: two calls submitted
            # back to back must not both count on the same idle thread.
            if self._pending <= self._idle:
                return future
            if len(self._threads) < self._core:
                self._spawn()
                return future
        # Every thread is busy: grow if this call is still waiting in a moment.
        try:
            asyncio.get_running_loop().call_later(self.GROW_AFTER_S, self._grow_if_stuck)
        except RuntimeError:
            threading.Timer(self.GROW_AFTER_S, self._grow_if_stuck).start()
        return future

    def _grow_if_stuck(self) -> None:
        with self._lock:
            if not self._closed and self._pending > self._idle and len(self._threads) < self._limit:
                self._spawn()

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name=f"gradio-webrtc-worker-{self._spawned}", daemon=True)
        self._spawned += 1
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._idle += 1
                extra = len(self._threads) > self._core
            try:
                job = self._jobs.get(timeout=self._retire_after if extra else None)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    # A call queued meanwhile may have counted on this thread: stay for it.
                    if len(self._threads) > self._core and self._pending <= self._idle:
                        self._threads.remove(me)
                        return
                continue
            with self._lock:
                self._idle -= 1
                if job is not None:
                    self._pending -= 1
            if job is None:
                return
            future, call, _ = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:
                    future.set_exception(exc)
            # An idle thread must not hold its last call (and through it a handler, its model
            # state and its session's buffers) until the next job arrives.
            del job, future, call

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                thread.join()


_pool: WorkerPool | None = None


def worker_pool() -> WorkerPool:
    """The process's worker pool, created on first use: `GRADIO_WEBRTC_WORKER_THREADS` threads
    (default 6) for short calls, growing to `GRADIO_WEBRTC_MAX_WORKER_THREADS` (default 64) only
    while handlers block; the extra threads retire after 30 s without work."""
    global _pool
    if _pool is None:
        _pool = WorkerPool(
            core=int(os.environ.get("GRADIO_WEBRTC_WORKER_THREADS", "6")),
            limit=int(os.environ.get("GRADIO_WEBRTC_MAX_WORKER_THREADS", "64")),
        )
    return _pool


class SessionChannel:
    """The data channel of a session, shaped like the original's (`send(text)`), speaking the
    connection's protocol for the page events that differ: gradio_webrtc 0.0.31's plain strings
    (`tick`, `change`, `stopword`) or fastrtc's JSON (`{"type": "send_input", "data": []}`, ...)."""

    def __init__(self, session: Session, protocol: Protocol = "0.0.31") -> None:
        self._session = session
        self.protocol = protocol

    def send(self, message: str) -> None:
        self._session.send_message(message)

    def send_event(self, kind: str, text: str | None = None) -> None:
        """Sends a page event (`_engine.PAGE_EVENTS`), worded by the engine for this page."""
        self._session.send_event(kind, text)

    @property
    def readyState(self) -> str:  # noqa: N802 - the browser/aiortc attribute name
        return "closed" if self._session.closed else "open"


def is_single_item(value: Any) -> bool:
    """True for one output item given as a tuple: `(rate, array)` or `(media, AdditionalOutputs)`."""
    if not isinstance(value, tuple):
        return False
    return (len(value) in (2, 3) and isinstance(value[0], (int, np.integer))) or (
        len(value) == 2 and isinstance(value[1], AdditionalOutputs)
    )


#: The same handler error is reported to the page (and logged with its traceback) at most once
#: in this many seconds.
REPORT_AGAIN_S = 10.0

#: Emitted audio longer than this is queued in pieces of this length (see `deliver`).
MAX_PIECE_S = 1.0


def audio_pieces(rate: int, array: np.ndarray, layout: str | None) -> list[np.ndarray]:
    """`array` cut along its time axis into pieces of at most `MAX_PIECE_S` (views, no copies).

    The time axis follows the engine's shapes: `(N,)` and `(N, 1|2)` along axis 0, `(1|2, N)`
    along axis 1; packed stereo (`(N,)` with layout "stereo") is cut on sample pairs. Anything
    else is returned whole, for the engine to refuse with its message."""
    step = max(1, int(rate * MAX_PIECE_S))
    shape = array.shape
    if array.ndim == 1:
        axis, n = 0, shape[0]
        if layout == "stereo":
            step *= 2
    elif array.ndim == 2 and shape[0] in (1, 2) and shape[1] != 2:
        axis, n = 1, shape[1]
    elif array.ndim == 2 and shape[1] in (1, 2):
        axis, n = 0, shape[0]
    else:
        return [array]
    if n <= step:
        return [array]
    if axis == 0:
        return [array[i : i + step] for i in range(0, n, step)]
    return [array[:, i : i + step] for i in range(0, n, step)]


def describe(item: Any) -> str:
    """A short description of a wrongly typed item for error messages."""
    if isinstance(item, np.ndarray):
        return f"an array of shape {item.shape} and dtype {item.dtype}"
    if isinstance(item, tuple):
        return "a tuple of (" + ", ".join(type(x).__name__ for x in item) + ")"
    return f"a {type(item).__name__}"


_DONE = object()


class SessionRunner:
    """Runs `handler` for `session` until the session ends.

    Args:
        session: the engine session.
        handler: a per-connection handler (already `copy()`-ed), or for receive mode a generator.
        loop: the server's event loop (every lane runs there).
        on_additional_outputs: called with every `AdditionalOutputs` the handler yields, in order;
            returning False means the page needs no "change" notice for it (it paces them).
        show_error: whether a handler's exception text may reach the page (Gradio's `show_error`);
            otherwise the page hears that the handler failed and the log keeps the text.
        protocol: how page events are worded (`protocol.py`).
        websocket: the WebSocket the session came through, if any (`get_current_context()`).
        fps: the most pictures a second generated video is sent at (default: the handler's `fps`,
            else `MAX_FPS`).
    """

    def __init__(
        self,
        session: Session,
        handler: Any,
        loop: asyncio.AbstractEventLoop,
        on_additional_outputs: Callable[[AdditionalOutputs], bool | None] | None = None,
        modality: str = "audio",
        mode: str = "send-receive",
        get_args: Callable[[], list[Any] | None] | None = None,
        show_error: Callable[[], bool] = lambda: False,
        protocol: Protocol = "0.0.31",
        websocket: Any = None,
        fps: float | None = None,
    ) -> None:
        self.session = session
        self.modality = modality
        self.mode = mode
        self._get_args = get_args or (lambda: None)
        self._reported: set[str] = set()
        self._last_reported: dict[str, float] = {}
        self.handler = handler
        self.loop = loop
        self.channel = SessionChannel(session, protocol)
        self.context = Context(session.webrtc_id, websocket)
        #: Most pictures a second generated video is sent at.
        self.fps = float(fps or getattr(handler, "fps", None) or MAX_FPS)
        #: Set once the handler yielded `CloseStream`: the session ends after its audio.
        self._closing: asyncio.Task[None] | None = None
        #: The Python pause detector, when `ReplyOnPause(model=...)` brings its own model.
        self._python_pauses: PythonPauses | None = None
        self._on_additional_outputs = on_additional_outputs
        self._show_error = show_error
        self._tasks: list[asyncio.Task[Any]] = []
        self._main: asyncio.Task[Any] | None = None
        self.errors = 0

    # -- start / stop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the lanes and the watcher that cleans up when the session ends. Call on `loop`."""
        self._main = self.loop.create_task(self._run(), name=f"webrtc-{self.session.webrtc_id}")

    async def _run(self) -> None:
        current_channel.set(self.channel)
        current_context.set(self.context)
        handler = self.handler
        self._activity = asyncio.Event()  # something for the output lane: a frame, inputs, the end
        self._video_activity = asyncio.Event()
        if isinstance(handler, StreamHandlerBase):
            handler.set_channel(self.channel)
            handler._attach(self._activity, self.loop, self.session.clear_output, self._end_utterance)
        if isinstance(handler, ReplyOnPause) or not isinstance(handler, StreamHandlerBase):
            # Replies and receive-mode generators queue audio ahead on purpose: never trim it.
            self.session.set_output_budget(None)
        lanes = self._lanes(handler)
        self._tasks = [self.loop.create_task(self._guard(lane, name)) for name, lane in lanes]
        reason = await self.session.wait_closed()
        self._activity.set()
        self._video_activity.set()
        if isinstance(handler, StreamHandlerBase):
            handler._session_ended()
        # Lanes see the end at their next await; one still inside a handler call (a blocking emit,
        # an async emit waiting on its own queue) is cancelled after a moment: the slot is freed
        # and shutdown() runs without waiting for it.
        _, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
        for task in pending:
            task.cancel()
        await self._shutdown_handler()
        if self.session.failed:
            logger.error("session %s failed: %s", self.session.webrtc_id, reason)
        else:
            logger.info("session %s ended: %s", self.session.webrtc_id, reason)
        self._release()

    def _release(self) -> None:
        """Drops what ties a finished session into reference cycles (its tasks, the callbacks that
        reach back into the registry, the end-of-session future). Left to Python's cyclic
        collector, a session's objects, and through its `Session` the engine's buffers for it,
        lived until the next full collection: bench/churn.py measured ~200 kB per session of
        server memory that only `gc.collect()` gave back."""
        self._tasks = []
        self._main = None
        self._on_additional_outputs = None
        self._get_args = lambda: None
        self.__dict__.pop("_closed_future", None)

    def _lanes(self, handler: Any) -> list[tuple[str, Awaitable[None]]]:
        if isinstance(handler, ReplyOnPause):
            return [("reply", self._reply_on_pause())]
        if isinstance(handler, StreamHandlerBase):
            is_async = isinstance(handler, AsyncStreamHandler)
            lanes: list[tuple[str, Awaitable[None]]] = [
                ("audio-in", self._audio_input(is_async)),
                ("audio-out", self._audio_output(is_async)),
            ]
            if isinstance(handler, (AudioVideoStreamHandler, AsyncAudioVideoStreamHandler)):
                lanes += [("video-in", self._video_input(is_async)), ("video-out", self._video_output(is_async))]
            return lanes
        if callable(handler) and self.modality == "video" and self.mode != "receive":
            return [("video", self._video_function())]
        if callable(handler):
            return [("generator", self._generator_output())]
        raise TypeError(f"cannot run {describe(handler)} as a stream handler")

    async def _guard(self, lane: Awaitable[None], name: str) -> None:
        """Runs a lane; a failure of the runner itself (not of handler code) fails the session."""
        try:
            await lane
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not self.session.closed:
                logger.exception("the %s lane of %s stopped", name, self.session.webrtc_id)
                self.session.fail(f"the server's {name} stream stopped: {type(exc).__name__}: {exc}")

    async def _shutdown_handler(self) -> None:
        """Runs the handler's `shutdown()`, for at most `SHUTDOWN_S` (the slot is already free: a
        hanging one delays nobody, and is left behind with a log line)."""
        if not isinstance(self.handler, StreamHandlerBase):
            return

        async def shutdown() -> None:
            if inspect.iscoroutinefunction(self.handler.shutdown):
                await self.handler.shutdown()
            else:
                result = await self._sync(self.handler.shutdown)
                if inspect.isawaitable(result):
                    await result

        try:
            await asyncio.wait_for(shutdown(), SHUTDOWN_S)
        except asyncio.TimeoutError:
            logger.error(
                "shutdown() of the handler for %s did not return within %.0f s; left running",
                self.session.webrtc_id,
                SHUTDOWN_S,
            )
        except Exception:
            logger.exception("shutdown() of the handler for %s raised", self.session.webrtc_id)

    # -- calling handler code -------------------------------------------------------------------

    async def _sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Runs a sync handler method on the worker pool with this task's context (the channel)."""
        ctx = contextvars.copy_context()
        return await self.loop.run_in_executor(worker_pool(), ctx.run, fn, *args)

    async def _call(self, fn: Callable[..., Any], *args: Any, is_async: bool) -> Any:
        if is_async:
            result = fn(*args)
            return await result if inspect.isawaitable(result) else result
        return await self._sync(fn, *args)

    # -- reporting ------------------------------------------------------------------------------

    def report(self, exc: BaseException, where: str) -> None:
        """Logs a handler failure with its traceback and shows it on the page."""
        if self.session.closed:
            return  # a handler woken by the end of its session: nobody is listening
        self.errors += 1
        message = f"{type(exc).__name__}: {exc}"
        now = time.monotonic()
        if now - self._last_reported.get(message, -REPORT_AGAIN_S) < REPORT_AGAIN_S:
            # A handler failing the same way on every call: one toast and one traceback, not 50 a second.
            logger.debug("%s of the handler for %s raised again: %s", where, self.session.webrtc_id, message)
            return
        self._last_reported[message] = now
        logger.error("%s of the handler for %s raised", where, self.session.webrtc_id, exc_info=exc)
        if not isinstance(exc, WebRTCError):  # WebRTCError already sent itself
            # An exception's text can hold an API's answer, a host name, a path or a key: the page
            # sees it only where the app shows errors, as Gradio does for its own events.
            shown = message if self._show_error() or isinstance(exc, OutputError) else HIDDEN_ERROR
            report_error(self.channel, shown)

    def report_once(self, message: str) -> None:
        """Reports a per-frame problem once per session, not 30 times a second."""
        if message in self._reported:
            return
        self._reported.add(message)
        self.errors += 1
        logger.error("handler for %s: %s", self.session.webrtc_id, message)
        report_error(self.channel, message)

    def _extra(self, extra: AdditionalOutputs | CloseStream | None) -> None:
        if extra is None:
            return
        if isinstance(extra, CloseStream):
            self.close_stream(extra.msg)
            return
        handler = self.handler
        if isinstance(handler, ReplyOnPause) and handler.phone_mode:
            # A phone call has no page to ask: a reply's outputs are the next turn's inputs.
            handler.latest_args = [WEBRTC_VALUE, *extra.args]
        # The owner of the outputs decides whether the page needs a notice (it paces them).
        notify = self._on_additional_outputs(extra) if self._on_additional_outputs is not None else True
        if notify is not False:
            self.channel.send_event("fetch_output")

    def close_stream(self, message: str) -> None:
        """The handler asked to end the stream (`CloseStream`): the page is told (`end_stream`),
        the audio already queued plays out, then the session closes with `message`."""
        if self._closing is not None or self.session.closed:
            return
        self.session.send_event("end_stream", message)

        async def close() -> None:
            await self.session.output_below(0.001)
            self.session.close(message)

        self._closing = self.loop.create_task(close())

    def _end_utterance(self) -> None:
        """`ReplyOnPause.trigger_response`: the utterance being collected ends now (from any thread)."""
        if self._python_pauses is not None:
            self.loop.call_soon_threadsafe(self._python_pauses.finish_now)
        else:
            self.session.end_utterance()

    def video_of(self, item: Any, *, send: bool = True) -> np.ndarray | None:
        """The picture in a video handler's result (its additional outputs are delivered here)."""
        if self._closing is not None:
            return None
        media, extra = split_output(item)
        self._extra(extra)
        if isinstance(extra, CloseStream):
            return None
        if media is None:
            if send and extra is None:
                self.report_once("the video handler returned None; return a frame (a numpy array)")
            return None
        if not isinstance(media, np.ndarray):
            self.report_once(
                f"the video handler returned {describe(media)}; expected a uint8 numpy array of shape "
                "(height, width, 3), optionally with AdditionalOutputs"
            )
            return None
        return media if send else None

    async def deliver_video(self, item: Any, *, send: bool = True) -> None:
        """Sends a picture (and/or additional outputs) a video handler returned; encoding runs on
        the worker pool, never on the event loop."""
        picture = self.video_of(item, send=send)
        if picture is None:
            return
        try:
            await self._sync(self.session.send_video, picture)
        except ValueError as exc:
            self.report_once(str(exc))

    async def deliver(self, item: Any, turn: int | None = None) -> bool:
        """Sends one emitted item: audio to the peer, additional outputs to the component. False
        if the item's reply (`turn`) was interrupted, or the session ended, before all its audio
        was queued.

        Audio longer than `MAX_PIECE_S` goes in pieces, each queued once the output is below
        `OUTPUT_AHEAD_S`: a ten-minute array costs the engine a second of queue, not ten minutes,
        and an interruption or the time limit stops it between pieces."""
        if self._closing is not None:
            return False  # the handler ended the stream: nothing more is sent
        media, extra = split_output(item)
        if media is None:
            self._extra(extra)
            return not isinstance(extra, CloseStream)
        if not isinstance(extra, CloseStream):
            self._extra(extra)
        if not (isinstance(media, tuple) and len(media) in (2, 3)):
            raise OutputError(
                f"the handler emitted {describe(media)}; expected (sample_rate, numpy array), "
                "optionally with a layout, and/or AdditionalOutputs"
            )
        rate, array, *rest = media
        layout = rest[0] if rest else None
        if not isinstance(array, np.ndarray):
            raise OutputError(f"the audio of an emitted item must be a numpy array, got {describe(array)}")
        if not isinstance(rate, (int, np.integer)):
            raise OutputError(f"the sample rate of an emitted item must be an int, got {describe(rate)}")
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            self.report_once(
                "the handler's audio holds NaN or infinite samples; they are sent as silence "
                "(check the model's output before returning it)"
            )
        pieces = audio_pieces(int(rate), array, layout)
        for i, piece in enumerate(pieces):
            if i and not await self.session.output_below(OUTPUT_AHEAD_S, turn):
                return False
            try:
                sent = self.session.send_audio(int(rate), piece, layout, turn)
            except ValueError as exc:  # the engine's word on the array's shape, dtype or rate
                raise OutputError(str(exc)) from None
            if not sent:
                return False
        if isinstance(extra, CloseStream):
            self._extra(extra)  # after its audio: that plays out before the session closes
            return False
        return True

    # -- StreamHandler family -------------------------------------------------------------------

    async def _audio_input(self, is_async: bool) -> None:
        while (frame := await self.session.next_audio()) is not None:
            try:
                await self._call(self.handler.receive, frame, is_async=is_async)
            except Exception as exc:
                self.report(exc, "receive()")
            self._activity.set()

    async def _audio_output(self, is_async: bool) -> None:
        handler = self.handler
        try:
            await self._call(handler.start_up, is_async=is_async)
        except Exception as exc:
            self.report(exc, "start_up()")
        backoff = 0.0
        while not self.session.closed:
            self._activity.clear()
            try:
                item = await self._call(handler.emit, is_async=is_async)
                if item is not None:
                    await self.deliver(item)
                backoff = 0.0
            except Exception as exc:
                self.report(exc, "emit()")
                # A handler failing on every call must not flood the page or spin a core.
                backoff = min(1.0, backoff * 2 or 0.05)
                await self.session_sleep(backoff)
                continue
            if item is None:
                await self._activity.wait()  # the next frame, new inputs, or the end
            else:
                await self.session.output_below(OUTPUT_AHEAD_S)

    async def _video_input(self, is_async: bool) -> None:
        while (frame := await self.session.next_video()) is not None:
            try:
                await self._call(self.handler.video_receive, frame, is_async=is_async)
            except Exception as exc:
                self.report(exc, "video_receive()")
            self._video_activity.set()

    async def _video_output(self, is_async: bool) -> None:
        next_at = time.monotonic()
        while not self.session.closed:
            self._video_activity.clear()
            try:
                item = await self._call(self.handler.video_emit, is_async=is_async)
            except Exception as exc:
                self.report(exc, "video_emit()")
                await self.session_sleep(0.1)
                continue
            if item is None:
                await self._video_activity.wait()  # the next picture, or the end
                continue
            await self.deliver_video(item, send=self.mode != "send")
            # A generator-like video_emit is capped at the handler's fps (a pace, not a poll).
            next_at = max(next_at + 1 / self.fps, time.monotonic())
            await self.session_sleep(next_at - time.monotonic())

    async def session_sleep(self, seconds: float) -> None:
        """Sleeps `seconds`, or less if the session ends."""
        if seconds <= 0:
            return
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._closed_event()), seconds)

    def _closed_event(self) -> asyncio.Future[Any]:
        if not hasattr(self, "_closed_future"):
            self._closed_future = asyncio.ensure_future(self.session.wait_closed())
        return self._closed_future

    # -- ReplyOnPause -----------------------------------------------------------------------------

    async def _reply_on_pause(self) -> None:
        """One reply per utterance; the engine detected the pause and holds the audio until then
        (or, with a model of the app's own, `PythonPauses` did)."""
        handler: ReplyOnPause = self.handler
        if handler.custom_model is not None:
            self._python_pauses = PythonPauses(self.session, handler, self._sync, self.report)
            self._tasks.append(self.loop.create_task(self._guard(self._python_pauses.feed_from_session(), "pause")))
        if handler.startup_fn is not None:
            if handler.needs_args and not await self._ask_for_args(handler):
                return
            try:
                args = handler.latest_args[1:]
                await self._play(await self._start(handler.startup_fn, *args))
            except Exception as exc:
                self.report(exc, "startup_fn")
        while (utterance := await self._next_utterance(handler)) is not None:
            if handler.needs_args and not await self._ask_for_args(handler):
                return
            try:
                reply = await self._start(handler.call, utterance)
            except Exception as exc:
                self.report(exc, "the reply function")
                continue
            if reply is not None:  # ReplyOnStopWords: not addressed to us
                await self._play(reply)

    async def _start(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Calls a reply function: generator functions return at once, plain ones may block."""
        if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
            return fn(*args)
        return await self._sync(fn, *args)

    async def _next_utterance(self, handler: ReplyOnPause) -> tuple[int, Any] | None:
        """The next utterance; a streaming handler (`ReplyOnStopWords`) hears it while it is spoken."""
        if self._python_pauses is not None:
            return await self._python_pauses.next_utterance()
        if not handler.streams_speech:
            return await self.session.next_utterance()
        while (speech := await self.session.next_speech()) is not None:
            kind, rate, audio, offset = speech
            if kind == "utterance":
                return rate, audio
            try:
                await self._sync(handler.hear, rate, audio, offset)
            except Exception as exc:
                self.report(exc, "the stop-word detector")
        return None

    async def _ask_for_args(self, handler: StreamHandlerBase) -> bool:
        """Asks the page for the other inputs (a `tick`) and waits; False if the session ended.
        A phone call has no page: its inputs are the last reply's `AdditionalOutputs`."""
        if handler.phone_mode:
            return not self.session.closed
        handler.reset()
        handler._send_event("send_input")
        await handler.wait_for_args_event()
        return not self.session.closed

    async def _items(self, reply: Any) -> AsyncIterator[Any]:
        """The items of a reply: an async generator on the loop, a sync one on the worker pool."""
        if inspect.isasyncgen(reply):
            async for item in reply:
                yield item
        elif inspect.isgenerator(reply) or (isinstance(reply, (list, tuple)) and not is_single_item(reply)):
            items = iter(reply)
            while (item := await self._sync(next, items, _DONE)) is not _DONE:
                yield item
        elif reply is not None:
            yield reply

    async def _play(self, reply: Any) -> None:
        """Streams one reply; stops at once if the user starts talking (`can_interrupt`).

        The reply is a turn of the engine's turn state: its audio carries the turn's number and is
        refused once the user talked over it, so an interruption needs no flag here.
        """
        session = self.session
        session.send_event("response_starting")
        turn = session.begin_reply()
        interrupted = False
        items = self._items(reply)
        try:
            async for item in items:
                try:
                    accepted = await self.deliver(item, turn)
                except Exception as exc:
                    self.report(exc, "the reply function")
                    continue
                if not accepted or not await session.output_below(OUTPUT_AHEAD_S, turn):
                    interrupted = not session.closed and self._closing is None
                    break
            else:
                # Let the reply play out before listening again (unless the user cuts in).
                interrupted = not await session.output_below(0.001, turn) and not session.closed
        except Exception as exc:
            self.report(exc, "the reply function")
        finally:
            await self._close(reply, items)
            session.end_reply(turn)
        if interrupted:
            logger.info("reply for %s interrupted by the user", session.webrtc_id)

    async def _close(self, reply: Any, items: Any) -> None:
        try:
            await items.aclose()
            if inspect.isasyncgen(reply):
                await reply.aclose()
            elif inspect.isgenerator(reply):
                await self._sync(reply.close)
        except Exception:
            logger.debug("closing the reply generator failed", exc_info=True)

    # -- video -------------------------------------------------------------------------------------

    async def _video_function(self) -> None:
        """Video send/send-receive: `fn(frame, *inputs)` for the newest picture, as fast as it goes.

        Until the page has sent the inputs (its first `tick`, right after connecting), pictures are
        passed through unchanged, as in the original. A slow `fn` never queues pictures: each call
        gets the newest one and the skipped ones are counted in `stats()["video_frames_skipped"]`.
        """
        fn = self.handler.callable if isinstance(self.handler, VideoStreamHandler) else self.handler
        send = self.mode == "send-receive"
        is_async = inspect.iscoroutinefunction(fn)
        while (frame := await self.session.next_video()) is not None:
            args = self._get_args()
            if args is None:
                if send:
                    await self.deliver_video(frame)
                continue
            try:
                result = await self._call(fn, frame, *args, is_async=is_async)
            except Exception as exc:
                self.report(exc, "the video handler")
                continue
            await self.deliver_video(result, send=send)

    # -- receive mode: a generator function ----------------------------------------------------

    async def _generator_output(self) -> None:
        """Receive mode: iterate `fn(*args)`, pace its output, close the session when it is done.

        Audio is queued ahead by at most OUTPUT_AHEAD_S and played in real time; video is sent at
        the generator's own rate, capped at `fps` (a `VideoStreamHandler`'s, else MAX_FPS).
        """
        video = self.modality == "video"
        next_at = time.monotonic()
        try:
            reply = await self._start(self.handler)
            async for item in self._items(reply):
                if self.session.closed:
                    return
                if item is None:
                    break
                if video:
                    await self.deliver_video(item)
                    next_at = max(next_at + 1 / self.fps, time.monotonic())
                    await self.session_sleep(next_at - time.monotonic())
                    continue
                try:
                    await self.deliver(item)
                except Exception as exc:
                    self.report(exc, "the generator")
                    continue
                await self.session.output_below(OUTPUT_AHEAD_S)
        except Exception as exc:
            self.report(exc, "the generator")
        # Let what is queued play out, then end the session.
        await self.session.output_below(0.001)
        self.session.close()
