"""What fastrtc 0.0.34 added to the API, on this engine: phone mode, `CloseStream`, the connection's
context, trickled ICE candidates, a pause-detection model of the app's own, `trigger_response`.
Each against a real peer (a Twilio-protocol caller, a WebSocket client, an aiortc peer)."""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Any

import httpx
import numpy as np
import pytest
import websockets
from handlers import Echo
from peer import RATE, connect, tone, wait_for
from speech import load
from stream_server import TwilioCall, open_client

import gradio_webrtc
from gradio_webrtc import AdditionalOutputs, CloseStream, ReplyOnPause, Stream, get_current_context
from gradio_webrtc.stream_handler import SessionControls

pytestmark = pytest.mark.usefixtures("no_leaks")


def beep(rate: int = 8000, seconds: float = 0.3) -> tuple[int, np.ndarray]:
    t = np.arange(int(rate * seconds)) / rate
    return rate, (0.3 * np.sin(2 * np.pi * 500 * t)).astype(np.float32)


# -- phone mode -----------------------------------------------------------------------------------


async def test_a_phone_call_feeds_the_last_outputs_back_as_the_next_turns_inputs(serve):
    """A phone has no page to ask for inputs: the handler is in `phone_mode`, the first turn runs
    with the function's defaults, and what a reply yields as `AdditionalOutputs` is the next
    turn's inputs (fastrtc's documented telephone behaviour)."""
    import gradio as gr

    calls: list[tuple[str, int]] = []

    def answer(audio, topic="weather", turn=0):
        calls.append((topic, turn))
        yield AdditionalOutputs(f"after-{topic}", turn + 1)
        yield beep()

    stream = Stream(
        ReplyOnPause(answer, input_sample_rate=8000),
        modality="audio",
        additional_inputs=[gr.Textbox(label="topic"), gr.Number(label="turn")],
    )
    server = serve(stream)
    call = await TwilioCall.dial(server)
    await wait_for(lambda: len(stream.handlers) == 1, 5)
    handler = next(iter(stream.handlers.values()))
    assert handler.phone_mode
    sentence = load("one_sentence", 8000).astype(np.float32) / 32768
    await call.say(sentence)
    await wait_for(lambda: len(calls) == 1, 15)
    await call.say(sentence)
    await wait_for(lambda: len(calls) == 2, 15)
    assert calls == [("weather", 0), ("after-weather", 1)]
    assert not any(m.get("type") == "send_input" for m in call.received), "a phone is never asked for inputs"
    await call.hang_up()
    await wait_for(lambda: len(stream.connections) == 0, 5)


# -- CloseStream and the connection's context ----------------------------------------------------


class Farewell(gradio_webrtc.StreamHandler):
    """Echoes 25 frames, reports its context, then ends the stream."""

    def __init__(self) -> None:
        super().__init__(input_sample_rate=16000, output_sample_rate=16000)
        self.frames: list[Any] = []
        self.sent = 0
        self.seen: list[Any] = []

    def receive(self, frame: Any) -> None:
        self.frames.append(frame)

    def emit(self) -> Any:
        if not self.frames:
            return None
        self.sent += 1
        frame = self.frames.pop(0)
        if self.sent == 1:
            context = get_current_context()
            self.seen.append((context.webrtc_id, context.websocket is not None))
        if self.sent == 25:
            return frame, CloseStream("Goodbye")
        return frame

    def copy(self) -> Farewell:
        return Farewell()


async def test_close_stream_plays_out_then_ends_the_call(serve):
    stream = Stream(Farewell(), modality="audio")
    server = serve(stream)
    client, task = await open_client(server, "farewell", 16000)
    await wait_for(lambda: len(stream.handlers) == 1, 5)
    handler = stream.handlers["farewell"]
    with contextlib.suppress(websockets.ConnectionClosed):  # the server hangs up mid-sentence
        await client.send(tone(300, 1.5, 16000) / 2, realtime=True)
    await asyncio.wait_for(client.closed.wait(), 10)
    assert {"type": "end_stream", "data": "Goodbye"} in client.messages
    assert 24 <= len(client.media) <= 26, "the audio before the goodbye was played, nothing after"
    assert handler.seen == [("farewell", True)], "the context names the connection and its WebSocket"
    await wait_for(lambda: len(stream.connections) == 0, 5)
    task.cancel()


def test_the_context_is_only_there_inside_handler_code():
    with pytest.raises(RuntimeError, match="No context found"):
        get_current_context()


# -- trickled ICE candidates ----------------------------------------------------------------------


