"""Headless Debian Chromium driven by Playwright, with fake media devices."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest

CHROMIUM = "/usr/bin/chromium"
#: The fake camera's picture size (`write_y4m`).
CAMERA_W, CAMERA_H = 320, 240


@contextmanager
def chromium(audio_file: Path | None = None, video_file: Path | None = None) -> Iterator[Any]:
    """A Playwright browser on Debian's chromium; fake mic/camera (optionally fed from files)."""
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail("chromium is not installed (apt-get install chromium); .ci/run installs it")
    args = [
        "--headless=new",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-quic",
        "--use-fake-ui-for-media-stream",
        "--use-fake-device-for-media-stream",
        "--autoplay-policy=no-user-gesture-required",
    ]
    if audio_file is not None:
        args.append(f"--use-file-for-fake-audio-capture={audio_file}")
    if video_file is not None:
        args.append(f"--use-file-for-fake-video-capture={video_file}")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=args)
        try:
            yield browser
        finally:
            browser.close()


def write_y4m(path: Path, frames: int = 30) -> None:
    """A camera picture: white band on top (the handler's flip moves it down), grey below."""
    y = np.full((CAMERA_H, CAMERA_W), 90, np.uint8)
    y[: CAMERA_H // 6] = 235
    uv = np.full((CAMERA_H // 2, CAMERA_W // 2), 128, np.uint8)
    with path.open("wb") as f:
        f.write(f"YUV4MPEG2 W{CAMERA_W} H{CAMERA_H} F30:1 Ip A1:1 C420jpeg\n".encode())
        for _ in range(frames):
            f.write(b"FRAME\n" + y.tobytes() + uv.tobytes() + uv.tobytes())


def wait_until_serving(url: str, server: subprocess.Popen[Any], timeout: float = 60.0) -> None:
    """Until the app started as `server` answers `url` (fails if it exits first or never does)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            urllib.request.urlopen(url, timeout=5).read()
            return
        except OSError:
            assert time.monotonic() < deadline and server.poll() is None, f"the app at {url} did not start"
            time.sleep(0.3)
