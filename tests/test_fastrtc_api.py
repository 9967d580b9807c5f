"""fastrtc 0.0.34's public API, beside this package's `fastrtc` (fastrtc-rs): every name apps import
and the signatures they call, compared with the real fastrtc in bench/.venv-fastrtc (read by
running `tests/apps/describe_api.py` under each interpreter), and the behaviour behind the names
that are new here."""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Any

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
OURS = ROOT / ".venv" / "bin" / "python"
THEIRS = ROOT / "bench" / ".venv-fastrtc" / "bin" / "python"

#: The names apps import from each submodule (fastrtc's own `__all__` for the package).
SUBMODULE_NAMES = {
    "fastrtc.utils": [
        "AdditionalOutputs",
        "CloseStream",
        "Context",
        "DataChannel",
        "WebRTCData",
        "WebRTCError",
        "WebRTCModel",
        "Warning",
        "AudioChunk",
        "AUDIO_PTIME",
        "audio_to_bytes",
        "audio_to_file",
        "audio_to_float32",
        "audio_to_int16",
        "aggregate_bytes_to_16bit",
        "async_aggregate_bytes_to_16bit",
        "create_message",
        "current_channel",
        "current_context",
        "get_current_context",
        "split_output",
        "wait_for_item",
        "webrtc_error_handler",
        "RTCConfigurationCallable",
    ],
    "fastrtc.tracks": [
        "StreamHandlerBase",
        "StreamHandler",
        "AsyncStreamHandler",
        "AudioVideoStreamHandler",
        "AsyncAudioVideoStreamHandler",
        "VideoStreamHandler",
        "EmitType",
        "AudioEmitType",
        "VideoEmitType",
        "HandlerType",
        "StreamHandlerImpl",
        "AdditionalOutputs",
        "CloseStream",
        "WebRTCData",
    ],
    "fastrtc.reply_on_pause": ["AlgoOptions", "ReplyOnPause", "ReplyFnGenerator"],
    "fastrtc.reply_on_stopwords": ["ReplyOnStopWords"],
    "fastrtc.stream": ["Stream", "UIArgs", "Body"],
    "fastrtc.webrtc": ["WebRTC"],
    "fastrtc.credentials": [
        "get_hf_turn_credentials",
        "get_hf_turn_credentials_async",
        "get_cloudflare_turn_credentials",
        "get_cloudflare_turn_credentials_async",
        "get_twilio_turn_credentials",
        "get_turn_credentials",
        "get_turn_credentials_async",
    ],
    "fastrtc.pause_detection": [
        "SileroVADModel",
        "SileroVadOptions",
        "PauseDetectionModel",
        "ModelOptions",
        "get_silero_model",
    ],
    "fastrtc.pause_detection.protocol": ["ModelOptions", "PauseDetectionModel"],
    "fastrtc.pause_detection.silero": ["SileroVADModel", "SileroVadOptions", "get_silero_model"],
    "fastrtc.speech_to_text": ["get_stt_model", "MoonshineSTT", "stt_for_chunks"],
    "fastrtc.text_to_speech": ["get_tts_model", "KokoroTTSOptions", "CartesiaTTSOptions"],
}

#: Callables whose parameters must match fastrtc's (name, kind, default, in order; this package
#: may add keyword-only ones after them).
SIGNATURES = [
    ("fastrtc", "ReplyOnPause", "signature"),
    ("fastrtc", "ReplyOnStopWords", "signature"),
    ("fastrtc", "Stream", "signature"),
    ("fastrtc", "Stream", "method:mount"),
    ("fastrtc", "Stream", "method:fastphone"),
    ("fastrtc", "WebRTC", "signature"),
    ("fastrtc", "AlgoOptions", "signature"),
    ("fastrtc", "SileroVadOptions", "signature"),
    ("fastrtc", "KokoroTTSOptions", "signature"),
    ("fastrtc", "CartesiaTTSOptions", "signature"),
    ("fastrtc", "VideoStreamHandler", "signature"),
    ("fastrtc", "CloseStream", "signature"),
    ("fastrtc", "AdditionalOutputs", "signature"),
    ("fastrtc", "wait_for_item", "signature"),
    ("fastrtc", "get_stt_model", "signature"),
    ("fastrtc", "get_turn_credentials", "signature"),
    ("fastrtc", "get_cloudflare_turn_credentials", "signature"),
    ("fastrtc", "get_cloudflare_turn_credentials_async", "signature"),
    ("fastrtc", "get_hf_turn_credentials", "signature"),
    ("fastrtc.utils", "create_message", "signature"),
    ("fastrtc.utils", "WebRTCData", "signature"),
    ("fastrtc.utils", "Context", "signature"),
    ("fastrtc.tracks", "StreamHandlerBase", "signature"),
]


#: Where a default differs on purpose: (module, name, which) -> {parameter: (ours, why)}.
DIFFERENT_DEFAULTS = {
    ("fastrtc", "AlgoOptions", "signature"): {
        "max_continuous_speech_s": ("60.0", "a peer that never pauses must not grow its utterance without bound"),
    },
}


