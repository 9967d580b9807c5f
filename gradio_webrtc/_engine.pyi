"""The Rust engine of gradio_webrtc (hand-written stub; checked against the module by mypy.stubtest).

One `Engine` per component (or server) owns its sessions; a `Session` is one peer connection,
identified by the browser's `webrtc_id`. Media is decoded, resampled, framed and paced in Rust; the
Python side only moves numpy frames in and out. Every blocking call releases the GIL.
"""

from typing import Any, Literal, final

import numpy as np

__all__ = [
    "PAGE_EVENTS",
    "Call",
    "DuplicateIdError",
    "EndOfTurnConfig",
    "Engine",
    "EngineClosedError",
    "EngineError",
    "IceConfigurationError",
    "InvalidOfferError",
    "NoUsableMediaError",
    "PauseConfig",
    "Resampler",
    "Session",
    "SessionConfig",
    "SetupError",
    "SmartTurnModel",
    "StreamTransport",
    "__version__",
    "check_sample_rate",
    "check_webrtc_id",
    "pause_defaults",
    "runtime_tasks",
    "shutdown",
    "speech_probabilities",
]

__version__: str

class EngineError(Exception):
    """A request the engine could not serve; `kind` names which (one subclass per kind), `message`
    says why in words for the person using the app."""

    kind: str
    message: str

class InvalidOfferError(EngineError):
    """The offer could not be parsed or applied (`kind` "invalid_offer")."""

class NoUsableMediaError(EngineError):
    """The offer has no media this stream can use (`kind` "no_usable_media")."""

class DuplicateIdError(EngineError):
    """A connection with this webrtc_id exists (`kind` "connection_already_exists")."""

class IceConfigurationError(EngineError):
    """The ICE configuration is malformed (`kind` "invalid_ice_configuration")."""

class SetupError(EngineError):
    """The server could not set up the connection (`kind` "setup_failed")."""

class EngineClosedError(EngineError):
    """The engine is shutting down (`kind` "server_shutting_down")."""

def check_sample_rate(name: str, rate: int) -> None:
    """Raises ValueError naming `name` unless `rate` is within the engine's bounds (4-192 kHz)."""

def check_webrtc_id(webrtc_id: str) -> None:
    """Raises InvalidOfferError unless `webrtc_id` is 1-64 characters of A-Z a-z 0-9 _ - . (the
    engine refuses any other id; the message never repeats the id)."""

def runtime_tasks() -> int:
    """Tasks alive on the engine's tokio runtime, all sessions of all engines together."""

def speech_probabilities(rate: int, audio: np.ndarray) -> tuple[list[float], int]:
    """Speech probability of every 32 ms window of mono float32 `audio` at `rate` Hz (the bundled
    Silero VAD from a fresh state; 8 kHz audio runs its 8 kHz network, other rates are converted to
    16 kHz), and the rate the windows are counted at (8000 or 16000)."""

def pause_defaults() -> dict[str, float]:
    """The pause rule's defaults (seconds; `threshold` a probability): the one copy of them."""

@final
class Resampler:
    """The engine's low-delay mono resampler (windowed sinc, 1.3 ms at 48 kHz), streaming."""

    def __new__(cls, from_rate: int, to_rate: int) -> Resampler: ...
    def process(self, audio: np.ndarray) -> np.ndarray:
        """Int16 samples in (any shape, read in order); the int16 samples ready so far, shape (N,).
        Pieces of any size convert exactly as the whole would."""

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
        config: SessionConfig,
        *,
        ice_servers: dict[str, Any] | None = None,
    ) -> Session:
        """Answers an SDP offer (after ICE gathering completes) with a new session doing what
        `config` says, over `ice_servers` if given (else the engine's).

        Raises:
            EngineError: malformed SDP, a `type` other than "offer", an id already in use, no
                media section the session can use, or a closed engine.
        """
    def open_stream(
        self,
        webrtc_id: str,
        config: SessionConfig,
        *,
        codec: str = "mulaw",
        in_rate: int = 8000,
        out_rate: int = 8000,
    ) -> tuple[Session, StreamTransport]:
        """A session carried by the caller (a WebSocket, a phone call) instead of WebRTC: `codec`
        ("mulaw" or "pcm16") payloads received at `in_rate` Hz and sent at `out_rate` Hz, paced
        at 20 ms by the engine. Connected at once; registered until it closes.

        Raises:
            EngineError: an unknown codec, an id in use, a closed engine.
        """
    async def place_call(
        self,
        call_id: str,
        config: SessionConfig,
        *,
        ice_servers: dict[str, Any] | None = None,
    ) -> tuple[Session, Call]:
        """Places a WebRTC call as the offerer (the test client, playing a browser's part): an Opus
        track paced from the session's output, a VP8 track with `send_video`, the `text` data
        channel. What the server sends arrives as the session's input. Not registered."""
    def session_count(self) -> int:
        """Sessions that are not closed yet."""
    def session_ids(self) -> list[str]: ...
    def get(self, webrtc_id: str) -> Session | None: ...
    def close(self) -> None:
        """Closes every session and refuses new ones."""

