"""Pause detection in Python, for `ReplyOnPause(model=...)` with a model of the app's own.

The engine's rule (Silero in Rust, a sliding window over every 32 ms) needs the engine's model.
A model that only offers `vad((rate, audio), options) -> (speech seconds, regions)` gets
fastrtc's rule instead: the audio is cut into back-to-back chunks of `audio_chunk_duration`, the
model scores each one (on a worker thread), the user starts talking at the first chunk with more
than `started_talking_threshold` seconds of speech, and the utterance ends at the first chunk with
less than `speech_threshold` (or at `max_continuous_speech_s`). The turn is kept in the engine's
turn state as for its own detector, so barge-in and numbered replies behave the same.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from ._engine import Session
    from .reply_on_pause import ReplyOnPause

logger = logging.getLogger("gradio_webrtc")


class PythonPauses:
    """fastrtc's pause rule over a `PauseDetectionModel`, fed with the session's frames.

    Args:
        session: the engine session (its frames in; the turn and the page messages out).
        handler: the `ReplyOnPause` whose `model`, `algo_options` and `model_options` are used.
        run: runs a sync call off the event loop (the session runner's worker pool).
        report: reports a failure of the model once (the runner's `report`).
    """

    def __init__(
        self,
        session: Session,
        handler: ReplyOnPause,
        run: Callable[..., Awaitable[Any]],
        report: Callable[[BaseException, str], None],
    ) -> None:
        self.session = session
        self.handler = handler
        self.model = handler.custom_model
        self.run = run
        self.report = report
        self.utterances: asyncio.Queue[tuple[int, np.ndarray] | None] = asyncio.Queue()
        self._chunk: list[np.ndarray] = []
        self._chunked = 0
        self._speech: list[np.ndarray] = []
        self._spoken = 0
        self._talking = False
        self._rate = handler.input_sample_rate

    async def feed_from_session(self) -> None:
        """Reads frames until the session ends; then tells the reader (None)."""
        try:
            while (frame := await self.session.next_audio()) is not None:
                rate, audio = frame
                if self.session.turn == "replying" and not self.handler.can_interrupt:
                    continue  # the user is not heard during a reply, as with the engine's rule
                await self.feed(int(rate), np.asarray(audio).reshape(-1))
        finally:
            self.utterances.put_nowait(None)

    async def feed(self, rate: int, samples: np.ndarray) -> None:
        a = self.handler.algo_options
        self._rate = rate
        self._chunk.append(samples)
        self._chunked += len(samples)
        if self._chunked < a.audio_chunk_duration * rate:
            return
        chunk = np.concatenate(self._chunk)
        self._chunk, self._chunked = [], 0
        try:
            speech, _ = await self.run(self.model.vad, (rate, chunk), self.handler.model_options)  # type: ignore[union-attr]
        except Exception as exc:
            self.report(exc, "the pause detection model")
            return
        if not self._talking and speech > a.started_talking_threshold:
            self._talking = True
            self.session.send_event("started_talking")
            self.session.user_started_talking()  # barge-in, when a reply is playing
        if not self._talking:
            return
        self._speech.append(chunk)
        self._spoken += len(chunk)
        if speech < a.speech_threshold or self._spoken >= a.max_continuous_speech_s * rate:
            self.finish_now()

    def finish_now(self) -> None:
        """The utterance ends here (a pause, or `trigger_response`), with what was collected."""
        audio = np.concatenate(self._speech) if self._speech else np.zeros(0, np.int16)
        self._speech, self._spoken, self._talking = [], 0, False
        self.session.user_paused()
        self.session.send_event("pause_detected")
        self.utterances.put_nowait((self._rate, audio.astype(np.int16, copy=False).reshape(1, -1)))

    async def next_utterance(self) -> tuple[int, np.ndarray] | None:
        return await self.utterances.get()
