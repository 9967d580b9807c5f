"""Echo round trip as a browser user hears it, measured inside the page.

The fake microphone plays a 300 ms tone burst once a second, each burst at its own frequency.
In the page, one AudioContext taps the local microphone track and the remote track (after
Chromium's jitter buffer and decoder) through an AudioWorklet that timestamps every burst onset on
the context's sample clock and estimates the burst's frequency. Round trip = remote onset - local
onset of the same frequency. Nothing here depends on the library's widget: the init script
captures the page's `getUserMedia` stream and its peer connection's remote stream, so the same
probe measures our component and the original's.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

RATE = 48_000
#: Bursts per file; the fake microphone loops the file, so frequencies repeat every PERIOD_S * BURSTS.
BURSTS = 20
PERIOD_S = 1.0
BURST_S = 0.3


def burst_hz(k: int) -> float:
    """Frequency of burst `k` (60 Hz apart: far more than the estimate's error)."""
    return 400.0 + 60.0 * (k % BURSTS)


def write_bursts_wav(path: Path) -> Path:
    """A 20 s mono 48 kHz WAV: burst k starts at k seconds, lasts 300 ms, 5 ms ramps, amplitude 0.5."""
    audio = np.zeros(int(RATE * PERIOD_S * BURSTS), np.float32)
    n = int(RATE * BURST_S)
    ramp = int(RATE * 0.005)
    envelope = np.ones(n, np.float32)
    envelope[:ramp] = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, ramp))
    envelope[-ramp:] = envelope[:ramp][::-1]
    t = np.arange(n) / RATE
    for k in range(BURSTS):
        start = int(k * PERIOD_S * RATE)
        audio[start : start + n] = 0.5 * envelope * np.sin(2 * np.pi * burst_hz(k) * t)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes((audio * 32767).astype("<i2").tobytes())
    return path


#: Installed before any page script: remembers the microphone stream and the remote stream.
INIT_SCRIPT = """
(() => {
    const probe = (window.__echoProbe = { local: null, remote: null, pc: null });
    const getUserMedia = navigator.mediaDevices.getUserMedia.bind(navigator.mediaDevices);
    navigator.mediaDevices.getUserMedia = async (constraints) => {
        const stream = await getUserMedia(constraints);
        if (stream.getAudioTracks().length) probe.local = stream;
        return stream;
    };
    const Native = window.RTCPeerConnection;
    window.RTCPeerConnection = class extends Native {
        constructor(...args) {
            super(...args);
            this.addEventListener("track", (e) => {
                if (e.track.kind !== "audio") return;
                probe.remote = e.streams[0] || new MediaStream([e.track]);
                probe.pc = this;
            });
        }
    };
})();
"""

#: The worklet: per input, onsets after >= 150 ms of quiet, with a zero-crossing frequency estimate
#: over the burst's first 100 ms. Times are in seconds on the AudioContext's sample clock.
WORKLET = """
class Onsets extends AudioWorkletProcessor {
    constructor() {
        super();
        this.inputs = [0, 1].map(() => ({ quiet: 0, collecting: -1, onset: 0, crossings: 0, prev: 0 }));
    }
    process(inputs) {
        for (let i = 0; i < 2; i++) {
            const channel = inputs[i] && inputs[i][0];
            if (!channel) continue;
            const s = this.inputs[i];
            for (let j = 0; j < channel.length; j++) {
                const x = channel[j];
                const at = currentFrame + j;
                if (s.collecting >= 0) {
                    if ((x >= 0) !== (s.prev >= 0)) s.crossings++;
                    s.prev = x;
                    if (++s.collecting >= sampleRate / 10) {
                        this.port.postMessage({ input: i, t: s.onset / sampleRate, hz: s.crossings * 5 });
                        s.collecting = -1;
                        s.quiet = 0;
                    }
                } else if (Math.abs(x) > 0.05) {
                    if (s.quiet >= 0.15 * sampleRate) {
                        s.collecting = 0;
                        s.onset = at;
                        s.crossings = 0;
                        s.prev = x;
                    }
                    s.quiet = 0;
                } else {
                    s.quiet++;
                }
            }
        }
        return true;
    }
}
registerProcessor("echo-onsets", Onsets);
"""

