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


async def test_time_limited_credentials_relay_both_sides(make_connections, coturn_rest):
    """coturn with a shared secret (`use-auth-secret`): the server computes credentials for itself
    and for the page with `get_turn_rest_credentials`; both relay, and expired or forged ones are
    refused by coturn itself."""
    from gradio_webrtc import get_turn_rest_credentials

    server_side = get_turn_rest_credentials(coturn_rest["secret"], coturn_rest["url"], ttl=600, relay_only=True)
    page = get_turn_rest_credentials(coturn_rest["secret"], coturn_rest["url"], ttl=600)["iceServers"][0]
    connections = make_connections(Echo(), ice_servers=server_side)
    samples = np.concatenate([np.zeros(RATE // 2, np.int16), tone(440, 1.5)])
    client, answer = await connect(
        connections.offer,
        webrtc_id="rest-relay",
        samples=samples,
        ice_servers=[RTCIceServer(urls=page["urls"], username=page["username"], credential=page["credential"])],
        relay_only=True,
    )
    assert answer["type"] == "answer" and " typ relay " in answer["sdp"]
    await assert_echo(client)
    assert client.selected_pair_types()[0] == "relay"
    await client.close()
    # Expired (ttl in the past) and forged credentials gather no relay candidate.
    for config in (
        get_turn_rest_credentials(coturn_rest["secret"], coturn_rest["url"], ttl=-60, relay_only=True),
        get_turn_rest_credentials("not-the-secret", coturn_rest["url"], relay_only=True),
    ):
        refused = make_connections(Echo(), ice_servers=config)
        ghost, answer = await connect(refused.offer, webrtc_id="rest-refused", samples=None)
        assert "typ relay" not in answer["sdp"]
        await wait_for(lambda: len(refused) == 0, timeout=10)  # noqa: B023 - awaited in this iteration
        await ghost.close()


def test_time_limited_credentials_need_a_secret(monkeypatch):
    from gradio_webrtc import get_turn_rest_credentials

    monkeypatch.delenv("GRADIO_WEBRTC_TURN_SECRET", raising=False)
    monkeypatch.delenv("GRADIO_WEBRTC_TURN_URLS", raising=False)
    with pytest.raises(ValueError, match="GRADIO_WEBRTC_TURN_SECRET"):
        get_turn_rest_credentials()
    monkeypatch.setenv("GRADIO_WEBRTC_TURN_SECRET", "s")
    monkeypatch.setenv("GRADIO_WEBRTC_TURN_URLS", "turn:a:3478, turn:b:3478?transport=tcp")
    config = get_turn_rest_credentials(ttl=100)
    server = config["iceServers"][0]
    assert server["urls"] == ["turn:a:3478", "turn:b:3478?transport=tcp"]
    expiry, user = server["username"].split(":")
    assert user == "gradio-webrtc" and int(expiry) > 0


@pytest.fixture
def deploy_coturn(tmp_path):
    """coturn running deploy/vm/turnserver.conf as shipped (only its addresses and secret changed for
    loopback)."""
    from conftest import ROOT, _free_port, _start_coturn, _stop_coturn

    port = _free_port()
    config = (ROOT / "deploy" / "vm" / "turnserver.conf").read_text()
    replaced = {"listening-port": str(port), "external-ip": "127.0.0.1", "static-auth-secret": "deploy-secret"}
    lines = [f"{k}={replaced[k]}" if (k := line.split("=", 1)[0]) in replaced else line for line in config.splitlines()]
    path = tmp_path / "turnserver.conf"
    path.write_text("\n".join([*lines, "listening-ip=127.0.0.1", "relay-ip=127.0.0.1", "no-tls", "no-dtls"]) + "\n")
    proc, _, drain = _start_coturn(["-c", str(path)], port=port, config_only=True)
    yield port
    _stop_coturn(proc, drain)


def tcp_allocation_error(port: int, server: dict[str, str]) -> int | None:
    """The error code coturn answers an authenticated TCP-relay Allocate with, on a fresh 5-tuple."""
    import socket

    from aioice import stun
    from aioice.turn import TCP_TRANSPORT, make_integrity_key

    def allocate(credentials: tuple[str, str, str, bytes] | None) -> stun.Message:
        request = stun.Message(message_method=stun.Method.ALLOCATE, message_class=stun.Class.REQUEST)
        request.attributes["REQUESTED-TRANSPORT"] = TCP_TRANSPORT
        if credentials is not None:
            username, realm, password, nonce = credentials
            request.attributes.update({"USERNAME": username, "REALM": realm, "NONCE": nonce})
            request.add_message_integrity(make_integrity_key(username, realm, password))
        sock.sendto(bytes(request), ("127.0.0.1", port))
        return stun.parse_message(sock.recvfrom(4096)[0])

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(5)
        challenge = allocate(None)
        realm, nonce = challenge.attributes["REALM"], challenge.attributes["NONCE"]
        answer = allocate((server["username"], realm, server["credential"], nonce))
    error = answer.attributes.get("ERROR-CODE")
    return error[0] if error else None


async def test_the_deploy_kits_coturn_relays_to_the_internet_only(deploy_coturn):
    """A credential a page was given must not open the server's own networks: the shipped config
    refuses permissions to loopback, private, CGNAT and link-local peers (the cloud metadata
    endpoint among them) and TCP relays, and allows a public peer."""
    import asyncio

    from aioice import stun
    from aioice.turn import create_turn_endpoint

    from gradio_webrtc import get_turn_rest_credentials

    server = get_turn_rest_credentials("deploy-secret", f"turn:127.0.0.1:{deploy_coturn}")["iceServers"][0]
    transport, _ = await create_turn_endpoint(
        asyncio.DatagramProtocol, ("127.0.0.1", deploy_coturn), server["username"], server["credential"]
    )
    client = transport._TurnTransport__inner_protocol  # the TURN client: its requests are authenticated
    try:

        async def permission(host: str) -> int | None:
            request = stun.Message(message_method=stun.Method.CREATE_PERMISSION, message_class=stun.Class.REQUEST)
            request.attributes["XOR-PEER-ADDRESS"] = (host, 9)
            try:
                await client.request(request)
            except stun.TransactionFailed as failed:
                return failed.response.attributes["ERROR-CODE"][0]
            return None

        for inside in (
            "169.254.169.254",
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.1",
        ):
            assert await permission(inside) == 403, inside
        assert await permission("198.51.100.20") is None, "a public peer is relayed to"
        assert tcp_allocation_error(deploy_coturn, server) == 442, "no TCP relay (RFC 6062 allocations refused)"
    finally:
        transport.close()
