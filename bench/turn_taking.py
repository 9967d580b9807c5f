"""End of turn: does pause detection wait until a spoken request is finished, and how fast after?

Three servers, one after another in one run, each a real Gradio app whose `ReplyOnPause` answers
every utterance with a short tone (bench/server.py's `reply` app):

- `rule`: this package, `ReplyOnPause(reply)` with its defaults (Silero VAD + ~0.5 s silence rule);
- `model`: this package, `ReplyOnPause(reply, turn_detector=SmartTurn(...))` (the Smart Turn model
  is asked after `--silence` s of silence; "incomplete" holds the turn for up to `--max-silence` s);
  reported as not available where this package has no `SmartTurn`;
- `original`: gradio_webrtc 0.0.31 from bench/.venv-original (bench/setup_original.sh), defaults.

K aiortc clients (`--clients`, default 4) each play their share of the corpus of spoken requests
(bench/make_turn_corpus.py, built on first use into bench/.cache/turn_corpus/) in real time, one
after another, as 20 ms Opus packets at 48 kHz: 96 requests, 80 of them with a pause of 0.25,
0.35, 0.45 or 0.55 s inside ("Can you tell me | what the weather is like in Berlin tomorrow?"),
half clean, half under pink noise or babble at 15 dB SNR, 16 without a pause; 3.2 s of silence
after each request, then 1 s before the next. ~3.3 minutes per variant (10 for all three);
`--quick`: a stratified 20 of them, ~1 minute per variant.

Per request, with S/E = when the client sent the frame with the first/last speech sample:
- falsely split: a reply began in [S, E + `--split-margin`) (the system answered half a request;
  whatever set it off: a reply that noise set off and that lands inside the request counts too, the
  per-request results tell it by `split_after_pause_s` < 0);
- latency: the first reply that began at or after E + margin, minus E (p50/p95);
- late: that reply came more than `--late` s (1.0) after E, or none came before the next request
  (`none`: the share with no reply at all);
- extra: replies after the first one past E, up to the next request (noise taken for speech).
Also: server CPU per conversation (% of one core, psutil on the server process, while playing).

    python bench/turn_taking.py [--quick] [--variants rule model original] [--clients 4]
        [--threshold 0.5] [--silence 0.2] [--max-silence 2.0]

Results, per request too, go to bench/results/turn_taking-<time>.json.
"""

from __future__ import annotations

import argparse
import asyncio
import fractions
import json
import os
import subprocess
import sys
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import av
import numpy as np
import psutil
from aiortc import RTCPeerConnection
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from common import ARRIVALS, negotiate, pct, record_arrivals_only, run_clients, start_server, wait_drained

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import make_turn_corpus as corpus  # noqa: E402 (stdlib-only at import)

RATE, FRAME = 48000, 960
LOUD_BYTES = 40  # Opus packets of the reply tone are larger; the server's silence is a few bytes
REPLY_GAP_S = 0.1  # loud packets this far apart belong to different replies
GAPS = corpus.GAPS
ORIGINAL_PYTHON = HERE / ".venv-original" / "bin" / "python"


# --- the corpus, as each client plays it ------------------------------------------------------------


def load_corpus(rebuild: bool) -> list[dict[str, Any]]:
    manifest = corpus.OUT / "manifest.json"
    fresh = manifest.exists() and json.loads(manifest.read_text()).get("version") == corpus.VERSION
    if rebuild or not fresh:
        print("building the corpus (bench/make_turn_corpus.py)...", flush=True)
        args = [sys.executable, str(HERE / "make_turn_corpus.py")] + (["--force"] if rebuild else [])
        subprocess.run(args, check=True)
    return list(json.loads(manifest.read_text())["items"])