#: The kinds of page event `Session.send_event` takes; the page's parser (`protocol.ts`) and the
#: testing client read each of them.
PAGE_EVENTS: list[str]

@final
class SmartTurnModel:
    """Smart Turn v3.2 (compiled into the engine) on ONNX Runtime's shared library at `library`
    (the onnxruntime wheel's `capi/libonnxruntime.so.1.x`, at least 1.20; the first library loaded
    serves the whole process)."""

    def __new__(cls, library: str) -> SmartTurnModel:
        """Loads the library and the model.

        Raises:
            RuntimeError: the library could not be loaded (missing, too old) or the model made.
        """
    def probability(self, rate: int, audio: np.ndarray) -> float:
        """The probability that `audio` (mono, `rate` Hz, int16 or float; the last 8 s count) is a
        finished turn. Releases the GIL (~50 ms on one core).

        Raises:
            ValueError: a rate out of range or an unsupported dtype.
        """

@final
class EndOfTurnConfig:
    """An end-of-turn detector joined to pause detection: asked after `silence` seconds of
    silence; a turn it calls unfinished (probability below `threshold`) is held up to
    `max_silence` seconds. The detector is a `SmartTurnModel` (run without Python) or any callable
    `(rate, int16 array (1, N)) -> probability`, called on one of the engine's worker threads."""

    def __new__(
        cls,
        detector: SmartTurnModel | Any,
        *,
        silence: float = 0.2,
        max_silence: float = 2.0,
        threshold: float = 0.5,
    ) -> EndOfTurnConfig:
        """Raises:
        ValueError: `silence` not positive, `max_silence < silence`, `threshold` outside 0-1,
            or a detector that is neither.
        """
    @property
    def silence(self) -> float: ...
    @property
    def max_silence(self) -> float: ...
    @property
    def threshold(self) -> float: ...

@final
class PauseConfig:
    """The pause detector's options (seconds; `threshold` a probability), checked when made."""

    def __new__(
        cls,
        *,
        audio_chunk_duration: float | None = None,
        started_talking_threshold: float | None = None,
        speech_threshold: float | None = None,
        threshold: float | None = None,
        min_speech_duration: float | None = None,
        speech_pad: float | None = None,
        max_continuous_speech: float | None = None,
        end_of_turn: EndOfTurnConfig | None = None,
    ) -> PauseConfig:
        """Unset options take the engine's defaults (`pause_defaults()`).

        Raises:
            ValueError: a negative or NaN option.
        """
    @property
    def audio_chunk_duration(self) -> float: ...
    @property
    def started_talking_threshold(self) -> float: ...
    @property
    def speech_threshold(self) -> float: ...
    @property
    def threshold(self) -> float: ...
    @property
    def min_speech_duration(self) -> float: ...
    @property
    def speech_pad(self) -> float: ...
    @property
    def max_continuous_speech(self) -> float: ...
    @property
    def end_of_turn(self) -> EndOfTurnConfig | None: ...

@final
class SessionConfig:
    """What one session does (its ICE servers come with the offer), checked when made."""

    def __new__(
        cls,
        *,
        send_audio: bool = True,
        recv_audio: bool = True,
        send_video: bool = False,
        recv_video: bool = False,
        input_sample_rate: int = 48000,
        input_channels: int = 1,
        time_limit: float | None = None,
        pause: PauseConfig | None = None,
        can_interrupt: bool = True,
        stream_speech: bool = False,
        protocol: Literal["0.0.31", "fastrtc"] = "0.0.31",
    ) -> SessionConfig:
        """`pause` turns on pause detection (`ReplyOnPause`): input audio stays in the engine and
        whole utterances come out (`next_utterance`); with `stream_speech`, `next_speech` also
        gives each utterance in ~100 ms pieces while it is spoken. `can_interrupt`: the user
        talking during a reply stops it. `protocol`: how the page reads its events (0.0.31's
        plain `tick`/`change`/`stopword`, or fastrtc's JSON).

        Raises:
            ValueError: a rate outside 4-192 kHz, channels other than 1 or 2, a time limit that
                is not a positive number, an unknown protocol.
        """
    @property
    def send_audio(self) -> bool: ...
    @property
    def recv_audio(self) -> bool: ...
    @property
    def send_video(self) -> bool: ...
    @property
    def recv_video(self) -> bool: ...
    @property
    def input_sample_rate(self) -> int: ...
    @property
    def input_channels(self) -> int: ...
    @property
    def time_limit(self) -> float | None: ...
    @property
    def pause(self) -> PauseConfig | None: ...
    @property
    def can_interrupt(self) -> bool: ...
    @property
    def stream_speech(self) -> bool: ...
    @property
    def protocol(self) -> Literal["0.0.31", "fastrtc"]: ...

