"""`Stream`: one handler behind a Gradio UI and behind plain routes of your own server.

fastrtc's `Stream` API (its constructor, `.ui`, `.mount(app)`), on this engine: the same handler
serves the Gradio page (`stream.ui`), a WebRTC offer endpoint for your own web or mobile front end,
a WebSocket endpoint (fastrtc's JSON protocol, μ-law audio) and a Twilio phone number, and
ReplyOnPause, stop words, barge-in and pacing behave the same over all of them: every transport
feeds the same Rust media session. All of them share the UI component's connections, so
`concurrency_limit` and `time_limit` count every client, whatever it came through.

    stream = Stream(ReplyOnPause(answer), modality="audio", mode="send-receive")
    stream.ui.launch()                 # the Gradio page
    app = FastAPI(); stream.mount(app)  # or the routes below on your own server

Routes (under `path`): `POST /webrtc/offer` (`{sdp, type, webrtc_id}` -> `{sdp, type}`, as the
component's `offer`), `WS /websocket/offer`, `POST /telephone/incoming` (TwiML for Twilio),
`WS /telephone/handler` (Twilio Media Streams), `POST /input_hook` (`{"webrtc_id", "inputs": [...]}`:
the handler's extra inputs) and `GET /outputs?webrtc_id=...` (server-sent events, one `data:` line
of JSON per `AdditionalOutputs`).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from fastapi import APIRouter, Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .connections import Connections, UnknownConnectionError, failed
from .outputs import AdditionalOutputs
from .webrtc import WebRTC
from .websocket import serve_phone, serve_websocket, twiml

if TYPE_CHECKING:
    import gradio as gr
    from fastapi import FastAPI
    from gradio.components import Component

logger = logging.getLogger("gradio_webrtc")

Mode = Literal["send-receive", "receive", "send"]
Modality = Literal["video", "audio", "audio-video"]

_VALID = {
    "video": ("send-receive", "receive", "send"),
    "audio": ("send-receive", "receive", "send"),
    "audio-video": ("send-receive",),
}


class UIArgs(TypedDict, total=False):
    """Options for `Stream.ui` (fastrtc's names)."""

    title: str
    subtitle: str
    icon: str
    icon_button_color: str
    pulse_color: str
    icon_radius: int
    send_input_on: Literal["submit", "change"]
    hide_title: bool
    full_screen: bool


class Stream:
    """A handler served by a Gradio UI (`ui`) and by routes on your own server (`mount`).

    The constructor is fastrtc 0.0.34's. `concurrency_limit` "default" or None means 1, as there;
    `additional_outputs` need an `additional_outputs_handler(*current values, *yielded args)` that
    returns the new values.
    """

    def __init__(
        self,
        handler: Any,
        *,
        additional_outputs_handler: Callable[..., Any] | None = None,
        mode: Mode = "send-receive",
        modality: Modality = "video",
        concurrency_limit: int | Literal["default"] | None = "default",
        time_limit: float | None = None,
        allow_extra_tracks: bool = False,
        rtp_params: dict[str, Any] | None = None,
        rtc_configuration: dict[str, Any] | Callable[[], Any] | None = None,
        server_rtc_configuration: dict[str, Any] | Callable[[], Any] | None = None,
        track_constraints: dict[str, Any] | None = None,
        additional_inputs: Sequence[Component] | None = None,
        additional_outputs: Sequence[Component] | None = None,
        ui_args: UIArgs | None = None,
        verbose: bool = True,
    ) -> None:
        if modality not in _VALID or mode not in _VALID[modality]:
            raise ValueError(
                f"Invalid modality: {modality} and mode: {mode} (audio and video: send-receive, receive or "
                "send; audio-video: send-receive)"
            )
        if additional_outputs and additional_outputs_handler is None:
            raise ValueError("additional_outputs need an additional_outputs_handler to fill them")
        self.event_handler = handler
        self.mode: Mode = mode
        self.modality: Modality = modality
        self.concurrency_limit = 1 if concurrency_limit in ("default", None) else int(concurrency_limit)  # type: ignore[arg-type]
        self.time_limit = time_limit
        self.allow_extra_tracks = allow_extra_tracks
        self.rtp_params = rtp_params
        self.rtc_configuration = rtc_configuration
        self.server_rtc_configuration = server_rtc_configuration
        self.track_constraints = track_constraints
        self.additional_input_components = list(additional_inputs or [])
        self.additional_output_components = list(additional_outputs or [])
        self.additional_outputs_handler = additional_outputs_handler
        self.ui_args: UIArgs = ui_args or {}
        self.verbose = verbose
        self.webrtc_component: WebRTC
        self._ui = self._build_ui()

    # -- the Gradio UI -----------------------------------------------------------------------------

    @property
    def ui(self) -> gr.Blocks:
        """The Gradio app: a title, the `WebRTC` component, the extra inputs and outputs."""
        return self._ui

    @ui.setter
    def ui(self, blocks: gr.Blocks) -> None:
        self._ui = blocks

    @property
    def connections(self) -> Connections:
        """The sessions of every transport (the UI component's registry and limits)."""
        connections = self.webrtc_component.connections
        assert connections is not None, "the UI wires the handler at construction"
        return connections

    def _build_ui(self) -> gr.Blocks:
        import gradio as gr

        args = self.ui_args
        kind = {"audio": "Audio", "video": "Video", "audio-video": "Audio and Video"}[self.modality]
        title = args.get("title", f"{kind} Streaming")
        with gr.Blocks(title=title) as blocks:
            if not args.get("hide_title"):
                gr.Markdown(f"# {title}")
                if args.get("subtitle"):
                    gr.Markdown(args["subtitle"])
            with gr.Row():
                with gr.Column():
                    if self.mode == "receive":
                        for component in self.additional_input_components:
                            component.render()
                        button = gr.Button("Start Stream", variant="primary")
                    self.webrtc_component = WebRTC(
                        label=f"{kind} Stream",
                        mode=self.mode,
                        modality=self.modality,
                        rtc_configuration=self.rtc_configuration,
                        server_rtc_configuration=self.server_rtc_configuration,
                        track_constraints=self.track_constraints,
                        rtp_params=self.rtp_params,
                        icon=args.get("icon"),
                        icon_button_color=args.get("icon_button_color"),
                        pulse_color=args.get("pulse_color"),
                    )
                if self.mode != "receive" and self.additional_input_components:
                    with gr.Column():
                        for component in self.additional_input_components:
                            component.render()
                only_outputs = [
                    c for c in self.additional_output_components if c not in self.additional_input_components
                ]
                if only_outputs:
                    with gr.Column():
                        for component in only_outputs:
                            component.render()
            webrtc = self.webrtc_component
            if self.mode == "receive":
                webrtc.stream(
                    fn=self.event_handler,
                    inputs=self.additional_input_components,
                    outputs=[webrtc],
                    time_limit=self.time_limit,
                    concurrency_limit=self.concurrency_limit,
                    trigger=button.click,
                )
            else:
                webrtc.stream(
                    fn=self.event_handler,
                    inputs=[webrtc, *self.additional_input_components],
                    outputs=[webrtc],
                    time_limit=self.time_limit,
                    concurrency_limit=self.concurrency_limit,
                )
            if self.additional_output_components:
                assert self.additional_outputs_handler is not None
                webrtc.on_additional_outputs(
                    self.additional_outputs_handler,
                    inputs=self.additional_output_components,
                    outputs=self.additional_output_components,
                    queue=False,
                    show_progress="hidden",
                )
        return blocks

    # -- the handler's inputs and outputs, by id ---------------------------------------------------

    def set_input(self, webrtc_id: str, *args: Any) -> None:
        """Sets the handler's extra inputs for one connection (any transport)."""
        self.connections.set_input(webrtc_id, *args)

    async def output_stream(self, webrtc_id: str) -> AsyncIterator[AdditionalOutputs]:
        """Every `AdditionalOutputs` of one connection, as it comes, until it ends."""
        async for outputs in self.connections.output_stream(webrtc_id):
            yield outputs

    async def offer(self, body: dict[str, Any]) -> dict[str, Any]:
        """The WebRTC offer endpoint's logic: `{sdp, type, webrtc_id}` -> `{sdp, type}`."""
        if isinstance(body, dict) and body.get("type") == "ice-candidate":
            # Candidates are in the offer (non-trickle): later ones add nothing the answer lacks.
            return {"status": "success"}
        return await self.connections.offer(body)

    # -- your server's routes ----------------------------------------------------------------------

    def mount(self, app: FastAPI, path: str = "") -> None:
        """Adds the routes (module docstring) under `path` to a FastAPI `app`."""
        router = APIRouter(prefix=path)

        @router.post("/webrtc/offer")
        async def webrtc_offer(request: Request) -> JSONResponse:
            try:
                body = await request.json()
            except ValueError:
                return JSONResponse(failed("invalid_offer", message="the offer must be JSON"))
            return JSONResponse(await self.offer(body))

        @router.websocket("/websocket/offer")
        async def websocket_offer(websocket: WebSocket) -> None:
            await serve_websocket(websocket, self.connections)

        @router.post("/telephone/incoming")
        async def telephone_incoming(request: Request) -> Response:
            host = request.headers.get("host") or request.url.netloc
            prefix = request.url.path.removesuffix("/telephone/incoming")
            return Response(twiml(f"wss://{host}{prefix}/telephone/handler"), media_type="application/xml")

        @router.websocket("/telephone/handler")
        async def telephone_handler(websocket: WebSocket) -> None:
            await serve_phone(websocket, self.connections)

        @router.post("/input_hook")
        async def input_hook(request: Request) -> JSONResponse:
            try:
                body = await request.json()
            except ValueError:
                body = None
            if not isinstance(body, dict) or not isinstance(body.get("webrtc_id"), str):
                return JSONResponse({"status": "failed", "meta": {"error": "invalid_input"}}, status_code=400)
            values = body.get("inputs")
            if not isinstance(values, list):
                values = [v for k, v in body.items() if k != "webrtc_id"]
            try:
                self.set_input(body["webrtc_id"], *values)
            except UnknownConnectionError as exc:
                return JSONResponse({"status": "failed", "meta": {"error": "unknown_connection", "message": str(exc)}})
            return JSONResponse({"status": "success"})

        @router.get("/outputs")
        async def outputs(webrtc_id: str) -> Response:
            if webrtc_id not in self.connections.connections:
                error = {"error": "unknown_connection", "message": str(UnknownConnectionError(webrtc_id))}
                return JSONResponse({"status": "failed", "meta": error}, status_code=404)

            async def events() -> AsyncIterator[str]:
                async for item in self.output_stream(webrtc_id):
                    yield f"data: {json.dumps(list(item.args), default=str)}\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

        app.include_router(router)
        if self.verbose:
            logger.info("gradio_webrtc Stream mounted at %r (WebRTC, WebSocket, telephone)", path or "/")
