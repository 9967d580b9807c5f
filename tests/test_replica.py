"""One replica's readiness and drain, in process (the balancer and the processes around it:
test_cluster.py): the readiness answer follows the sessions, the capacity and the drain; a drain
refuses new calls on every way in with `server_draining`, lets live calls go on, ends those still
live at its deadline with a message, and is called off by `resume`."""

from __future__ import annotations

import threading

import httpx
import pytest
from handlers import Echo
from peer import connect, wait_for

from gradio_webrtc import Stream, replica
from gradio_webrtc.credentials import turn_from_environment
from gradio_webrtc.limits import capacity, live_sessions
from gradio_webrtc.replica import READY_PATH, RESTARTING, drain_deadline


@pytest.fixture
def resumed():
    """Every test leaves the process taking calls, as it found it."""
    yield
    replica.resume()


async def test_readiness_follows_sessions_capacity_and_drain(make_connections, serve, monkeypatch, resumed):
    server = serve(Stream(Echo(), modality="audio", concurrency_limit=2))
    connections = make_connections(Echo(), concurrency_limit=2)
    monkeypatch.setenv("GRADIO_WEBRTC_MAX_SESSIONS", str(live_sessions() + 1))
    async with httpx.AsyncClient() as http:
        ready = await http.get(server.http + READY_PATH)
        assert ready.status_code == 200, ready.text
        assert ready.json() == {"sessions": live_sessions(), "capacity": capacity(), "draining": False}
        assert ready.headers["cache-control"] == "no-store"
        client, answer = await connect(connections.offer, webrtc_id="ready-a")
        assert answer["type"] == "answer"
        full = await http.get(server.http + READY_PATH)
        assert full.status_code == 503, "full: the balancer sends new conversations elsewhere"
        assert full.json()["sessions"] == full.json()["capacity"]
        await client.close()
        await wait_for(lambda: len(connections) == 0, 10)
        assert (await http.get(server.http + READY_PATH)).status_code == 200
        replica.drain(deadline_s=30)
        draining = await http.get(server.http + READY_PATH)
        assert draining.status_code == 503 and draining.json()["draining"] is True
        assert (await http.head(server.http + READY_PATH)).status_code == 503
        replica.resume()
        assert (await http.get(server.http + READY_PATH)).status_code == 200


async def test_a_drain_refuses_new_calls_and_lets_live_ones_go_on(make_connections, serve, resumed):
    connections = make_connections(Echo(), concurrency_limit=4)
    live, answer = await connect(connections.offer, webrtc_id="live-call")
    assert answer["type"] == "answer"
    done = replica.drain(deadline_s=60)
    refused_client, refused = await connect(connections.offer, webrtc_id="new-call")
    assert refused["status"] == "failed" and refused["meta"]["error"] == "server_draining", refused
    assert refused["meta"]["message"] == RESTARTING
    assert refused["meta"]["affinity_cookie"] == "gw_replica", "the page drops it to land elsewhere"
    await refused_client.close()
    server = serve(Stream(Echo(), modality="audio"))
    async with httpx.AsyncClient() as http:
        route = await http.post(server.http + "/webrtc/offer", json={"sdp": "v=0", "type": "offer", "webrtc_id": "x"})
    assert route.json()["meta"]["error"] == "server_draining"
    assert not done.is_set() and not connections["live-call"].session.closed, "the live call goes on"
    await live.close()
    await wait_for(done.is_set, 10)  # its last call ended: drained


async def test_the_drain_deadline_ends_calls_with_a_message(make_connections, resumed):
    connections = make_connections(Echo(), concurrency_limit=4)
    client, _ = await connect(connections.offer, webrtc_id="long-call")
    ran = threading.Event()
    done = replica.drain(deadline_s=0.5, then=ran.set)
    await wait_for(done.is_set, 10)
    assert ran.is_set(), "the drain's continuation ran (SIGTERM: the process exits)"
    session = connections.engine.get("long-call")
    await wait_for(lambda: session.closed, 5)
    assert session.close_reason == RESTARTING
    await wait_for(lambda: any(RESTARTING in m for m in client.messages), 5)
    await client.close()


def test_drain_setting_and_relay_from_the_environment(monkeypatch):
    monkeypatch.delenv("GRADIO_WEBRTC_DRAIN_S", raising=False)
    assert drain_deadline() == 300.0
    monkeypatch.setenv("GRADIO_WEBRTC_DRAIN_S", "45")
    assert drain_deadline() == 45.0
    for bad in ("soon", "-1"):
        monkeypatch.setenv("GRADIO_WEBRTC_DRAIN_S", bad)
        with pytest.raises(ValueError, match="GRADIO_WEBRTC_DRAIN_S"):
            drain_deadline()

    monkeypatch.delenv("GRADIO_WEBRTC_TURN_SECRET", raising=False)
    assert turn_from_environment(None, None) == (None, None)
    monkeypatch.setenv("GRADIO_WEBRTC_TURN_SECRET", "s3cret")
    monkeypatch.setenv("GRADIO_WEBRTC_TURN_URLS", "turn:turn.example.com:3478")
    monkeypatch.setenv("GRADIO_WEBRTC_TURN_RELAY_ONLY", "1")
    page, server = turn_from_environment(None, None)
    assert page()["iceServers"][0]["urls"] == ["turn:turn.example.com:3478"]
    assert "iceTransportPolicy" not in page()
    assert server()["iceTransportPolicy"] == "relay", "replicas without public UDP relay everything"
    own = {"iceServers": []}
    assert turn_from_environment(own, own) == (own, own), "an app's own configuration wins"
