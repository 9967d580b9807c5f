"""Test a voice or video app in pytest, no browser: `connect(demo)` and talk to it.

    from gradio_webrtc.testing import connect

    async def test_the_parrot_answers(demo):
        async with connect(demo, component="Conversation") as call:
            await call.say("tests/data/question.wav")
            reply = await call.reply(timeout=10)
            assert reply.duration > 0.5
            assert call.additional_outputs

`connect` launches the Blocks on a free local port (or uses the URL of a running app), signals
exactly as the page does (the component's `offer` server function, then the `tick` and
`state_change` events through Gradio's queue) and connects a real WebRTC peer run by this
package's Rust engine, in the offerer's role a browser plays: no aiortc, no browser. It speaks the
wire protocol of gradio_webrtc 0.0.31 and fastrtc 0.0.34 too, so it tests apps on those libraries
as well (migrating, or comparing).

Audio goes out paced in real time (WebRTC media is real time) and comes back as 48 kHz mono
int16, as handlers see it; pictures are BGR `(H, W, 3)` uint8 arrays, as in handlers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import socket
import time
import uuid
import wave
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from gradio_client.utils import apply_diff

from .._engine import Engine, SessionConfig

__all__ = ["Call", "NeverArrivedError", "Reply", "connect"]

logger = logging.getLogger("gradio_webrtc.testing")

RATE = 48000
FRAME_S = 0.02


class NeverArrivedError(AssertionError):
    """A wait of the test client timed out; the message says what never arrived."""


@dataclass
class Reply:
    """Audio the app sent back: `(rate, array)` like a handler's frames, mono int16."""

    rate: int
    audio: np.ndarray
    started_at: float

    @property
    def duration(self) -> float:
        return self.audio.shape[-1] / self.rate

    def __iter__(self) -> Any:
        return iter((self.rate, self.audio))


@dataclass
class _Received:
    frames: list[np.ndarray] = field(default_factory=list)
    times: list[float] = field(default_factory=list)
    arrived: asyncio.Event = field(default_factory=asyncio.Event)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _load_wav(path: str | Path) -> tuple[int, np.ndarray]:
    with wave.open(str(path)) as w:
        if w.getsampwidth() != 2:
            raise ValueError(f"{path}: only 16-bit PCM WAV files are supported")
        audio = np.frombuffer(w.readframes(w.getnframes()), "<i2").reshape(-1, w.getnchannels())
        return w.getframerate(), audio.mean(axis=1).astype(np.int16)


