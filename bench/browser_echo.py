"""Echo round trip heard in a real browser: headless Chromium, ours and the original, in one run.

The benchmark server's echo app (`receive()` queues frames, `emit()` returns them) is opened in
Chromium with browser defaults (transport-cc on, so Chromium probes bandwidth) and a fake
microphone playing a 300 ms tone burst once a second, each at its own frequency. In the page, one
AudioContext taps the microphone and the remote track after Chromium's jitter buffer; round trip =
remote onset - local onset of the same burst (tests/echo_probe.py). Each session is measured for
`--seconds` after a 3 s warm-up; `--sessions` fresh pages per library.

Figures per library: round trip p50/p95 over every burst, each session's p50, and its drift (the
largest distance of any burst from the session's first one: a growing queue shows up here).

    python bench/browser_echo.py [--seconds 20] [--sessions 3] [--only rust|original]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import HERE, pct, start_server

sys.path.insert(0, str(HERE.parent / "tests"))
from browser import chromium
from echo_probe import INIT_SCRIPT, measure, write_bursts_wav

WARM_UP_S = 3


def start_streaming(page: Any, impl: str) -> None:
    """Presses the widget's start button: ours has one, the original asks for the microphone first."""
    if impl == "rust":
        page.click("[data-testid=webrtc] .gwr-button", timeout=30000)
        return
    page.get_by_text("Click to Access Microphone").click(timeout=30000)
    page.locator("button", has_text=re.compile(r"^\s*Record\s*$")).click(timeout=30000)


def session(browser: Any, base: str, impl: str, seconds: float) -> list[float]:
    context = browser.new_context()
    page = context.new_page()
    page.add_init_script(INIT_SCRIPT)
    try:
        page.goto(base)
        start_streaming(page, impl)
        time.sleep(WARM_UP_S)
        return [e.round_trip_ms for e in measure(page, seconds)]
    finally:
        context.close()


def run(impl: str, python: str, wav: Path, seconds: float, sessions: int) -> dict[str, Any]:
    proc, base = start_server(python, "async", "echo")
    per_session = []
    try:
        with chromium(audio_file=wav) as browser:
            for _ in range(sessions):
                per_session.append(session(browser, base, impl, seconds))
                time.sleep(1)
    finally:
        proc.terminate()
        proc.wait(10)
    every = [ms for s in per_session for ms in s]
    row = {
        "bursts": len(every),
        "expected": int(seconds) * sessions,
        "p50_ms": round(pct(every, 0.5), 1),
        "p95_ms": round(pct(every, 0.95), 1),
        "session_p50_ms": [round(statistics.median(s), 1) if s else None for s in per_session],
        "session_drift_ms": [round(max(abs(x - s[0]) for x in s), 1) if s else None for s in per_session],
    }
    print(f"[{impl}] {json.dumps(row)}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--sessions", type=int, default=3)
    parser.add_argument("--only", choices=["rust", "original"])
    args = parser.parse_args()
    impls = {"rust": sys.executable, "original": str(HERE / ".venv-original" / "bin" / "python")}
    rows = {}
    with tempfile.TemporaryDirectory() as tmp:
        wav = write_bursts_wav(Path(tmp) / "bursts.wav")
        for impl, python in impls.items():
            if args.only and impl != args.only:
                continue
            if not Path(python).exists():
                print(f"[{impl}] skipped: {python} missing (run bench/setup_original.sh)")
                continue
            rows[impl] = run(impl, python, wav, args.seconds, args.sessions)
    print("\nBrowser echo round trip (Chromium, fake microphone, after the jitter buffer)")
    print(f"{'library':<10} {'p50 ms':>8} {'p95 ms':>8} {'bursts':>8}  per-session p50 / drift (ms)")
    for impl, r in rows.items():
        sessions = ", ".join(f"{p}/{d}" for p, d in zip(r["session_p50_ms"], r["session_drift_ms"], strict=True))
        print(f"{impl:<10} {r['p50_ms']:>8} {r['p95_ms']:>8} {r['bursts']:>4}/{r['expected']:<4} {sessions}")


if __name__ == "__main__":
    main()
