"""`Stream` over WebSockets and phone calls, with a real WebSocket client against a real server.

The client speaks fastrtc's `/websocket/offer` protocol (μ-law in JSON `media` events) or Twilio
Media Streams, exactly as those clients do; the server is a `Stream` mounted on FastAPI under
uvicorn. μ-law is decoded here with an independent numpy implementation of G.711.
"""

from __future__ import annotations

import asyncio
import base64
import json
import threading
import urllib.error
import urllib.request
from typing import Any

import numpy as np
import pytest
import websockets
from fastapi import Request
from fastapi.responses import StreamingResponse
from handlers import Echo
from speech import load
from stream_server import dominant_hz, open_client, post_json, read_first_event, tone, ulaw_encode, wait_for

from gradio_webrtc import AdditionalOutputs, ReplyOnPause, Stream

pytestmark = pytest.mark.usefixtures("no_leaks")


async def test_echo_both_ways_paced_in_real_time(serve):
    server = serve(Stream(Echo(input_sample_rate=16000, output_sample_rate=8000), modality="audio"))
    client, task = await open_client(server, "ws-echo", 16000)
    await client.send(tone(440, 1.5, 16000))
    await wait_for(lambda: len(client.media) >= 70)
    await client.ws.send(json.dumps({"event": "stop"}))
    await asyncio.wait_for(client.closed.wait(), 5)
    audio = client.audio()
    assert dominant_hz(audio[800:], 8000) == pytest.approx(440, abs=10)
    assert all(len(p) == 160 for _, p in client.media), "20 ms of 8 kHz μ-law per message"
    # Paced by the engine: the 20 ms messages arrive 20 ms apart, not in bursts.
    gaps = np.diff([t for t, _ in client.media[10:60]])
    assert abs(float(np.median(gaps)) - 0.02) < 0.003 and float(np.percentile(gaps, 95)) < 0.035, gaps
    await wait_for(lambda: len(server.stream.connections) == 0, 5)
    task.cancel()


async def test_reply_on_pause_answers_each_utterance_over_a_websocket(serve):
    calls = []

    def answer(audio):
        calls.append(audio[1].shape[1] / audio[0])
        yield AdditionalOutputs(f"heard {len(calls)}")
        for _ in range(5):
            yield 24000, (0.4 * np.sin(2 * np.pi * 660 * np.arange(2400) / 24000)).astype(np.float32)

    server = serve(Stream(ReplyOnPause(answer, input_sample_rate=16000), modality="audio"))
    client, task = await open_client(server, "ws-reply", 16000)
    speech = load("two_sentences", 16000).astype(np.float32) / 32768.0
    await client.send(np.concatenate([speech, np.zeros(16000, np.float32)]))
    await wait_for(lambda: len(calls) == 2, 20)
    await wait_for(lambda: len(client.media) > 40, 5)
    logs = [m.get("data") for m in client.messages if m.get("type") == "log"]
    assert logs.count("pause_detected") == 2 and "response_starting" in logs
    assert any(m.get("type") == "fetch_output" for m in client.messages), "additional outputs are announced"
    assert dominant_hz(client.audio()[:4000], 24000) == pytest.approx(660, abs=15)
    await client.ws.close()
    task.cancel()


def fastrtc_style_routes(app: Any, stream: Stream) -> None:
    """`/input_hook` and `/outputs` as fastrtc's guides have an app write them after `mount`."""

    @app.post("/input_hook")
    async def input_hook(request: Request) -> dict[str, str]:
        body = await request.json()
        stream.set_input(body["webrtc_id"], *body["inputs"])
        return {"status": "ok"}

    @app.get("/outputs")
    async def outputs(webrtc_id: str) -> StreamingResponse:
        async def events() -> Any:
            async for output in stream.output_stream(webrtc_id):
                yield f"event: output\ndata: {json.dumps(list(output.args))}\n\n"

        return StreamingResponse(events(), media_type="text/event-stream")


