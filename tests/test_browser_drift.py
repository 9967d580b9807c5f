"""A minute of echo in Chromium with browser defaults (transport-cc on): no surplus audio, no drift.

Chromium probes bandwidth with padding-only RTP packets on the audio SSRC once transport-wide
congestion control is negotiated; each one used to become a concealed 20 ms frame for the
handler, so an echo's delay grew ~240 ms every 5 s. Here the handler must get the microphone's
50 frames a second and the echo heard in the page must keep its first offset.

What must hold on any machine is asserted on the server's clock and queues (frames per second to
the handler, nothing standing in its queues after a minute). The offset heard in the page also
carries Chromium's adaptive jitter buffer, which a loaded machine raises for good (by up to ~220 ms
seen); its growth is bounded loosely, far below the bug's ~2.9 s a minute, and the buffer's
readings are printed beside the offsets so that a failure shows which side moved.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from browser import chromium
from echo_probe import INIT_SCRIPT, measure, write_bursts_wav
from test_browser import start, wait_until_free

MEASURE_S = 60
WARM_UP_S = 5


@pytest.fixture(scope="module")
def burst_browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    wav = write_bursts_wav(tmp_path_factory.mktemp("mic") / "bursts.wav")
    with chromium(audio_file=wav) as b:
        yield b


def echo_stats(app) -> dict[str, Any]:
    with urllib.request.urlopen(f"{app.url}/echo-stats", timeout=5) as r:
        return json.loads(r.read())


@pytest.mark.timeout(180)
def test_a_minute_of_echo_keeps_real_time(burst_browser, gradio_app):
    context = burst_browser.new_context()
    page = context.new_page()
    page.add_init_script(INIT_SCRIPT)
    page.goto(gradio_app.url)
    page.wait_for_selector("#echo [data-testid=webrtc] .gwr-button", timeout=30000)
    try:
        start(page, "echo")
        time.sleep(WARM_UP_S)
        before, t0 = echo_stats(gradio_app), time.monotonic()
        echoes = measure(page, MEASURE_S)
        after, t1 = echo_stats(gradio_app), time.monotonic()
    finally:
        Path("test-artifacts").mkdir(exist_ok=True)
        page.screenshot(path=f"test-artifacts/{gradio_app.major}-echo-drift.png")
        context.close()
    wait_until_free(gradio_app)

    rate = (after["received"] - before["received"]) / (t1 - t0)
    stats = after["stats"]
    offsets = [round(e.round_trip_ms, 1) for e in echoes]
    buffered = [None if e.jitter_buffer_ms is None else round(e.jitter_buffer_ms, 1) for e in echoes]
    print(f"\n{gradio_app.major}: {rate:.2f} frames/s to the handler; echo offsets (ms): {offsets}")
    print(f"jitter buffer (ms): {buffered}")
    keys = ("audio_packets_in", "audio_padding_packets", "audio_frames_concealed", "late_frames", "output_gaps")
    print({k: stats[k] for k in keys})
    assert 49 <= rate <= 51, f"the handler got {rate:.2f} frames/s of 48 kHz audio (the microphone sends 50)"
    assert len(echoes) >= MEASURE_S - 5, f"only {len(echoes)} of ~{MEASURE_S} bursts came back"
    # No queue stands on the server: what the handler has not taken and what waits to be sent
    # are a few frames at most, after a minute (the drift was a queue that never drained).
    assert after["handler_queue"] <= 10, f"{after['handler_queue']} frames wait in the handler"
    assert after["output_buffered"] <= 0.2, f"{after['output_buffered']:.2f} s wait to be sent"
    # The echo heard in the page: drift is sustained growth (+240 ms every 5 s before the fix,
    # ~2.9 s over the minute). 10-burst medians are compared with the first one, so a hiccup
    # absorbed within seconds is not counted. The bound leaves room for Chromium's adaptive
    # jitter buffer, which on a loaded machine rises after late packets and stays up (seen:
    # 64 -> 74 -> 88 ms, and +224 ms on a 2-core machine running other work, with the handler at
    # exactly 50 frames/s and nothing queued on the server): what this test owns is asserted
    # above, on the server's own clock and queues.
    growth, start_ms = growth_of(offsets)
    assert growth <= 400, f"the echo offset grew {growth:.0f} ms above its start {start_ms:.0f} ms: {offsets}"


def growth_of(values: list[float]) -> tuple[float, float]:
    """How far the 10-burst medians rose above the first one, and the first one."""
    medians = [statistics.median(values[i : i + 10]) for i in range(0, len(values) - 9)]
    return max(m - medians[0] for m in medians), medians[0]
