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


def _start_coturn(
    args: list[str], port: int | None = None, config_only: bool = False
) -> tuple[subprocess.Popen[str], int, threading.Thread]:
    """coturn on loopback with `args`; `config_only`: `args` name a config file that says the rest."""
    binary = shutil.which("turnserver")
    if binary is None:
        pytest.fail("coturn is not installed (apt-get install coturn); .ci/run installs it")
    port = port or _free_port()
    base = [
        "-n",
        "--listening-ip=127.0.0.1",
        "--relay-ip=127.0.0.1",
        f"--listening-port={port}",
        "--allow-loopback-peers",
        "--realm=gradio-webrtc.test",
        "--no-tls",
        "--no-dtls",
        "--no-cli",
        "--min-port=49200",
        "--max-port=49400",
    ]
    proc = subprocess.Popen(
        [
            binary,
            *([] if config_only else base),
            *args,
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
    return proc, port, drain


def _stop_coturn(proc: subprocess.Popen[str], drain: threading.Thread) -> None:
    proc.terminate()
    proc.wait(5)
    drain.join(5)
    assert proc.stdout is not None
    proc.stdout.close()


@pytest.fixture(scope="session")
def coturn() -> Iterator[dict[str, str]]:
    """A real coturn TURN server on loopback with a static long-term-credential user."""
    proc, port, drain = _start_coturn(["--lt-cred-mech", "--user=tester:secret"])
    yield {"url": f"turn:127.0.0.1:{port}?transport=udp", "username": "tester", "credential": "secret"}
    _stop_coturn(proc, drain)


@pytest.fixture(scope="session")
def coturn_rest() -> Iterator[dict[str, str]]:
    """A real coturn with time-limited credentials (TURN REST API: `use-auth-secret`), as
    deploy/vm/turnserver.conf configures it."""
    secret = "shared-secret-of-the-replicas"
    proc, port, drain = _start_coturn(["--use-auth-secret", f"--static-auth-secret={secret}"])
    yield {"url": f"turn:127.0.0.1:{port}?transport=udp", "secret": secret}
    _stop_coturn(proc, drain)


@pytest.fixture
def serve() -> Iterator[Any]:
    """Starts `Stream`s on FastAPI under uvicorn (`stream_server.Server`); stops them after the test."""
    from stream_server import Server

    servers: list[Server] = []

    def start(stream: Any, **kwargs: Any) -> Server:
        servers.append(Server(stream, **kwargs))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


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


ROOT = __import__("pathlib").Path(__file__).parent.parent
#: Interpreter per Gradio major: the main venv has Gradio 5, .venv6 Gradio 6 (see the Makefile).
GRADIO_PYTHONS = {"gradio5": ROOT / ".venv" / "bin" / "python", "gradio6": ROOT / ".venv6" / "bin" / "python"}


class GradioApp:
    """A running test app: its URL and its config (component ids, dependencies)."""

    def __init__(self, major: str, url: str, config: dict[str, Any]) -> None:
        self.major, self.url, self.config = major, url, config

    def component_id(self, elem_id: str) -> int:
        for c in self.config["components"]:
            if c.get("props", {}).get("elem_id") == elem_id:
                return int(c["id"])
        raise KeyError(elem_id)

    def fn_index(self, component: int, event: str) -> int:
        for i, dep in enumerate(self.config["dependencies"]):
            if [component, event] in [list(t) for t in dep["targets"]]:
                return int(dep.get("id", i))
        raise KeyError((component, event))


@pytest.fixture(scope="session", params=sorted(GRADIO_PYTHONS))
def gradio_app(request: pytest.FixtureRequest) -> Iterator[GradioApp]:
    """tests/apps/component_app.py served by Gradio 5 and by Gradio 6 (each test runs on both)."""
    import json
    import urllib.request

    python = GRADIO_PYTHONS[request.param]
    if not python.exists():
        pytest.fail(f"{python} is missing: run `make build-dev` (it creates both virtualenvs)")
    port = _free_tcp_port()
    proc = subprocess.Popen(
        [str(python), str(ROOT / "tests" / "apps" / "component_app.py"), str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**__import__("os").environ, "GRADIO_ANALYTICS_ENABLED": "False", "PYTHONUNBUFFERED": "1"},
    )
    assert proc.stdout is not None
    lines: list[str] = []
    for line in proc.stdout:
        lines.append(line)
        if "Running on local URL" in line:
            break
    else:
        pytest.fail("the test app did not start:\n" + "".join(lines))
    log = threading.Thread(target=lambda: lines.extend(proc.stdout), daemon=True)  # type: ignore[arg-type]
    log.start()
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(f"{url}/config", timeout=10) as r:
                config = json.loads(r.read())
            break
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                pytest.fail("the test app did not serve its config:\n" + "".join(lines))
            time.sleep(0.2)
    yield GradioApp(request.param, url, config)
    proc.terminate()
    proc.wait(10)
    log.join(5)
    proc.stdout.close()


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """A failing test against an app served from another process shows that app's log tail
    (modules that run such apps keep it in `SERVER_OUTPUT`, by URL)."""
    report: pytest.TestReport = yield
    outputs = getattr(getattr(item, "module", None), "SERVER_OUTPUT", None)
    url = getattr(item, "funcargs", {}).get("app_url")
    if report.failed and outputs and url in outputs:
        report.sections.append(("the app's output", "".join(outputs[url])[-4000:]))
    return report


@pytest.fixture(scope="module")
def camera_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """Chromium whose fake camera shows `browser.write_y4m`'s picture."""
    from browser import chromium, write_y4m

    clip = tmp_path_factory.mktemp("media") / "camera.y4m"
    write_y4m(clip)
    with chromium(video_file=clip) as browser:
        yield browser
