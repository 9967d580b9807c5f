"""The Rust engine of gradio_webrtc (hand-written stub; checked against the module by mypy.stubtest).

One `Engine` per component (or server) owns its sessions; a `Session` is one peer connection,
identified by the browser's `webrtc_id`. Media is decoded, resampled, framed and paced in Rust; the
Python side only moves numpy frames in and out. Every blocking call releases the GIL.
"""

from typing import Any, final

import numpy as np

__all__ = ["Engine", "EngineError", "Session", "__version__", "shutdown"]

__version__: str

class EngineError(Exception):
    """A request the engine could not serve (bad SDP, duplicate id, closed engine...)."""

@final
class Engine:
    """A registry of peer connections with shared settings.

    Args:
        ice_servers: the server peer's ICE configuration, in the browser's `RTCConfiguration`
            shape: `{"iceServers": [{"urls": ..., "username": ..., "credential": ...}],
            "iceTransportPolicy": "all" | "relay"}`. None means host candidates only.
        bind_addresses: local IPs to gather host candidates on (default: every interface
            including loopback).
        ice_timeouts: `(disconnected, failed, keepalive)` seconds: no packets for `disconnected`
            marks a peer disconnected, `failed` more ends its session (default 5, 10, 2).
        gather_timeout: longest wait for ICE gathering before answering (default 5 s).
    """

    def __new__(
        cls,
        ice_servers: dict[str, Any] | None = None,
        bind_addresses: list[str] | None = None,
        ice_timeouts: tuple[float, float, float] | None = None,
        gather_timeout: float | None = None,
    ) -> Engine: ...
    async def accept_offer(
        self,
        sdp: str,
        type: str,  # noqa: A002 - the wire field name
        webrtc_id: str,
        *,
        send_audio: bool = True,
        recv_audio: bool = True,
        send_video: bool = False,
        recv_video: bool = False,
        input_sample_rate: int = 48000,
        input_channels: int = 1,
        time_limit: float | None = None,
        ice_servers: dict[str, Any] | None = None,
        pause: dict[str, float] | None = None,
        can_interrupt: bool = True,
        stream_speech: bool = False,
    ) -> Session:
        """Answers an SDP offer (after ICE gathering completes) and returns the new session.

        `pause` turns on pause detection (`ReplyOnPause`): keys `audio_chunk_duration`,
        `started_talking_threshold`, `speech_threshold`, `threshold`, `min_speech_duration`,
        `speech_pad`, `max_continuous_speech` (seconds; threshold a probability). Input audio then
        stays in the engine and `recv_utterance` returns whole utterances. With `stream_speech`,
        `recv_speech` also gives each utterance in ~100 ms pieces while it is spoken.

        Raises:
            EngineError: malformed SDP, a `type` other than "offer", an id already in use, no
                media section the session can use, or a closed engine.
        """
    def session_count(self) -> int:
        """Sessions that are not closed yet."""
    def session_ids(self) -> list[str]: ...
    def get(self, webrtc_id: str) -> Session | None: ...
    def close(self) -> None:
        """Closes every session and refuses new ones."""

