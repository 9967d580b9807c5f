"""The component through Gradio's real HTTP API, with an aiortc peer as the browser (Gradio 5 and 6).

This is the path the page takes: `POST /gradio_api/component_server` with `fn_name="offer"` for
signalling, and the queue API for the `tick` event that carries the other inputs' values.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import httpx
import numpy as np
import pytest
from peer import RATE, connect, dominant_hz, tone, wait_for
from test_browser import wait_until_free


def session_hash() -> str:
    return uuid.uuid4().hex[:11]


def offerer(app, elem_id: str, hash_: str):
    component = app.component_id(elem_id)

    async def offer(body: dict[str, Any]) -> dict[str, Any]:
        async with httpx.AsyncClient(timeout=30) as client:
            r = await client.post(
                f"{app.url}/gradio_api/component_server/",
                json={"data": body, "component_id": component, "fn_name": "offer", "session_hash": hash_},
            )
            r.raise_for_status()
            return r.json()

    return offer


async def fire(app, elem_id: str, event: str, data: list[Any], hash_: str) -> None:
    """Runs one event through Gradio's queue, as the page does, and waits for it to complete."""
    component = app.component_id(elem_id)
    async with httpx.AsyncClient(timeout=30) as client:
        r = await client.post(
            f"{app.url}/gradio_api/queue/join",
            json={
                "data": data,
                "event_data": None,
                "fn_index": app.fn_index(component, event),
                "trigger_id": component,
                "session_hash": hash_,
            },
        )
        r.raise_for_status()
        async with client.stream("GET", f"{app.url}/gradio_api/queue/data", params={"session_hash": hash_}) as s:
            async for line in s.aiter_lines():
                if line.startswith("data:"):
                    msg = json.loads(line[5:])
                    if msg.get("msg") == "process_completed":
                        assert msg.get("success", True), msg
                        return


async def test_offer_then_tick_with_inputs(gradio_app):
    """The handler asks for inputs (`tick`), the page answers through the queue, the handler uses them."""
    hash_ = session_hash()
    client, answer = await connect(offerer(gradio_app, "tone", hash_), webrtc_id=uuid.uuid4().hex[:10])
    assert answer["type"] == "answer"
    await wait_for(lambda: "tick" in client.messages, timeout=15)
    await fire(gradio_app, "tone", "tick", [client.webrtc_id, 730], hash_)
    await wait_for(lambda: len(client.recording.chunks) > 60, timeout=15)
    audio = client.recording.audio()[-RATE // 2 :]
    assert abs(dominant_hz(audio) - 730) < 5
    await client.close()


async def test_echo_and_additional_outputs(gradio_app):
    hash_ = session_hash()
    webrtc_id = uuid.uuid4().hex[:10]
    samples = np.concatenate([np.zeros(RATE // 2, np.int16), tone(440, 2.0)])
    client, answer = await connect(offerer(gradio_app, "echo", hash_), webrtc_id=webrtc_id, samples=samples)
    assert answer["type"] == "answer"
    await wait_for(lambda: "change" in client.messages, timeout=15)
    # The state_change event pops the queued AdditionalOutputs and returns it for the Textbox.
    await fire(gradio_app, "echo", "state_change", [webrtc_id], hash_)
    await wait_for(lambda: len(client.recording.chunks) > 100, timeout=15)
    assert np.abs(client.recording.audio()).max() > 0.1
    await client.close()


async def test_per_component_limits_and_independence(gradio_app):
    hash_ = session_hash()
    first, a1 = await connect(offerer(gradio_app, "echo", hash_), webrtc_id=uuid.uuid4().hex[:10])
    second, a2 = await connect(offerer(gradio_app, "echo", hash_), webrtc_id=uuid.uuid4().hex[:10])
    other, a3 = await connect(offerer(gradio_app, "echo2", hash_), webrtc_id=uuid.uuid4().hex[:10])
    assert a1["type"] == "answer"
    assert a2 == {"status": "failed", "meta": {"error": "concurrency_limit_reached", "limit": 1}}
    assert a3["type"] == "answer", "the second component has its own limit"
    for c in (first, second, other):
        await c.close()
    # The next tests reuse the app and its limit of one "echo" session: wait until these are gone.
    await asyncio.to_thread(wait_until_free, gradio_app)


@pytest.mark.parametrize("body", [{"sdp": "garbage", "type": "offer", "webrtc_id": "x1"}, {"type": "offer"}])
async def test_bad_offers_get_a_failure_meta(gradio_app, body):
    await asyncio.to_thread(wait_until_free, gradio_app)  # else the limit answers before the SDP is read
    reply = await offerer(gradio_app, "echo", session_hash())(body)
    assert reply["status"] == "failed"
    assert reply["meta"]["error"] == "invalid_offer"


async def test_turn_server_function_gives_fresh_config(gradio_app):
    """A function as rtc_configuration is never in the page config; `turn` calls it per connection."""
    component = gradio_app.component_id("fresh")
    props = next(c["props"] for c in gradio_app.config["components"] if c["id"] == component)
    assert props.get("rtc_configuration") is None
    assert "turn" in props["server_fns"]
    replies = []
    async with httpx.AsyncClient(timeout=30) as client:
        for _ in range(2):
            r = await client.post(
                f"{gradio_app.url}/gradio_api/component_server/",
                json={"data": {}, "component_id": component, "fn_name": "turn", "session_hash": session_hash()},
            )
            replies.append(r.json())
    assert replies[0]["iceServers"] == [{"urls": "stun:127.0.0.1:3478"}]
    assert replies[0]["note"] != replies[1]["note"], "credentials are fetched anew each time"