@pytest.mark.parametrize("routes", ["the app's own", "io_routes"])
async def test_inputs_through_a_hook_and_outputs_as_server_sent_events(serve, routes):
    """fastrtc's way (the app defines `/input_hook` and `/outputs` with `set_input` and
    `output_stream`), and this package's own routes (`mount(app, io_routes=True)`)."""
    import gradio as gr

    seen = []

    def answer(audio, name):
        seen.append(name)
        yield AdditionalOutputs(f"hello {name}", len(seen))

    stream = Stream(
        ReplyOnPause(answer, input_sample_rate=16000),
        modality="audio",
        additional_inputs=[gr.Textbox(label="name")],
        concurrency_limit=2,
    )
    if routes == "io_routes":
        server = serve(stream, io_routes=True)
        hook, outputs = "/gradio_webrtc/input_hook", "/gradio_webrtc/outputs"
    else:
        server = serve(stream, extra=fastrtc_style_routes)
        hook, outputs = "/input_hook", "/outputs"
    client, task = await open_client(server, "ws-inputs", 16000)
    events: list[str] = []
    reader = threading.Thread(target=read_first_event, args=(f"{server.http}{outputs}?webrtc_id=ws-inputs", events))
    reader.start()
    sender = asyncio.create_task(client.send(load("one_sentence", 16000).astype(np.float32) / 32768.0))
    await wait_for(lambda: any(m.get("type") == "send_input" for m in client.messages), 20)
    status, answer_body = await asyncio.to_thread(
        post_json, f"{server.http}{hook}", {"webrtc_id": "ws-inputs", "inputs": ["Ada"]}
    )
    assert status == 200, answer_body
    await wait_for(lambda: seen == ["Ada"], 10)
    await asyncio.to_thread(reader.join, 10)
    assert events == [json.dumps(["hello Ada", 1])]
    if routes == "io_routes":
        assert await asyncio.to_thread(post_json, f"{server.http}{hook}", {"webrtc_id": "nobody", "inputs": [1]}) == (
            404,
            {"status": "failed", "meta": {"error": "unknown_connection"}},
        )
        status, refused = await asyncio.to_thread(
            post_json, f"{server.http}{hook}", {"webrtc_id": "ws-inputs", "inputs": ["Ada", "extra"]}
        )
        assert status == 400 and "expected 1 input values" in refused["meta"]["message"]
    await sender
    await client.ws.close()
    task.cancel()


async def test_malformed_messages_are_answered_and_change_nothing(serve):
    server = serve(Stream(Echo(input_sample_rate=16000, output_sample_rate=16000), modality="audio"))
    client, task = await open_client(server, "ws-bad", 16000)
    for bad in ["not json", json.dumps({"no": "event"}), json.dumps({"event": "teleport"})]:
        await client.ws.send(bad)
    await client.ws.send(json.dumps({"event": "media", "media": {"payload": "***"}}))
    await client.ws.send(json.dumps({"event": "ping"}))
    await client.send(tone(300, 0.6, 16000))
    await wait_for(lambda: len(client.media) > 20)
    errors = [m["message"] for m in client.messages if m.get("type") == "error"]
    assert len(errors) == 4, client.messages
    assert {"event": "pong"} in client.messages
    assert dominant_hz(client.audio()[1600:], 16000) == pytest.approx(300, abs=10), "the echo went on"
    await client.ws.close()
    task.cancel()


async def test_limits_and_a_client_that_vanishes(serve):
    server = serve(Stream(Echo(input_sample_rate=16000), modality="audio", concurrency_limit=1, time_limit=2))
    first, task = await open_client(server, "ws-one", 16000)
    await wait_for(lambda: len(server.stream.connections) == 1)
    second, task2 = await open_client(server, "ws-two", 16000)
    await asyncio.wait_for(second.closed.wait(), 5)
    assert second.messages == [{"status": "failed", "meta": {"error": "concurrency_limit_reached", "limit": 1}}]
    # The time limit ends the first stream: it is told, and the socket closes.
    await asyncio.wait_for(first.closed.wait(), 6)
    assert {"type": "end_stream", "data": "Time limit reached"} in first.messages
    await wait_for(lambda: len(server.stream.connections) == 0, 5)
    # A client that disappears without `stop` frees its slot at once.
    third, task3 = await open_client(server, "ws-three", 16000)
    await wait_for(lambda: len(server.stream.connections) == 1)
    third.ws.transport.abort()
    await wait_for(lambda: len(server.stream.connections) == 0, 5)
    for t in (task, task2, task3):
        t.cancel()


