"""Every route a stranger can reach, attacked beside a real user: the attack is refused or cut
short with a reason, and the user's session loses nothing.

The server is a `Stream` mounted on FastAPI under uvicorn (`stream_server.Server`); the attackers
and the users are real WebSocket clients, real HTTP clients and aiortc peers. The client address
of each request is chosen with `X-Forwarded-For`: loopback is a trusted proxy by default, so the
server believes the last hop, as it would behind nginx.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import threading
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from handlers import Echo
from peer import ArrayAudioTrack, connect, tone
from stream_server import open_client, ulaw_encode, wait_for
from test_websocket_stream import fastrtc_style_routes

from gradio_webrtc import AdditionalOutputs, ReplyOnPause, Stream
from gradio_webrtc.clients import OWNER_COOKIE, Requester, client_address
from gradio_webrtc.limits import OfferRateLimiter
from gradio_webrtc.twilio import signature, valid_signature

pytestmark = pytest.mark.usefixtures("no_leaks")

STRANGER = {"X-Forwarded-For": "203.0.113.66"}


def echo_stream(**kwargs: Any) -> Stream:
    return Stream(Echo(input_sample_rate=16000, output_sample_rate=16000), modality="audio", **kwargs)


async def victim_is_served(client: Any, seconds: float = 1.0) -> None:
    """The user's stream goes on: its echo keeps arriving and a ping is answered."""
    before = len(client.media)
    await client.send(tone(300, seconds, 16000))
    await wait_for(lambda: len(client.media) >= before + int(seconds * 50) - 10, 10)
    pongs = sum(m == {"event": "pong"} for m in client.messages)
    await client.ws.send(json.dumps({"event": "ping"}))
    await wait_for(lambda: sum(m == {"event": "pong"} for m in client.messages) > pongs, 5)


async def raw_socket(url: str) -> tuple[Any, list[Any], asyncio.Task[None]]:
    """A WebSocket whose every message (and the close frame's code and reason) is kept."""
    ws = await websockets.connect(url, max_size=None, additional_headers=STRANGER)
    received: list[Any] = []

    async def read() -> None:
        try:
            async for raw in ws:
                received.append(json.loads(raw))
        except websockets.ConnectionClosed:
            pass

    return ws, received, asyncio.create_task(read())


# -- WebSocket: what one message and one client may cost ------------------------------------------