class _GradioApi:
    """The page's half of the protocol: the component's server functions and the queue."""

    def __init__(self, url: str, component: Any) -> None:
        import httpx

        self.url = url.rstrip("/")
        self.http = httpx.AsyncClient(timeout=60)
        self.session_hash = uuid.uuid4().hex[:11]
        self.config: dict[str, Any] = {}
        self.component_hint = component
        self.pending: dict[str, asyncio.Queue[dict[str, Any]]] = {}
        self.reader: asyncio.Task[None] | None = None

    async def load(self) -> None:
        response = await self.http.get(f"{self.url}/config")
        response.raise_for_status()
        self.config = response.json()
        hint = self.component_hint
        webrtcs = [c for c in self.config["components"] if c.get("type", "").lower() == "webrtc"]
        if hint is not None and not isinstance(hint, str):
            webrtcs = [c for c in webrtcs if c["id"] == getattr(hint, "_id", None)]
        elif isinstance(hint, str):
            webrtcs = [
                c for c in webrtcs if hint in (c.get("props", {}).get("label"), c.get("props", {}).get("elem_id"))
            ]
        if len(webrtcs) != 1:
            names = [c.get("props", {}).get("label") or c.get("props", {}).get("elem_id") for c in webrtcs]
            raise LookupError(
                f"component={hint!r} matches {len(webrtcs)} WebRTC components of this app ({names}); "
                "pass its label, elem_id or the component itself"
            )
        self.component = webrtcs[0]
        self.props = self.component.get("props", {})
        self.values = {c["id"]: c.get("props", {}).get("value") for c in self.config["components"]}

    def dependency(self, event: str) -> tuple[int, dict[str, Any]] | None:
        for i, dep in enumerate(self.config["dependencies"]):
            if [self.component["id"], event] in [list(t) for t in dep.get("targets", [])]:
                return int(dep.get("id", i)), dep
        return None

    def trigger_dependency(self) -> tuple[int, dict[str, Any]] | None:
        """Receive mode: the event that starts the stream (its output is the component)."""
        for i, dep in enumerate(self.config["dependencies"]):
            if self.component["id"] in dep.get("outputs", []) and not any(
                t[0] == self.component["id"] for t in dep.get("targets", [])
            ):
                return int(dep.get("id", i)), dep
        return None

    async def offer(self, body: dict[str, Any]) -> dict[str, Any]:
        response = await self.http.post(
            f"{self.url}/gradio_api/component_server/",
            json={
                "data": body,
                "component_id": self.component["id"],
                "fn_name": "offer",
                "session_hash": self.session_hash,
            },
        )
        response.raise_for_status()
        return response.json()

    async def run(
        self,
        fn_index: int,
        data: list[Any],
        trigger: int | None = None,
        on_output: Callable[[list[Any]], None] | None = None,
    ) -> list[Any]:
        """Runs one event through the queue, as the page does; returns its final outputs. A
        generator event (fastrtc's additional outputs stream) calls `on_output` with each of its
        intermediate outputs, diffs applied as Gradio's client does."""
        response = await self.http.post(
            f"{self.url}/gradio_api/queue/join",
            json={
                "data": data,
                "event_data": None,
                "fn_index": fn_index,
                "trigger_id": trigger,
                "session_hash": self.session_hash,
            },
        )
        response.raise_for_status()
        event_id = response.json()["event_id"]
        messages: asyncio.Queue[dict[str, Any]] = asyncio.Queue()
        self.pending[event_id] = messages
        if self.reader is None:
            self.reader = asyncio.create_task(self._read_queue())
        try:
            latest: list[Any] | None = None
            while True:
                msg = await messages.get()
                kind = msg.get("msg")
                if kind in ("process_generating", "process_streaming"):
                    chunk = list((msg.get("output") or {}).get("data") or [])
                    if latest is not None:  # after the first, each output comes as a diff
                        chunk = [apply_diff(old, diff) for old, diff in zip(latest, chunk, strict=False)]
                    latest = chunk
                    if on_output is not None:
                        on_output(latest)
                elif kind == "process_completed":
                    if not msg.get("success", True):
                        raise RuntimeError(f"the app's event failed: {msg.get('output')}")
                    return list((msg.get("output") or {}).get("data") or latest or [])
        finally:
            self.pending.pop(event_id, None)

    async def _read_queue(self) -> None:
        """The session's one event stream (Gradio sends every event's messages on it), handed out
        by event id; reopened while events are pending, as Gradio closes it when none are."""
        try:
            while self.pending:
                params = {"session_hash": self.session_hash}
                async with self.http.stream("GET", f"{self.url}/gradio_api/queue/data", params=params) as s:
                    async for line in s.aiter_lines():
                        if not line.startswith("data:"):
                            continue
                        msg = json.loads(line[5:])
                        if msg.get("msg") == "close_stream":
                            break
                        waiting = self.pending.get(msg.get("event_id"))
                        if waiting is not None:
                            waiting.put_nowait(msg)
        except Exception as exc:  # the app went away: every waiting event fails with the reason
            for waiting in self.pending.values():
                waiting.put_nowait({"msg": "process_completed", "success": False, "output": repr(exc)})
        finally:
            self.reader = None

    async def close(self) -> None:
        if self.reader is not None:
            self.reader.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.reader
        await self.http.aclose()


#: What each page event's text means to the page: 0.0.31's plain words and fastrtc's JSON types,
#: normalised to one name (the engine's `PAGE_EVENTS` words them; `test_page_events` checks both).
_PLAIN_KINDS = {"tick": "send_input", "change": "fetch_output", "stopword": "stopword"}
_JSON_KINDS = ("send_input", "fetch_output", "stopword", "log", "error", "warning", "end_stream", "update_connection")


def read_page_event(raw: str) -> tuple[str, str]:
    """Reads one side-channel message as the page does: `(kind, text)`, where kind is one of
    `send_input`, `fetch_output`, `stopword`, `log`, `error`, `warning`, `end_stream`,
    `update_connection`, or `other` (kept, never an error), and text its message or data."""
    if raw in _PLAIN_KINDS:
        return _PLAIN_KINDS[raw], ""
    try:
        message = json.loads(raw)
    except ValueError:
        return "other", raw
    if not isinstance(message, dict) or message.get("type") not in _JSON_KINDS:
        return "other", raw
    body = message.get("message", message.get("data"))
    text = body if isinstance(body, str) else "" if body is None or body == [] else json.dumps(body)
    return str(message["type"]), text


