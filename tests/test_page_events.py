"""Page events: one typed enum in the engine (`_engine.PAGE_EVENTS`), worded per page, and the two
readers of them — the page's parser (`frontend/shared/protocol.ts`, run under node) and the testing
client's — checked against every kind it can send."""

from __future__ import annotations

import asyncio
import contextlib
import json
import subprocess
from pathlib import Path

import pytest

from gradio_webrtc._engine import PAGE_EVENTS, Engine, SessionConfig
from gradio_webrtc.testing import read_page_event

ROOT = Path(__file__).resolve().parent.parent
ESBUILD = ROOT / "frontend" / "node_modules" / ".bin" / "esbuild"

#: A text for the kinds that carry one.
TEXTS = {"end_stream": "Time limit reached", "error": "it broke", "warning": "careful", "update_connection": '"closed"'}
#: What each kind means to a page: its kind there, and the text it shows.
EXPECTED = {
    "send_input": ("send_input", ""),
    "fetch_output": ("fetch_output", ""),
    "stopword": ("stopword", ""),
    "started_talking": ("log", "started_talking"),
    "pause_detected": ("log", "pause_detected"),
    "response_starting": ("log", "response_starting"),
    "end_stream": ("end_stream", "Time limit reached"),
    "error": ("error", "it broke"),
    "warning": ("warning", "careful"),
    "update_connection": ("update_connection", "closed"),
}


async def worded(protocol: str) -> dict[str, str]:
    """The text of every page event as a session of `protocol` sends it."""
    engine = Engine()
    try:
        session, transport = engine.open_stream("page-events", SessionConfig(protocol=protocol), codec="pcm16")
        for kind in PAGE_EVENTS:
            session.send_event(kind, TEXTS.get(kind))
        texts: dict[str, str] = {}
        while len(texts) < len(PAGE_EVENTS):
            item = await transport.next()
            assert item is not None, "the stream ended before its messages went out"
            what, data = item
            if what == "message":
                texts[PAGE_EVENTS[len(texts)]] = data
        session.close()
        return texts
    finally:
        engine.close()


def test_every_kind_is_known_to_the_tests():
    assert sorted(PAGE_EVENTS) == sorted(EXPECTED)


@pytest.mark.parametrize("protocol", ["0.0.31", "fastrtc"])
async def test_the_testing_client_reads_every_event(protocol: str):
    texts = await worded(protocol)
    for kind, text in texts.items():
        assert read_page_event(text) == EXPECTED[kind], (kind, text)
    plain = protocol == "0.0.31"
    assert (texts["send_input"] == "tick") is plain
    assert (texts["fetch_output"] == "change") is plain


async def test_the_pages_parser_reads_every_event(tmp_path: Path):
    """protocol.ts, bundled by esbuild and run by node, parses each text the engine sends."""
    assert ESBUILD.exists(), "frontend/node_modules is missing: run `make frontend`"
    bundle = tmp_path / "protocol.mjs"
    subprocess.run(
        [str(ESBUILD), str(ROOT / "frontend" / "shared" / "protocol.ts"), "--format=esm", f"--outfile={bundle}"],
        check=True,
        capture_output=True,
    )
    texts = {}
    for protocol in ("0.0.31", "fastrtc"):
        texts.update({f"{protocol}:{kind}": text for kind, text in (await worded(protocol)).items()})
    script = (
        f"import {{ parse_message }} from {json.dumps(str(bundle))};\n"
        f"const texts = {json.dumps(texts)};\n"
        "const out = {};\n"
        "for (const [key, text] of Object.entries(texts)) out[key] = parse_message(text);\n"
        "console.log(JSON.stringify(out));\n"
    )
    runner = tmp_path / "run.mjs"
    runner.write_text(script)
    parsed = json.loads(subprocess.run(["node", str(runner)], check=True, capture_output=True, text=True).stdout)
    # The page's names for the three requests are 0.0.31's.
    page_kind = {"send_input": "tick", "fetch_output": "change"}
    for key, message in parsed.items():
        kind, text = EXPECTED[key.split(":", 1)[1]]
        assert message["kind"] == page_kind.get(kind, kind), (key, message)
        if "message" in message:
            assert message["message"] == text, (key, message)