def split_candidates(sdp: str) -> tuple[str, list[dict[str, Any]]]:
    """The offer without its candidates, and the candidates as a browser trickles them."""
    lines = sdp.split("\r\n")
    kept, candidates, mid = [], [], None
    index = -1
    for line in lines:
        if line.startswith("m="):
            index += 1
        if line.startswith("a=mid:"):
            mid = line[6:]
        if line.startswith("a=candidate:"):
            candidates.append({"candidate": line[2:], "sdpMid": mid, "sdpMLineIndex": index})
            continue
        if line == "a=end-of-candidates":
            continue
        kept.append(line)
    return "\r\n".join(kept), candidates


async def test_trickled_candidates_reach_ice(serve):
    """fastrtc's page posts its offer before gathering and trickles each candidate after it,
    often while the offer is still being answered: the candidates are held and applied, so the
    server knows the browser's address before its first check arrives."""
    stream = Stream(Echo(), modality="audio", concurrency_limit=4)
    server = serve(stream)
    async with httpx.AsyncClient(timeout=20) as http:
        pending: list[Any] = []

        async def offer(body: dict[str, Any]) -> dict[str, Any]:
            sdp, candidates = split_candidates(body["sdp"])
            answer = asyncio.create_task(http.post(f"{server.http}/webrtc/offer", json={**body, "sdp": sdp}))
            # Trickle once the server has the offer (as the page's candidates follow its offer),
            # while it is still being answered; before that, a candidate is for an unknown id.
            webrtc_id = body["webrtc_id"]
            await wait_for(
                lambda: webrtc_id in stream.connections._pending or stream.connections.get(webrtc_id), timeout=10
            )
            for candidate in candidates:
                message = {"type": "ice-candidate", "webrtc_id": body["webrtc_id"], "candidate": candidate}
                pending.append((await http.post(f"{server.http}/webrtc/offer", json=message)).json())
            return (await answer).json()

        client, answer = await connect(offer, webrtc_id="trickle", samples=tone(440, 2.0))
        assert answer["type"] == "answer"
        assert pending and all(p == {"status": "success"} for p in pending), pending
        await wait_for(lambda: len(client.recording.chunks) > 50, timeout=15)
        # Each was given to ICE (on this machine the checks arrive from loopback, an address no
        # candidate names, so the pair ICE selects is peer-reflexive either way).
        session = stream.connections["trickle"].session
        assert session.stats()["ice_candidates_trickled"] == len(pending)
        # Refusals, in fastrtc's words.
        bad = {"type": "ice-candidate", "webrtc_id": "trickle", "candidate": {"candidate": "nonsense"}}
        assert (await http.post(f"{server.http}/webrtc/offer", json=bad)).json()["meta"]["error"] == (
            "invalid_candidate_format"
        )
        unknown = {"type": "ice-candidate", "webrtc_id": "nobody", "candidate": {"candidate": "candidate:1 1 udp"}}
        assert (await http.post(f"{server.http}/webrtc/offer", json=unknown)).json()["meta"]["error"] == (
            "unknown_connection"
        )
        stranger = await http.post(
            f"{server.http}/webrtc/offer",
            json={**unknown, "webrtc_id": "trickle"},
            headers={"X-Forwarded-For": "203.0.113.9", "Cookie": "gradio_webrtc_owner=" + "y" * 22},
        )
        assert stranger.json()["meta"]["error"] == "unknown_connection", "only the owner adds candidates"
        await client.close()
    await wait_for(lambda: len(stream.connections) == 0, 15)


# -- a pause-detection model of the app's own; trigger_response ------------------------------------