class Call:
    """One call to an app's `WebRTC` component. Use it through `connect`."""

    def __init__(self, api: _GradioApi, inputs: list[Any] | None, ice: dict[str, Any] | None) -> None:
        self._api = api
        self._inputs = None if inputs is None else list(inputs)
        self._ice = ice
        self.webrtc_id = uuid.uuid4().hex[:12]
        #: Data-channel messages in order: dicts for JSON ones, strings for the rest.
        self.messages: list[Any] = []
        #: The outputs of every `AdditionalOutputs` round (the values the app's outputs got).
        self.additional_outputs: list[Any] = []
        #: Error messages the app sent to the page.
        self.errors: list[str] = []
        self._received = _Received()
        self._video: asyncio.Queue[np.ndarray] = asyncio.Queue()
        self._tasks: list[asyncio.Task[Any]] = []
        self._message_arrived = asyncio.Event()
        self._outputs_wanted = 0
        self._outputs_task: asyncio.Task[None] | None = None
        self.session: Any = None
        # Where the next `reply()` looks from: the start of the last thing said (a reply may
        # begin while its trailing silence is still being sent), or the end of the last reply.
        self._said_at = 0
        self._replied_until = 0

    @property
    def _session(self) -> Any:
        if self.session is None:
            raise RuntimeError("not connected yet: a receive-mode call starts with `await call.trigger()`")
        return self.session

    def _receiving(self) -> Any:
        if self.mode == "send":
            raise RuntimeError("a send-mode stream sends no media back to the page")
        return self._session

    @property
    def closed(self) -> bool:
        """Whether the media session has ended (hang-up, time limit, error)."""
        return self.session is not None and bool(self.session.closed)

    @property
    def close_reason(self) -> str | None:
        """Why the session ended (None while it is open)."""
        return None if self.session is None else self.session.close_reason

    @property
    def mode(self) -> str:
        return str(self._api.props.get("mode", "send-receive"))

    @property
    def modality(self) -> str:
        return str(self._api.props.get("modality", "video"))

    async def _open(self) -> None:
        api = self._api
        local = "127.0.0.1" in api.url or "localhost" in api.url
        self._engine = Engine(bind_addresses=["127.0.0.1"] if local else None)
        audio = self.modality in ("audio", "audio-video")
        video = self.modality in ("video", "audio-video")
        # The page's side of the call: it sends what the server receives, and the reverse.
        config = SessionConfig(
            send_audio=audio and self.mode != "receive",
            recv_audio=audio and self.mode != "send",
            send_video=video and self.mode != "receive",
            recv_video=video and self.mode != "send",
        )
        self.session, self._call = await self._engine.place_call(self.webrtc_id, config, ice_servers=self._ice)
        answer = await api.offer({"sdp": self._call.offer, "type": "offer", "webrtc_id": self.webrtc_id})
        if answer.get("type") != "answer":
            self.session.close()
            raise ConnectionRefusedError(f"the app refused the connection: {answer.get('meta', answer)}")
        await self._call.apply_answer(answer["sdp"])
        self._tasks = [
            asyncio.create_task(self._read_messages()),
            asyncio.create_task(self._read_audio()),
            asyncio.create_task(self._read_video()),
        ]
        deadline = time.monotonic() + 20
        while self.session.state != "connected":
            if self.session.closed or time.monotonic() > deadline:
                raise NeverArrivedError(f"the WebRTC connection never came up ({self.session.close_reason})")
            await asyncio.sleep(0.02)
        # As the page: video streams and receive mode push the inputs once connected.
        if self.modality != "audio" or self.mode == "receive":
            await self._tick()

    async def close(self) -> None:
        if self.session is not None:
            self.session.close()
        if self._outputs_task is not None:
            self._tasks.append(self._outputs_task)
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        if getattr(self, "_engine", None) is not None:
            self._engine.close()

    # -- the page's side channel -------------------------------------------------------------------

    async def _read_messages(self) -> None:
        while (raw := await self.session.next_message()) is not None:
            try:
                message: Any = json.loads(raw)
            except ValueError:
                message = raw
            self.messages.append(message)
            self._message_arrived.set()
            kind, text = read_page_event(raw)
            if kind == "send_input":
                await self._tick()
            elif kind == "fetch_output":
                self._outputs_wanted += 1
                if self._outputs_task is None or self._outputs_task.done():
                    self._outputs_task = asyncio.create_task(self._fetch_outputs())
            elif kind == "error":
                self.errors.append(text)

    async def _tick(self) -> None:
        dependency = self._api.dependency("tick")
        if dependency is None:
            return
        fn_index, dep = dependency
        # Unless set, as the page: the other inputs' current values.
        current = [self._api.values.get(i) for i in dep.get("inputs", [])[1:]]
        others = current if self._inputs is None else self._inputs
        await self._api.run(fn_index, [self.webrtc_id, *others], self._api.component["id"])

    async def _fetch_outputs(self) -> None:
        """Runs the app's `on_additional_outputs` event once per "change" message, in order, off
        the message loop: on fastrtc it is one run that streams every output until the call ends."""
        try:
            while self._outputs_wanted:
                self._outputs_wanted -= 1
                await self._outputs()
        except Exception as exc:
            self.errors.append(f"the additional outputs event failed: {exc}")
            self._message_arrived.set()

    async def _outputs(self) -> None:
        dependency = self._api.dependency("state_change")
        if dependency is None:
            return
        fn_index, dep = dependency
        streamed = False

        def take(outputs: list[Any]) -> None:
            nonlocal streamed
            streamed = True
            for component_id, value in zip(dep.get("outputs", []), outputs, strict=False):
                self._api.values[component_id] = value
            self.additional_outputs.append(outputs[0] if len(outputs) == 1 else outputs)
            self._message_arrived.set()

        inputs = [self.webrtc_id] + [self._api.values.get(i) for i in dep.get("inputs", [])[1:]]
        outputs = await self._api.run(fn_index, inputs, self._api.component["id"], on_output=take)
        if not streamed:
            take(outputs)

    async def set_inputs(self, *values: Any) -> None:
        """The values of the event's other inputs, pushed as the page does when they change."""
        self._inputs = list(values)
        await self._tick()

    async def trigger(self) -> None:
        """Receive mode: what the page does when the stream's trigger fires. The trigger event runs
        through the queue (it sets the component to "start the stream"), then the page connects
        and sends the inputs; so does this."""
        if self.mode != "receive":
            raise RuntimeError(f"trigger() starts a receive-mode stream; this component is {self.mode!r}")
        if self.session is not None:
            raise RuntimeError("this call was already triggered; connect again for another stream")
        dependency = self._api.trigger_dependency()
        if dependency is None:
            raise LookupError("no event of this app starts the stream (the `trigger=` of `.stream`)")
        fn_index, dep = dependency
        inputs = [self._api.values.get(i) for i in dep.get("inputs", [])]
        await self._api.run(fn_index, inputs, (dep.get("targets") or [[None]])[0][0])
        await self._open()

    async def wait_for_message(self, predicate: Any, timeout: float = 10.0) -> Any:
        """The first data-channel message for which `predicate(message)` is true."""
        deadline = time.monotonic() + timeout
        seen = 0
        while True:
            for message in self.messages[seen:]:
                if predicate(message):
                    return message
            seen = len(self.messages)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise NeverArrivedError(f"no matching message within {timeout} s; got {self.messages}")
            self._message_arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._message_arrived.wait(), remaining)

    # -- audio -------------------------------------------------------------------------------------

    async def _read_audio(self) -> None:
        received = self._received
        while (frame := await self.session.next_audio()) is not None:
            received.frames.append(frame[1].reshape(-1))
            received.times.append(time.monotonic())
            received.arrived.set()

    async def send_audio(self, rate: int, audio: np.ndarray, realtime: bool = True) -> None:
        """Sends audio (any rate, int16 or float, a handler's shapes) and waits until it has gone
        out, in real time: WebRTC media plays in real time whatever the sender does, so
        `realtime=False` only skips the wait."""
        if self.mode == "receive":
            raise RuntimeError("a receive-mode stream takes no audio from the page")
        if np.abs(np.asarray(audio, np.float64)).max(initial=0) > 0:
            self._said_at = len(self._received.frames)
        self._session.send_audio(int(rate), np.asarray(audio))
        if realtime:
            await self.flush()

    async def flush(self) -> None:
        """Waits until all the audio sent so far has gone out."""
        await self._session.output_below(0.001)

    async def say(self, path: str | Path) -> None:
        """Speaks a 16-bit WAV file (any rate, mono or stereo), in real time."""
        rate, audio = _load_wav(path)
        await self.send_audio(rate, audio)

    async def silence(self, seconds: float) -> None:
        """Sends `seconds` of silence, in real time."""
        await self.send_audio(RATE, np.zeros(int(RATE * seconds), np.int16))

    async def recv_audio(self, seconds: float) -> tuple[int, np.ndarray]:
        """The audio that arrives in the next `seconds`, `(48000, int16 array)`."""
        self._receiving()
        start = len(self._received.frames)
        await asyncio.sleep(seconds)
        frames = self._received.frames[start:]
        return RATE, np.concatenate(frames) if frames else np.zeros(0, np.int16)

    async def reply(self, timeout: float = 10.0, gap: float = 0.6, level: float = 0.02) -> Reply:
        """The next reply: audio from when it starts (a frame above `level`, as a fraction of full
        scale) until `gap` seconds of silence follow. It is looked for from the start of the last
        thing said (a reply can begin while the silence after your words is still going out), or
        from the end of the previous reply. Raises `NeverArrivedError` if none starts within
        `timeout` seconds."""
        self._receiving()
        received = self._received
        threshold = level * 32768
        deadline = time.monotonic() + timeout
        index = max(self._said_at, self._replied_until)
        start = last_loud = None
        quiet = 0

        def finish(end: int) -> Reply:
            assert start is not None
            self._replied_until = end
            return Reply(RATE, np.concatenate(received.frames[start:end]), received.times[start])

        while True:
            while index < len(received.frames):
                frame = received.frames[index]
                if float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) > threshold:
                    start = index if start is None else start
                    last_loud, quiet = index, 0
                elif start is not None:
                    quiet += 1
                    if quiet * FRAME_S >= gap:
                        return finish(index - quiet + 1)
                index += 1
            # Some servers (gradio_webrtc 0.0.31) send no packets at all between replies: a gap
            # in arrivals is silence too.
            if last_loud is not None and time.monotonic() - received.times[last_loud] >= gap + FRAME_S:
                return finish(last_loud + 1)
            if start is None and time.monotonic() > deadline:
                heard = ", ".join(str(m) for m in self.messages[-5:]) or "no messages"
                raise NeverArrivedError(f"no reply audio within {timeout} s (last messages: {heard})")
            if self._session.closed:
                if start is not None:
                    return finish(len(received.frames))
                raise NeverArrivedError(f"the session ended ({self._session.close_reason}) before a reply")
            received.arrived.clear()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(received.arrived.wait(), FRAME_S)

    # -- video -------------------------------------------------------------------------------------

    async def _read_video(self) -> None:
        while (picture := await self.session.next_video()) is not None:
            if self._video.qsize() > 30:
                self._video.get_nowait()
            self._video.put_nowait(picture)

    async def send_video(self, frame: np.ndarray) -> None:
        """Sends one picture, BGR `(H, W, 3)` uint8 as handlers produce them."""
        if self.mode == "receive":
            raise RuntimeError("a receive-mode stream takes no video from the page")
        await asyncio.to_thread(self._session.send_video, frame)

    async def recv_video(self, timeout: float = 10.0) -> np.ndarray:
        """The next picture the app sent back, BGR `(H, W, 3)` uint8."""
        self._receiving()
        try:
            return await asyncio.wait_for(self._video.get(), timeout)
        except asyncio.TimeoutError:
            raise NeverArrivedError(f"no video frame within {timeout} s") from None