async def test_an_oversized_message_ends_only_its_own_stream(serve):
    """11 MB of μ-law in one `media` event (under uvicorn's 16 MiB limit) froze every call on the
    server for seconds. Now it is refused unread (close 1009) and only its sender's stream ends."""
    server = serve(echo_stream(concurrency_limit=4))
    victim, victim_task = await open_client(server, "victim", 16000)
    await victim_is_served(victim)
    ws, received, reader = await raw_socket(f"{server.ws}/websocket/offer")
    await ws.send(json.dumps({"event": "start", "websocket_id": "attacker"}))
    await wait_for(lambda: "attacker" in server.stream.connections.connections, 5)
    payload = base64.b64encode(bytes(11 * 1024 * 1024 * 3 // 4)).decode()
    await ws.send(json.dumps({"event": "media", "media": {"payload": payload}}))
    await asyncio.wait_for(reader, 10)
    assert ws.close_code == 1009 and "at most 65536" in ws.close_reason
    assert any(m.get("type") == "error" and "bytes" in m.get("message", "") for m in received), received
    await wait_for(lambda: "attacker" not in server.stream.connections.connections, 5)
    assert "victim" in server.stream.connections.connections
    await victim_is_served(victim)
    await victim.ws.close()
    victim_task.cancel()


async def test_audio_faster_than_real_time_ends_the_session(serve):
    """A client may send a few seconds ahead (a stall's backlog) but not run ahead of the clock:
    30 s of audio sent at once ends its session with the reason; a user beside it goes on."""
    server = serve(echo_stream(concurrency_limit=4))
    victim, victim_task = await open_client(server, "victim", 16000)
    ws, received, reader = await raw_socket(f"{server.ws}/websocket/offer")
    await ws.send(json.dumps({"event": "start", "websocket_id": "racer"}))
    second = ulaw_encode(tone(440, 1.0, 16000))
    for _ in range(30):
        await ws.send(json.dumps({"event": "media", "media": {"payload": base64.b64encode(second).decode()}}))
    await asyncio.wait_for(reader, 10)
    errors = [m["message"] for m in received if m.get("type") == "error"]
    assert any("faster than real time" in e for e in errors), received
    await wait_for(lambda: "racer" not in server.stream.connections.connections, 5)
    await victim_is_served(victim)
    await victim.ws.close()
    victim_task.cancel()


async def test_a_message_flood_is_cut_off(serve):
    server = serve(echo_stream(concurrency_limit=4))
    victim, victim_task = await open_client(server, "victim", 16000)
    ws, _, reader = await raw_socket(f"{server.ws}/websocket/offer")
    await ws.send(json.dumps({"event": "start", "websocket_id": "flood"}))
    for _ in range(3000):
        await ws.send('{"event": "ping"}')
    await asyncio.wait_for(reader, 10)
    assert ws.close_code == 1008 and "messages a second" in ws.close_reason
    await victim_is_served(victim)
    await victim.ws.close()
    victim_task.cancel()


@pytest.mark.parametrize("route", ["/websocket/offer", "/telephone/handler"])
async def test_malformed_messages_are_answered_and_never_close_the_socket(serve, route, caplog):
    """Fields of the wrong type and JSON nested past the parser's depth change nothing; the log
    gets the first few (a sender cannot write the log at its own pace)."""
    caplog.set_level(logging.WARNING, "gradio_webrtc")
    server = serve(echo_stream(concurrency_limit=4))
    ws, received, reader = await raw_socket(f"{server.ws}{route}")
    bad = [
        '{"event": "media", "media": [1]}',
        '{"event": "start", "start": "not an object"}',
        "[" * 60_000,
        '{"event": 5}',
        '{"event": "media", "media": {"payload": 7}}',
        *['{"event": "teleport"}'] * 40,
    ]
    for message in bad:
        await ws.send(message)
    sid = "MZ" + "0" * 32
    await ws.send(json.dumps({"event": "start", "websocket_id": "ok", "streamSid": sid, "start": {"streamSid": sid}}))
    await ws.send(json.dumps({"event": "media", "media": [1]}))
    await ws.send(json.dumps({"event": "ping"}))
    await wait_for(lambda: len(server.stream.connections) == 1, 5)
    assert not reader.done(), "the socket is still open"
    if route == "/websocket/offer":
        await wait_for(lambda: {"event": "pong"} in received, 5)
        assert sum(m.get("type") == "error" for m in received) == len(bad) + 1
    logged = [r for r in caplog.records if "ignored" in r.getMessage()]
    assert 1 <= len(logged) <= 5, "a handful of lines, not one per message"
    await ws.close()
    await asyncio.wait_for(reader, 5)
    await wait_for(lambda: len(server.stream.connections) == 0, 5)


async def test_websocket_starts_count_against_the_client(serve):
    """Starts are rate-limited per client address (the same allowance as offers); another client
    is not affected."""
    server = serve(echo_stream(concurrency_limit=10))
    server.stream.connections.rate_limiter = OfferRateLimiter(per_minute=3)
    answers = []
    for i in range(4):
        ws = await websockets.connect(f"{server.ws}/websocket/offer", additional_headers=STRANGER)
        await ws.send(json.dumps({"event": "start", "websocket_id": f"burst-{i}"}))
        if i == 3:
            answers.append(json.loads(await asyncio.wait_for(ws.recv(), 5)))
        await ws.close()
    assert answers[0]["meta"]["error"] == "rate_limited"
    other = await websockets.connect(
        f"{server.ws}/websocket/offer", additional_headers={"X-Forwarded-For": "198.51.100.7"}
    )
    await other.send(json.dumps({"event": "start", "websocket_id": "other"}))
    await wait_for(lambda: "other" in server.stream.connections.connections, 5)
    await other.close()
    await wait_for(lambda: len(server.stream.connections) == 0, 5)


# -- the phone routes answer only Twilio ------------------------------------------------------------

TOKEN = "twilio-auth-token-for-tests"


def twilio_form() -> dict[str, str]:
    return {"CallSid": "CA" + "1" * 32, "From": "+15005550006", "To": "+15005550001", "AccountSid": "AC" + "2" * 32}


async def test_phone_routes_need_twilio_signature(serve, monkeypatch):
    monkeypatch.setenv("TWILIO_AUTH_TOKEN", TOKEN)
    calls = []

    def answer(audio):
        calls.append(audio[1].shape[1])
        yield 8000, np.zeros(800, np.float32)

    server = serve(Stream(ReplyOnPause(answer, input_sample_rate=8000), modality="audio"))
    incoming = f"{server.http}/telephone/incoming"
    form = twilio_form()

    def signed_by(token: str, url: str = incoming) -> dict[str, str]:
        return {"X-Twilio-Signature": signature(token, url, form.items())}

    async with httpx.AsyncClient() as http:
        unsigned = await http.post(incoming, data=form)
        forged = await http.post(incoming, data=form, headers=signed_by("guess"))
        tampered = await http.post(
            incoming,
            data={**form, "From": "+15559999999"},
            headers=signed_by(TOKEN),
        )
        signed = await http.post(incoming, data=form, headers=signed_by(TOKEN))
        # Behind a TLS-terminating proxy, Twilio called the public https URL.
        public = "https://phone.example.com/telephone/incoming"
        proxied = await http.post(
            incoming,
            data=form,
            headers={**signed_by(TOKEN, public), "X-Forwarded-Proto": "https", "X-Forwarded-Host": "phone.example.com"},
        )
    assert [unsigned.status_code, forged.status_code, tampered.status_code] == [403, 403, 403]
    assert signed.status_code == 200 and "<Connect><Stream" in signed.text
    assert proxied.status_code == 200 and 'url="wss://phone.example.com/telephone/handler"' in proxied.text
    # The Media Streams upgrade: refused unsigned, before any handler code runs.
    handler_url = f"{server.ws}/telephone/handler"
    with pytest.raises(websockets.InvalidStatus) as refused:
        await websockets.connect(handler_url)
    assert refused.value.response.status_code == 403
    wss = handler_url.replace("ws://", "wss://")
    ws = await websockets.connect(handler_url, additional_headers={"X-Twilio-Signature": signature(TOKEN, wss)})
    sid = "MZ" + "a" * 32
    await ws.send(json.dumps({"event": "start", "streamSid": sid, "start": {"streamSid": sid}}))
    await wait_for(lambda: sid in server.stream.connections.connections, 5)
    assert calls == []
    await ws.close()
    await wait_for(lambda: len(server.stream.connections) == 0, 5)


def test_twilio_signatures_match_twilios_published_examples():
    """The examples in Twilio's validation docs (token "12345")."""
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+14158675309", "Digits": "1234", "From": "+14158675309"}
    params["To"] = "+18005551212"
    assert signature("12345", url, params.items()) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert valid_signature("12345", url, params.items(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    with_port = "https://mycompany.com:443/myapp.php?foo=1&bar=2"
    assert valid_signature("12345", with_port, params.items(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not valid_signature("12345", url, {**params, "Digits": "9"}.items(), "RSOYDt4T1cUTdK1PDd93/VVr8B8=")
    assert not valid_signature("12345", url, params.items(), None)


async def test_without_a_token_the_phone_routes_warn_once_that_they_are_open(serve, monkeypatch, caplog):
    monkeypatch.delenv("TWILIO_AUTH_TOKEN", raising=False)
    caplog.set_level(logging.WARNING, "gradio_webrtc")
    server = serve(echo_stream())
    async with httpx.AsyncClient() as http:
        assert (await http.post(f"{server.http}/telephone/incoming", data=twilio_form())).status_code == 200
    assert sum("answer anyone" in r.getMessage() for r in caplog.records) == 1


# -- /input_hook and /outputs: only the client that made the connection ----------------------------


def offer_through(http: httpx.AsyncClient, url: str, headers: dict[str, str] | None = None) -> Any:
    async def offer(body: dict[str, Any]) -> dict[str, Any]:
        response = await http.post(f"{url}/webrtc/offer", json=body, headers=headers or {})
        return response.json()

    return offer


@pytest.mark.parametrize("routes", ["the app's own", "io_routes"])
async def test_a_stranger_cannot_drive_or_read_a_connection(serve, routes, monkeypatch):
    """The offer's answer sets an HttpOnly owner cookie. With it (the same browser's `fetch` and
    `EventSource`), or without cookies from the same address, the inputs and outputs are the
    client's; a stranger gets the same answer for this live id as for a missing one."""
    import gradio as gr

    from gradio_webrtc import stream as stream_module

    monkeypatch.setattr(stream_module, "OUTPUT_WAIT_S", 1.0)
    heard = []

    def answer(audio, name):
        heard.append(name)
        yield AdditionalOutputs(f"hello {name}")

    stream = Stream(
        ReplyOnPause(answer),
        modality="audio",
        additional_inputs=[gr.Textbox(label="name")],
        concurrency_limit=4,
    )
    if routes == "io_routes":
        server = serve(stream, io_routes=True)
        hook, outputs = "/gradio_webrtc/input_hook", "/gradio_webrtc/outputs"
    else:
        server = serve(stream, extra=fastrtc_style_routes)
        hook, outputs = "/input_hook", "/outputs"
    owner_address = {"X-Forwarded-For": "192.0.2.10"}
    async with httpx.AsyncClient(timeout=10) as owner, httpx.AsyncClient(timeout=10) as stranger:
        client, answer_body = await connect(
            offer_through(owner, server.http, owner_address), webrtc_id="owned", samples=tone(300, 1.0)
        )
        assert answer_body["type"] == "answer"
        cookie = owner.cookies.get(OWNER_COOKIE)
        assert cookie and len(cookie) >= 16, "the answer set the owner cookie"
        await wait_for(lambda: "owned" in server.stream.connections.connections, 5)

        async def post(
            http: httpx.AsyncClient, webrtc_id: str, headers: dict[str, str], name: str = "Eve"
        ) -> tuple[int, Any]:
            r = await http.post(
                f"{server.http}{hook}", json={"webrtc_id": webrtc_id, "inputs": [name]}, headers=headers
            )
            return r.status_code, r.text

        async def read(http: httpx.AsyncClient, webrtc_id: str, headers: dict[str, str]) -> tuple[int, str]:
            url = f"{server.http}{outputs}"
            async with http.stream("GET", url, params={"webrtc_id": webrtc_id}, headers=headers) as r:
                return r.status_code, (await r.aread()).decode()

        live = await post(stranger, "owned", STRANGER)
        missing = await post(stranger, "no-such-id", STRANGER)
        wrong_cookie = await post(stranger, "owned", {**owner_address, "Cookie": f"{OWNER_COOKIE}={'x' * 22}"})
        connection = server.stream.connections.connections["owned"]
        assert connection.args is None, "no stranger's input reached the handler"
        assert live == missing == wrong_cookie, (live, missing, wrong_cookie)
        # `/outputs` waits for a connection of the caller's (a page may open it before its offer
        # is answered); a stranger waits the same for a live id and a missing one, and gets nothing.
        assert await read(stranger, "owned", STRANGER) == await read(stranger, "nobody", STRANGER) == (200, "")
        assert (await post(owner, "owned", owner_address, "Ada"))[0] == 200, "the owner, with its cookie"
        assert connection.args == ["Ada"]
        async with httpx.AsyncClient(timeout=10) as cookieless:
            assert (await post(cookieless, "owned", owner_address, "Bo"))[0] == 200, "no cookie, the owner's address"
        assert connection.args == ["Bo"]
        await client.close()
    await wait_for(lambda: len(server.stream.connections) == 0, 15)


async def test_input_hook_values_go_through_the_components(serve):
    """`io_routes` values are preprocessed as Gradio's own events would be; a file value (a path on
    the server, for a client to name) is refused."""
    import gradio as gr

    stream = Stream(
        ReplyOnPause(lambda audio, level, upload: iter(())),
        modality="audio",
        additional_inputs=[gr.Slider(0, 10, label="level"), gr.File(label="upload")],
    )
    server = serve(stream, io_routes=True)
    async with httpx.AsyncClient(timeout=10) as http:
        client, _ = await connect(offer_through(http, server.http), webrtc_id="inputs", samples=tone(300, 1.0))
        await wait_for(lambda: "inputs" in server.stream.connections.connections, 5)
        hook = f"{server.http}/gradio_webrtc/input_hook"
        passwd = {"path": "/etc/passwd", "meta": {"_type": "gradio.FileData"}}
        refused = await http.post(hook, json={"webrtc_id": "inputs", "inputs": [3, passwd]})
        assert refused.status_code == 400 and "files cannot be sent" in refused.text
        assert server.stream.connections.connections["inputs"].args is None
        ok = await http.post(hook, json={"webrtc_id": "inputs", "inputs": [3, None]})
        assert ok.status_code == 200, ok.text
        assert server.stream.connections.connections["inputs"].args == [3, None]
        too_many = await http.post(hook, json={"webrtc_id": "inputs", "inputs": [1, None, 2]})
        assert too_many.status_code == 400
        await client.close()
    await wait_for(lambda: len(server.stream.connections) == 0, 15)


async def test_request_bodies_are_bounded_before_parsing(serve):
    server = serve(echo_stream())

    async def chunks() -> Any:
        for _ in range(8):
            yield b"x" * 65536

    async with httpx.AsyncClient(timeout=10) as http:
        big = await http.post(f"{server.http}/webrtc/offer", content=b"{" + b" " * 300_000 + b"}")
        assert big.status_code == 413
        streamed = await http.post(
            f"{server.http}/webrtc/offer",
            content=chunks(),  # chunked: no Content-Length to trust
        )
        assert streamed.status_code == 413
        assert (await http.post(f"{server.http}/telephone/incoming", content=b"a=" + b"b" * 300_000)).status_code == 413


# -- sessions: the handler starts on connect, the slot outlives no handler --------------------------


async def test_an_offer_that_never_connects_runs_no_handler_code(make_connections):
    started = []

    class Recorder(Echo):
        def start_up(self) -> None:
            started.append(1)

        def copy(self) -> Recorder:
            return Recorder()

    connections = make_connections(Recorder(), concurrency_limit=4)
    client, answer = await connect(connections.offer, webrtc_id="ghost", samples=None)
    assert answer["type"] == "answer"
    await client.pc.close()  # the answer is never used: ICE never connects
    await wait_for(lambda: len(connections) == 0, 10)
    assert started == [] and connections.engine.session_count() == 0
    live, _ = await connect(connections.offer, webrtc_id="live", samples=tone(300, 1.0))
    await wait_for(lambda: started == [1], 10)
    await live.close()


async def test_a_hanging_shutdown_holds_no_slot(make_connections, monkeypatch, caplog):
    """With the default concurrency limit of 1, a handler whose `shutdown()` never returns used to
    refuse every later caller; the slot is now freed first and the wait is bounded."""
    from gradio_webrtc import session_runner

    monkeypatch.setattr(session_runner, "SHUTDOWN_S", 1.0)
    caplog.set_level(logging.ERROR, "gradio_webrtc")
    release = threading.Event()

    class Stuck(Echo):
        def shutdown(self) -> None:
            release.wait(30)

        def copy(self) -> Stuck:
            return Stuck()

    connections = make_connections(Stuck(), concurrency_limit=1)
    first, _ = await connect(connections.offer, webrtc_id="first", samples=tone(300, 1.0))
    await wait_for(
        lambda: connections.engine.get("first") is not None and connections.engine.get("first").state == "connected", 10
    )
    await first.close()
    await wait_for(lambda: len(connections) == 0, 10)
    second, answer = await connect(connections.offer, webrtc_id="second", samples=tone(300, 1.0))
    assert answer["type"] == "answer", answer
    await wait_for(lambda: any("did not return within" in r.getMessage() for r in caplog.records), 10)
    release.set()
    await second.close()


async def test_two_ticks_at_once_start_one_generator(make_connections):
    runs = []

    def generate(n):
        runs.append(n)
        yield 24000, np.zeros(2400, np.float32)

    connections = make_connections(generate, mode="receive")
    client, _ = await connect(connections.offer, webrtc_id="gen", send=False, samples=None)
    await wait_for(lambda: connections.engine.get("gen") is not None, 5)
    threads = [threading.Thread(target=connections.set_input, args=("gen", i)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    await wait_for(lambda: len(runs) >= 1, 10)
    await asyncio.sleep(0.5)
    assert len(runs) == 1, runs
    await client.close()


async def test_an_event_without_a_session_reads_no_ones_outputs(make_connections):
    """A Gradio event that names no browser session (a `queue=False` call made without one) used to
    pop the outputs of whichever connection it named."""
    connections = make_connections(Echo())
    client, _ = await connect(
        lambda body: connections.offer(body, owner="owner-session", client="192.0.2.1"), webrtc_id="mine"
    )
    connection = connections.connections["mine"]
    connection.add_output(AdditionalOutputs("private"))
    assert connections.pop_outputs("mine", Requester(owner=None, client="203.0.113.5")) is None
    assert connections.pop_outputs("mine", Requester(owner="another-session", client="192.0.2.1")) is None
    assert connections.pop_outputs("mine", Requester(owner="owner-session", client="192.0.2.1")).args == ("private",)
    await client.close()


class RacingTrack(ArrayAudioTrack):
    """Audio whose RTP timestamps advance a second per 20 ms packet: the receiver fills each jump
    with up to a second of silence (as for DTX), fifty times real time."""

    async def recv(self) -> Any:
        frame = await super().recv()
        frame.pts = self.count * 48000
        return frame


async def test_rtp_timestamps_racing_ahead_end_the_session(make_connections):
    connections = make_connections(Echo(), concurrency_limit=4)
    victim, _ = await connect(connections.offer, webrtc_id="steady", samples=tone(300, 10.0))
    racer, _ = await connect(connections.offer, webrtc_id="racer", track=RacingTrack(tone(300, 10.0)))
    await wait_for(lambda: any("faster than real time" in m for m in racer.messages), 15)
    await wait_for(lambda: connections.engine.get("racer") is None, 5)
    steady = connections.engine.get("steady")
    assert steady is not None and not steady.closed
    await racer.close()
    await victim.close()


# -- who the client is ------------------------------------------------------------------------------


class Headers:
    def __init__(self, *lines: tuple[str, str]) -> None:
        self.lines = lines

    def getlist(self, name: str) -> list[str]:
        return [v for k, v in self.lines if k == name]


@pytest.mark.parametrize(
    ("trusted", "peer", "lines", "expected"),
    [
        # Loopback (a local proxy) is trusted by default: the last hop it appended is the client.
        (None, "127.0.0.1", [("x-forwarded-for", "198.51.100.1")], "198.51.100.1"),
        # A client's own hops before the proxy's are not believed.
        (None, "127.0.0.1", [("x-forwarded-for", "1.1.1.1, 198.51.100.1")], "198.51.100.1"),
        # Every header line is read: the proxy's line is the last.
        (None, "127.0.0.1", [("x-forwarded-for", "9.9.9.9"), ("x-forwarded-for", "198.51.100.2")], "198.51.100.2"),
        # A client on a private network is not a proxy by default: its header is ignored.
        (None, "10.1.2.3", [("x-forwarded-for", "198.51.100.3")], "10.1.2.3"),
        # Listed proxies are skipped from the right.
        ("10.0.0.0/8", "10.0.0.5", [("x-forwarded-for", "198.51.100.4, 10.0.0.9")], "198.51.100.4"),
        ("", "127.0.0.1", [("x-forwarded-for", "198.51.100.5")], "127.0.0.1"),
        ("*", "192.0.2.200", [("x-forwarded-for", "198.51.100.6")], "198.51.100.6"),
        # IPv6 clients count by /64.
        (None, "2001:db8:1:2:aaaa::1", [], "2001:db8:1:2::/64"),
        (None, "::1", [("x-forwarded-for", "2001:db8:1:2:bbbb::9")], "2001:db8:1:2::/64"),
        # Unknown clients share one bucket; garbage where a proxy wrote a hop believes nothing left of it.
        (None, None, [], "unknown"),
        (None, "127.0.0.1", [("x-forwarded-for", "198.51.100.7, not-an-address")], "unknown"),
    ],
)
def test_the_client_behind_trusted_proxies(monkeypatch, trusted, peer, lines, expected):
    if trusted is None:
        monkeypatch.delenv("GRADIO_WEBRTC_TRUSTED_PROXIES", raising=False)
    else:
        monkeypatch.setenv("GRADIO_WEBRTC_TRUSTED_PROXIES", trusted)
    monkeypatch.delenv("SPACE_ID", raising=False)
    assert client_address(peer, Headers(*lines)) == expected


def test_on_spaces_the_private_proxy_is_trusted(monkeypatch):
    monkeypatch.delenv("GRADIO_WEBRTC_TRUSTED_PROXIES", raising=False)
    monkeypatch.setenv("SPACE_ID", "someone/app")
    assert client_address("10.16.4.2", Headers(("x-forwarded-for", "198.51.100.8"))) == "198.51.100.8"
    monkeypatch.setenv("GRADIO_WEBRTC_TRUSTED_PROXIES", "10.0.0.0/33")
    with pytest.raises(ValueError, match="GRADIO_WEBRTC_TRUSTED_PROXIES"):
        client_address("10.16.4.2", Headers())
