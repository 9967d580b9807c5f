"""Audio both ways between the engine and an aiortc peer, through `Connections` and a handler."""

from __future__ import annotations

import asyncio
import json
import time

import numpy as np
import pytest
from handlers import AsyncEcho, Echo, Faulty, ToneSource, WithOutputs
from peer import RATE, connect, dominant_hz, onset, tone, wait_for

from gradio_webrtc.connections import UnknownConnectionError

pytestmark = pytest.mark.usefixtures("no_leaks")


def errors(messages: list[str]) -> list[str]:
    out = []
    for m in messages:
        try:
            data = json.loads(m)
        except ValueError:
            continue
        if isinstance(data, dict) and data.get("type") == "error":
            out.append(data["message"])
    return out


async def echo_round_trip(make_connections, handler) -> float:
    """Sends 1 s of silence then a 440 Hz burst; checks the echo and returns the round trip in seconds."""
    connections = make_connections(handler)
    burst_at = RATE  # the tone starts one second in
    samples = np.concatenate([np.zeros(burst_at, np.int16), tone(440, 0.6)])
    client, answer = await connect(connections.offer, webrtc_id="echo", samples=samples)
    assert answer["type"] == "answer"
    assert client.track is not None
    await wait_for(lambda: len(client.recording.chunks) > 110, timeout=15)
    audio = client.recording.audio()
    start = onset(audio)
    assert start is not None, "no echoed audio with energy"
    burst = audio[int(start * RATE) + 2400 : int(start * RATE) + 2400 + RATE // 2]
    assert abs(dominant_hz(burst) - 440) < 5
    # Silence before the burst came back as silence: the onset is the burst, not noise.
    assert np.sqrt(np.mean(audio[: int(start * RATE) - 960] ** 2)) < 0.01
    # Round trip: when the burst's first frame left the client -> when its echo arrived.
    sent = client.track.sent_at[burst_at // 960]
    frame_idx = int(start * RATE) // 960
    received = client.recording.times[frame_idx]
    await client.close()
    await wait_for(lambda: len(connections) == 0, timeout=5)
    return received - sent


async def test_echo_returns_the_tone_burst(make_connections):
    rtt = await echo_round_trip(make_connections, Echo())
    print(f"\nround-trip latency (aiortc peer, loopback, sync handler): {rtt * 1000:.0f} ms")
    assert rtt > 0


async def test_async_handler_echo(make_connections):
    rtt = await echo_round_trip(make_connections, AsyncEcho())
    print(f"\nround-trip latency (aiortc peer, loopback, async handler): {rtt * 1000:.0f} ms")
    assert rtt > 0


@pytest.mark.parametrize("rate", [16000, 24000])
async def test_handler_gets_20ms_int16_frames_at_its_rate(make_connections, rate):
    handler = Echo(input_sample_rate=rate)
    seen: list[tuple[int, tuple[int, ...], str]] = []
    original = Echo.receive

    class Spy(Echo):
        def receive(self, frame):
            seen.append((frame[0], frame[1].shape, str(frame[1].dtype)))
            original(self, frame)

        def copy(self):
            return Spy(input_sample_rate=rate)

    connections = make_connections(Spy(input_sample_rate=rate))
    client, _ = await connect(connections.offer, webrtc_id="rate", samples=tone(300, 1.0))
    await wait_for(lambda: len(seen) >= 20)
    assert set(seen[:20]) == {(rate, (1, rate // 50), "int16")}
    await client.close()
    del handler


@pytest.mark.parametrize("shape", ["int16 (1, N)", "float32 (N,)", "stereo float32 (2, N) at 24 kHz"])
async def test_emitted_shapes_play_back(make_connections, shape):
    connections = make_connections(ToneSource(shape, hz=660))
    client, _ = await connect(connections.offer, webrtc_id="shape", samples=None)
    await wait_for(lambda: len(client.recording.chunks) > 60, timeout=10)
    audio = client.recording.audio()[-RATE // 2 :]
    assert np.sqrt(np.mean(audio**2)) > 0.2, "the tone did not arrive with its level"
    assert abs(dominant_hz(audio) - 660) < 5
    await client.close()


async def test_fast_producer_is_paced_not_burst(make_connections):
    """A handler yielding 2 s of audio at once is played over 2 s, not sent in a burst."""

    class Burst(ToneSource):
        sent = False

        def emit(self):
            if self.sent:
                return None
            self.sent = True
            t = np.arange(2 * 24000) / 24000
            return 24000, (0.5 * 32767 * np.sin(2 * np.pi * 500 * t)).astype(np.int16).reshape(1, -1)

        def copy(self):
            return Burst()

    connections = make_connections(Burst())
    client, _ = await connect(connections.offer, webrtc_id="burst", samples=None)
    await wait_for(lambda: len(client.recording.chunks) > 0)
    t0 = time.monotonic()
    session = connections.engine.get("burst")
    assert session is not None
    await wait_for(lambda: session.stats()["audio_frames_out"] >= 20, timeout=5)
    # After ~0.4 s of wall time, at most ~0.4 s + slack of the 2 s reply has been sent.
    sent_s = session.stats()["audio_frames_out"] * 0.02
    elapsed = time.monotonic() - t0
    assert sent_s <= elapsed + 0.3, (sent_s, elapsed)
    assert session.output_buffered() > 0.5
    await wait_for(lambda: session.stats()["audio_frames_out"] >= 100, timeout=6)
    await client.close()


@pytest.mark.parametrize(
    ("fault", "needle"),
    [
        ("raise", "RuntimeError: model exploded"),
        ("raise-hidden", "The handler failed; the server's log has the details."),
        ("string", "the handler emitted a str"),
        ("dtype", "int16 or float32"),
        ("shape", "(1, N), (2, N)"),
    ],
)
async def test_handler_faults_are_reported_and_the_session_goes_on(make_connections, fault, needle):
    """A handler's exception text reaches the page only where the app shows errors (`show_error`):
    it may hold an API's answer or a key. What is wrong with an emitted item is always said."""
    hidden = fault == "raise-hidden"
    connections = make_connections(Faulty("raise" if hidden else fault), show_error=lambda: not hidden)
    samples = np.concatenate([np.zeros(RATE // 2, np.int16), tone(440, 2.0)])
    client, _ = await connect(connections.offer, webrtc_id=f"fault-{fault}", samples=samples)
    await wait_for(lambda: errors(client.messages), timeout=10)
    assert any(needle in e for e in errors(client.messages)), errors(client.messages)
    if hidden:
        assert not any("model exploded" in m for m in client.messages), client.messages
    # The session survived: echoed tone energy keeps arriving after the error.
    n = len(client.recording.chunks)
    await wait_for(lambda: len(client.recording.chunks) > n + 40, timeout=10)
    assert np.abs(client.recording.audio()[-RATE // 2 :]).max() > 0.1
    assert connections.engine.session_count() == 1
    await client.close()


async def test_malformed_sdp_is_refused_and_the_next_session_works(make_connections):
    connections = make_connections(Echo())
    answer = await connections.offer({"sdp": "v=0\r\nthis is not sdp", "type": "offer", "webrtc_id": "bad"})
    assert answer["status"] == "failed"
    assert answer["meta"]["error"] == "invalid_offer"
    assert "malformed SDP" in answer["meta"]["message"]
    for body in [{"sdp": "x", "type": "offer"}, {"type": "offer", "webrtc_id": "x"}, "nope"]:
        assert (await connections.offer(body))["status"] == "failed"
    answer = await connections.offer({"sdp": "x", "type": "answer", "webrtc_id": "bad2"})
    assert 'expected type "offer"' in answer["meta"]["message"]
    assert len(connections) == 0 and connections.engine.session_count() == 0
    await test_echo_returns_the_tone_burst(lambda _h: connections)


async def test_offer_without_audio_is_refused(make_connections):
    connections = make_connections(Echo())
    client, answer = await connect(connections.offer, webrtc_id="nomedia", send=False, receive=False)
    assert answer["status"] == "failed"
    assert "no audio section" in answer["meta"]["message"]
    await client.close()
    assert connections.engine.session_count() == 0


async def test_unknown_and_duplicate_ids(make_connections):
    connections = make_connections(Echo())
    with pytest.raises(UnknownConnectionError, match="has ended or never started"):
        connections.set_input("nobody", 1, 2)
    assert connections.pop_outputs("nobody") is None
    client, _ = await connect(connections.offer, webrtc_id="dup", samples=None)
    again, answer = await connect(connections.offer, webrtc_id="dup", samples=None)
    assert answer == {"status": "failed", "meta": {"error": "connection_already_exists"}}
    await again.close()
    await client.close()


async def test_concurrency_limit_per_connections(make_connections):
    connections = make_connections(Echo(), concurrency_limit=1)
    first, _ = await connect(connections.offer, webrtc_id="one")
    second, answer = await connect(connections.offer, webrtc_id="two")
    assert answer == {"status": "failed", "meta": {"error": "concurrency_limit_reached", "limit": 1}}
    await second.close()
    await first.close()
    await wait_for(lambda: len(connections) == 0, timeout=5)
    third, answer = await connect(connections.offer, webrtc_id="three")
    assert answer["type"] == "answer"
    await third.close()


async def test_vanished_client_is_cleaned_up(make_connections):
    """A peer whose packets stop (no close, no goodbye) frees its session after the ICE timeout."""
    handler = Echo()
    connections = make_connections(handler)
    client, _ = await connect(connections.offer, webrtc_id="ghost", samples=tone(300, 5.0))
    await wait_for(lambda: len(client.recording.chunks) > 10)
    connection = connections.connections["ghost"]
    # Cut the network under aiortc: close its UDP sockets without any DTLS/SCTP goodbye.
    for transceiver in client.pc.getTransceivers():
        for protocol in transceiver.receiver.transport.transport.iceGatherer._connection._protocols:
            protocol.transport.close()
    t0 = time.monotonic()
    await wait_for(lambda: connections.engine.session_count() == 0, timeout=15)
    print(f"\nvanished peer cleaned up after {time.monotonic() - t0:.1f} s")
    await wait_for(lambda: len(connections) == 0, timeout=5)
    assert connection.session.close_reason == "connection lost (ICE failed)"
    assert connection.handler.shut_down
    await client.close()


async def test_time_limit_ends_the_session(make_connections):
    connections = make_connections(Echo(), time_limit=1.5)
    client, _ = await connect(connections.offer, webrtc_id="timed", samples=tone(300, 5.0))
    await wait_for(lambda: len(client.recording.chunks) > 0)
    session = connections.engine.get("timed")
    assert session is not None
    await wait_for(lambda: len(connections) == 0, timeout=10)
    assert session.close_reason == "time limit reached"
    assert any('"end_stream"' in m for m in client.messages)
    # Measured in media, not wall-clock, time: the 5 s tone was cut at the 1.5 s limit.
    heard = len(client.recording.audio()) / RATE
    assert 1.0 < heard < 3.0, heard
    await client.close()


async def test_additional_outputs_are_queued_in_order(make_connections):
    connections = make_connections(WithOutputs())
    client, _ = await connect(connections.offer, webrtc_id="outs", samples=tone(300, 3.0))
    await wait_for(lambda: client.messages.count("change") >= 3, timeout=10)
    values = [connections.pop_outputs("outs").args[0] for _ in range(3)]
    assert values == sorted(values) and len(set(values)) == 3
    await client.close()


async def test_wait_for_args_asks_the_browser_and_gets_inputs(make_connections):
    got: list[list] = []

    class NeedsArgs(Echo):
        def emit(self):
            if not self.args_set.is_set():
                self.wait_for_args_sync()
                got.append(list(self.latest_args))
            return None

        def copy(self):
            return NeedsArgs()

    connections = make_connections(NeedsArgs())
    client, _ = await connect(connections.offer, webrtc_id="args", samples=None)
    await wait_for(lambda: "tick" in client.messages)
    connections.set_input("args", "hello", 3)
    await wait_for(lambda: bool(got))
    assert got == [["__webrtc_value__", "hello", 3]]
    await client.close()


async def test_two_registries_are_independent(make_connections):
    a = make_connections(Echo(), concurrency_limit=1)
    b = make_connections(Echo(), concurrency_limit=1)
    ca, answer_a = await connect(a.offer, webrtc_id="same-id")
    cb, answer_b = await connect(b.offer, webrtc_id="same-id")
    assert answer_a["type"] == answer_b["type"] == "answer"
    assert len(a) == len(b) == 1
    await ca.close()
    await wait_for(lambda: len(a) == 0)
    assert len(b) == 1
    await cb.close()
    await asyncio.sleep(0)
