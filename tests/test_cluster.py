"""Replicas behind a real load balancer: `deploy/cluster/local.sh` (HAProxy with cookie affinity and
the readiness check, one coturn with TURN REST credentials, replicas as child processes), driven
as an operator and a user would: conversations through the front URL with `gradio_webrtc.testing`
(which keeps the balancer's cookie, as a browser does) and fastrtc's WebSocket protocol, a
replica sent SIGTERM mid-conversation (a rolling restart's step), and brought back.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from speech import load
from stream_server import open_client, wait_for

from gradio_webrtc.testing import connect

ROOT = Path(__file__).resolve().parent.parent
APPS = ROOT / "tests" / "apps"
SPEECH = ROOT / "tests" / "data" / "speech"
DRAIN_S = 60

pytestmark = pytest.mark.timeout(300)


class Cluster:
    """`deploy/cluster/local.sh N APP`, its front URL and its replicas (index -> pid, port)."""

    def __init__(self, n: int, app: str, cwd: Path) -> None:
        if shutil.which("haproxy") is None or shutil.which("turnserver") is None:
            pytest.fail("needs the Debian packages haproxy and coturn (make system-deps; .ci/run installs them)")
        env = {
            **os.environ,
            "PYTHON": sys.executable,
            "GRADIO_WEBRTC_DRAIN_S": str(DRAIN_S),
            "GRADIO_WEBRTC_DRAIN_ON_SIGTERM": "1",  # the plugin turns it off for test runs
        }
        self.proc = subprocess.Popen(
            ["bash", str(ROOT / "deploy" / "cluster" / "local.sh"), str(n), app],
            cwd=cwd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        assert self.proc.stdout is not None
        self.url = self.proc.stdout.readline().strip()
        assert self.url.startswith("http://127.0.0.1:"), self.url
        self.lines: list[str] = []
        self.replicas: dict[int, tuple[int, int]] = {}
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        self.wait_ready(n)

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line.strip())
            if m := re.match(r"replica (\d+) pid (\d+) port (\d+)", line):
                self.replicas[int(m[1])] = (int(m[2]), int(m[3]))

    def ready(self, i: int) -> tuple[int, dict[str, Any]]:
        """The readiness answer of replica `i`, asked directly (not through the balancer)."""
        url = f"http://127.0.0.1:{self.replicas[i][1]}/gradio_webrtc/ready"
        try:
            with urllib.request.urlopen(url, timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as err:
            return err.code, json.loads(err.read())
        except OSError:
            return 0, {}

    def wait_ready(self, n: int, timeout: float = 90) -> None:
        """Until all `n` replicas take calls and HAProxy has seen them (its check: rise 2 x 1 s)."""
        deadline = time.monotonic() + timeout
        while len(self.replicas) < n or any(self.ready(i)[0] != 200 for i in self.replicas):
            assert time.monotonic() < deadline, f"replicas not ready: {self.lines}"
            time.sleep(0.3)
        time.sleep(2.5)

    def pid_of(self, i: int) -> int:
        return self.replicas[i][0]

    def index_of(self, pid: int) -> int:
        return next(i for i, (p, _) in self.replicas.items() if p == pid)

    def stop(self) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(DRAIN_S + 30)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(10)
        self.reader.join(10)
        assert self.proc.stdout is not None
        self.proc.stdout.close()


@pytest.fixture
def gradio_cluster():
    cluster = Cluster(2, str(APPS / "cluster_app.py"), ROOT)
    yield cluster
    cluster.stop()
    assert "stopped" in cluster.lines, cluster.lines


@pytest.fixture
def stream_cluster():
    cluster = Cluster(2, "cluster_app:app", APPS)
    yield cluster
    cluster.stop()
    assert "stopped" in cluster.lines, cluster.lines


async def answered_by(call: Any) -> int:
    """Says a sentence and waits for the reply and the replica's name in the AdditionalOutputs
    (which reach the page through the balancer: the queue's requests carry the cookie)."""
    seen = len(call.additional_outputs)
    await call.say(SPEECH / "one_sentence.wav")
    reply = await call.reply(timeout=20)
    assert reply.duration > 0.3
    await wait_for(lambda: len(call.additional_outputs) > seen, 10)
    return int(call.additional_outputs[-1])


async def conversation(url: str) -> int:
    async with connect(url, "Conversation") as call:
        return await answered_by(call)


async def test_conversations_spread_over_replicas_and_a_replica_drains(gradio_cluster):
    cluster = gradio_cluster
    pids = {cluster.pid_of(1), cluster.pid_of(2)}
    # 16 conversations through the front URL: each answered, by both replicas between them.
    answers = await asyncio.gather(*[conversation(cluster.url) for _ in range(16)])
    assert set(answers) == pids, answers

    async with contextlib.AsyncExitStack() as stack:
        calls = [await stack.enter_async_context(connect(cluster.url, "Conversation")) for _ in range(4)]
        owners = [await answered_by(call) for call in calls]
        assert set(owners) == pids, owners
        leaving = cluster.index_of(owners[0])
        staying = 3 - leaving
        # A rolling restart's step: SIGTERM to one replica while it has live calls.
        os.kill(owners[0], signal.SIGTERM)
        await wait_for(lambda: cluster.ready(leaving)[0] == 503, 10)
        status = cluster.ready(leaving)[1]
        assert status["draining"] is True and status["sessions"] == owners.count(owners[0]), status
        await asyncio.sleep(2.5)  # HAProxy's check (1 s) takes it out of the rotation
        # Its calls go on: the next turn is answered, by the same replica.
        for call, owner in zip(calls, owners, strict=True):
            assert not call.closed
            assert await answered_by(call) == owner
        # New conversations go to the other replica.
        fresh = await asyncio.gather(*[conversation(cluster.url) for _ in range(4)])
        assert set(fresh) == {cluster.pid_of(staying)}, fresh
        assert cluster.ready(leaving)[1]["sessions"] == owners.count(owners[0])
    # Its last call ended: the drained replica exits by itself (local.sh starts it again).
    await wait_for(lambda: any(f"replica {leaving} exited" in line for line in cluster.lines), 20)
    await wait_for(lambda: cluster.pid_of(leaving) not in pids, 10)
    await asyncio.to_thread(cluster.wait_ready, 2)
    # Back in the rotation: it takes calls again.
    answers = await asyncio.gather(*[conversation(cluster.url) for _ in range(4)])
    assert cluster.pid_of(leaving) in answers, answers


async def test_a_replica_refuses_offers_while_draining_and_says_so(gradio_cluster):
    """Asked directly (as a page pinned to it is), a draining replica refuses new calls with
    `server_draining`, which a client retries elsewhere."""
    cluster = gradio_cluster
    direct = f"http://127.0.0.1:{cluster.replicas[1][1]}"
    async with connect(direct, "Conversation") as call:
        await answered_by(call)
        os.kill(cluster.pid_of(1), signal.SIGTERM)
        await wait_for(lambda: cluster.ready(1)[0] == 503, 10)
        with pytest.raises(ConnectionRefusedError, match="server_draining"):
            async with connect(direct, "Conversation"):
                pass
        await asyncio.sleep(2.5)  # HAProxy's check (1 s) takes it out of the rotation
        assert await conversation(cluster.url) == cluster.pid_of(2)  # through the front: elsewhere
        await answered_by(call)


class _Front:
    def __init__(self, url: str) -> None:
        self.ws = url.replace("http://", "ws://")


async def test_websocket_streams_drain_too(stream_cluster):
    """A `Stream` on FastAPI under uvicorn, over fastrtc's WebSocket route through HAProxy: calls
    land on both replicas; SIGTERM one: its calls finish their turns (uvicorn does not cut its
    WebSockets while it drains), new calls go to the other, and it exits by itself."""
    cluster = stream_cluster
    front = _Front(cluster.url)
    speech = load("one_sentence", 16000).astype(np.float32) / 32768.0
    utterance = np.concatenate([speech, np.zeros(16000, np.float32)])

    async def turn(client: Any) -> None:
        before = len(client.media)
        await client.send(utterance)
        await wait_for(lambda: len(client.media) > before + 10, 15)

    clients = [await open_client(front, f"ws-{i}", 16000) for i in range(4)]
    await asyncio.gather(*[turn(c) for c, _ in clients])
    sessions = {i: cluster.ready(i)[1]["sessions"] for i in (1, 2)}
    assert sessions == {1: 2, 2: 2}, sessions
    os.kill(cluster.pid_of(1), signal.SIGTERM)
    await wait_for(lambda: cluster.ready(1)[0] == 503, 10)
    await asyncio.sleep(2.5)
    await asyncio.gather(*[turn(c) for c, _ in clients])  # every call's next turn is answered
    fresh = [await open_client(front, f"ws-new-{i}", 16000) for i in range(2)]
    await asyncio.gather(*[turn(c) for c, _ in fresh])
    assert cluster.ready(1)[1]["sessions"] == 2 and cluster.ready(2)[1]["sessions"] == 4
    for client, task in clients + fresh:
        await client.ws.close()
        task.cancel()
    await wait_for(lambda: any("replica 1 exited" in line for line in cluster.lines), 20)


def test_a_page_on_a_draining_replica_is_told_and_lands_elsewhere(gradio_cluster):
    """In Chromium, through HAProxy: a tab's call goes on on a draining replica; another tab pinned
    to it is told that the server restarts, the page drops the balancer's cookie, and a reload
    lands on the other replica, where Record works."""
    from browser import chromium

    cluster = gradio_cluster
    widget = "#conversation [data-testid=webrtc]"
    with chromium() as browser:
        context = browser.new_context()
        live = context.new_page()
        live.goto(cluster.url)
        live.wait_for_selector(f"{widget} .gwr-button", timeout=30000)
        pinned = next(c["value"] for c in context.cookies() if c["name"] == "gw_replica")
        leaving = int(pinned.removeprefix("r"))
        live.click(f"{widget} .gwr-button")
        live.wait_for_selector(f"{widget}[data-state=connected]", timeout=20000)
        os.kill(cluster.pid_of(leaving), signal.SIGTERM)
        deadline = time.monotonic() + 10
        while cluster.ready(leaving)[0] != 503:
            assert time.monotonic() < deadline
            time.sleep(0.1)
        time.sleep(2.5)  # out of HAProxy's rotation; the cookie still reaches it (option persist)
        other = context.new_page()
        other.goto(cluster.url)
        other.wait_for_selector(f"{widget} .gwr-button", timeout=30000)
        other.click(f"{widget} .gwr-button")
        other.wait_for_selector(f"{widget} .gwr-error:not([hidden])", timeout=15000)
        assert "This server is restarting" in other.inner_text(f"{widget} .gwr-error")
        assert "gw_replica" not in {c["name"] for c in context.cookies()}, "the page dropped the affinity"
        assert live.get_attribute(widget, "data-state") == "connected", "the live call goes on"
        other.reload()
        other.wait_for_selector(f"{widget} .gwr-button", timeout=30000)
        assert next(c["value"] for c in context.cookies() if c["name"] == "gw_replica") != pinned
        other.click(f"{widget} .gwr-button")
        other.wait_for_selector(f"{widget}[data-state=connected]", timeout=20000)
        context.close()