async def test_a_twilio_call_gets_a_reply_marks_and_a_clear_on_barge_in(serve):
    calls = []

    def answer(audio):
        calls.append(audio[1].shape[1])
        for _ in range(60):  # 6 s: long enough to be talked over
            yield 8000, (0.3 * np.sin(2 * np.pi * 500 * np.arange(800) / 8000)).astype(np.float32)

    server = serve(Stream(ReplyOnPause(answer, input_sample_rate=8000), modality="audio"))
    twiml = urllib.request.urlopen(
        urllib.request.Request(f"{server.http}/telephone/incoming", b"", method="POST"), timeout=5
    ).read()
    assert f'<Stream url="wss://127.0.0.1:{server.port}/telephone/handler" />'.encode() in twiml
    ws = await websockets.connect(f"{server.ws}/telephone/handler")
    sid = "MZ0123456789abcdef0123456789abcdef"
    await ws.send(json.dumps({"event": "connected", "protocol": "Call", "version": "1.0.0"}))
    await ws.send(
        json.dumps(
            {
                "event": "start",
                "sequenceNumber": "1",
                "start": {
                    "streamSid": sid,
                    "callSid": "CA1",
                    "tracks": ["inbound"],
                    "mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1},
                },
                "streamSid": sid,
            }
        )
    )
    received: list[dict[str, Any]] = []

    async def read() -> None:
        try:
            async for raw in ws:
                received.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    reader = asyncio.create_task(read())
    speech = load("long_reply_interrupt", 8000).astype(np.float32) / 32768.0
    for n, i in enumerate(range(0, len(speech) + 16000, 160)):
        chunk = speech[i : i + 160] if i < len(speech) else np.zeros(160, np.float32)
        chunk = np.pad(chunk, (0, 160 - len(chunk)))
        await ws.send(
            json.dumps(
                {
                    "event": "media",
                    "sequenceNumber": str(n + 2),
                    "media": {
                        "track": "inbound",
                        "chunk": str(n + 1),
                        "timestamp": str(n * 20),
                        "payload": base64.b64encode(ulaw_encode(chunk)).decode(),
                    },
                    "streamSid": sid,
                }
            )
        )
        await asyncio.sleep(0.02)
    await wait_for(lambda: len(calls) == 2, 10)
    await wait_for(lambda: any(m["event"] == "mark" for m in received), 10)
    events = [m["event"] for m in received]
    assert "clear" in events, "the caller is told to drop the interrupted reply"
    first_clear = events.index("clear")
    assert "media" in events[:first_clear], "the first reply was playing"
    assert all(m.get("streamSid") == sid for m in received)
    # Twilio reports a mark once the audio before it has played; the server takes it quietly.
    mark = next(m for m in received if m["event"] == "mark")
    await ws.send(json.dumps({"event": "mark", "sequenceNumber": "999", "streamSid": sid, "mark": mark["mark"]}))
    await ws.send(json.dumps({"event": "stop", "sequenceNumber": "1000", "streamSid": sid, "stop": {"callSid": "CA1"}}))
    await asyncio.wait_for(reader, 5)
    await wait_for(lambda: len(server.stream.connections) == 0, 5)


async def test_stop_words_work_the_same_over_a_websocket(serve):
    from gradio_webrtc import ReplyOnStopWords

    heard = []

    def answer(audio):
        heard.append(audio[1].shape[1] / audio[0])
        yield 16000, (0.3 * np.sin(2 * np.pi * 500 * np.arange(3200) / 16000)).astype(np.float32)

    server = serve(Stream(ReplyOnStopWords(answer, ["ok computer"], input_sample_rate=16000), modality="audio"))
    client, task = await open_client(server, "ws-stopword", 16000)
    speech = load("stop_word", 16000).astype(np.float32) / 32768.0
    await client.send(np.concatenate([speech, np.zeros(16000, np.float32)]))
    await wait_for(lambda: heard, 20)
    assert {"type": "stopword", "data": ""} in client.messages, "the page-side highlight message, fastrtc's shape"
    assert 0.8 < heard[0] < len(speech) / 16000 - 2.0, "the request after the stop word"
    await client.ws.close()
    task.cancel()
