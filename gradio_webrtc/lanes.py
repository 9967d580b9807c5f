"""The lanes of a session: the tasks that move media between the engine session and a handler.

Each kind of handler gets its lanes (`lanes_for`): the `StreamHandler` family an input lane and an
output lane (and two for video), `ReplyOnPause` one reply lane, a video function one, a receive-mode
generator one. Every lane is woken by the engine (a frame, the output drained, the end); none polls
a timer. They run on the server's event loop and call handler code through their `SessionRunner`
(`call`/`sync`: sync handler code on the worker pool), which also reports what handler code raises
and checks what it emits.
"""

from __future__ import annotations

import inspect
import logging
import time
from typing import TYPE_CHECKING, Any

from .output_checks import describe, is_single_item
from .python_pauses import PythonPauses
from .reply_on_pause import ReplyOnPause
from .stream_handler import (
    AsyncAudioVideoStreamHandler,
    AsyncStreamHandler,
    AudioVideoStreamHandler,
    StreamHandlerBase,
    VideoStreamHandler,
)

if TYPE_CHECKING:
    import asyncio
    from collections.abc import AsyncIterator, Awaitable, Callable

    from .session_runner import SessionRunner

logger = logging.getLogger("gradio_webrtc")

#: Output queued ahead of real time before `emit` is called again. Enough to ride out a slow
#: generator step; small enough that interrupting a reply drops little.
OUTPUT_AHEAD_S = 0.5

_DONE = object()


def lanes_for(runner: SessionRunner) -> list[tuple[str, Awaitable[None]]]:
    """The lanes that run `runner.handler`, each with a name for the log."""
    handler = runner.handler
    if isinstance(handler, ReplyOnPause):
        return [("reply", reply_on_pause(runner))]
    if isinstance(handler, StreamHandlerBase):
        is_async = isinstance(handler, AsyncStreamHandler)
        lanes: list[tuple[str, Awaitable[None]]] = [
            ("audio-in", audio_input(runner, is_async)),
            ("audio-out", audio_output(runner, is_async)),
        ]
        if isinstance(handler, (AudioVideoStreamHandler, AsyncAudioVideoStreamHandler)):
            lanes += [("video-in", video_input(runner, is_async)), ("video-out", video_output(runner, is_async))]
        return lanes
    if callable(handler) and runner.modality == "video" and runner.mode != "receive":
        return [("video", video_function(runner))]
    if callable(handler):
        return [("generator", generator_output(runner))]
    raise TypeError(f"cannot run {describe(handler)} as a stream handler")


async def feed(
    runner: SessionRunner,
    next_item: Callable[[], Awaitable[Any]],
    receive: Callable[..., Any],
    name: str,
    woken: asyncio.Event,
    is_async: bool,
) -> None:
    """An input lane: each item the session gives goes to the handler's `receive` (reported if it
    raises), then the matching output lane is woken."""
    while (item := await next_item()) is not None:
        try:
            await runner.call(receive, item, is_async=is_async)
        except Exception as exc:
            runner.report(exc, name)
        woken.set()


async def audio_input(runner: SessionRunner, is_async: bool) -> None:
    await feed(runner, runner.session.next_audio, runner.handler.receive, "receive()", runner.activity, is_async)


async def audio_output(runner: SessionRunner, is_async: bool) -> None:
    handler = runner.handler
    try:
        await runner.call(handler.start_up, is_async=is_async)
    except Exception as exc:
        runner.report(exc, "start_up()")
    backoff = 0.0
    while not runner.session.closed:
        runner.activity.clear()
        try:
            item = await runner.call(handler.emit, is_async=is_async)
            if item is not None:
                await runner.deliver(item)
            backoff = 0.0
        except Exception as exc:
            runner.report(exc, "emit()")
            # A handler failing on every call must not flood the page or spin a core.
            backoff = min(1.0, backoff * 2 or 0.05)
            await runner.session_sleep(backoff)
            continue
        if item is None:
            await runner.activity.wait()  # the next frame, new inputs, or the end
        else:
            await runner.session.output_below(OUTPUT_AHEAD_S)


