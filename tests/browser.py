"""Headless Debian Chromium driven by Playwright, with fake media devices."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = "/usr/bin/chromium"


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
