"""Sessions come and go and leave nothing behind (bench/churn.py measures it at scale).

Half the peers leave cleanly, half vanish (their sockets closed under aiortc, no goodbye). After
they are gone: no engine session, no task on the engine's runtime beyond what was there, no
thread, and every session's Python objects freed by reference counting alone (the cyclic
collector is off during the test). Cycles there used to keep each session, and the engine's
buffers behind it, alive until the next full collection: ~200 kB of server memory per session.
"""

from __future__ import annotations

import gc
import os
import weakref

import pytest
from handlers import Echo
from peer import connect, tone, wait_for

from gradio_webrtc import _engine

pytestmark = pytest.mark.usefixtures("no_leaks")

SESSIONS = 12


def vanish(client) -> None:
    """Cuts the network under aiortc: its UDP sockets close without any DTLS/SCTP goodbye."""
    for transceiver in client.pc.getTransceivers():
        for protocol in transceiver.receiver.transport.transport.iceGatherer._connection._protocols:
            protocol.transport.close()


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_sessions_leave_nothing_behind(make_connections):
    connections = make_connections(Echo(), concurrency_limit=None)
    # One session first: the engine's and the worker pool's first-use allocations are not churn.
    warm, _ = await connect(connections.offer, webrtc_id="warm", samples=tone(300, 2.0))
    await wait_for(lambda: len(warm.recording.chunks) > 10)
    await warm.close()
    await wait_for(lambda: len(connections) == 0, timeout=10)
    gc.collect()
    gc.disable()
    try:
        await wait_for(lambda: _engine.runtime_tasks() == 0, timeout=10)
        fds = open_fds()
        refs: list[weakref.ref] = []
        clients = []
        for i in range(SESSIONS):
            client, answer = await connect(connections.offer, webrtc_id=f"churn-{i}", samples=tone(300, 5.0))
            assert answer["type"] == "answer", answer
            await wait_for(lambda c=client: len(c.recording.chunks) > 10)
            connection = connections.connections[f"churn-{i}"]
            refs += [weakref.ref(connection), weakref.ref(connection.runner), weakref.ref(connection.handler)]
            del connection
            if i % 2:
                vanish(client)
            else:
                await client.close()
            clients.append(client)
        await wait_for(lambda: connections.engine.session_count() == 0 and len(connections) == 0, timeout=30)
        for client in clients:
            await client.close()
        await wait_for(lambda: all(r() is None for r in refs), timeout=10)
        await wait_for(lambda: _engine.runtime_tasks() == 0, timeout=10)
        await wait_for(lambda: open_fds() <= fds, timeout=10)
    finally:
        gc.enable()