def describe(python: Path) -> dict[str, Any]:
    run = subprocess.run(
        [str(python), str(ROOT / "tests" / "apps" / "describe_api.py")],
        capture_output=True,
        text=True,
        timeout=180,
        env={"HF_HUB_OFFLINE": "1", "GRADIO_ANALYTICS_ENABLED": "False", "PATH": "/usr/bin:/bin"},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return json.loads(run.stdout)


@pytest.fixture(scope="module")
def surfaces() -> tuple[dict[str, Any], dict[str, Any]]:
    if not THEIRS.exists():
        pytest.fail("bench/.venv-fastrtc is missing: run `make other-libs` (it installs fastrtc 0.0.34)")
    return describe(THEIRS), describe(OURS)


def test_every_public_name_of_fastrtc_is_here(surfaces):
    theirs, ours = surfaces
    assert "error" not in ours["fastrtc"], ours["fastrtc"]
    missing = [n for n in theirs["fastrtc"] if not ours["fastrtc"].get(n, {}).get("present")]
    assert not missing, f"fastrtc names missing here: {missing}"
    for module, names in SUBMODULE_NAMES.items():
        assert "error" not in ours[module], (module, ours[module])
        assert all(n in theirs[module] for n in names), f"the list for {module} names something fastrtc lacks"
        absent = [n for n in names if not ours[module].get(n, {}).get("present")]
        assert not absent, f"{module}: {absent}"


@pytest.mark.parametrize(("module", "name", "which"), SIGNATURES, ids=lambda v: str(v))
def test_signatures_match_fastrtc(surfaces, module, name, which):
    theirs, ours = surfaces
    expected = theirs[module][name][which]
    got = ours[module][name][which]
    assert expected is not None and got is not None
    different = DIFFERENT_DEFAULTS.get((module, name, which), {})
    expected = [[n, k, different[n][0] if n in different else d] for n, k, d in expected]
    names = {p[0] for p in expected}
    extra = [p for p in got if p[0] not in names]
    assert all(kind == "KEYWORD_ONLY" for _, kind, _ in extra), f"only keyword-only additions: {extra}"
    assert [p for p in got if p[0] in names] == expected, f"fastrtc: {expected}\nhere:    {got}"


def test_the_handlers_arguments_in_fastrtcs_order():
    import fastrtc

    def reply(audio):
        yield audio

    def startup():
        yield 24000, np.zeros(240, np.int16)

    handler = fastrtc.ReplyOnPause(reply, startup, fastrtc.AlgoOptions(audio_chunk_duration=0.5), None, False)
    assert handler.startup_fn is startup and handler.algo_options.audio_chunk_duration == 0.5
    assert handler.can_interrupt is False
    copy = handler.copy()
    assert type(copy) is fastrtc.ReplyOnPause and copy.startup_fn is startup and copy.can_interrupt is False
    # gradio_webrtc keeps 0.0.31's order: the second argument is the algorithm's options.
    import gradio_webrtc

    assert (
        gradio_webrtc.ReplyOnPause(reply, fastrtc.AlgoOptions(speech_threshold=0.2)).algo_options.speech_threshold
        == 0.2
    )


async def test_fastrtc_speaks_json_and_gradio_webrtc_plain_strings():
    import fastrtc

    import gradio_webrtc
    from gradio_webrtc._engine import Engine, SessionConfig

    engine = Engine()
    try:
        for protocol, expected in (("fastrtc", fastrtc.utils.create_message("send_input", [])), ("0.0.31", "tick")):
            config = SessionConfig(protocol=protocol)
            session, transport = engine.open_stream(f"words-{protocol}", config, codec="pcm16")
            session.send_event("send_input")
            item = None
            while item is None or item[0] != "message":
                item = await transport.next()
            if protocol == "fastrtc":
                assert json.loads(item[1]) == json.loads(expected)
            else:
                assert item[1] == expected
            session.close()
    finally:
        engine.close()
    assert fastrtc.WebRTC.PROTOCOL == "fastrtc" and gradio_webrtc.WebRTC.PROTOCOL == "0.0.31"


async def test_wait_for_item_returns_none_after_its_timeout():
    import fastrtc

    queue: asyncio.Queue[int] = asyncio.Queue()
    assert await fastrtc.wait_for_item(queue, 0.05) is None
    queue.put_nowait(7)
    assert await fastrtc.wait_for_item(queue) == 7


def test_the_bundled_silero_behind_fastrtcs_model_interface():
    import fastrtc
    from speech import load

    model = fastrtc.get_silero_model()
    assert isinstance(model, fastrtc.PauseDetectionModel)
    model.warmup()
    speech = load("one_sentence", 16000)
    seconds, chunks = model.vad((16000, speech), fastrtc.SileroVadOptions())
    assert 0.8 < seconds <= len(speech) / 16000 + 0.01, seconds
    assert chunks and all(0 <= c["start"] < c["end"] <= len(speech) for c in chunks)
    silence, none = model.vad((16000, np.zeros(16000, np.int16)), None)
    assert (silence, none) == (0.0, [])
    # 48 kHz float input is converted; regions are counted at 16 kHz, as fastrtc's.
    seconds_48k, _ = model.vad((48000, np.repeat(speech.astype(np.float32) / 32768, 3)), None)
    assert abs(seconds_48k - seconds) < 0.3