async def video_input(runner: SessionRunner, is_async: bool) -> None:
    handler = runner.handler
    await feed(
        runner, runner.session.next_video, handler.video_receive, "video_receive()", runner.video_activity, is_async
    )


async def video_output(runner: SessionRunner, is_async: bool) -> None:
    next_at = time.monotonic()
    while not runner.session.closed:
        runner.video_activity.clear()
        try:
            item = await runner.call(runner.handler.video_emit, is_async=is_async)
        except Exception as exc:
            runner.report(exc, "video_emit()")
            await runner.session_sleep(0.1)
            continue
        if item is None:
            await runner.video_activity.wait()  # the next picture, or the end
            continue
        await runner.deliver_video(item, send=runner.mode != "send")
        # A generator-like video_emit is capped at the handler's fps (a pace, not a poll).
        next_at = max(next_at + 1 / runner.fps, time.monotonic())
        await runner.session_sleep(next_at - time.monotonic())


async def reply_on_pause(runner: SessionRunner) -> None:
    """One reply per utterance; the engine detected the pause and holds the audio until then
    (or, with a model of the app's own, `PythonPauses` did)."""
    handler: ReplyOnPause = runner.handler
    if handler.custom_model is not None:
        runner.python_pauses = PythonPauses(runner.session, handler, runner.sync, runner.report)
        runner.tasks.append(runner.loop.create_task(runner.guard(runner.python_pauses.feed_from_session(), "pause")))
    if handler.startup_fn is not None:
        if handler.needs_args and not await ask_for_args(runner, handler):
            return
        try:
            args = handler.latest_args[1:]
            await play_reply(runner, await start_reply(runner, handler.startup_fn, *args))
        except Exception as exc:
            runner.report(exc, "startup_fn")
    while (utterance := await next_utterance(runner, handler)) is not None:
        if handler.needs_args and not await ask_for_args(runner, handler):
            return
        try:
            reply = await start_reply(runner, handler.call, utterance)
        except Exception as exc:
            runner.report(exc, "the reply function")
            continue
        if reply is not None:  # ReplyOnStopWords: not addressed to us
            await play_reply(runner, reply)


async def start_reply(runner: SessionRunner, fn: Callable[..., Any], *args: Any) -> Any:
    """Calls a reply function: generator functions return at once, plain ones may block."""
    if inspect.isasyncgenfunction(fn) or inspect.isgeneratorfunction(fn):
        return fn(*args)
    return await runner.sync(fn, *args)


async def next_utterance(runner: SessionRunner, handler: ReplyOnPause) -> tuple[int, Any] | None:
    """The next utterance; a streaming handler (`ReplyOnStopWords`) hears it while it is spoken."""
    if runner.python_pauses is not None:
        return await runner.python_pauses.next_utterance()
    if not handler.streams_speech:
        return await runner.session.next_utterance()
    while (speech := await runner.session.next_speech()) is not None:
        kind, rate, audio, offset = speech
        if kind == "utterance":
            return rate, audio
        try:
            await runner.sync(handler.hear, rate, audio, offset)
        except Exception as exc:
            runner.report(exc, "the stop-word detector")
    return None


async def ask_for_args(runner: SessionRunner, handler: StreamHandlerBase) -> bool:
    """Asks the page for the other inputs (a `tick`) and waits; False if the session ended.
    A phone call has no page: its inputs are the last reply's `AdditionalOutputs`."""
    if handler.phone_mode:
        return not runner.session.closed
    handler.reset()
    handler.send_page_event("send_input")
    await handler.wait_for_args_event()
    return not runner.session.closed


