"""Sessions relayed through a real TURN server (coturn on loopback)."""

from __future__ import annotations

import numpy as np
import pytest
from aiortc import RTCIceServer
from handlers import Echo
from peer import RATE, connect, dominant_hz, onset, tone, wait_for

pytestmark = pytest.mark.usefixtures("no_leaks")


def client_turn(coturn: dict[str, str]) -> list[RTCIceServer]:
    return [RTCIceServer(urls=coturn["url"], username=coturn["username"], credential=coturn["credential"])]


async def assert_echo(client) -> None:
    await wait_for(lambda: len(client.recording.chunks) > 100, timeout=15)
    audio = client.recording.audio()
    start = onset(audio)
    assert start is not None, "no audio came back through the relay"
    assert abs(dominant_hz(audio[int(start * RATE) + 2400 : int(start * RATE) + 2400 + RATE // 2]) - 440) < 5


async def test_client_restricted_to_relay(make_connections, coturn):
    """The browser side may only use relay candidates; the server answers with its host ones."""
    connections = make_connections(Echo())
    samples = np.concatenate([np.zeros(RATE // 2, np.int16), tone(440, 1.5)])
    client, answer = await connect(
        connections.offer,
        webrtc_id="relay-client",
        samples=samples,
        ice_servers=client_turn(coturn),
        relay_only=True,
    )
    assert answer["type"] == "answer"
    await assert_echo(client)
    assert client.selected_pair_types() is not None
    assert client.selected_pair_types()[0] == "relay"
    session = connections.engine.get("relay-client")
    assert session is not None
    assert session.stats()["remote_candidate_type"] in ("relay", "prflx")
    await client.close()


async def test_server_restricted_to_relay(make_connections, coturn):
    """The server's own peer allocates on the TURN server (server_rtc_configuration with relay policy)."""
    ice = {
        "iceServers": [{"urls": coturn["url"], "username": coturn["username"], "credential": coturn["credential"]}],
        "iceTransportPolicy": "relay",
    }
    connections = make_connections(Echo(), ice_servers=ice)
    samples = np.concatenate([np.zeros(RATE // 2, np.int16), tone(440, 1.5)])
    client, answer = await connect(connections.offer, webrtc_id="relay-server", samples=samples)
    assert answer["type"] == "answer"
    candidates = [line for line in answer["sdp"].splitlines() if line.startswith("a=candidate")]
    assert candidates and all(" typ relay " in c for c in candidates), candidates
    await assert_echo(client)
    session = connections.engine.get("relay-server")
    assert session is not None
    assert session.stats()["local_candidate_type"] == "relay"
    await client.close()


async def test_wrong_turn_password_fails_clearly(make_connections, coturn):
    """No relay candidate can be gathered: the session never connects and is freed, not leaked."""
    ice = {
        "iceServers": [{"urls": coturn["url"], "username": coturn["username"], "credential": "wrong"}],
        "iceTransportPolicy": "relay",
    }
    connections = make_connections(Echo(), ice_servers=ice)
    client, answer = await connect(connections.offer, webrtc_id="relay-bad", samples=None)
    assert answer["type"] == "answer"
    assert "typ relay" not in answer["sdp"]
    # FAST_ICE timeouts: the never-connected watchdog ends it after disconnected + failed (2 s).
    await wait_for(lambda: len(connections) == 0, timeout=10)
    await client.close()
