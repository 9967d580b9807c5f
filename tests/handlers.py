"""Small handlers the tests run against the engine."""

from __future__ import annotations

import collections
from typing import Any

import numpy as np

from gradio_webrtc import AdditionalOutputs, AsyncStreamHandler, AudioVideoStreamHandler, StreamHandler


class Echo(StreamHandler):
    """Returns every frame it receives."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kwargs = kwargs
        self.frames: collections.deque[tuple[int, np.ndarray]] = collections.deque()
        self.received = 0
        self.shut_down = False

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        self.received += 1
        self.frames.append(frame)

    def emit(self) -> Any:
        return self.frames.popleft() if self.frames else None

    def copy(self) -> Echo:
        return type(self)(**self.kwargs)

    def shutdown(self) -> None:
        self.shut_down = True


class AsyncEcho(AsyncStreamHandler):
    def __init__(self) -> None:
        super().__init__()
        self.frames: collections.deque[tuple[int, np.ndarray]] = collections.deque()

    async def receive(self, frame: tuple[int, np.ndarray]) -> None:
        self.frames.append(frame)

    async def emit(self) -> Any:
        return self.frames.popleft() if self.frames else None

    def copy(self) -> AsyncEcho:
        return AsyncEcho()


def tone_item(shape: str, hz: float = 440.0, seconds: float = 0.1) -> tuple[Any, ...]:
    """One emitted item of a tone in the given array convention."""
    if shape == "int16 (1, N)":
        rate = 24000
        t = np.arange(int(rate * seconds)) / rate
        return rate, (0.5 * 32767 * np.sin(2 * np.pi * hz * t)).astype(np.int16).reshape(1, -1)
    if shape == "float32 (N,)":
        rate = 16000
        t = np.arange(int(rate * seconds)) / rate
        return rate, (0.5 * np.sin(2 * np.pi * hz * t)).astype(np.float32)
    if shape == "stereo float32 (2, N) at 24 kHz":
        rate = 24000
        t = np.arange(int(rate * seconds)) / rate
        left = 0.5 * np.sin(2 * np.pi * hz * t)
        return rate, np.stack([left, left]).astype(np.float32), "stereo"
    raise ValueError(shape)


class ToneSource(StreamHandler):
    """Ignores its input and emits a continuous tone in one array convention, paced by the engine."""

    def __init__(self, shape: str = "int16 (1, N)", hz: float = 440.0) -> None:
        super().__init__()
        self.shape, self.hz = shape, hz

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        pass

    def emit(self) -> Any:
        return tone_item(self.shape, self.hz)

    def copy(self) -> ToneSource:
        return ToneSource(self.shape, self.hz)


class Faulty(StreamHandler):
    """Raises, or emits garbage, on the first emits after audio arrives; then echoes."""

    def __init__(self, fault: str) -> None:
        super().__init__()
        self.fault = fault
        self.inner = Echo()
        self.faults_left = 1

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        self.inner.receive(frame)

    def emit(self) -> Any:
        if self.inner.received < 10 or not self.inner.frames:
            return None
        if self.faults_left:
            self.faults_left -= 1
            if self.fault == "raise":
                raise RuntimeError("model exploded")
            if self.fault == "string":
                return "this is not audio"
            if self.fault == "dtype":
                return 24000, np.zeros((1, 480), dtype=np.uint8)
            if self.fault == "shape":
                return 24000, np.zeros((3, 3, 3), dtype=np.int16)
        return self.inner.emit()

    def copy(self) -> Faulty:
        return Faulty(self.fault)


class WithOutputs(Echo):
    """Echoes, and yields an AdditionalOutputs every 25 frames."""

    def emit(self) -> Any:
        item = super().emit()
        if item is not None and self.received % 25 == 0:
            return item, AdditionalOutputs(self.received)
        return item

    def copy(self) -> WithOutputs:
        return WithOutputs()


class FlipEcho(AudioVideoStreamHandler):
    """Both tracks through one handler: audio echoed in order, the newest picture flipped."""

    def __init__(self) -> None:
        super().__init__()
        self.audio: list[tuple[int, np.ndarray]] = []
        self.video: list[np.ndarray] = []

    def receive(self, frame: tuple[int, np.ndarray]) -> None:
        self.audio.append(frame)

    def emit(self) -> Any:
        return self.audio.pop(0) if self.audio else None

    def video_receive(self, frame: np.ndarray) -> None:
        self.video.append(np.ascontiguousarray(frame[::-1]))

    def video_emit(self) -> Any:
        return self.video.pop() if self.video else None

    def copy(self) -> FlipEcho:
        return FlipEcho()
