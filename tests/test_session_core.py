"""The session core seen from Python: limits that hold under parallel offers, slots that come back,
one failure path, typed refusals, a constant thread pool, idle sessions that cost nothing, and
no standing delay when a handler starts late."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import psutil
import pytest
from handlers import Echo
from peer import RATE, connect, onset, tone, wait_for

import gradio_webrtc.lanes
from gradio_webrtc.session_runner import SessionRunner
from gradio_webrtc.worker_pool import WorkerPool

pytestmark = pytest.mark.usefixtures("no_leaks")


async def test_parallel_offers_never_exceed_the_limit(make_connections):
    connections = make_connections(Echo(), concurrency_limit=5)
    results = await asyncio.gather(
        *(connect(connections.offer, webrtc_id=f"par-{i}", samples=tone(440, 0.2)) for i in range(20))
    )
    answers = [answer for _, answer in results]
    admitted = [a for a in answers if a.get("type") == "answer"]
    refused = [a for a in answers if a.get("status") == "failed"]
    assert len(admitted) == 5, [a.get("meta") for a in answers]
    assert {r["meta"]["error"] for r in refused} == {"concurrency_limit_reached"}
    assert len(connections) == 5
    for client, _ in results:
        await client.close()


async def test_a_receive_mode_peer_that_never_connects_frees_its_slot(make_connections):
    def beeps():
        yield RATE, tone(440, 0.5).reshape(1, -1)

    connections = make_connections(beeps, mode="receive", concurrency_limit=1)
    # An offer whose answer is never applied: no ICE, no DTLS, no `tick`, so no handler either.
    ghost, answer = await connect(connections.offer, webrtc_id="ghost", send=False)
    await ghost.pc.close()
    assert answer["type"] == "answer" and len(connections) == 1
    refused, answer = await connect(connections.offer, webrtc_id="next-too-soon", send=False)
    assert answer["meta"]["error"] == "concurrency_limit_reached"
    await refused.close()
    # The never-connected watchdog (ICE timeouts, 2 s here) ends the session; the slot comes back.
    await wait_for(lambda: len(connections) == 0, timeout=10)
    client, answer = await connect(connections.offer, webrtc_id="next", send=False)
    assert answer["type"] == "answer"
    await client.close()


async def test_refusals_say_what_went_wrong(make_connections):
    connections = make_connections(Echo())
    client, answer = await connect(connections.offer, webrtc_id="video-only-offer", send=False, receive=False)
    await client.close()
    assert answer["status"] == "failed"
    assert answer["meta"]["error"] == "no_usable_media", answer
    assert "no audio section" in answer["meta"]["message"]
    bad = await connections.offer({"sdp": "v=0", "type": "answer", "webrtc_id": "x"})
    assert bad["meta"]["error"] == "invalid_offer"
    connections.engine.close()
    client, closed = await connect(connections.offer, webrtc_id="late")
    await client.close()
    assert closed["meta"]["error"] == "server_shutting_down", closed


def _is_error(message: str, text: str) -> bool:
    try:
        parsed = json.loads(message)
    except ValueError:
        return False
    return isinstance(parsed, dict) and parsed.get("type") == "error" and text in parsed.get("message", "")


class Shy(Echo):
    """Records shutdown from whichever thread runs it."""

    def shutdown(self) -> None:
        self.shut_down = True
        Shy.shutdown_thread = threading.current_thread().name


async def test_a_runner_failure_reaches_the_page_shuts_the_handler_down_and_frees_the_slot(
    make_connections, monkeypatch, caplog
):
    handler = Shy()
    copies: list[Shy] = []
    monkeypatch.setattr(Shy, "copy", lambda self: copies.append(Shy()) or copies[-1])

    async def broken_output(runner: SessionRunner, is_async: bool) -> None:
        await asyncio.sleep(0.3)
        raise RuntimeError("the output lane broke")

    # Fault injection into our own runner (not the handler): the one failure path must take over.
    monkeypatch.setattr(gradio_webrtc.lanes, "audio_output", broken_output)
    connections = make_connections(handler)
    caplog.set_level(logging.INFO, logger="gradio_webrtc")
    client, _ = await connect(connections.offer, webrtc_id="broken", samples=tone(440, 2))
    await wait_for(lambda: any(_is_error(m, "output lane broke") for m in client.messages))
    await wait_for(lambda: len(connections) == 0, timeout=5)
    # The slot is freed first; shutdown() runs after (a slow one must not hold the slot).
    await wait_for(lambda: copies[0].shut_down, timeout=5)
    assert Shy.shutdown_thread.startswith("gradio-webrtc-worker"), "a sync shutdown() runs off the event loop"
    # The log line follows shutdown() (which sets the flag from a worker thread before the loop resumes).
    await wait_for(lambda: any("failed:" in r.getMessage() for r in caplog.records), timeout=5)
    failed_lines = [r for r in caplog.records if "failed:" in r.getMessage()]
    assert len(failed_lines) == 1 and failed_lines[0].levelno == logging.ERROR
    await client.close()


def test_the_pool_grows_while_handlers_block_and_shrinks_back_after():
    pool = WorkerPool(core=1, limit=4, retire_after=0.3)

    def until(condition: Any, what: str) -> None:
        deadline = time.monotonic() + 10
        while not condition():
            assert time.monotonic() < deadline, what
            time.sleep(0.01)

    release = threading.Event()
    blocked = [pool.submit(release.wait) for _ in range(3)]

    def workers() -> int:
        return sum(t.name.startswith("gradio-webrtc-worker") for t in threading.enumerate())

    until(lambda: pool.threads == 3, f"three blocking calls got {pool.threads} threads, not 3")
    peak = workers()
    release.set()
    assert all(f.result(5) for f in blocked)
    until(lambda: pool.threads == 1, f"{pool.threads} threads left, not the 1 core thread")
    until(lambda: workers() == peak - 2, "the retired threads exited")
    # The pool still serves, and grows again when it must.
    assert pool.submit(lambda: 42).result(5) == 42
    release.clear()
    blocked = [pool.submit(release.wait) for _ in range(2)]
    until(lambda: pool.threads == 2, "grows again")
    release.set()
    pool.shutdown()
    assert all(f.result(5) for f in blocked)


@pytest.fixture
def echo_server() -> Any:
    """The benchmark's echo app (sync handler) in its own process, behind Gradio's real HTTP API."""
    sys.path.insert(0, str(Path(__file__).parent.parent / "bench"))
    from common import start_server

    proc, base = start_server(sys.executable, "sync", "echo")
    try:
        yield base, psutil.Process(proc.pid)
    finally:
        proc.terminate()
        proc.wait(10)
        if proc.stdout is not None:
            proc.stdout.close()


async def test_32_sync_sessions_share_a_small_thread_pool_and_idle_costs_nothing(echo_server):
    """Every session used to hold 2-4 threads of its own; now they share a pool. Connected peers
    that hear nothing cost the server a DTX packet every 400 ms each and its pacer's ticks."""
    from aiortc import RTCPeerConnection
    from common import negotiate

    base, server = echo_server
    baseline = server.num_threads()
    peers = []
    for i in range(32):
        pc = RTCPeerConnection()
        pc.createDataChannel("text")
        pc.addTransceiver("audio", direction="recvonly")  # connected, but never sends a sound
        await negotiate(pc, base, f"idle-{i}-{time.time_ns()}")
        peers.append(pc)
    await asyncio.sleep(2.0)
    threads = server.num_threads()
    cpu0, t0 = sum(server.cpu_times()[:2]), time.monotonic()
    await asyncio.sleep(10.0)
    cpu = (sum(server.cpu_times()[:2]) - cpu0) / (time.monotonic() - t0)
    per_session = cpu * 100 / 32
    print(f"\nserver threads: {baseline} idle, {threads} with 32 sync sessions; idle CPU {per_session:.3f} % each")
    assert threads - baseline <= 8, f"{threads - baseline} more threads for 32 sessions: not a shared pool"
    for pc in peers:
        await pc.close()