@final
class Session:
    """One media session (its transport is a WebRTC peer connection). Every wait is an awaitable
    that returns None/False once the session has ended."""

    @property
    def webrtc_id(self) -> str: ...
    @property
    def answer(self) -> dict[str, str]:
        """`{"sdp": ..., "type": "answer"}`, with every local candidate inside (non-trickle)."""
    @property
    def state(self) -> str:
        """ "connecting", "connected", "disconnected" or "closed"."""
    @property
    def closed(self) -> bool: ...
    @property
    def failed(self) -> bool:
        """True if the session ended (or is ending) because something could not go on."""
    @property
    def close_reason(self) -> str | None:
        """Why the session ended ("closed by peer", "connection lost (ICE failed)", "time limit
        reached", or a failure's reason)."""
    @property
    def close_kind(self) -> str | None:
        """How the session ended, as a stable name: "peer_closed", "peer_left_early",
        "connection_lost", "transport_closed", "never_connected", "time_limit", "duplicate_id",
        "server_shutdown", "server" (the app closed it) or "failed"."""
    @property
    def failure_kind(self) -> str | None:
        """What could not go on, when the session failed: "peer_media" (the peer's media could
        not be decoded), "input_too_fast", "send_media" (the transport or an encoder broke),
        "no_codec" or "server" (`fail()` from the server's side)."""
    @property
    def protocol(self) -> Literal["0.0.31", "fastrtc"]:
        """How this session's page reads its events (`SessionConfig.protocol`)."""
    @property
    def turn(self) -> str:
        """ "listening", "user_speaking" or "replying"."""
    async def next_audio(self) -> tuple[int, np.ndarray] | None:
        """The next input frame, `(rate, int16 array (1, N))`, 20 ms long."""
    async def next_speech(self) -> tuple[str, int, np.ndarray, int] | None:
        """With pause detection and `stream_speech`: the next piece of the utterance being spoken,
        `("partial", rate, int16 (1, n), offset)`, or the whole utterance once the user paused,
        `("utterance", rate, int16 (1, N), 0)`. `offset` is the piece's first sample within the
        utterance: when the reader falls behind, pieces are dropped (never whole utterances) and
        the offsets show the gap."""
    async def next_utterance(self) -> tuple[int, np.ndarray] | None:
        """With pause detection: the next whole utterance, `(rate, int16 (1, N))`."""
    async def next_video(self) -> np.ndarray | None:
        """The newest received picture, `(H, W, 3)` uint8 BGR; pictures that arrive while the
        handler is busy replace each other (the latest wins)."""
    async def next_message(self) -> str | None:
        """The next text message from the browser."""
    def send_audio(
        self, sample_rate: int, audio: np.ndarray, layout: str | None = None, turn: int | None = None
    ) -> bool:
        """Queues audio for the peer: any rate, int16 or float, shapes (1, N), (N,), (2, N), (N, 2).
        The engine resamples, cuts 20 ms frames and sends them in real time. With `turn` (from
        `begin_reply`), returns False and drops the audio once that reply was interrupted.
        Raises ValueError for audio it cannot interpret."""
    def begin_reply(self) -> int:
        """A reply starts: its audio must carry the returned turn number."""
    def end_reply(self, turn: int) -> None:
        """Reply `turn` is over (a no-op if the user already interrupted it)."""
    def reply_current(self, turn: int) -> bool:
        """True while reply `turn` may still play."""
    async def reply_interrupted(self, turn: int) -> bool:
        """Waits until the user interrupts reply `turn` (True) or the session ends (False)."""
    def send_video(self, frame: np.ndarray, bgr: bool = True) -> None:
        """Encodes and sends a picture (blocking; run it off the event loop): `(H, W, 3)` uint8
        (BGR unless `bgr=False`), `(H, W)` grayscale or `(H, W, 4)` with alpha. Any size; the
        stream follows size changes. Raises ValueError for other dtypes or shapes."""
    def output_buffered(self) -> float:
        """Seconds of audio queued and not yet sent."""
    async def output_below(self, seconds: float, turn: int | None = None) -> bool:
        """Waits until less than `seconds` of audio is queued (True); False if the session ended or,
        with `turn`, that reply was interrupted first."""
    def clear_output(self) -> None:
        """Drops the queued output audio."""
    def set_output_budget(self, seconds: float | None) -> None:
        """How much output may stand queued beyond the frame being sent before quiet frames are
        trimmed (default 0: a live stream keeps in step with its input). None never trims: for
        replies buffered ahead on purpose."""
    def send_message(self, text: str) -> None:
        """Sends text on the data channel; held until the channel opens."""
    def send_event(self, kind: str, text: str | None = None) -> None:
        """Sends the page an event of `kind` (one of `PAGE_EVENTS`), worded as this session's page
        reads it: `text` is the message of `error`, `warning` and `end_stream`, the JSON data of
        `update_connection`.

        Raises:
            ValueError: an unknown kind, or `update_connection` data that is not JSON.
        """
    async def wait_closed(self) -> str:
        """Waits until the session has ended and returns the reason."""
    async def add_ice_candidate(self, candidate_json: str) -> None:
        """Adds an ICE candidate the peer trickled after its offer: its `RTCIceCandidate.toJSON()`
        as JSON text. An empty candidate (end of candidates) is accepted. Raises ValueError for a
        malformed one, more than 64, or a connection without ICE."""
    def end_utterance(self) -> None:
        """Ends the utterance being collected now, as if the user had paused: what was heard so
        far (possibly nothing) becomes the next utterance (`ReplyOnPause.trigger_response`)."""
    def user_started_talking(self) -> None:
        """The user started talking, by a pause detector outside the engine: a playing reply is
        interrupted (when the session allows barge-in)."""
    def user_paused(self) -> None:
        """The user stopped talking, by a pause detector outside the engine."""
    async def wait_connected(self) -> bool:
        """Waits until the peer is connected (True: ICE connected, or at once for a stream
        transport) or the session ended first (False)."""
    def close(self, reason: str | None = None) -> None:
        """Ends the session and frees its tasks, sockets and buffers; `reason` (default "closed
        by the server") is its close reason unless it had one already."""
    def fail(self, reason: str) -> None:
        """Ends the session because something could not go on: the page gets
        `{"type": "error", "message": reason}`, then the session closes with that reason."""
    def stats(self) -> dict[str, Any]:
        """Counters: frames in/out and dropped or trimmed on the way (both directions), inbound
        audio (`audio_packets_in`, `audio_padding_packets`, `audio_late_packets`, `packets_lost`,
        `audio_frames_concealed`, `audio_dtx_frames`), output pacing (`late_frames`, `output_gaps`,
        `output_frames_trimmed`), video, streamed speech (`speech_pieces_dropped`,
        `utterances_dropped`), the turn (`turn`, `interrupts`), the end-of-turn model (`turn_checks`,
        `turns_held`, `turn_checks_failed`, `turn_check_micros`), queue depths (`input_queued`,
        `output_buffered`), seconds since the peer last sent anything (`input_idle_s`), state,
        selected candidate types."""

