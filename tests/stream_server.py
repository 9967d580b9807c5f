"""A `Stream` served by uvicorn in a thread, and a fastrtc-protocol WebSocket client, for tests.

μ-law is coded here with an independent numpy implementation of G.711 (ITU-T G.711).
"""

from __future__ import annotations

import asyncio
import base64
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import websockets

from gradio_webrtc import Stream


def ulaw_decode(data: bytes) -> np.ndarray:
    """G.711 μ-law to float in [-1, 1] (ITU-T G.711, independent of the engine's codec)."""
    u = ~np.frombuffer(data, np.uint8)
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = ((mantissa.astype(np.int32) << 3) + 0x84) << exponent
    return np.where(sign != 0, -(magnitude - 0x84), magnitude - 0x84).astype(np.float32) / 32768.0


def ulaw_encode(x: np.ndarray) -> bytes:
    """Float in [-1, 1] to G.711 μ-law."""
    s = np.clip(np.round(x * 32767), -32768, 32767).astype(np.int32)
    sign = np.where(s < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(s), 32635) + 0x84
    exponent = np.clip(np.floor(np.log2(magnitude)).astype(np.int32) - 7, 0, 7)
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    return (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()


def tone(hz: float, seconds: float, rate: int, amplitude: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * hz * t)).astype(np.float32)


def dominant_hz(x: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / rate)[int(np.argmax(spectrum))])


class Server:
    """A FastAPI app with `stream` mounted (and the app's own routes, `extra(app, stream)`), under
    uvicorn in a thread."""

    def __init__(self, stream: Stream, extra: Any = None, **mount: Any) -> None:
        import uvicorn
        from fastapi import FastAPI

        app = FastAPI()
        stream.mount(app, **mount)
        if extra is not None:
            extra(app, stream)
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            self.port = s.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=self.port, log_level="warning"))
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        while not self.server.started:
            time.sleep(0.02)
        self.stream = stream
        self.http = f"http://127.0.0.1:{self.port}"
        self.ws = f"ws://127.0.0.1:{self.port}"

    def close(self) -> None:
        self.stream.connections.close()
        self.server.should_exit = True
        self.thread.join(10)


class Client:
    """A fastrtc-protocol WebSocket client: sends μ-law in real time, keeps what comes back."""

    def __init__(self, ws: Any, rate: int) -> None:
        self.ws = ws
        self.rate = rate
        self.media: list[tuple[float, bytes]] = []
        self.messages: list[Any] = []
        self.closed = asyncio.Event()

    async def receive(self) -> None:
        try:
            async for raw in self.ws:
                message = json.loads(raw)
                if message.get("event") == "media":
                    self.media.append((time.monotonic(), base64.b64decode(message["media"]["payload"])))
                else:
                    self.messages.append(message)
        except websockets.ConnectionClosed:
            pass
        self.closed.set()

    async def send(self, audio: np.ndarray, realtime: bool = True) -> None:
        chunk = self.rate // 50
        start = time.monotonic()
        for i in range(0, len(audio), chunk):
            payload = base64.b64encode(ulaw_encode(audio[i : i + chunk])).decode()
            await self.ws.send(json.dumps({"event": "media", "media": {"payload": payload}}))
            if realtime:
                await asyncio.sleep(max(0.0, start + (i + chunk) / self.rate - time.monotonic()))

    def audio(self) -> np.ndarray:
        return ulaw_decode(b"".join(p for _, p in self.media))


async def open_client(server: Server, stream_id: str, rate: int) -> tuple[Client, asyncio.Task[None]]:
    ws = await websockets.connect(f"{server.ws}/websocket/offer")
    await ws.send(json.dumps({"event": "start", "websocket_id": stream_id}))
    client = Client(ws, rate)
    return client, asyncio.create_task(client.receive())


async def wait_for(predicate: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met"
        await asyncio.sleep(0.05)


def read_first_event(url: str, events: list[str], headers: dict[str, str] | None = None) -> None:
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as r:
        for line in r:
            if line.startswith(b"data: "):
                events.append(line[6:].decode().strip())
                return


def post_json(url: str, body: Any, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read() or b"null")


class TwilioCall:
    """A caller through Twilio Media Streams: `connected`, `start`, then 20 ms μ-law `media`
    events at 8 kHz, as Twilio sends them (twilio.com/docs/voice/media-streams/websocket-messages)."""

    def __init__(self, ws: Any, sid: str) -> None:
        self.ws, self.sid = ws, sid
        self.received: list[dict[str, Any]] = []
        self.n = 0
        self.reader = asyncio.create_task(self._read())

    @classmethod
    async def dial(
        cls, server: Server, sid: str = "MZ" + "0" * 32, headers: dict[str, str] | None = None
    ) -> TwilioCall:
        ws = await websockets.connect(f"{server.ws}/telephone/handler", additional_headers=headers or {})
        call = cls(ws, sid)
        await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
        start = {"streamSid": sid, "callSid": "CA1", "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000}}
        await ws.send(json.dumps({"event": "start", "sequenceNumber": "1", "start": start, "streamSid": sid}))
        return call

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                self.received.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    async def say(self, audio: np.ndarray, trailing_silence: float = 1.0) -> None:
        """Sends float audio at 8 kHz in real time, then silence."""
        audio = np.concatenate([audio, np.zeros(int(8000 * trailing_silence), np.float32)])
        start = time.monotonic()
        for i in range(0, len(audio), 160):
            chunk = np.pad(audio[i : i + 160], (0, max(0, 160 - len(audio[i : i + 160]))))
            self.n += 1
            media = {"track": "inbound", "chunk": str(self.n), "payload": base64.b64encode(ulaw_encode(chunk)).decode()}
            await self.ws.send(json.dumps({"event": "media", "media": media, "streamSid": self.sid}))
            await asyncio.sleep(max(0.0, start + (i + 160) / 8000 - time.monotonic()))

    async def hang_up(self) -> None:
        await self.ws.send(json.dumps({"event": "stop", "streamSid": self.sid}))
        await asyncio.wait_for(self.reader, 5)