class _Launched:
    """A Blocks launched on a free local port for the duration of a test."""

    def __init__(self, blocks: Any) -> None:
        self.blocks = blocks
        self.port = _free_port()

    def __enter__(self) -> str:
        self.blocks.launch(
            server_name="127.0.0.1", server_port=self.port, prevent_thread_lock=True, quiet=True, show_error=True
        )
        return f"http://127.0.0.1:{self.port}"

    def __exit__(self, *exc: Any) -> None:
        self.blocks.close()


@contextlib.asynccontextmanager
async def connect(
    app_or_url: Any,
    component: Any = None,
    *,
    inputs: list[Any] | None = None,
    ice: dict[str, Any] | None = None,
) -> AsyncIterator[Call]:
    """Connects to an app's `WebRTC` component as a browser page would; yields a `Call`.

    Args:
        app_or_url: a `gr.Blocks` (launched on a free local port until the block exits) or the URL
            of a running app.
        component: the `WebRTC` component: its label, its elem_id or the instance; may be omitted
            when the app has one.
        inputs: the values of the stream's other inputs (sent on `tick`, as the page does);
            by default their current values in the app, updated by `AdditionalOutputs`.
        ice: the client's ICE configuration (`RTCConfiguration` shape), e.g. to relay through TURN.
    """
    launched = None if isinstance(app_or_url, str) else _Launched(app_or_url)
    url = app_or_url if launched is None else launched.__enter__()
    api = _GradioApi(url, component)
    call = Call(api, inputs, ice)
    try:
        await api.load()
        if call.mode != "receive":  # a receive-mode page connects when the trigger fires
            await call._open()
        yield call
    finally:
        await call.close()
        await api.close()
        if launched is not None:
            launched.__exit__(None, None, None)