class SlowStart(Echo):
    """An echo whose model takes a second to load: audio piles up before it starts."""

    def start_up(self) -> None:
        time.sleep(1.0)


async def test_audio_that_piled_up_before_the_handler_started_is_not_a_standing_delay(make_connections):
    # The client streams from the moment it connects, like a browser: 300 ms bursts once a second.
    burst = np.concatenate([tone(660, 0.3), np.zeros(int(0.7 * RATE), np.int16)])
    samples = np.tile(burst, 8)
    connections = make_connections(SlowStart())
    client, _ = await connect(connections.offer, webrtc_id="late-start", samples=samples)
    await asyncio.sleep(8.5)
    audio = client.recording.audio()
    times = client.recording.times
    await client.close()
    # Round trip of the last bursts: sent at k seconds after the track started, heard when?
    start = client.track.start
    trips = []
    for k in (5, 6, 7):
        sent = start + k
        first = next((i for i, t in enumerate(times) if t >= sent), None)
        assert first is not None
        window = audio[first * 960 : (first + 50) * 960]
        at = onset(window)
        assert at is not None, f"burst {k} never came back"
        trips.append(times[first + int(at * RATE) // 960] - sent)
    print(f"\nround trips after a 1 s late start: {[round(t * 1000) for t in trips]} ms")
    assert max(trips) < 0.25, "the second of audio queued before start_up() finished is still queued"


def test_pause_defaults_live_in_one_place():
    from gradio_webrtc import AlgoOptions, SileroVadOptions
    from gradio_webrtc._engine import pause_defaults

    engine = pause_defaults()
    assert AlgoOptions().audio_chunk_duration == engine["audio_chunk_duration"]
    assert SileroVadOptions().speech_pad_ms == round(engine["speech_pad"] * 1000)


def test_sample_rates_are_checked_by_the_engine():
    with pytest.raises(ValueError, match="input_sample_rate must be an integer between 4000 and 192000"):
        Echo(input_sample_rate=1000)
    with pytest.raises(ValueError, match="output_sample_rate"):
        Echo(output_sample_rate=500_000)
