"""Drives one handler against one engine session: starts its lanes (`lanes.py`), calls its code
(sync code on the shared worker pool, `worker_pool.py`), checks what it emits (`output_checks.py`)
and delivers it, reports what it raises, and cleans up when the session ends.

Everything here is woken by the engine: a frame arrived, the output queue drained, the reply was
interrupted, the session closed. No lane polls a timer. Every handler call runs with
`current_channel` set, so `WebRTCError`/`Warning` reach the right page. A handler that raises or
emits something that is not audio is reported to the page and the log; the session goes on.
Anything the runner itself cannot go on with fails the session (the page gets an error, the
handler `shutdown()`, the slot is freed). The runner talks to a handler through its public
session hooks (`attach_session`, `detach_session`, `set_args`, `send_page_event`) only.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .lanes import OUTPUT_AHEAD_S, lanes_for
from .output_checks import OutputError, audio_item, audio_pieces, describe
from .outputs import (
    AdditionalOutputs,
    CloseStream,
    SessionChannel,
    WebRTCError,
    current_channel,
    report_error,
    split_output,
)
from .reply_on_pause import ReplyOnPause
from .stream_handler import SessionControls, StreamHandlerBase, VideoStreamHandler
from .utils import Context, current_context
from .worker_pool import worker_pool

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._engine import Session
    from .python_pauses import PythonPauses

logger = logging.getLogger("gradio_webrtc")

#: Fastest rate at which generated video (receive mode, `video_emit`) is sent.
MAX_FPS = 30
#: How long a lane still busy in a handler call may take to notice that its session ended.
STOP_GRACE_S = 0.5
#: How long a handler's `shutdown()` may take before the runner stops waiting for it.
SHUTDOWN_S = 10.0
#: What the page hears of a handler's exception when the app does not show errors (`show_error`).
HIDDEN_ERROR = "The handler failed; the server's log has the details."
#: The same handler error is reported to the page (and logged with its traceback) at most once
#: in this many seconds.
REPORT_AGAIN_S = 10.0

__all__ = ["HIDDEN_ERROR", "MAX_FPS", "OUTPUT_AHEAD_S", "SessionRunner"]


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
        websocket: Any = None,
        fps: float | None = None,
    ) -> None:
        self.session = session
        self.modality = modality
        self.mode = mode
        #: The component's latest inputs for a video function (None until the page sent them).
        self.get_args: Callable[[], list[Any] | None] = get_args or (lambda: None)
        self._reported: set[str] = set()
        self._last_reported: dict[str, float] = {}
        self.handler = handler
        self.loop = loop
        self.channel = SessionChannel(session)
        self.context = Context(session.webrtc_id, websocket)
        #: Most pictures a second generated video is sent at.
        own_fps = handler.fps if isinstance(handler, (StreamHandlerBase, VideoStreamHandler)) else None
        self.fps = float(fps or own_fps or MAX_FPS)
        #: Set once the handler yielded `CloseStream`: the session ends after its audio.
        self.closing: asyncio.Task[None] | None = None
        #: The Python pause detector, when `ReplyOnPause(model=...)` brings its own model.
        self.python_pauses: PythonPauses | None = None
        self._on_additional_outputs = on_additional_outputs
        self._show_error = show_error
        #: The lanes (and helper tasks) of the session.
        self.tasks: list[asyncio.Task[Any]] = []
        #: Set to wake the output lane (a frame, new inputs, the end); the video output lane's.
        self.activity = asyncio.Event()
        self.video_activity = asyncio.Event()
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
        if isinstance(handler, StreamHandlerBase):
            handler.set_channel(self.channel)
            handler.attach_session(
                SessionControls(self.activity, self.loop, self.session.clear_output, self._end_utterance)
            )
        if isinstance(handler, ReplyOnPause) or not isinstance(handler, StreamHandlerBase):
            # Replies and receive-mode generators queue audio ahead on purpose: never trim it.
            self.session.set_output_budget(None)
        self.tasks = [self.loop.create_task(self.guard(lane, name)) for name, lane in lanes_for(self)]
        reason = await self.session.wait_closed()
        self.activity.set()
        self.video_activity.set()
        if isinstance(handler, StreamHandlerBase):
            handler.detach_session()
        # Lanes see the end at their next await; one still inside a handler call (a blocking emit,
        # an async emit waiting on its own queue) is cancelled after a moment: the slot is freed
        # and shutdown() runs without waiting for it.
        _, pending = await asyncio.wait(self.tasks, timeout=STOP_GRACE_S)
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
        self.tasks = []
        self._main = None
        self._on_additional_outputs = None
        self.get_args = lambda: None
        self.__dict__.pop("_closed_future", None)

    async def guard(self, lane: Awaitable[None], name: str) -> None:
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
                result = await self.sync(self.handler.shutdown)
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

    async def sync(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Runs a sync handler method on the worker pool with this task's context (the channel)."""
        ctx = contextvars.copy_context()
        return await self.loop.run_in_executor(worker_pool(), ctx.run, fn, *args)

    async def call(self, fn: Callable[..., Any], *args: Any, is_async: bool) -> Any:
        if is_async:
            result = fn(*args)
            return await result if inspect.isawaitable(result) else result
        return await self.sync(fn, *args)

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
            handler.set_args(list(extra.args))
        # The owner of the outputs decides whether the page needs a notice (it paces them).
        notify = self._on_additional_outputs(extra) if self._on_additional_outputs is not None else True
        if notify is not False:
            self.channel.send_event("fetch_output")

    def close_stream(self, message: str) -> None:
        """The handler asked to end the stream (`CloseStream`): the page is told (`end_stream`),
        the audio already queued plays out, then the session closes with `message`."""
        if self.closing is not None or self.session.closed:
            return
        self.session.send_event("end_stream", message)

        async def close() -> None:
            await self.session.output_below(0.001)
            self.session.close(message)

        self.closing = self.loop.create_task(close())

    def _end_utterance(self) -> None:
        """`ReplyOnPause.trigger_response`: the utterance being collected ends now (from any thread)."""
        if self.python_pauses is not None:
            self.loop.call_soon_threadsafe(self.python_pauses.finish_now)
        else:
            self.session.end_utterance()

    def video_of(self, item: Any, *, send: bool = True) -> np.ndarray | None:
        """The picture in a video handler's result (its additional outputs are delivered here)."""
        if self.closing is not None:
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
            await self.sync(self.session.send_video, picture)
        except ValueError as exc:
            self.report_once(str(exc))

    async def deliver(self, item: Any, turn: int | None = None) -> bool:
        """Sends one emitted item: audio to the peer, additional outputs to the component. False
        if the item's reply (`turn`) was interrupted, or the session ended, before all its audio
        was queued.

        Audio longer than `MAX_PIECE_S` goes in pieces, each queued once the output is below
        `OUTPUT_AHEAD_S`: a ten-minute array costs the engine a second of queue, not ten minutes,
        and an interruption or the time limit stops it between pieces."""
        if self.closing is not None:
            return False  # the handler ended the stream: nothing more is sent
        media, extra = split_output(item)
        if media is None:
            self._extra(extra)
            return not isinstance(extra, CloseStream)
        if not isinstance(extra, CloseStream):
            self._extra(extra)
        rate, array, layout = audio_item(media)
        if array.dtype.kind == "f" and not np.isfinite(array).all():
            self.report_once(
                "the handler's audio holds NaN or infinite samples; they are sent as silence "
                "(check the model's output before returning it)"
            )
        pieces = audio_pieces(rate, array, layout)
        for i, piece in enumerate(pieces):
            if i and not await self.session.output_below(OUTPUT_AHEAD_S, turn):
                return False
            try:
                sent = self.session.send_audio(rate, piece, layout, turn)
            except ValueError as exc:  # the engine's word on the array's shape, dtype or rate
                raise OutputError(str(exc)) from None
            if not sent:
                return False
        if isinstance(extra, CloseStream):
            self._extra(extra)  # after its audio: that plays out before the session closes
            return False
        return True

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
