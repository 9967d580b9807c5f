"""Drives one handler against one engine session: input frames in, emitted items out.

Sync handlers get two worker threads per connection (one blocked in `recv_audio`, one calling
`emit`); async handlers get two tasks on the server loop. Every handler method runs with
`current_channel` set, so `WebRTCError`/`Warning` reach the right page. A handler that raises or
emits something that is not audio is reported to the page and the log; the session goes on.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import json
import logging
import threading
import time
from typing import TYPE_CHECKING, Any

import numpy as np

from .outputs import AdditionalOutputs, WebRTCError, current_channel, report_error, split_output
from .reply_on_pause import ReplyOnPause
from .stream_handler import (
    AsyncAudioVideoStreamHandler,
    AsyncStreamHandler,
    AudioVideoStreamHandler,
    StreamHandler,
    StreamHandlerBase,
)

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._engine import Session

logger = logging.getLogger("gradio_webrtc")

#: Output queued ahead of real time before `emit` is called again. Enough to ride out a slow
#: generator step; small enough that interrupting a reply drops little.
OUTPUT_AHEAD_S = 0.5
#: How long an idle `emit` loop waits for the next input frame before asking again.
IDLE_WAIT_S = 0.02
#: Fastest rate at which generated video (receive mode, `video_emit`) is sent.
MAX_FPS = 30


class SessionChannel:
    """The data channel of a session, shaped like the original's (`send(text)`)."""

    def __init__(self, session: Session) -> None:
        self._session = session

    def send(self, message: str) -> None:
        self._session.send_message(message)

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


def describe(item: Any) -> str:
    """A short description of a wrongly typed item for error messages."""
    if isinstance(item, np.ndarray):
        return f"an array of shape {item.shape} and dtype {item.dtype}"
    if isinstance(item, tuple):
        return "a tuple of (" + ", ".join(type(x).__name__ for x in item) + ")"
    return f"a {type(item).__name__}"