def upsample(pcm16k: np.ndarray) -> np.ndarray:
    """16 kHz -> 48 kHz int16, band-limited (FFT)."""
    n = len(pcm16k) * 3
    spectrum = np.pad(np.fft.rfft(pcm16k.astype(np.float64)), (0, n // 2 + 1 - (len(pcm16k) // 2 + 1)))
    return np.clip(np.round(np.fft.irfft(spectrum, n) * 3), -32768, 32767).astype(np.int16)


@dataclass
class Playlist:
    """One client's requests as Opus packets, and where each request's landmarks fall (packet index)."""

    packets: list[bytes]
    items: list[dict[str, Any]]
    marks: list[dict[str, int | None]]


def encode_playlist(items: list[dict[str, Any]]) -> Playlist:
    chunks, marks, offset = [], [], 0  # offset in 48 kHz samples
    for item in items:
        with wave.open(str(corpus.OUT / item["file"])) as f:
            audio = upsample(np.frombuffer(f.readframes(f.getnframes()), "<i2"))
        chunks.append(audio)

        marks.append(
            {
                "start": offset // FRAME,
                "speech_start": (offset + item["speech_start"] * 3) // FRAME,
                # the packet with the last speech sample
                "speech_end": (offset + (item["speech_end"] - 1) * 3) // FRAME,
                "pause_start": None if item["pause_start"] is None else (offset + item["pause_start"] * 3) // FRAME,
            }
        )
        offset += len(audio)
    audio = np.concatenate(chunks)
    audio = np.pad(audio, (0, -len(audio) % FRAME))
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format, codec.bit_rate = RATE, "mono", "s16", 48000
    packets: list[bytes] = []
    for i in range(len(audio) // FRAME):
        f = av.AudioFrame.from_ndarray(audio[i * FRAME : (i + 1) * FRAME].reshape(1, -1), format="s16", layout="mono")
        f.sample_rate, f.pts, f.time_base = RATE, i * FRAME, fractions.Fraction(1, RATE)
        packets += [bytes(p) for p in codec.encode(f)]
    packets += [bytes(p) for p in codec.encode(None)]
    return Playlist(packets[: len(audio) // FRAME], items, marks)


def silence_packet() -> bytes:
    codec = av.CodecContext.create("libopus", "w")
    codec.sample_rate, codec.layout, codec.format, codec.bit_rate = RATE, "mono", "s16", 48000
    out: list[bytes] = []
    for i in range(3):
        f = av.AudioFrame.from_ndarray(np.zeros((1, FRAME), np.int16), format="s16", layout="mono")
        f.sample_rate, f.pts, f.time_base = RATE, i * FRAME, fractions.Fraction(1, RATE)
        out += [bytes(p) for p in codec.encode(f)]
    return out[-1]


SILENCE = silence_packet()


class PlayerTrack(MediaStreamTrack):
    """Silence until `play()`, then the playlist's packets in real time (one per 20 ms), recording
    when each was handed to the sender; silence again after it."""

    kind = "audio"

    def __init__(self, packets: list[bytes]) -> None:
        super().__init__()
        self.packets = packets
        self.sent: list[float] = []
        self.start: float | None = None
        self.n = 0
        self.first: int | None = None
        self.done = asyncio.Event()

    def play(self) -> None:
        self.first = self.n

    async def recv(self) -> av.Packet:
        if self.readyState != "live":
            raise MediaStreamError
        if self.start is None:
            self.start = time.monotonic()
        wait = self.start + self.n * FRAME / RATE - time.monotonic()
        if wait > 0:
            await asyncio.sleep(wait)
        data = SILENCE
        if self.first is not None:
            i = self.n - self.first
            if i < len(self.packets):
                data = self.packets[i]
                self.sent.append(time.monotonic())
            else:
                self.done.set()
        packet = av.Packet(data)
        packet.pts, packet.time_base = self.n * FRAME, fractions.Fraction(1, RATE)
        self.n += 1
        return packet


# --- one conversation -------------------------------------------------------------------------------


@dataclass
class Result:
    records: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None


def reply_starts(arrivals: list[tuple[float, int, bytes, int]]) -> list[float]:
    """When each reply began: a loud packet more than REPLY_GAP_S after the previous loud one."""
    starts, last = [], -1e9
    for t, size, *_ in sorted(arrivals):
        if size > LOUD_BYTES:
            if t - last > REPLY_GAP_S:
                starts.append(t)
            last = t
    return starts


def score(playlist: Playlist, sent: list[float], starts: list[float], margin: float) -> list[dict[str, Any]]:
    records = []
    for i, (item, mark) in enumerate(zip(playlist.items, playlist.marks, strict=True)):
        s, e = sent[mark["speech_start"]], sent[mark["speech_end"]]  # type: ignore[index]
        nxt = sent[playlist.marks[i + 1]["speech_start"]] if i + 1 < len(playlist.marks) else float("inf")  # type: ignore[index]
        mine = [t for t in starts if s <= t < nxt]
        early = [t for t in mine if t < e + margin]
        after = [t for t in mine if t >= e + margin]
        pause = None if mark["pause_start"] is None else sent[mark["pause_start"]]  # type: ignore[index]
        records.append(
            {
                "file": item["file"],
                "method": item["method"],
                "gap": item["gap"],
                "noise": item["noise"],
                "split": bool(early),
                "early_replies": len(early),
                # a split reply, timed from the start of the inner pause (how soon the rule fired)
                "split_after_pause_s": None if not early or pause is None else early[0] - pause,
                "latency_s": after[0] - e if after else None,
                "extra_replies": max(0, len(after) - 1),
            }
        )
    return records


async def conversation(
    base: str, idx: int, up: asyncio.Event, go: asyncio.Event, playlist: Playlist, margin: float
) -> tuple[Result, Any]:
    result = Result()
    pc = RTCPeerConnection()
    pc.createDataChannel("text")
    track = PlayerTrack(playlist.packets)
    pc.addTrack(track)
    try:
        await negotiate(pc, base, f"turn-{idx}-{time.time_ns()}")
    except Exception as exc:
        result.error = str(exc)
        up.set()
        return result, pc
    up.set()
    await go.wait()
    await asyncio.sleep(idx * 0.37)  # conversations do not change requests in the same 20 ms
    track.play()
    await track.done.wait()
    await asyncio.sleep(1.0)
    arrivals = ARRIVALS.get(id(pc.getTransceivers()[0].receiver), [])
    result.records = score(playlist, track.sent, reply_starts(arrivals), margin)
    return result, pc


# --- the variants -------------------------------------------------------------------------------------


def variants(args: argparse.Namespace) -> dict[str, tuple[str, dict[str, str]]]:
    """name -> (python, extra environment for bench/server.py)."""
    smart: dict[str, float] = {}
    for key, value in (("threshold", args.threshold), ("silence", args.silence), ("max_silence", args.max_silence)):
        if value is not None:
            smart[key] = value
    return {
        "rule": (sys.executable, {}),
        "model": (sys.executable, {"BENCH_SMART_TURN": json.dumps(smart)}),
        "original": (str(ORIGINAL_PYTHON), {}),
    }


def unavailable(name: str, python: str, env: dict[str, str]) -> str | None:
    """Why a variant cannot run here, or None."""
    if not Path(python).exists():
        return f"{python} missing (run bench/setup_original.sh)"
    if name != "model":
        return None
    check = (
        "import json, os\n"
        "from gradio_webrtc import ReplyOnPause, SmartTurn\n"
        "ReplyOnPause(lambda audio: None, turn_detector=SmartTurn(**json.loads(os.environ['BENCH_SMART_TURN'])))\n"
    )
    done = subprocess.run([python, "-c", check], capture_output=True, text=True, timeout=120, env={**os.environ, **env})
    if done.returncode != 0:
        lines = done.stderr.strip().splitlines()
        return lines[-1] if lines else f"exit {done.returncode}"
    return None


def run_variant(
    name: str, python: str, env: dict[str, str], playlists: list[Playlist], warm: Playlist, margin: float
) -> dict[str, Any]:
    ARRIVALS.clear()  # receivers of earlier variants are gone; their ids may be reused
    saved = {key: os.environ.get(key) for key in env}
    os.environ.update(env)
    try:
        proc, base = start_server(python, "async", "reply")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    server = psutil.Process(proc.pid)
    try:
        # one unmeasured request first: the original compiles librosa's numba code on its first
        # VAD call, and every variant should be measured warm
        asyncio.run(run_clients(server, 1, lambda i, up, go: conversation(base, i, up, go, warm, margin), 0.02, 1.0))
        wait_drained(base)
        k = len(playlists)
        ok, failed, cpu, _ = asyncio.run(
            run_clients(server, k, lambda i, up, go: conversation(base, i, up, go, playlists[i], margin), 0.02, 1.0)
        )
        wait_drained(base)
    finally:
        proc.terminate()
        proc.wait(10)
    return {"failed": failed, "cpu_per_conversation": cpu, "records": [r for res in ok for r in res.records]}


# --- figures --------------------------------------------------------------------------------------------


def share(records: list[dict[str, Any]], key: str) -> float | None:
    return None if not records else 100.0 * sum(bool(r[key]) for r in records) / len(records)


def summarise(records: list[dict[str, Any]], late_s: float) -> dict[str, Any]:
    for r in records:
        r["late"] = r["latency_s"] is None or r["latency_s"] > late_s
    paused = [r for r in records if r["gap"] > 0]
    latencies = [r["latency_s"] for r in records if r["latency_s"] is not None]
    by_gap = {}
    for gap in GAPS:
        for noise in ("clean", "noisy"):
            cell = [r for r in paused if r["gap"] == gap and (r["noise"] == "clean") == (noise == "clean")]
            by_gap[f"{gap:.2f}/{noise}"] = {"n": len(cell), "split_pct": share(cell, "split")}
    by_method = {
        m: share([r for r in records if r["method"] == m], "split")
        for m in ("espeak-break", "piper-insert", "phrases", "whole")
    }
    by_noise = {n: share([r for r in paused if r["noise"] == n], "split") for n in ("clean", "pink", "babble")}
    return {
        "requests": len(records),
        "paused": len(paused),
        "split_pct": share(paused, "split"),
        "split_pct_no_pause": share([r for r in records if r["gap"] == 0], "split"),
        "split_pct_clean": share([r for r in paused if r["noise"] == "clean"], "split"),
        "split_pct_noisy": share([r for r in paused if r["noise"] != "clean"], "split"),
        "by_gap": by_gap,
        "by_method": by_method,
        "by_noise": by_noise,
        "p50_s": pct(latencies, 0.5) if latencies else None,
        "p95_s": pct(latencies, 0.95) if latencies else None,
        "late_pct": share(records, "late"),
        "no_reply_pct": None if not records else 100.0 * sum(r["latency_s"] is None for r in records) / len(records),
        "extra_replies": sum(r["extra_replies"] for r in records),
    }


def _p(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}%"


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value * 1000:.0f}ms"


def print_tables(rows: dict[str, dict[str, Any]], args: argparse.Namespace, n_clients: int) -> None:
    ran = {name: row for name, row in rows.items() if "summary" in row}
    any_row = next(iter(ran.values()), None)
    size = ""
    if any_row:
        size = f"{any_row['summary']['requests']} requests ({any_row['summary']['paused']} with a pause inside)"
    print(
        f"\nEnd of turn: {size}, {n_clients} conversations at once, split = a reply began before the"
        f" request's end + {args.split_margin * 1000:.0f} ms, late = > {args.late:.1f} s or none,"
        f" {os.cpu_count()} cores"
    )
    header = (
        f"{'variant':9} {'requests':>8} {'split':>6} {'clean':>6} {'noisy':>6} {'no-pause':>8}"
        f" {'p50':>7} {'p95':>7} {'late':>5} {'none':>5} {'extra':>5} {'CPU/conv':>9}"
    )
    print(header)
    print("-" * len(header))
    for name, row in rows.items():
        if "summary" not in row:
            print(f"{name:9} not available: {row['unavailable']}")
            continue
        s = row["summary"]
        print(
            f"{name:9} {s['requests']:>8} {_p(s['split_pct']):>6} {_p(s['split_pct_clean']):>6}"
            f" {_p(s['split_pct_noisy']):>6} {_p(s['split_pct_no_pause']):>8} {_ms(s['p50_s']):>7}"
            f" {_ms(s['p95_s']):>7} {_p(s['late_pct']):>5} {_p(s['no_reply_pct']):>5} {s['extra_replies']:>5}"
            f" {row['cpu_per_conversation']:>8.1f}%" + (f"  ({row['failed']} failed)" if row["failed"] else "")
        )
    if not ran:
        return
    print("\nFalsely split, by the pause inside the request (clean / noisy):")
    header = f"{'variant':9}" + "".join(f" {f'{g:.2f} s':>11}" for g in GAPS) + f" {'pink':>6} {'babble':>6}"
    print(header)
    print("-" * len(header))
    for name, row in ran.items():
        cells = row["summary"]["by_gap"]
        line = f"{name:9}"
        for g in GAPS:
            clean, noisy = cells[f"{g:.2f}/clean"]["split_pct"], cells[f"{g:.2f}/noisy"]["split_pct"]
            line += f" {_p(clean) + ' / ' + _p(noisy):>11}"
        noise = row["summary"]["by_noise"]
        print(line + f" {_p(noise['pink']):>6} {_p(noise['babble']):>6}")
    print("\nFalsely split, by how the pause was made:")
    methods = ("espeak-break", "piper-insert", "phrases", "whole")
    header = f"{'variant':9}" + "".join(f" {m:>13}" for m in methods)
    print(header)
    print("-" * len(header))
    for name, row in ran.items():
        print(f"{name:9}" + "".join(f" {_p(row['summary']['by_method'][m]):>13}" for m in methods))


def main() -> None:
    record_arrivals_only()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a stratified 20 requests instead of 96")
    names = ["rule", "model", "original"]
    parser.add_argument("--variants", nargs="+", choices=names, default=names)
    parser.add_argument("--clients", type=int, default=4, help="conversations at once (default 4)")
    parser.add_argument("--threshold", type=float, help="SmartTurn(threshold=...) of the model variant")
    parser.add_argument("--silence", type=float, help="SmartTurn(silence=...) of the model variant, seconds")
    parser.add_argument("--max-silence", type=float, help="SmartTurn(max_silence=...) of the model variant, seconds")
    parser.add_argument("--split-margin", type=float, default=0.1, help="seconds after the end still counted as split")
    parser.add_argument("--late", type=float, default=1.0, help="a reply later than this after the end is late")
    parser.add_argument("--rebuild-corpus", action="store_true")
    parser.add_argument("--out", type=Path, help="JSON results (default bench/results/turn_taking-<time>.json)")
    args = parser.parse_args()

    items = load_corpus(args.rebuild_corpus)
    chosen = [item for item in items if item["quick"]] if args.quick else items
    order = np.random.default_rng(7).permutation(len(chosen))
    shares = [[chosen[j] for j in order[i :: args.clients]] for i in range(args.clients)]
    t0 = time.monotonic()
    playlists = [encode_playlist(s) for s in shares if s]
    warm = encode_playlist([next(i for i in items if i["method"] == "whole" and i["noise"] == "clean")])
    longest = max(len(p.packets) for p in playlists) * FRAME / RATE
    print(
        f"{len(chosen)} requests over {len(playlists)} conversations, up to {longest:.0f} s each"
        f" (encoded in {time.monotonic() - t0:.1f} s)",
        flush=True,
    )

    rows: dict[str, dict[str, Any]] = {}
    for name, (python, env) in variants(args).items():
        if name not in args.variants:
            continue
        why = unavailable(name, python, env)
        if why is not None:
            print(f"[{name}] not available: {why}", flush=True)
            rows[name] = {"unavailable": why}
            continue
        t0 = time.monotonic()
        try:
            row = run_variant(name, python, env, playlists, warm, args.split_margin)
        except Exception as exc:  # a server that does not start: report it, go on with the others
            print(f"[{name}] failed: {exc!r}", flush=True)
            rows[name] = {"unavailable": f"failed: {exc!r}"}
            continue
        row["summary"] = summarise(row["records"], args.late)
        row["env"] = env
        rows[name] = row
        s = row["summary"]
        print(
            f"[{name}] {s['requests']} requests in {time.monotonic() - t0:.0f} s: split {_p(s['split_pct'])},"
            f" p50 {_ms(s['p50_s'])}, p95 {_ms(s['p95_s'])}, late {_p(s['late_pct'])},"
            f" CPU/conversation {row['cpu_per_conversation']:.1f}%",
            flush=True,
        )

    out = args.out or HERE / "results" / f"turn_taking-{time.strftime('%Y%m%d-%H%M%S')}.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    config = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
    out.write_text(json.dumps({"config": config, "cores": os.cpu_count(), "variants": rows}, indent=1))
    print_tables(rows, args, len(playlists))
    if "model" in args.variants:
        smart = variants(args)["model"][1]["BENCH_SMART_TURN"]
        print(f"\nmodel: ReplyOnPause(reply, turn_detector=SmartTurn(**{smart})) ({{}}: its defaults)")
    print(f"\nper-request results: {out}")


if __name__ == "__main__":
    main()