class LoudnessModel:
    """A pause detector of the app's own: 'speech' is any 20 ms with an RMS above -30 dBFS."""

    def __init__(self) -> None:
        self.calls = 0

    def vad(self, audio: tuple[int, np.ndarray], options: Any) -> tuple[float, list[Any]]:
        self.calls += 1
        rate, samples = audio
        frames = np.asarray(samples, np.float32).reshape(-1)
        frames = frames[: len(frames) // (rate // 50) * (rate // 50)].reshape(-1, rate // 50) / 32768
        loud = np.sqrt((frames**2).mean(axis=1)) > 0.03
        return float(loud.sum()) * 0.02, []

    def warmup(self) -> None:
        pass


async def test_a_model_of_the_apps_own_detects_the_pauses(make_connections):
    model = LoudnessModel()
    heard: list[float] = []

    def answer(audio):
        heard.append(audio[1].shape[1] / audio[0])
        yield 24000, np.zeros(2400, np.int16)

    connections = make_connections(ReplyOnPause(answer, model=model, input_sample_rate=16000))
    bursts = np.concatenate(
        [tone(300, 1.2), np.zeros(RATE * 2, np.int16), tone(500, 0.9), np.zeros(RATE * 2, np.int16)]
    )
    client, _ = await connect(connections.offer, webrtc_id="own-model", samples=bursts)
    await wait_for(lambda: len(heard) == 2, timeout=20)
    assert model.calls > 5, "the app's model was asked"
    assert 1.0 <= heard[0] <= 2.2 and 0.7 <= heard[1] <= 1.9, heard
    logs = [json.loads(m)["data"] for m in client.messages if m.startswith("{") and '"log"' in m]
    assert logs.count("pause_detected") == 2 and logs.count("started_talking") == 2, logs
    await client.close()


async def test_trigger_response_replies_to_what_was_said_so_far(make_connections):
    heard: list[tuple[int, int]] = []

    def answer(audio):
        heard.append((audio[0], audio[1].shape[1]))
        yield 24000, np.zeros(2400, np.int16)

    connections = make_connections(ReplyOnPause(answer, input_sample_rate=16000))
    client, _ = await connect(connections.offer, webrtc_id="triggered", samples=None)
    await wait_for(lambda: "triggered" in connections and connections["triggered"].runner is not None, 10)
    assert connections.trigger_response("triggered")
    await wait_for(lambda: heard, timeout=10)
    assert heard == [(16000, 0)], "nothing was said: an empty utterance, at once"
    await client.close()


def test_a_trigger_before_the_session_starts_is_kept():
    """`trigger_response()` in the moment between the connection and its runner's start (an app
    calling it from its own route right after connecting) is applied once the session starts."""
    ended: list[int] = []
    handler = ReplyOnPause(lambda audio: iter(())).copy()
    handler.trigger_response()
    loop = asyncio.new_event_loop()
    try:
        handler.attach_session(SessionControls(asyncio.Event(), loop, None, lambda: ended.append(1)))
        assert ended == [], "not before the runner's lanes exist"
        loop.run_until_complete(asyncio.sleep(0))
        assert ended == [1]
    finally:
        loop.close()


# -- stop words found by transcribing (fastrtc's way) ------------------------------------------------


class PocketSphinxSTT:
    """A real speech recogniser for the tests: pocketsphinx's US-English model, full decoding
    (its `stt` is what fastrtc's `STTModel` protocol asks for)."""

    def stt(self, audio: tuple[int, np.ndarray]) -> str:
        from pocketsphinx import Decoder

        from gradio_webrtc._engine import Resampler

        rate, samples = audio
        pcm = np.asarray(samples, np.int16).reshape(-1)
        if rate != 16000:
            pcm = Resampler(rate, 16000).process(pcm)
        decoder = Decoder(samprate=16000)
        decoder.start_utt()
        decoder.process_raw(pcm.tobytes(), False, True)
        decoder.end_utt()
        return decoder.hyp().hypstr if decoder.hyp() else ""


def test_stop_words_in_a_transcript():
    from gradio_webrtc.reply_on_stopwords import SpeechToTextStopWords, stop_word_detected

    assert stop_word_detected("OK  Computer, what time is it?", ["ok computer"])
    assert not stop_word_detected("look, computers", ["ok computer"])
    detector = SpeechToTextStopWords(PocketSphinxSTT(), ["ok computer"])
    heard = detector.detect(16000, load("stop_word", 16000))
    assert heard is not None and heard <= 2.5, heard
    assert detector.copy().detect(16000, load("no_stop_word", 16000)) is None


async def test_fastrtc_reply_on_stop_words_with_a_transcribing_detector(make_connections):
    import fastrtc

    from gradio_webrtc.reply_on_stopwords import SpeechToTextStopWords

    requests: list[float] = []

    def answer(audio):
        requests.append(audio[1].shape[1] / audio[0])
        yield 24000, np.zeros(4800, np.int16)

    handler = fastrtc.ReplyOnStopWords(
        answer,
        ["ok computer"],
        input_sample_rate=16000,
        detector=SpeechToTextStopWords(PocketSphinxSTT(), ["ok computer"]),
    )
    assert handler.stt_model is not None and handler.stop_word_detected("ok computer, hi")
    connections = make_connections(handler)
    client, _ = await connect(connections.offer, webrtc_id="stt-stop", samples=load("stop_word"))
    await wait_for(lambda: requests, timeout=25)
    assert 0.3 < requests[0] < len(load("stop_word")) / RATE - 1.0, "the request after the stop word"
    assert any(m == "stopword" or '"stopword"' in m for m in client.messages)
    await client.close()