class SessionRunner:
    """Runs `handler` for `session` until the session ends.

    Args:
        session: the engine session.
        handler: a per-connection handler (already `copy()`-ed), or for receive mode a generator.
        loop: the server's event loop (async handlers run there).
        on_additional_outputs: called with every `AdditionalOutputs` the handler yields, in order.
        on_end: called once after the session ended and the handler shut down.
    """

    def __init__(
        self,
        session: Session,
        handler: Any,
        loop: asyncio.AbstractEventLoop,
        on_additional_outputs: Callable[[AdditionalOutputs], None] | None = None,
        on_end: Callable[[str], None] | None = None,
        modality: str = "audio",
        mode: str = "send-receive",
        get_args: Callable[[], list[Any] | None] | None = None,
    ) -> None:
        self.session = session
        self.modality = modality
        self.mode = mode
        self._get_args = get_args or (lambda: None)
        self._reported: set[str] = set()
        self.handler = handler
        self.loop = loop
        self.channel = SessionChannel(session)
        self._on_additional_outputs = on_additional_outputs
        self._on_end = on_end
        self._frame_arrived = threading.Event()
        self._threads: list[threading.Thread] = []
        self._tasks: list[asyncio.Task[Any]] = []
        self.errors = 0

    # -- start / stop ---------------------------------------------------------------------------

    def start(self) -> None:
        """Starts the workers and a watcher that cleans up when the session ends. Call on `loop`."""
        handler = self.handler
        if isinstance(handler, StreamHandlerBase):
            handler._loop = self.loop
            handler.set_channel(self.channel)
        if isinstance(handler, ReplyOnPause) or not isinstance(handler, StreamHandlerBase):
            # Replies and receive-mode generators queue audio ahead on purpose: never trim it.
            self.session.set_output_budget(None)
        if isinstance(handler, ReplyOnPause):
            self._spawn(self._reply_on_pause, "reply")
        elif isinstance(handler, AsyncStreamHandler):
            self._tasks.append(self.loop.create_task(self._async_main()))
            if isinstance(handler, AsyncAudioVideoStreamHandler):
                self._tasks.append(self.loop.create_task(self._async_video()))
        elif isinstance(handler, StreamHandler):
            self._spawn(self._sync_startup_then_output, "output")
            self._spawn(self._sync_input, "input")
            if isinstance(handler, AudioVideoStreamHandler):
                self._spawn(self._video_receive_loop, "video-in")
                self._spawn(self._video_emit_loop, "video-out")
        elif callable(handler) and self.modality == "video" and self.mode != "receive":
            self._spawn(self._video_function, "video")
        elif callable(handler):
            self._spawn(self._generator_output, "generator")
        else:
            raise TypeError(f"cannot run {describe(handler)} as a stream handler")
        self._tasks.append(self.loop.create_task(self._watch()))

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        t = threading.Thread(target=target, name=f"webrtc-{name}-{self.session.webrtc_id}", daemon=True)
        self._threads.append(t)
        t.start()

    async def _watch(self) -> None:
        reason = await self.session.wait_closed()
        self._frame_arrived.set()
        for task in self._tasks:
            if task is not asyncio.current_task():
                task.cancel()
        try:
            result = self.handler.shutdown() if isinstance(self.handler, StreamHandlerBase) else None
            if inspect.isawaitable(result):
                await result
        except Exception:
            logger.exception("shutdown() of the handler for %s raised", self.session.webrtc_id)
        # Threads end on their own: recv_audio returns None and emit loops check `closed`.
        await asyncio.to_thread(self._join_threads, 2.0)
        if self._on_end is not None:
            self._on_end(reason)

    def _join_threads(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        for t in self._threads:
            t.join(max(0.0, deadline - time.monotonic()))
            if t.is_alive():
                logger.warning("%s is still running after the session ended (a blocking emit?)", t.name)

    # -- reporting ------------------------------------------------------------------------------

    def report(self, exc: BaseException, where: str) -> None:
        """Logs a handler failure with its traceback and shows it on the page."""
        self.errors += 1
        logger.error("%s of the handler for %s raised", where, self.session.webrtc_id, exc_info=exc)
        if not isinstance(exc, WebRTCError):  # WebRTCError already sent itself
            report_error(self.channel, f"{type(exc).__name__}: {exc}")

    def report_once(self, message: str) -> None:
        """Reports a per-frame problem once per session, not 30 times a second."""
        if message in self._reported:
            return
        self._reported.add(message)
        self.errors += 1
        logger.error("handler for %s: %s", self.session.webrtc_id, message)
        report_error(self.channel, message)

    def deliver_video(self, item: Any, *, send: bool = True) -> None:
        """Sends a picture (and/or additional outputs) that a video handler returned."""
        media, extra = split_output(item)
        if extra is not None:
            if self._on_additional_outputs is not None:
                self._on_additional_outputs(extra)
            self.channel.send("change")
        if media is None:
            if send and extra is None:
                self.report_once("the video handler returned None; return a frame (a numpy array)")
            return
        if not isinstance(media, np.ndarray):
            self.report_once(
                f"the video handler returned {describe(media)}; expected a uint8 numpy array of shape "
                "(height, width, 3), optionally with AdditionalOutputs"
            )
            return
        if send:
            try:
                self.session.send_video(media)
            except ValueError as exc:
                self.report_once(str(exc))

    def deliver(self, item: Any) -> None:
        """Sends one emitted item: audio to the peer, additional outputs to the component."""
        media, extra = split_output(item)
        if extra is not None:
            if self._on_additional_outputs is not None:
                self._on_additional_outputs(extra)
            self.channel.send("change")
        if media is None:
            return
        if not (isinstance(media, tuple) and len(media) in (2, 3)):
            raise TypeError(
                f"the handler emitted {describe(media)}; expected (sample_rate, numpy array), "
                "optionally with a layout, and/or AdditionalOutputs"
            )
        rate, array, *layout = media
        if not isinstance(array, np.ndarray):
            raise TypeError(f"the audio of an emitted item must be a numpy array, got {describe(array)}")
        if not isinstance(rate, (int, np.integer)):
            raise TypeError(f"the sample rate of an emitted item must be an int, got {describe(rate)}")
        self.session.send_audio(int(rate), array, layout[0] if layout else None)

    # -- sync handlers --------------------------------------------------------------------------

    def _feed(self, recv: Callable[[], Any], consume: Callable[[Any], None], where: str) -> None:
        """Hands every received frame to `consume` until the session ends; failures are reported."""
        current_channel.set(self.channel)
        while (frame := recv()) is not None:
            try:
                consume(frame)
            except Exception as exc:
                self.report(exc, where)
            self._frame_arrived.set()

    def _sync_input(self) -> None:
        self._feed(self.session.recv_audio, self.handler.receive, "receive()")

    def _sync_startup_then_output(self) -> None:
        current_channel.set(self.channel)
        handler: StreamHandler = self.handler
        try:
            handler.start_up()
        except Exception as exc:
            self.report(exc, "start_up()")
        backoff = 0.0
        while not self.session.closed:
            try:
                item = handler.emit()
                if item is not None:
                    self.deliver(item)
                backoff = 0.0
            except Exception as exc:
                self.report(exc, "emit()")
                # A handler failing on every call must not flood the page or spin a core.
                backoff = min(1.0, backoff * 2 or 0.05)
                time.sleep(backoff)
                continue
            if item is None:
                self._frame_arrived.wait(IDLE_WAIT_S)
                self._frame_arrived.clear()
            else:
                self.session.wait_output_below(OUTPUT_AHEAD_S)

    # -- async handlers -------------------------------------------------------------------------

    async def _async_main(self) -> None:
        current_channel.set(self.channel)
        handler: AsyncStreamHandler = self.handler
        try:
            result = handler.start_up()
            if inspect.isawaitable(result):
                await result
        except Exception as exc:
            self.report(exc, "start_up()")
        inputs = asyncio.create_task(self._async_input())
        self._tasks.append(inputs)
        await self._async_output()

    async def _async_input(self) -> None:
        handler: AsyncStreamHandler = self.handler
        while (frame := await self.session.next_audio()) is not None:
            try:
                await handler.receive(frame)
            except Exception as exc:
                self.report(exc, "receive()")
            self._frame_arrived.set()

    async def _async_output(self) -> None:
        handler: AsyncStreamHandler = self.handler
        backoff = 0.0
        while not self.session.closed:
            try:
                item = await handler.emit()
                if item is not None:
                    self.deliver(item)
                backoff = 0.0
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.report(exc, "emit()")
                backoff = min(1.0, backoff * 2 or 0.05)
                await asyncio.sleep(backoff)
                continue
            if item is None:
                await asyncio.sleep(IDLE_WAIT_S)
            else:
                await self.session.output_below(OUTPUT_AHEAD_S)

    # -- ReplyOnPause ------------------------------------------------------------------------------

    def _reply_on_pause(self) -> None:
        """One reply per utterance; the engine detected the pause and holds the audio until then."""
        current_channel.set(self.channel)
        handler: ReplyOnPause = self.handler
        if handler.startup_fn is not None:
            if handler.needs_args and not self._ask_for_args(handler):
                return
            try:
                self._play(handler.startup_fn(*handler.latest_args[1:]))
            except Exception as exc:
                self.report(exc, "startup_fn")
        while (utterance := self._next_utterance(handler)) is not None:
            if handler.needs_args and not self._ask_for_args(handler):
                return
            try:
                reply = handler.call(utterance)
            except Exception as exc:
                self.report(exc, "the reply function")
                continue
            if reply is not None:  # ReplyOnStopWords: not addressed to us
                self._play(reply)

    def _next_utterance(self, handler: ReplyOnPause) -> tuple[int, Any] | None:
        """The next utterance; a streaming handler (`ReplyOnStopWords`) hears it while it is spoken."""
        if not handler.streams_speech:
            return self.session.recv_utterance()
        while (speech := self.session.recv_speech()) is not None:
            kind, rate, audio, offset = speech
            if kind == "utterance":
                return rate, audio
            try:
                handler.hear(rate, audio, offset)
            except Exception as exc:
                self.report(exc, "the stop-word detector")
        return None

    def _ask_for_args(self, handler: StreamHandlerBase) -> bool:
        """Asks the page for the other inputs (a `tick`) and waits; False if the session ended."""
        handler.reset()
        handler.send_message_sync("tick")
        while not handler.args_set.wait(0.1):
            if self.session.closed:
                return False
        return True

    def _items(self, reply: Any) -> Any:
        """Iterates a sync or async generator (the async one is advanced on the server loop)."""
        if inspect.isasyncgen(reply):
            while True:
                try:
                    yield asyncio.run_coroutine_threadsafe(reply.__anext__(), self.loop).result()
                except StopAsyncIteration:
                    return
        elif inspect.isgenerator(reply) or (isinstance(reply, (list, tuple)) and not is_single_item(reply)):
            yield from reply
        elif reply is not None:
            yield reply

    def _play(self, reply: Any) -> None:
        """Streams one reply; stops at once if the user starts talking (`can_interrupt`)."""
        session = self.session
        session.send_message(json.dumps({"type": "log", "data": "response_starting"}))
        session.set_replying(True)
        interrupted = False
        try:
            for item in self._items(reply):
                if session.closed or (interrupted := session.take_interrupt()):
                    break
                try:
                    self.deliver(item)
                except Exception as exc:
                    self.report(exc, "the reply function")
                    continue
                while session.output_buffered() >= OUTPUT_AHEAD_S and not session.closed:
                    if interrupted := session.take_interrupt():
                        break
                    self._wait_below(OUTPUT_AHEAD_S, 0.05)
                if interrupted:
                    break
            # Let the reply play out before listening again (unless the user cut in).
            while not interrupted and not session.closed and session.output_buffered() > 0:
                interrupted = session.take_interrupt()
                self._wait_below(0.001, 0.05)
        except Exception as exc:
            self.report(exc, "the reply function")
        finally:
            self._close(reply)
            if interrupted:
                session.clear_output()
                logger.info("reply for %s interrupted by the user", session.webrtc_id)
            session.set_replying(False)

    def _wait_below(self, seconds: float, timeout: float) -> None:
        """Waits up to `timeout` for the queued output to fall below `seconds` (polling helper)."""
        with contextlib.suppress(TimeoutError):
            self.session.wait_output_below(seconds, timeout=timeout)

    def _close(self, reply: Any) -> None:
        try:
            if inspect.isasyncgen(reply):
                asyncio.run_coroutine_threadsafe(reply.aclose(), self.loop).result(1.0)
            elif inspect.isgenerator(reply):
                reply.close()
        except Exception:
            logger.debug("closing the reply generator failed", exc_info=True)

    # -- video -------------------------------------------------------------------------------------

    def _video_function(self) -> None:
        """Video send/send-receive: `fn(frame, *inputs)` for the newest picture, as fast as it goes.

        Until the page has sent the inputs (its first `tick`, right after connecting), pictures are
        passed through unchanged, as in the original. A slow `fn` never queues pictures: each call
        gets the newest one and the skipped ones are counted in `stats()["video_frames_skipped"]`.
        """
        current_channel.set(self.channel)
        fn = self.handler
        send = self.mode == "send-receive"
        while (frame := self.session.recv_video()) is not None:
            args = self._get_args()
            if args is None:
                if send:
                    self.session.send_video(frame)
                continue
            try:
                result = fn(frame, *args)
            except Exception as exc:
                self.report(exc, "the video handler")
                continue
            self.deliver_video(result, send=send)

    def _video_receive_loop(self) -> None:
        self._feed(self.session.recv_video, self.handler.video_receive, "video_receive()")

    def _video_emit_loop(self) -> None:
        current_channel.set(self.channel)
        handler: AudioVideoStreamHandler = self.handler
        next_at = time.monotonic()
        while not self.session.closed:
            try:
                item = handler.video_emit()
            except Exception as exc:
                self.report(exc, "video_emit()")
                time.sleep(0.1)
                continue
            if item is None:
                time.sleep(0.01)
                continue
            self.deliver_video(item, send=self.mode != "send")
            next_at = max(next_at + 1 / MAX_FPS, time.monotonic())
            time.sleep(max(0.0, next_at - time.monotonic()))

    async def _async_video(self) -> None:
        handler: AsyncAudioVideoStreamHandler = self.handler

        async def receive() -> None:
            while (frame := await self.session.next_video()) is not None:
                try:
                    await handler.video_receive(frame)
                except Exception as exc:
                    self.report(exc, "video_receive()")

        self._tasks.append(asyncio.create_task(receive()))
        while not self.session.closed:
            try:
                item = await handler.video_emit()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.report(exc, "video_emit()")
                await asyncio.sleep(0.1)
                continue
            if item is None:
                await asyncio.sleep(0.01)
                continue
            await asyncio.to_thread(self.deliver_video, item, send=self.mode != "send")
            await asyncio.sleep(1 / MAX_FPS)

    # -- receive mode: a generator function ----------------------------------------------------

    def _generator_output(self) -> None:
        """Receive mode: iterate `fn(*args)` in this thread, pace its output, close when done.

        Audio is queued ahead by at most OUTPUT_AHEAD_S and played in real time; video is sent at
        the generator's own rate, capped at MAX_FPS.
        """
        current_channel.set(self.channel)
        video = self.modality == "video"
        next_at = time.monotonic()
        try:
            for item in self.handler():
                if self.session.closed:
                    return
                if item is None:
                    break
                if video:
                    self.deliver_video(item)
                    next_at = max(next_at + 1 / MAX_FPS, time.monotonic())
                    time.sleep(max(0.0, next_at - time.monotonic()))
                    continue
                try:
                    self.deliver(item)
                except Exception as exc:
                    self.report(exc, "the generator")
                    continue
                self.session.wait_output_below(OUTPUT_AHEAD_S)
        except Exception as exc:
            self.report(exc, "the generator")
        # Let what is queued play out, then end the session.
        self.session.wait_output_below(0.001)
        self.session.close()
