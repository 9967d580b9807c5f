"""TURN credential helpers against local stand-ins of each provider's HTTP API.

The stand-ins answer as the providers document it, status codes included, and hand out credentials
for the local coturn, so the last test can prove the returned configuration actually relays media:

* Twilio, `POST /2010-04-01/Accounts/{sid}/Tokens.json`: HTTP Basic auth, optional form field `Ttl`,
  **201 Created**, `ice_servers` entries with string `urls` (live responses also carry the same
  value as `url`), `ttl` as a string; 401 with `{code, message, more_info, status}`.
  Sources: twilio.com/docs/stun-turn/api; twilio-python's tests/integration/api/v2010/account/
  test_token.py (the response example); twilio.com/docs/errors/20003.
* Cloudflare Realtime TURN, `POST /v1/turn/keys/{id}/credentials/generate-ice-servers`: Bearer
  token, JSON `{"ttl": n}`, **201 Created**, `{"iceServers": [{"urls": [stun]}, {"urls": [turn...],
  "username", "credential"}]}` (developers.cloudflare.com/realtime/turn/generate-credentials/).
  Its older `/credentials/generate` answered `iceServers` as one object; both shapes are accepted.
* The Hugging Face / fastrtc service, `GET https://turn.fastrtc.org/credentials?ttl=n`: Bearer HF
  token; answers a Cloudflare-style `iceServers` list (undocumented; fastrtc passes it through as
  an RTCConfiguration, backend/fastrtc/credentials.py). Status taken as 200.
"""

from __future__ import annotations

import base64
import json
import threading
import urllib.parse
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import numpy as np
import pytest
from handlers import Echo
from peer import RATE, connect, onset, tone, wait_for

from gradio_webrtc.credentials import (
    TurnCredentialsError,
    get_cloudflare_turn_credentials,
    get_cloudflare_turn_credentials_async,
    get_hf_turn_credentials,
    get_hf_turn_credentials_async,
    get_turn_credentials,
    get_twilio_turn_credentials,
)

TWILIO_401 = {
    "code": 20003,
    "message": "Authenticate",
    "more_info": "https://www.twilio.com/docs/errors/20003",
    "status": 401,
}