def test_an_unknown_event_is_refused_by_name():
    engine = Engine()
    try:
        session, _ = engine.open_stream("unknown-event", SessionConfig(), codec="pcm16")
        with pytest.raises(ValueError, match="unknown page event"):
            session.send_event("reboot")
        with pytest.raises(ValueError, match="not JSON"):
            session.send_event("update_connection", "{not json")
        session.close()
    finally:
        engine.close()


def test_a_session_config_is_checked_where_it_is_made():
    from gradio_webrtc._engine import PauseConfig

    with pytest.raises(ValueError, match="input_sample_rate"):
        SessionConfig(input_sample_rate=1000)
    with pytest.raises(ValueError, match="input_channels"):
        SessionConfig(input_channels=3)
    with pytest.raises(ValueError, match="time_limit"):
        SessionConfig(time_limit=-1)
    with pytest.raises(ValueError, match="protocol"):
        SessionConfig(protocol="0.0.30")
    with pytest.raises(ValueError, match="threshold"):
        PauseConfig(threshold=float("nan"))
    config = SessionConfig(pause=PauseConfig(speech_pad=0.1), time_limit=30, protocol="fastrtc")
    assert config.pause is not None and config.pause.speech_pad == 0.1
    assert (config.time_limit, config.protocol, config.can_interrupt) == (30, "fastrtc", True)


def test_a_handler_becomes_one_session_config():
    from gradio_webrtc import ReplyOnPause, ReplyOnStopWords
    from gradio_webrtc.session_config import session_config

    def reply(audio):
        yield audio

    pause = session_config(ReplyOnPause(reply, input_sample_rate=16000, can_interrupt=False), mode="send-receive")
    assert (pause.input_sample_rate, pause.can_interrupt, pause.stream_speech) == (16000, False, False)
    assert pause.pause is not None and (pause.send_audio, pause.recv_audio, pause.send_video) == (True, True, False)
    video = session_config(lambda frame: frame, mode="receive", modality="video", protocol="fastrtc")
    assert (video.send_video, video.recv_video, video.pause, video.protocol) == (True, False, None, "fastrtc")
    stop = session_config(ReplyOnStopWords(reply, stop_words=["computer"]), mode="send", modality="audio-video")
    assert (stop.send_audio, stop.recv_audio, stop.recv_video) == (False, True, True)


async def test_how_a_session_ended_is_typed():
    engine = Engine()
    try:
        closed, _ = engine.open_stream("closed-by-app", SessionConfig(), codec="pcm16")
        closed.close("done here")
        assert await closed.wait_closed() == "done here"
        assert (closed.close_kind, closed.failure_kind, closed.failed) == ("server", None, False)

        failed, _ = engine.open_stream("failed-by-app", SessionConfig(), codec="pcm16")
        failed.fail("the model is gone")
        assert await failed.wait_closed() == "the model is gone"
        assert (failed.close_kind, failed.failure_kind, failed.failed) == ("failed", "server", True)

        flooded, transport = engine.open_stream("too-fast", SessionConfig(input_sample_rate=8000), codec="pcm16")
        # Ten seconds of audio at once, again and again: far ahead of real time.
        with contextlib.suppress(ValueError):  # the queue may also refuse it
            for _ in range(20):
                transport.push(bytes(160_000))
        await asyncio.wait_for(flooded.wait_closed(), 10)
        assert (flooded.close_kind, flooded.failure_kind) == ("failed", "input_too_fast")
    finally:
        engine.close()


def test_engine_errors_carry_their_kind_and_message():
    from gradio_webrtc._engine import InvalidOfferError

    engine = Engine()
    try:
        with pytest.raises(InvalidOfferError) as refused:
            engine.open_stream("not a valid id!", SessionConfig(), codec="pcm16")
        assert refused.value.kind == "invalid_offer"
        assert "webrtc_id" in refused.value.message and refused.value.message == str(refused.value)
    finally:
        engine.close()


def test_media_errors_are_value_errors_with_a_kind():
    import numpy as np

    engine = Engine()
    try:
        session, _ = engine.open_stream("bad-audio", SessionConfig(), codec="pcm16")
        with pytest.raises(ValueError) as refused:
            session.send_audio(48000, np.zeros((3, 3, 3), np.float32))
        assert refused.value.kind == "bad_audio", refused.value
        assert "input_idle_s" in session.stats()
        session.close()
    finally:
        engine.close()
