"""Limits that keep a server open to the internet standing: the per-client offer rate, the
process-wide session cap, and logs that carry no secrets or media. (Offer abuse and session
binding through Gradio's HTTP API: test_component_http.py.)"""

from __future__ import annotations

import logging
import re

import numpy as np
import pytest
from handlers import Echo
from peer import connect, tone, wait_for

from gradio_webrtc import StreamHandler
from gradio_webrtc.limits import OfferRateLimiter, live_sessions, max_sessions


def test_the_offer_rate_refills_and_forgets_idle_clients():
    now = [0.0]
    limiter = OfferRateLimiter(per_minute=3, clock=lambda: now[0])
    assert [limiter.allow("a") for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.allow("a")
    assert wait == pytest.approx(20.0), "the 4th offer waits for one token (20 s at 3 a minute)"
    assert limiter.allow("b") == 0.0, "another client has its own bucket"
    now[0] += 20.0
    assert limiter.allow("a") == 0.0
    assert limiter.allow("a") > 0
    limiter.MAX_CLIENTS = 10
    for i in range(50):
        now[0] += 60.0
        limiter.allow(f"client-{i}")
    assert len(limiter._buckets) <= 10, "idle clients are forgotten"
    with pytest.raises(ValueError, match="offers_per_minute must be positive"):
        OfferRateLimiter(per_minute=0)


def test_the_session_cap_setting(monkeypatch):
    monkeypatch.delenv("GRADIO_WEBRTC_MAX_SESSIONS", raising=False)
    assert max_sessions() is not None and max_sessions() >= 64
    monkeypatch.setenv("GRADIO_WEBRTC_MAX_SESSIONS", "0")
    assert max_sessions() is None
    monkeypatch.setenv("GRADIO_WEBRTC_MAX_SESSIONS", "lots")
    with pytest.raises(ValueError, match="GRADIO_WEBRTC_MAX_SESSIONS must be an integer"):
        max_sessions()


async def test_the_process_wide_session_cap_spans_streams(make_connections, monkeypatch):
    """Two streams, a cap of 2 sessions for the process: the third offer is refused whichever
    stream it goes to, and is accepted again once a session ends."""
    first, second = make_connections(Echo(), concurrency_limit=4), make_connections(Echo(), concurrency_limit=4)
    monkeypatch.setenv("GRADIO_WEBRTC_MAX_SESSIONS", str(live_sessions() + 2))
    a, answer_a = await connect(first.offer, webrtc_id="cap-a")
    b, answer_b = await connect(second.offer, webrtc_id="cap-b")
    assert answer_a["type"] == answer_b["type"] == "answer"
    c, refused = await connect(second.offer, webrtc_id="cap-c")
    assert refused["status"] == "failed" and refused["meta"]["error"] == "server_busy", refused
    assert "capacity" in refused["meta"]["message"]
    await c.close()
    await a.close()
    await wait_for(lambda: len(first) == 0, timeout=20)
    d, answer_d = await connect(second.offer, webrtc_id="cap-d")
    assert answer_d["type"] == "answer"
    for client in (b, d):
        await client.close()


class UsesAKey(StreamHandler):
    """Echoes, with an API key among its inputs, and fails once on purpose."""

    def __init__(self) -> None:
        super().__init__(input_sample_rate=48000, output_sample_rate=48000)
        self.frames: list = []
        self.played = 0

    def receive(self, frame) -> None:
        self.frames.append(frame)

    def emit(self):
        if not self.args_set.is_set():
            self.wait_for_args_sync()
        if not self.frames:
            return None
        self.played += 1
        if self.played == 20:
            raise RuntimeError("the model timed out")
        return self.frames.pop(0)

    def copy(self) -> UsesAKey:
        return UsesAKey()


async def test_logs_hold_no_credentials_keys_or_audio(make_connections, coturn, caplog):
    """Debug logging on, a session relayed through TURN with a credential, an API key passed as
    an input, a handler error, an ended session: the log names sessions and reasons, never the
    secrets or the audio."""
    caplog.set_level(logging.DEBUG)
    ice = {"iceServers": [{"urls": coturn["url"], "username": coturn["username"], "credential": coturn["credential"]}]}
    connections = make_connections(UsesAKey(), ice_servers=ice)
    samples = np.concatenate([tone(440, 1.5), np.zeros(24000, np.int16)])
    client, answer = await connect(connections.offer, webrtc_id="logs", samples=samples)
    assert answer["type"] == "answer"
    await wait_for(lambda: "tick" in client.messages, timeout=15)
    connections.set_input("logs", "sk-live-0123456789abcdef", "turn-password-in-an-input")
    await wait_for(lambda: any("error" in m for m in client.messages), timeout=15)
    await client.close()
    await wait_for(lambda: len(connections) == 0, timeout=20)
    text = caplog.text
    assert "the model timed out" in text, "the handler's error is logged"
    for secret in (coturn["credential"], "sk-live-0123456789abcdef", "turn-password-in-an-input"):
        assert secret not in text, f"{secret!r} reached the log"
    assert not re.search(r"-?\d+(,\s*-?\d+){50,}", text) and "array(" not in text, "audio samples in the log"
