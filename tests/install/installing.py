"""Helpers for the install tests: what users install, in fresh virtualenvs outside the checkout.

`make test-install` builds them first (`make wheel`, into dist/). Every app here runs from a copy in
a temporary directory with the fresh venv's interpreter, so nothing can import the checkout.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
DIST = ROOT / "dist"
GRADIO = {"gradio5": "gradio>=5.46,<6", "gradio6": "gradio>=6,<7"}


def built(pattern: str) -> Path:
    found = sorted(DIST.glob(pattern))
    if not found:
        pytest.fail(f"no {pattern} in {DIST}: run `make wheel` (`make test-install` does)")
    return found[-1]


def make_venv(where: Path, *requirements: str, env: dict[str, str] | None = None) -> Path:
    """A new virtualenv at `where` with `requirements` installed from PyPI; returns its python."""
    subprocess.run([sys.executable, "-m", "venv", str(where)], check=True)
    python = where / "bin" / "python"
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements],
        check=True,
        env=env,
        timeout=1500,
    )
    return python


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serve(python: Path, app: Path, env: dict[str, str] | None = None) -> Iterator[str]:
    """Runs `app` (a copy outside the checkout) with `python` until the context ends; yields its URL."""
    port = free_port()
    log = app.parent / "server.log"
    with open(log, "w") as out:
        proc = subprocess.Popen(
            [str(python), str(app)],
            cwd=app.parent,
            env={
                **os.environ,
                **(env or {}),
                "GRADIO_SERVER_PORT": str(port),
                "PORT": str(port),
                "GRADIO_SERVER_NAME": "127.0.0.1",
                "GRADIO_ANALYTICS_ENABLED": "False",
                "PYTHONPATH": "",
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                urllib.request.urlopen(f"{url}/config", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail(f"{app.name} did not start:\n{log.read_text()[-3000:]}")
                time.sleep(0.3)
        yield url
    finally:
        proc.terminate()
        proc.wait(10)
