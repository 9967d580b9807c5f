"""Shared fixtures: engines with short ICE timeouts, a coturn server, leak checks."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from gradio_webrtc._engine import Engine
from gradio_webrtc.connections import Connections

#: ICE timeouts for tests: a vanished peer is detected in ~1 s and its session ended ~1 s later.
FAST_ICE = (1.0, 1.0, 0.3)


@pytest.fixture
async def make_connections() -> AsyncIterator[Callable[..., Connections]]:
    """Builds `Connections` on an engine with short ICE timeouts; closes them all afterwards."""
    made: list[Connections] = []

    def make(handler: Any, **kwargs: Any) -> Connections:
        ice = kwargs.pop("ice_servers", None)
        engine = Engine(ice_servers=ice, ice_timeouts=FAST_ICE, bind_addresses=["127.0.0.1"])
        connections = Connections(handler, engine=engine, **kwargs)
        made.append(connections)
        return connections

    yield make
    for c in made:
        c.close()
    await asyncio.sleep(0.1)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def coturn() -> Iterator[dict[str, str]]:
    """A real coturn TURN server on loopback with a static long-term-credential user."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn is not installed (apt-get install coturn); .ci/run installs it")
    port = _free_port()
    proc = subprocess.Popen(
        [
            binary,
            "-n",
            "--listening-ip=127.0.0.1",
            "--relay-ip=127.0.0.1",
            f"--listening-port={port}",
            "--allow-loopback-peers",
            "--lt-cred-mech",
            "--user=tester:secret",
            "--realm=gradio-webrtc.test",
            "--no-tls",
            "--no-dtls",
            "--no-cli",
            "--min-port=49200",
            "--max-port=49400",
            "--log-file=stdout",
            "--simple-log",
            "--no-stun-backward-compatibility",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    # coturn logs its listener when it is ready to serve.
    deadline = time.monotonic() + 10
    assert proc.stdout is not None
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if "Total General servers" in line or "IPv4. UDP listener opened on" in line:
            break
    drain = threading.Thread(target=lambda: [None for _ in proc.stdout], daemon=True)  # type: ignore[union-attr]
    drain.start()
    yield {"url": f"turn:127.0.0.1:{port}?transport=udp", "username": "tester", "credential": "secret"}
    proc.terminate()
    proc.wait(5)
    drain.join(5)
    proc.stdout.close()


@pytest.fixture
def no_leaks() -> Iterator[None]:
    """Fails the test if it leaves threads behind (checked after the sessions had time to end)."""
    before = {t.ident for t in threading.enumerate()}
    yield
    deadline = time.monotonic() + 5
    while True:
        extra = [t for t in threading.enumerate() if t.ident not in before and t.name.startswith("webrtc-")]
        if not extra or time.monotonic() > deadline:
            break
        time.sleep(0.05)
    assert not extra, f"threads left running: {[t.name for t in extra]}"