@final
class Session:
    """One peer connection and its media pipelines."""

    @property
    def webrtc_id(self) -> str: ...
    @property
    def answer(self) -> dict[str, str]:
        """`{"sdp": ..., "type": "answer"}`, with every local candidate inside (non-trickle)."""
    @property
    def state(self) -> str:
        """ "new", "connecting", "connected", "disconnected", "failed" or "closed"."""
    @property
    def closed(self) -> bool: ...
    @property
    def close_reason(self) -> str | None:
        """Why the session ended ("closed by peer", "ice failed", "time limit", "closed")."""
    def recv_audio(self, timeout: float | None = None) -> tuple[int, np.ndarray] | None:
        """Blocks until the next input frame: `(rate, int16 array (1, N))`, 20 ms long.

        Returns None once the session has ended. Raises TimeoutError after `timeout` seconds.
        """
    async def next_audio(self) -> tuple[int, np.ndarray] | None:
        """Awaitable `recv_audio`."""
    def send_audio(self, sample_rate: int, audio: np.ndarray, layout: str | None = None) -> None:
        """Queues audio for the peer: any rate, int16 or float, shapes (1, N), (N,), (2, N), (N, 2).

        The engine resamples to 48 kHz, cuts 20 ms Opus frames and sends them in real time.
        Raises ValueError for audio it cannot interpret.
        """
    def recv_utterance(self, timeout: float | None = None) -> tuple[int, np.ndarray] | None:
        """With pause detection: blocks until the user finished an utterance, `(rate, int16 (1, N))`.

        None once the session has ended. Raises TimeoutError after `timeout` seconds.
        """
    def recv_speech(self, timeout: float | None = None) -> tuple[str, int, np.ndarray, int] | None:
        """With pause detection and `stream_speech`: the next piece of the utterance being spoken,
        `("partial", rate, int16 (1, n), offset)`, or the whole utterance once the user paused,
        `("utterance", rate, int16 (1, N), 0)`.

        `offset` is the piece's first sample within the utterance: when the reader falls behind,
        pieces are dropped (never whole utterances) and the offsets show the gap. None once the
        session has ended. Raises TimeoutError after `timeout` seconds.
        """
    async def next_utterance(self) -> tuple[int, np.ndarray] | None:
        """Awaitable `recv_utterance`."""
    def set_replying(self, replying: bool) -> None:
        """Marks a reply as running: input is ignored, or interrupts it (`can_interrupt`)."""
    def take_interrupt(self) -> bool:
        """True (once) if the user started talking during the current reply; its audio was dropped."""
    def recv_video(self, timeout: float | None = None) -> np.ndarray | None:
        """Blocks until a received picture newer than the last one taken: `(H, W, 3)` uint8 BGR.

        Pictures that arrive while the handler is busy replace each other (the latest wins), so
        a slow handler never builds up latency. None once the session has ended.
        """
    async def next_video(self) -> np.ndarray | None:
        """Awaitable `recv_video`."""
    def send_video(self, frame: np.ndarray, bgr: bool = True) -> None:
        """Encodes and sends a picture: `(H, W, 3)` uint8 (BGR unless `bgr=False`), `(H, W)`
        grayscale or `(H, W, 4)` with alpha. Any size; the stream follows size changes.

        Raises ValueError for other dtypes or shapes.
        """
    def output_buffered(self) -> float:
        """Seconds of audio queued and not yet sent."""
    def wait_output_below(self, seconds: float, timeout: float | None = None) -> bool:
        """Blocks until less than `seconds` of audio is queued; False if the session ended."""
    async def output_below(self, seconds: float) -> bool:
        """Awaitable `wait_output_below`."""
    def clear_output(self) -> None:
        """Drops the queued output audio (used to interrupt a reply)."""
    def set_output_budget(self, seconds: float | None) -> None:
        """How much output may stand queued beyond the frame being sent before quiet frames are
        trimmed (default 0: a live stream keeps in step with its input). None never trims: for
        replies buffered ahead on purpose."""
    def send_message(self, text: str) -> None:
        """Sends text on the data channel; held until the channel opens."""
    def recv_message(self, timeout: float | None = None) -> str | None:
        """Blocks until the browser sends a text message; None once the session has ended."""
    async def next_message(self) -> str | None: ...
    async def wait_closed(self) -> str:
        """Waits until the session has ended and returns the reason."""
    def close(self) -> None:
        """Closes the peer connection and frees its tasks, sockets and buffers."""
    def stats(self) -> dict[str, Any]:
        """Counters: frames in/out, underruns, drops (frames, streamed speech pieces), inbound audio
        (`audio_packets_in`, `audio_padding_packets`, `audio_late_packets`, `packets_lost`,
        `audio_frames_concealed`), output pacing (`late_frames`, `output_gaps`,
        `output_frames_trimmed`), state, selected candidate types."""

def shutdown() -> None:
    """Closes every session of every engine; called at interpreter exit."""
