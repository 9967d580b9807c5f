"""What a load balancer adds: K conversations through HAProxy (deploy/cluster/local.sh, 2 replicas,
cookie affinity, one coturn) beside K conversations straight to one replica, in one run.

Each conversation is a `gradio_webrtc.testing` call on tests/apps/cluster_app.py (ReplyOnPause; a
reply is a tone and an AdditionalOutputs): set-up = `connect()` entered → the WebRTC connection is
up (config, offer and ICE: the HTTP part goes through the balancer); reply = the end of the spoken
sentence → the reply's first audio (media is UDP, never through the balancer; the pause rule's
~0.6 s is in it); outputs = the reply's first audio → its AdditionalOutputs reached the client (the
data channel's notice, then the queue's request and event stream: through the balancer).

    python bench/balancer.py [--k 1 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SENTENCE = ROOT / "tests" / "data" / "speech" / "one_sentence.wav"


def start_cluster() -> tuple[subprocess.Popen[str], str, dict[int, int]]:
    env = {**os.environ, "PYTHON": sys.executable, "GRADIO_WEBRTC_DRAIN_S": "5"}
    proc = subprocess.Popen(
        ["bash", str(ROOT / "deploy" / "cluster" / "local.sh"), "2", str(ROOT / "tests" / "apps" / "cluster_app.py")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    assert proc.stdout is not None
    url = proc.stdout.readline().strip()
    ports: dict[int, int] = {}

    def read() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            if m := re.match(r"replica (\d+) pid \d+ port (\d+)", line):
                ports[int(m[1])] = int(m[2])

    threading.Thread(target=read, daemon=True).start()
    deadline = time.monotonic() + 90
    while True:
        try:
            if len(ports) == 2 and all(
                urllib.request.urlopen(f"http://127.0.0.1:{p}/gradio_webrtc/ready", timeout=2).status == 200
                for p in ports.values()
            ):
                break
        except OSError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError("the replicas did not become ready")
        time.sleep(0.3)
    time.sleep(2.5)  # HAProxy's check: rise 2 x 1 s
    return proc, url, ports


def speech_end(path: Path) -> float:
    """Seconds from the start of the file to the end of its speech (it ends in silence)."""
    import wave

    import numpy as np

    with wave.open(str(path)) as f:
        audio = np.frombuffer(f.readframes(f.getnframes()), "<i2").astype(np.float32)
        rate = f.getframerate()
    loud = np.nonzero(np.abs(audio) > 0.02 * 32768)[0]
    return float(loud[-1] + 1) / rate


SPEECH_END = speech_end(SENTENCE)


async def conversation(url: str) -> tuple[float, float, float]:
    from gradio_webrtc.testing import connect

    t0 = time.monotonic()
    async with connect(url, "Conversation") as call:
        setup = time.monotonic() - t0
        arrived: list[float] = []

        async def outputs_arrive() -> None:
            while not call.additional_outputs:
                await asyncio.sleep(0.001)
            arrived.append(time.monotonic())

        watcher = asyncio.create_task(outputs_arrive())
        started = time.monotonic()
        await call.say(SENTENCE)
        reply = await call.reply(timeout=20)
        await asyncio.wait_for(watcher, 10)
        return setup, reply.started_at - (started + SPEECH_END), arrived[0] - reply.started_at


def p(values: list[float], q: float) -> str:
    ordered = sorted(values)
    return f"{1000 * ordered[min(len(ordered) - 1, int(q * len(ordered)))]:.0f} ms"


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--k", type=int, nargs="*", default=[1, 8])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    proc, front, ports = await asyncio.to_thread(start_cluster)
    direct = f"http://127.0.0.1:{ports[1]}"
    rows = []
    try:
        for k in args.k:
            for name, url in (("through HAProxy", front), ("straight to a replica", direct)):
                results: list[tuple[float, float, float]] = []
                for _ in range(args.rounds):
                    results += await asyncio.gather(*[conversation(url) for _ in range(k)])
                setup, reply, outputs = (list(x) for x in zip(*results, strict=True))
                row = (
                    f"| {name} | {k} | {p(setup, 0.5)} / {p(setup, 0.95)} | {p(reply, 0.5)} / {p(reply, 0.95)} "
                    f"| {p(outputs, 0.5)} / {p(outputs, 0.95)} | {statistics.mean(setup) * 1000:.0f} ms |"
                )
                print(row, flush=True)
                rows.append(row)
    finally:
        proc.terminate()
        proc.wait(60)
    print("\n| path | K | set-up p50 / p95 | reply p50 / p95 | outputs p50 / p95 | set-up mean |")
    print("|---|---|---|---|---|---|")
    print("\n".join(rows))


if __name__ == "__main__":
    asyncio.run(main())
