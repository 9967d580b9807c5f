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


async def fire(app, elem_id: str, event: str, data: list[Any], hash_: str) -> list[Any]:
    """Runs one event through Gradio's queue, as the page does; waits for it and returns its outputs."""
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
                        return list((msg.get("output") or {}).get("data") or [])
    return []


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


async def test_turn_server_function_shares_one_provider_call(gradio_app):
    """A function as rtc_configuration is never in the page config; `turn` calls it for the pages
    that ask, and shares its result for a minute: pages reloaded in a loop (or a script posting
    `turn`) do not call a paid TURN provider each time."""
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
    assert replies[0]["note"] == replies[1]["note"], "the second page got the first call's credentials"


async def test_another_browser_session_cannot_drive_a_connection(gradio_app):
    """A `webrtc_id` is bound to the Gradio session that offered it: another session that learns it
    can neither set the handler's inputs nor take its connection."""
    owner, stranger = session_hash(), session_hash()
    client, answer = await connect(offerer(gradio_app, "tone", owner), webrtc_id=uuid.uuid4().hex)
    assert answer["type"] == "answer"
    await wait_for(lambda: "tick" in client.messages, timeout=15)
    await fire(gradio_app, "tone", "tick", [client.webrtc_id, 730], owner)

    async def hz_now() -> float:
        start = len(client.recording.chunks)
        await wait_for(lambda: len(client.recording.chunks) > start + 100, timeout=15)  # past the output queue
        return dominant_hz(client.recording.audio()[-RATE // 2 :])

    assert abs(await hz_now() - 730) < 5
    await fire(gradio_app, "tone", "tick", [client.webrtc_id, 1500], stranger)
    assert abs(await hz_now() - 730) < 5, "another session's inputs reached the handler"
    intruder, taken = await connect(offerer(gradio_app, "tone", stranger), webrtc_id=client.webrtc_id)
    await intruder.close()
    assert taken == {"status": "failed", "meta": {"error": "connection_already_exists"}}
    await fire(gradio_app, "tone", "tick", [client.webrtc_id, 1100], owner)
    assert abs(await hz_now() - 1100) < 5, "the owner's own inputs still arrive"
    await client.close()


async def test_another_browser_session_cannot_read_its_outputs(gradio_app):
    await asyncio.to_thread(wait_until_free, gradio_app)
    owner, stranger = session_hash(), session_hash()
    samples = np.concatenate([np.zeros(RATE // 2, np.int16), tone(440, 2.0)])
    client, _ = await connect(offerer(gradio_app, "echo", owner), webrtc_id=uuid.uuid4().hex, samples=samples)
    await wait_for(lambda: "change" in client.messages, timeout=15)
    stolen = await fire(gradio_app, "echo", "state_change", [client.webrtc_id], stranger)
    assert not any(isinstance(v, str) for v in stolen), f"another session got the outputs: {stolen}"
    mine = await fire(gradio_app, "echo", "state_change", [client.webrtc_id], owner)
    assert any(isinstance(v, str) and v for v in mine), f"the owner did not get its outputs: {mine}"
    await client.close()


async def post_offer(app, elem_id: str, content: bytes | dict[str, Any]) -> httpx.Response:
    async with httpx.AsyncClient(timeout=60) as client:
        url = f"{app.url}/gradio_api/component_server/"
        if isinstance(content, bytes):
            return await client.post(url, content=content, headers={"content-type": "application/json"})
        body = {"data": content, "component_id": app.component_id(elem_id), "fn_name": "offer"}
        return await client.post(url, json={**body, "session_hash": session_hash()})


SDP_HEAD = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n"
AUDIO_PCMU = "m=audio 9 UDP/TLS/RTP/SAVPF 0\r\nc=IN IP4 0.0.0.0\r\na=rtpmap:0 PCMU/8000\r\na=sendrecv\r\n"
CANDIDATE = "a=candidate:{n} 1 udp 2122260223 127.0.0.1 {port} typ host\r\n"


@pytest.mark.parametrize(
    ("case", "needle"),
    [
        ("webrtc_id of 1 MB", "webrtc_id must be 1 to 64 characters"),
        ("webrtc_id with a newline", "webrtc_id must be 1 to 64 characters"),
        ("SDP of 10 MB", "at most 64 KiB"),
        ("100 candidates", "at most 64 are accepted"),
        ("no media lines", "no audio section"),
        ("unsupported codecs only", ""),
        ("the body is a string", "must be a JSON object"),
    ],
)
async def test_abusive_offers_are_refused_with_a_bounded_answer(gradio_app, case, needle):
    await asyncio.to_thread(wait_until_free, gradio_app)
    ident = uuid.uuid4().hex
    body: Any = {"type": "offer", "webrtc_id": ident}
    if case == "webrtc_id of 1 MB":
        body |= {"webrtc_id": "x" * (1 << 20), "sdp": SDP_HEAD + AUDIO_PCMU}
    elif case == "webrtc_id with a newline":
        body |= {"webrtc_id": "a\nb", "sdp": SDP_HEAD + AUDIO_PCMU}
    elif case == "SDP of 10 MB":
        body |= {"sdp": SDP_HEAD + AUDIO_PCMU + "a=x-filler:" + "y" * (10 << 20) + "\r\n"}
    elif case == "100 candidates":
        body |= {"sdp": SDP_HEAD + AUDIO_PCMU + "".join(CANDIDATE.format(n=n, port=1000 + n) for n in range(100))}
    elif case == "no media lines":
        body |= {"sdp": SDP_HEAD}
    elif case == "unsupported codecs only":
        body |= {
            "sdp": SDP_HEAD + "a=group:BUNDLE 0\r\n" + AUDIO_PCMU + "a=mid:0\r\na=ice-ufrag:abcd\r\n"
            "a=ice-pwd:abcdefghijklmnopqrstuvwx\r\na=fingerprint:sha-256 " + ":".join(["AB"] * 32) + "\r\n"
            "a=setup:actpass\r\na=rtcp-mux\r\n"
        }
    elif case == "the body is a string":
        body = "not an offer"
    response = await post_offer(gradio_app, "echo", body)
    assert response.status_code == 200, response.text[:500]
    assert len(response.content) < 2048, f"the answer to a hostile offer is {len(response.content)} bytes"
    reply = response.json()
    assert reply["status"] == "failed", reply
    assert needle in reply["meta"].get("message", ""), reply
    if case == "unsupported codecs only":
        assert reply["meta"]["error"] in ("no_usable_media", "invalid_offer", "setup_failed"), reply
    await a_peer_still_connects(gradio_app)


async def a_peer_still_connects(app) -> None:
    """The server is fine after abuse: a real peer connects to the same component, gets media."""
    client, answer = await connect(offerer(app, "echo", session_hash()), webrtc_id=uuid.uuid4().hex)
    assert answer["type"] == "answer"
    await wait_for(lambda: len(client.recording.chunks) > 10, timeout=15)
    await client.close()


async def test_a_body_that_is_not_json_leaves_the_server_serving(gradio_app):
    response = await post_offer(gradio_app, "echo", b"{not json")
    assert response.status_code >= 400
    await asyncio.to_thread(wait_until_free, gradio_app)
    await a_peer_still_connects(gradio_app)


async def test_offers_are_rate_limited_per_client(gradio_app):
    """The "limited" stream takes 3 offers a minute from one address; the 4th is refused with the
    time to wait. (Garbage offers count too: the limit comes before the SDP is read.)"""
    replies = [
        (await post_offer(gradio_app, "limited", {"type": "offer", "sdp": "x", "webrtc_id": uuid.uuid4().hex})).json()
        for _ in range(4)
    ]
    assert [r["meta"]["error"] for r in replies[:3]] == ["invalid_offer"] * 3, replies
    assert replies[3]["meta"]["error"] == "rate_limited", replies[3]
    assert 0 < replies[3]["meta"]["retry_after"] <= 20
    assert "try again" in replies[3]["meta"]["message"]