@final
class Call:
    """A call placed with `Engine.place_call`: post `offer` to the server, apply its answer."""

    @property
    def offer(self) -> str:
        """The offer SDP, with every local candidate (non-trickle)."""
    async def apply_answer(self, sdp: str) -> None:
        """Applies the server's answer; the connection then comes up. Raises InvalidOfferError
        for a malformed one."""

@final
class StreamTransport:
    """The caller's end of a stream session: push what arrives, send what `next` gives."""

    def push(self, payload: bytes) -> None:
        """One received payload of the stream's encoding and input rate (any length), decoded on
        the engine's threads. Raises ValueError for a malformed one (an odd pcm16 length), or
        when the peer has outrun the decoder (the session then ends). A peer more than 5 s
        ahead of real time ends its session ("the peer sent audio faster than real time")."""
    def push_media_event(self, text: str) -> bool:
        """A JSON text message: a `media` event (`{"event": "media", "media": {"payload": <base64>}}`)
        is parsed and pushed here (True); anything else is left to the caller (False).
        Raises ValueError for a media event without a valid base64 payload."""
    async def next_event(self, stream_sid: str | None = None) -> tuple[str, str | None] | None:
        """Like `next`, but media comes as the protocol's JSON text, ready to send (with
        `streamSid` if given)."""
    async def next(self) -> tuple[str, bytes | str | None] | None:
        """The next thing to send: `("media", bytes)` (20 ms, paced), `("message", str)` (the side
        channel), `("clear", None)` (the user interrupted a reply: drop buffered audio),
        `("mark", None)` (a talkspurt ended); None once the session has ended."""

def shutdown() -> None:
    """Closes every session of every engine; called at interpreter exit."""