#: Runs in the page once both streams exist: records onsets for `ms` milliseconds.
MEASURE_JS = """async ([ms, worklet]) => {
    const probe = window.__echoProbe;
    const ctx = new AudioContext({ sampleRate: 48000 });
    await ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([worklet], { type: "text/javascript" })));
    const node = new AudioWorkletNode(ctx, "echo-onsets", { numberOfInputs: 2, numberOfOutputs: 1 });
    ctx.createMediaStreamSource(probe.local).connect(node, 0, 0);
    ctx.createMediaStreamSource(probe.remote).connect(node, 0, 1);
    const mute = ctx.createGain();
    mute.gain.value = 0;
    node.connect(mute).connect(ctx.destination);
    const onsets = [];
    node.port.onmessage = (e) => onsets.push(e.data);
    const buffer = [];
    let last = null;
    const sample = async () => {
        if (!probe.pc) return;
        const report = await probe.pc.getStats();
        report.forEach((s) => {
            if (s.type !== "inbound-rtp" || s.kind !== "audio" || s.jitterBufferEmittedCount === undefined) return;
            if (last && s.jitterBufferEmittedCount > last.n) {
                const ms = (1000 * (s.jitterBufferDelay - last.d)) / (s.jitterBufferEmittedCount - last.n);
                buffer.push({ t: ctx.currentTime, ms });
            }
            last = { d: s.jitterBufferDelay, n: s.jitterBufferEmittedCount };
        });
    };
    const timer = setInterval(sample, 250);
    await new Promise((r) => setTimeout(r, ms));
    clearInterval(timer);
    await ctx.close();
    return { onsets, buffer };
}"""

STREAMS_READY_JS = "() => !!(window.__echoProbe && window.__echoProbe.local && window.__echoProbe.remote)"


@dataclass
class Echo:
    """One matched burst: when the microphone played it and how long until it came back."""

    sent_at: float
    hz: float
    round_trip_ms: float
    #: Chromium's jitter-buffer delay when the echo came back (None where the page gave no stats).
    jitter_buffer_ms: float | None = None

    @property
    def path_ms(self) -> float | None:
        """The round trip less the browser's jitter buffer: what the network and the server add."""
        return None if self.jitter_buffer_ms is None else self.round_trip_ms - self.jitter_buffer_ms


def match(onsets: list[dict[str, float]]) -> list[Echo]:
    """Pairs each remote onset with the latest local onset of the same frequency before it."""
    local = [o for o in onsets if o["input"] == 0]
    echoes = []
    for r in (o for o in onsets if o["input"] == 1):
        candidates = [o for o in local if abs(o["hz"] - r["hz"]) < 25 and 0 < r["t"] - o["t"] < PERIOD_S * BURSTS / 2]
        if candidates:
            sent = max(candidates, key=lambda o: o["t"])
            echoes.append(Echo(sent["t"], sent["hz"], (r["t"] - sent["t"]) * 1000))
    return echoes


def with_buffer(echoes: list[Echo], buffer: list[dict[str, float]]) -> list[Echo]:
    """Gives each echo the jitter-buffer reading nearest to the moment it came back."""
    if not buffer:
        return echoes
    for e in echoes:
        back = e.sent_at + e.round_trip_ms / 1000
        e.jitter_buffer_ms = min(buffer, key=lambda b: abs(b["t"] - back))["ms"]
    return echoes


def measure(page, seconds: float) -> list[Echo]:
    """Waits for both streams, then measures every burst for `seconds`."""
    page.wait_for_function(STREAMS_READY_JS, timeout=20000)
    result = page.evaluate(MEASURE_JS, [int(seconds * 1000), WORKLET])
    return with_buffer(match(result["onsets"]), result["buffer"])