class Providers:
    """One local HTTP server playing HF, Cloudflare and Twilio."""

    def __init__(self, turn: dict[str, str]) -> None:
        self.turn = turn
        self.requests: list[tuple[str, str, dict[str, str], bytes]] = []
        providers = self

        class Handler(BaseHTTPRequestHandler):
            def _send(self, status: int, body: Any) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _record(self) -> bytes:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                providers.requests.append((self.command, self.path, dict(self.headers), body))
                return body

            def do_GET(self) -> None:
                self._record()
                if self.path.startswith("/hf/credentials?ttl=") and self.headers["Authorization"] == "Bearer hf_ok":
                    self._send(200, {"iceServers": [providers.server()]})
                else:
                    self._send(401, {"error": "invalid token"})

            def do_POST(self) -> None:
                body = self._record()
                if self.path == "/cf/turn/keys/key123/credentials/generate-ice-servers":
                    if self.headers["Authorization"] != "Bearer cf_ok" or json.loads(body) != {"ttl": 300}:
                        return self._send(401, {"error": "unauthorized"})
                    return self._send(201, {"iceServers": providers.cloudflare_servers()})
                if self.path == "/cf/turn/keys/oldkey/credentials/generate":
                    # The older endpoint: one object, every URL in it.
                    return self._send(201, {"iceServers": {**providers.server(), "urls": [providers.turn["url"]]}})
                if self.path == "/tw/2010-04-01/Accounts/AC1/Tokens.json":
                    expected = "Basic " + base64.b64encode(b"AC1:tw_ok").decode()
                    if self.headers["Authorization"] != expected:
                        return self._send(401, TWILIO_401)
                    form = urllib.parse.parse_qs(body.decode())
                    if body and self.headers.get("Content-Type") != "application/x-www-form-urlencoded":
                        return self._send(400, {"code": 20001, "message": "form body expected", "status": 400})
                    return self._send(201, providers.twilio_token(form.get("Ttl", ["86400"])[0]))
                self._send(404, {})

            def log_message(self, *args: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def server(self) -> dict[str, Any]:
        return {"urls": self.turn["url"], "username": self.turn["username"], "credential": self.turn["credential"]}

    def cloudflare_servers(self) -> list[dict[str, Any]]:
        return [{"urls": ["stun:127.0.0.1:9"]}, {**self.server(), "urls": [self.turn["url"]]}]

    def twilio_token(self, ttl: str) -> dict[str, Any]:
        """Twilio's Token resource, as its API reference shows it (and `url` beside `urls`, as live)."""
        turn = self.server()
        return {
            "username": turn["username"],
            "ice_servers": [
                {"url": "stun:127.0.0.1:9", "urls": "stun:127.0.0.1:9"},
                {"url": turn["urls"], **turn},
            ],
            "date_updated": "Fri, 01 May 2020 01:42:57 +0000",
            "account_sid": "AC1",
            "ttl": ttl,
            "date_created": "Fri, 01 May 2020 01:42:57 +0000",
            "password": turn["credential"],
        }


@pytest.fixture
def providers(coturn, monkeypatch) -> Iterator[Providers]:
    p = Providers(coturn)
    monkeypatch.setenv("GRADIO_WEBRTC_HF_TURN_URL", f"{p.base}/hf/credentials")
    monkeypatch.setenv("GRADIO_WEBRTC_CLOUDFLARE_API", f"{p.base}/cf")
    monkeypatch.setenv("GRADIO_WEBRTC_TWILIO_API", f"{p.base}/tw")
    for var in ("HF_TOKEN", "TWILIO_ACCOUNT_SID", "TWILIO_AUTH_TOKEN", "CLOUDFLARE_TURN_KEY_ID"):
        monkeypatch.delenv(var, raising=False)
    yield p
    p.http.shutdown()
    p.http.server_close()


def test_hf(providers, monkeypatch):
    config = get_hf_turn_credentials("hf_ok", ttl=120)
    assert config == {"iceServers": [providers.server()]}
    method, path, headers, _ = providers.requests[-1]
    assert (method, path, headers["Authorization"]) == ("GET", "/hf/credentials?ttl=120", "Bearer hf_ok")
    monkeypatch.setenv("HF_TOKEN", "hf_ok")
    assert get_turn_credentials("hf") == config
    with pytest.raises(TurnCredentialsError, match="HTTP 401"):
        get_hf_turn_credentials("hf_wrong")
    monkeypatch.delenv("HF_TOKEN")
    with pytest.raises(ValueError, match="HF_TOKEN"):
        get_hf_turn_credentials()


def test_cloudflare(providers):
    config = get_cloudflare_turn_credentials("key123", "cf_ok", ttl=300)
    assert config == {"iceServers": providers.cloudflare_servers()}
    method, _, headers, body = providers.requests[-1]
    assert (method, headers["Authorization"], json.loads(body)) == ("POST", "Bearer cf_ok", {"ttl": 300})
    with pytest.raises(TurnCredentialsError, match="HTTP 401"):
        get_cloudflare_turn_credentials("key123", "nope", ttl=300)
    assert get_cloudflare_turn_credentials(hf_token="hf_ok") == {"iceServers": [providers.server()]}
    with pytest.raises(ValueError, match="CLOUDFLARE_TURN_KEY_ID"):
        get_cloudflare_turn_credentials()


def test_the_older_single_object_shape_becomes_a_list(providers):
    import httpx

    from gradio_webrtc.credentials import _check, _normalize

    response = httpx.post(f"{providers.base}/cf/turn/keys/oldkey/credentials/generate")
    config = _normalize(_check(response, "Cloudflare"), "Cloudflare")
    assert config == {"iceServers": [{**providers.server(), "urls": [providers.turn["url"]]}]}


def test_twilio(providers):
    config = get_twilio_turn_credentials("AC1", "tw_ok")
    assert config["iceTransportPolicy"] == "relay"
    assert config["iceServers"] == [{"urls": "stun:127.0.0.1:9"}, providers.server()]
    method, _, _, body = providers.requests[-1]
    assert (method, body) == ("POST", b""), "no Ttl: Twilio's default lifetime"
    assert get_turn_credentials("twilio", twilio_sid="AC1", twilio_token="tw_ok") == config
    get_twilio_turn_credentials("AC1", "tw_ok", ttl=600)
    assert providers.requests[-1][3] == b"Ttl=600"
    with pytest.raises(TurnCredentialsError, match="HTTP 401"):
        get_twilio_turn_credentials("AC1", "wrong")
    with pytest.raises(ValueError, match="TWILIO_ACCOUNT_SID"):
        get_twilio_turn_credentials()
    with pytest.raises(ValueError, match="method must be"):
        get_turn_credentials("carrier-pigeon")  # type: ignore[arg-type]


async def test_async_variants(providers):
    assert await get_hf_turn_credentials_async("hf_ok") == {"iceServers": [providers.server()]}
    assert await get_cloudflare_turn_credentials_async("key123", "cf_ok", ttl=300) == {
        "iceServers": providers.cloudflare_servers()
    }


async def test_fetched_credentials_relay_a_session(providers, make_connections):
    """A function as server ICE config: called per connection, its TURN credentials carry the media."""
    calls = []

    def server_ice() -> dict[str, Any]:
        calls.append(1)
        return {**get_hf_turn_credentials("hf_ok"), "iceTransportPolicy": "relay"}

    from gradio_webrtc._engine import Engine
    from gradio_webrtc.connections import Connections

    connections = Connections(Echo(), ice_servers=server_ice, engine=Engine(bind_addresses=["127.0.0.1"]))
    try:
        samples = np.concatenate([np.zeros(RATE // 2, np.int16), tone(440, 1.5)])
        client, answer = await connect(connections.offer, webrtc_id="fetched", samples=samples)
        assert calls == [1]
        assert " typ relay " in answer["sdp"]
        await wait_for(lambda: len(client.recording.chunks) > 90, timeout=15)
        assert onset(client.recording.audio()) is not None
        assert connections.engine.get("fetched").stats()["local_candidate_type"] == "relay"
        await client.close()
    finally:
        connections.close()
