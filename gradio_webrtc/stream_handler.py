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
from typing import TYPE_CHECKING, Any, Literal

from ._engine import check_sample_rate

if TYPE_CHECKING:
    import numpy as np

    from .outputs import MessageSink

#: The string the browser holds as the component value before a connection exists; it stands for
#: "the media frame" at index 0 of `latest_args`.
WEBRTC_VALUE = "__webrtc_value__"

AudioFrame = tuple[int, "np.ndarray"]


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
    """

    def __init__(
        self,
        expected_layout: Literal["mono", "stereo"] = "mono",
        output_sample_rate: int = 24000,
        output_frame_size: int = 960,
        input_sample_rate: int = 48000,
    ) -> None:
        if expected_layout not in ("mono", "stereo"):
            raise ValueError(f'expected_layout must be "mono" or "stereo", got {expected_layout!r}')
        for name, rate in (("output_sample_rate", output_sample_rate), ("input_sample_rate", input_sample_rate)):
            if not isinstance(rate, int) or isinstance(rate, bool):
                raise ValueError(f"{name} must be an integer number of Hz, got {rate!r}")
            check_sample_rate(name, rate)  # the engine's bounds, the one place they live
        self.expected_layout = expected_layout
        self.output_sample_rate = output_sample_rate
        self.output_frame_size = output_frame_size
        self.input_sample_rate = input_sample_rate
        self.latest_args: list[Any] = []
        self.args_set = threading.Event()
        self.channel_set = threading.Event()
        self._channel: MessageSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        # Set by the session runner: events on the server loop that wake it (inputs arrived) and
        # the handler's own waits; `_ended` once the session is over, so no wait outlives it.
        self._activity: asyncio.Event | None = None
        self._args_event: asyncio.Event | None = None
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

    def set_args(self, args: list[Any]) -> None:
        """Stores the latest values of the event's extra inputs (called by the component, from any
        thread)."""
        self.latest_args = [WEBRTC_VALUE, *list(args)]
        self.args_set.set()
        self._wake()

    def reset(self) -> None:
        """Forgets that arguments were set, so that the next `wait_for_args` asks again."""
        self.args_set.clear()
        if self._args_event is not None:
            self._args_event.clear()

    def _attach(self, activity: asyncio.Event, loop: asyncio.AbstractEventLoop) -> None:
        """Called by the session runner on the server loop when the session starts."""
        self._loop = loop
        self._activity = activity
        self._args_event = asyncio.Event()
        if self.args_set.is_set():
            self._args_event.set()

    def _session_ended(self) -> None:
        """Called by the session runner when the session is over: every wait returns."""
        self._ended = True
        self.args_set.set()
        if self._args_event is not None:
            self._args_event.set()

    def _wake(self) -> None:
        """Wakes the runner's output lane and `wait_for_args` on the server loop."""
        loop, event, activity = self._loop, self._args_event, self._activity
        if loop is None or event is None or activity is None:
            return

        def wake() -> None:
            event.set()
            activity.set()

        try:
            if asyncio.get_running_loop() is loop:
                wake()
                return
        except RuntimeError:
            pass
        with contextlib.suppress(RuntimeError):  # the loop is closed: nothing is waiting
            loop.call_soon_threadsafe(wake)

    async def wait_for_args_event(self) -> None:
        """Waits until the inputs are set (or the session ended), without holding a thread."""
        if self.args_set.is_set() or self._ended:
            return
        if self._args_event is None:
            await asyncio.to_thread(self.args_set.wait)
            return
        await self._args_event.wait()

    def send_message_sync(self, message: str) -> None:
        """Sends a text message to the browser over the data channel."""
        if self._channel is not None:
            self._channel.send(message)

    async def send_message(self, message: str) -> None:
        self.send_message_sync(message)

    async def fetch_args(self) -> None:
        """Asks the browser for the current values of the extra inputs (a `tick`)."""
        self.send_message_sync("tick")

    async def wait_for_args(self) -> None:
        """Asks for the extra inputs and waits until they arrive (or the session ends)."""
        await self.fetch_args()
        await self.wait_for_args_event()

    def wait_for_args_sync(self) -> None:
        """Blocking `wait_for_args`, for sync handlers (which run on worker threads); returns when
        the inputs arrive or the session ends."""
        self.send_message_sync("tick")
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


AudioEmitType = Any
VideoEmitType = Any