async def reply_items(runner: SessionRunner, reply: Any) -> AsyncIterator[Any]:
    """The items of a reply: an async generator on the loop, a sync one on the worker pool."""
    if inspect.isasyncgen(reply):
        async for item in reply:
            yield item
    elif inspect.isgenerator(reply) or (isinstance(reply, (list, tuple)) and not is_single_item(reply)):
        items = iter(reply)
        while (item := await runner.sync(next, items, _DONE)) is not _DONE:
            yield item
    elif reply is not None:
        yield reply


async def play_reply(runner: SessionRunner, reply: Any) -> None:
    """Streams one reply; stops at once if the user starts talking (`can_interrupt`).

    The reply is a turn of the engine's turn state: its audio carries the turn's number and is
    refused once the user talked over it, so an interruption needs no flag here.
    """
    session = runner.session
    session.send_event("response_starting")
    turn = session.begin_reply()
    interrupted = False
    items = reply_items(runner, reply)
    try:
        async for item in items:
            try:
                accepted = await runner.deliver(item, turn)
            except Exception as exc:
                runner.report(exc, "the reply function")
                continue
            if not accepted or not await session.output_below(OUTPUT_AHEAD_S, turn):
                interrupted = not session.closed and runner.closing is None
                break
        else:
            # Let the reply play out before listening again (unless the user cuts in).
            interrupted = not await session.output_below(0.001, turn) and not session.closed
    except Exception as exc:
        runner.report(exc, "the reply function")
    finally:
        await close_reply(runner, reply, items)
        session.end_reply(turn)
    if interrupted:
        logger.info("reply for %s interrupted by the user", session.webrtc_id)


async def close_reply(runner: SessionRunner, reply: Any, items: Any) -> None:
    try:
        await items.aclose()
        if inspect.isasyncgen(reply):
            await reply.aclose()
        elif inspect.isgenerator(reply):
            await runner.sync(reply.close)
    except Exception:
        logger.debug("closing the reply generator failed", exc_info=True)


async def video_function(runner: SessionRunner) -> None:
    """Video send/send-receive: `fn(frame, *inputs)` for the newest picture, as fast as it goes.

    Until the page has sent the inputs (its first `tick`, right after connecting), pictures are
    passed through unchanged, as in the original. A slow `fn` never queues pictures: each call
    gets the newest one and the skipped ones are counted in `stats()["video_frames_skipped"]`.
    """
    fn = runner.handler.callable if isinstance(runner.handler, VideoStreamHandler) else runner.handler
    send = runner.mode == "send-receive"
    is_async = inspect.iscoroutinefunction(fn)
    while (frame := await runner.session.next_video()) is not None:
        args = runner.get_args()
        if args is None:
            if send:
                await runner.deliver_video(frame)
            continue
        try:
            result = await runner.call(fn, frame, *args, is_async=is_async)
        except Exception as exc:
            runner.report(exc, "the video handler")
            continue
        await runner.deliver_video(result, send=send)


async def generator_output(runner: SessionRunner) -> None:
    """Receive mode: iterate `fn(*args)`, pace its output, close the session when it is done.

    Audio is queued ahead by at most OUTPUT_AHEAD_S and played in real time; video is sent at
    the generator's own rate, capped at `fps` (a `VideoStreamHandler`'s, else MAX_FPS).
    """
    video = runner.modality == "video"
    next_at = time.monotonic()
    try:
        reply = await start_reply(runner, runner.handler)
        async for item in reply_items(runner, reply):
            if runner.session.closed:
                return
            if item is None:
                break
            if video:
                await runner.deliver_video(item)
                next_at = max(next_at + 1 / runner.fps, time.monotonic())
                await runner.session_sleep(next_at - time.monotonic())
                continue
            try:
                await runner.deliver(item)
            except Exception as exc:
                runner.report(exc, "the generator")
                continue
            await runner.session.output_below(OUTPUT_AHEAD_S)
    except Exception as exc:
        runner.report(exc, "the generator")
    # Let what is queued play out, then end the session.
    await runner.session.output_below(0.001)
    runner.session.close()
