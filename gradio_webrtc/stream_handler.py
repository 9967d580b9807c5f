"""The stream-handler family: user code that receives media frames and emits media back.

The contract is the original library's: the component calls `copy()` once per connection, feeds
`receive(frame)` with every input frame and calls `emit()` for output, and `shutdown()` when the
connection ends. The engine does the decoding, resampling, framing and pacing in Rust; these classes
only hold the user's logic and the per-connection state (arguments from other components, the data
channel).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from ._engine import check_sample_rate
from .outputs import EventSink
from .protocol import PLAIN_EVENTS

if TYPE_CHECKING:
    import numpy as np

    from .outputs import MessageSink

#: The string the browser holds as the component value before a connection exists; it stands for
#: "the media frame" at index 0 of `latest_args`.
WEBRTC_VALUE = "__webrtc_value__"


AudioFrame = tuple[int, "np.ndarray"]


class Flag:
    """A flag that sync and async handler code can both wait on: `wait()` blocks a worker thread,
    and on the event loop it returns an awaitable (`await self.args_set.wait()`), as fastrtc's
    `asyncio.Event` did. `set()` may be called from any thread."""

    def __init__(self) -> None:
        self._event = threading.Event()
        self._lock = threading.Lock()
        self._waiters: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []

    def is_set(self) -> bool:
        return self._event.is_set()

    def set(self) -> None:
        with self._lock:
            self._event.set()
            waiters, self._waiters = self._waiters, []
        for loop, future in waiters:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting there
                loop.call_soon_threadsafe(_resolve, future)

    def clear(self) -> None:
        self._event.clear()

    def wait(self, timeout: float | None = None) -> Any:
        """Blocks until set (True) or `timeout` (False); on an event loop, an awaitable of that."""
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return self._event.wait(timeout)
        return self._wait_async(loop, timeout)

    async def _wait_async(self, loop: asyncio.AbstractEventLoop, timeout: float | None) -> bool:
        with self._lock:
            if self._event.is_set():
                return True
            future: asyncio.Future[None] = loop.create_future()
            self._waiters.append((loop, future))
        try:
            await asyncio.wait_for(future, timeout)
        except asyncio.TimeoutError:
            return False
        finally:
            with self._lock:
                if (loop, future) in self._waiters:
                    self._waiters.remove((loop, future))
        return True


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


@dataclass(frozen=True)
class SessionControls:
    """What a handler gets of its session when the session runner starts it (`attach_session`)."""

    #: Set to wake the runner's output lane (new inputs, a new frame).
    activity: asyncio.Event
    #: The server's event loop, where the runner's lanes run.
    loop: asyncio.AbstractEventLoop
    #: Drops the audio queued to play (`clear_queue`).
    clear: Callable[[], None] | None = None
    #: Ends the utterance being collected now (`ReplyOnPause.trigger_response`), from any thread.
    end_utterance: Callable[[], None] | None = None


class StreamHandlerBase(ABC):
    """State shared by every handler: audio formats, the latest extra inputs and the data channel.

    Args:
        expected_layout: channel layout of the frames given to `receive` (`"mono"` or `"stereo"`;
            stereo frames are packed, shape `(1, 2 * N)`, as in the original).
        output_sample_rate: nominal rate of the audio the handler emits. Any rate is accepted per
            item; the engine resamples to 48 kHz for Opus.
        output_frame_size: kept for compatibility. Output is always re-framed to 20 ms in the engine
            (the original's 40 ms frames caused choppy audio, fastrtc issue #204).
        input_sample_rate: rate of the frames given to `receive`. Each frame is 20 ms long.
        fps: the most pictures a second `video_emit` is asked for (audio-video handlers).
    """

    def __init__(
        self,
        expected_layout: Literal["mono", "stereo"] = "mono",
        output_sample_rate: int = 24000,
        output_frame_size: int | None = None,
        input_sample_rate: int = 48000,
        fps: int = 30,
    ) -> None:
        if expected_layout not in ("mono", "stereo"):
            raise ValueError(f'expected_layout must be "mono" or "stereo", got {expected_layout!r}')
        for name, rate in (("output_sample_rate", output_sample_rate), ("input_sample_rate", input_sample_rate)):
            if not isinstance(rate, int) or isinstance(rate, bool):
                raise ValueError(f"{name} must be an integer number of Hz, got {rate!r}")
            check_sample_rate(name, rate)  # the engine's bounds, the one place they live
        if not isinstance(fps, (int, float)) or fps <= 0:
            raise ValueError(f"fps must be a positive number, got {fps!r}")
        self.expected_layout = expected_layout
        self.output_sample_rate = output_sample_rate
        # Unused by the engine (it always frames output in 20 ms); None keeps 0.0.31's value.
        self.output_frame_size = 960 if output_frame_size is None else output_frame_size
        self.input_sample_rate = input_sample_rate
        self.fps = fps
        self.latest_args: list[Any] = []
        #: Set once the extra inputs arrived (`set_args`); `wait()` blocks or is awaited.
        self.args_set = Flag()
        self.channel_set = Flag()
        self._channel: MessageSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._phone_mode = False
        # Set by the session runner (`attach_session`): wakes its output lane; drops queued output.
        self._activity: asyncio.Event | None = None
        self._clear: Callable[[], None] | None = None
        self._end_utterance: Callable[[], None] | None = None
        #: `trigger_response()` came before the session started: applied once it has.
        self._end_pending = False
        self._ended = False

    # -- per-connection plumbing -------------------------------------------------------------

    @property
    def channel(self) -> MessageSink | None:
        """The connection's data channel (has `send(text)`), or None before it opened."""
        return self._channel

    def set_channel(self, channel: MessageSink) -> None:
        self._channel = channel
        self.channel_set.set()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server's event loop (the one that accepted the connection)."""
        if self._loop is None:
            raise RuntimeError("the handler is not attached to a connection yet")
        return self._loop

    @property
    def phone_mode(self) -> bool:
        """True for a phone call (the Twilio route): there is no page to ask for inputs, so
        `wait_for_args` returns at once and `ReplyOnPause` feeds a reply's last
        `AdditionalOutputs` back as the next turn's inputs."""
        return self._phone_mode

    @phone_mode.setter
    def phone_mode(self, value: bool) -> None:
        self._phone_mode = bool(value)

    @property
    def clear_queue(self) -> Callable[[], None]:
        """Drops the audio queued to play (e.g. when the handler hears the user interrupt)."""

        def clear() -> None:
            if self._clear is not None:
                self._clear()

        return clear

    def set_args(self, args: list[Any]) -> None:
        """Stores the latest values of the event's extra inputs (called by the component, from any
        thread). `latest_args[0]` stands for the media (the sentinel, or the `WebRTCData` value of
        a textbox component), `latest_args[1:]` are the inputs."""
        from .utils import WebRTCData

        if not isinstance(args, list):
            raise TypeError("args must be a list")
        if args and isinstance(args[0], WebRTCData):
            self.latest_args = list(args)
        else:
            self.latest_args = [WEBRTC_VALUE, *args]
        self.args_set.set()
        self._wake()

    def reset(self) -> None:
        """Forgets that arguments were set, so that the next `wait_for_args` asks again (a phone
        call never asks: there is nothing to ask)."""
        if not self._phone_mode:
            self.args_set.clear()

    def attach_session(self, controls: SessionControls) -> None:
        """Binds this handler to its session (the session runner calls it on the server loop when
        the session starts): the lane to wake, the loop, and the session's controls."""
        self._loop = controls.loop
        self._activity = controls.activity
        self._clear = controls.clear
        self._end_utterance = controls.end_utterance
        if self._phone_mode:
            self.args_set.set()
        if self._end_pending and controls.end_utterance is not None:
            self._end_pending = False
            controls.loop.call_soon(controls.end_utterance)  # once the runner's lanes exist

    def detach_session(self) -> None:
        """The session is over (the session runner calls it): every wait returns, and the
        session's controls are dropped (they reach back into the runner: a reference cycle that
        would keep the session until Python's next full collection)."""
        self._ended = True
        self._clear = None
        self._end_utterance = None
        self.args_set.set()

    def _wake(self) -> None:
        """Wakes the runner's output lane on the server loop."""
        loop, activity = self._loop, self._activity
        if loop is None or activity is None:
            return
        try:
            if asyncio.get_running_loop() is loop:
                activity.set()
                return
        except RuntimeError:
            pass
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is waiting
            loop.call_soon_threadsafe(activity.set)

    async def wait_for_args_event(self) -> None:
        """Waits until the inputs are set (or the session ended), without holding a thread."""
        if self.args_set.is_set() or self._ended:
            return
        await self.args_set.wait()

    def send_message_sync(self, message: str) -> None:
        """Sends a text message to the browser over the data channel."""
        if self._channel is not None:
            self._channel.send(message)

    async def send_message(self, message: str) -> None:
        self.send_message_sync(message)

    def send_page_event(self, kind: Literal["send_input", "fetch_output", "stopword"]) -> None:
        """Sends the page one of its requests (inputs wanted, outputs waiting, a stop word heard),
        worded as the connection's page reads it (0.0.31's plain strings or fastrtc's JSON)."""
        channel = self._channel
        if channel is None:
            return
        if isinstance(channel, EventSink):
            channel.send_event(kind)
        else:  # a stand-in channel (a test's): 0.0.31's wording
            channel.send(PLAIN_EVENTS[kind])

    async def fetch_args(self) -> None:
        """Asks the browser for the current values of the extra inputs (a `tick`)."""
        if not self._phone_mode:
            self.send_page_event("send_input")

    async def wait_for_args(self) -> None:
        """Asks for the extra inputs and waits until they arrive (or the session ends); a phone
        call has no page to ask: it returns at once."""
        if self._phone_mode:
            self.args_set.set()
            return
        await self.fetch_args()
        await self.wait_for_args_event()

    def wait_for_args_sync(self) -> None:
        """Blocking `wait_for_args`, for sync handlers (which run on worker threads); returns when
        the inputs arrive or the session ends."""
        if self._phone_mode:
            self.args_set.set()
            return
        self.send_page_event("send_input")
        self.args_set.wait()

    # -- lifecycle hooks ---------------------------------------------------------------------

    @abstractmethod
    def copy(self) -> StreamHandlerBase:
        """Returns a fresh handler for a new connection (each connection gets its own)."""

    def start_up(self) -> Any:  # noqa: B027 - an optional hook
        """Called once when the connection starts, before any frame (a coroutine for async handlers)."""

    def shutdown(self) -> Any:  # noqa: B027 - an optional hook
        """Called once when the connection ends."""


class StreamHandler(StreamHandlerBase):
    """A handler whose methods are plain functions; they run on a shared pool of worker threads,
    one call at a time for input and one for output per connection.

    `emit()` should not block for long: return None when nothing is ready, and the engine sends
    silence (it asks again when the next input frame arrives or the inputs change, so None costs
    no CPU).
    """

    @abstractmethod
    def receive(self, frame: AudioFrame) -> None:
        """Takes one input frame `(sample_rate, int16 array of shape (1, N))`."""

    @abstractmethod
    def emit(self) -> Any:
        """Returns `(sample_rate, array)`, `AdditionalOutputs`, both as a tuple, or None."""


class AsyncStreamHandler(StreamHandlerBase):
    """A handler whose methods are coroutines; they run on the server's event loop."""

    @abstractmethod
    async def receive(self, frame: AudioFrame) -> None: ...

    @abstractmethod
    async def emit(self) -> Any: ...


class AudioVideoStreamHandler(StreamHandler):
    """A sync handler for audio and video together (`modality="audio-video"`)."""

    @abstractmethod
    def video_receive(self, frame: np.ndarray) -> None: ...

    @abstractmethod
    def video_emit(self) -> Any: ...


class AsyncAudioVideoStreamHandler(AsyncStreamHandler):
    """An async handler for audio and video together (`modality="audio-video"`)."""

    @abstractmethod
    async def video_receive(self, frame: np.ndarray) -> None: ...

    @abstractmethod
    async def video_emit(self) -> Any: ...


@dataclass
class VideoStreamHandler:
    """A video function with its pacing, for `WebRTC.stream` and `Stream` (fastrtc's name).

    Args:
        callable: `fn(frame, *inputs) -> frame` (send modes) or a generator function (receive mode).
        fps: receive mode: pictures a second the generator is asked for (default 30).
        skip_frames: send modes: each call gets the newest picture and the ones that came while the
            function ran are skipped. This is what the engine always does (a slow function never
            builds a backlog), so both values behave the same here.
    """

    callable: Callable[..., Any]
    fps: int = 30
    skip_frames: bool = False

    def __call__(self, *args: Any) -> Any:
        return self.callable(*args)


AudioEmitType = Any
VideoEmitType = Any
