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

Routes (under `path`), fastrtc's four: `POST /webrtc/offer` (`{sdp, type, webrtc_id}` -> `{sdp,
type}`, as the component's `offer`), `WS /websocket/offer`, `POST /telephone/incoming` (TwiML for
Twilio) and `WS /telephone/handler` (Twilio Media Streams); with `mount(app, io_routes=True)` also
`POST /gradio_webrtc/input_hook` and `GET /gradio_webrtc/outputs` (see `routes.py`, which also says
how each route is bounded and bound to its client).
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Sequence
from typing import TYPE_CHECKING, Any, Literal, TypedDict

from .connections import Connections, UnknownConnectionError, resolve_config
from .credentials import turn_from_environment
from .outputs import AdditionalOutputs
from .replica import serve_in_gradio_apps
from .utils import WebRTCData
from .webrtc import WebRTC

if TYPE_CHECKING:
    from enum import Enum

    import gradio as gr
    from fastapi import FastAPI, Request, WebSocket
    from fastapi.responses import Response
    from gradio.components import Component

logger = logging.getLogger("gradio_webrtc")

#: How long `Stream.output_stream` waits for a connection that is not live yet (a page may open
#: `/outputs` before its offer is answered).
OUTPUT_WAIT_S = 60.0

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
    variant: Literal["wave", "textbox"]


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
        twilio_auth_token: str | None = None,
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
        rtc_configuration, server_rtc_configuration = turn_from_environment(rtc_configuration, server_rtc_configuration)
        self.rtc_configuration = rtc_configuration
        self.server_rtc_configuration = server_rtc_configuration
        serve_in_gradio_apps()  # `stream.ui.launch()` answers the readiness probe; SIGTERM drains
        self.track_constraints = track_constraints
        self.additional_input_components = list(additional_inputs or [])
        self.additional_output_components = list(additional_outputs or [])
        self.additional_outputs_handler = additional_outputs_handler
        self.ui_args: UIArgs = ui_args or {}
        self.verbose = verbose
        #: The Twilio auth token the phone routes check signatures with (default:
        #: `TWILIO_AUTH_TOKEN`); without one they answer anyone, as fastrtc's do.
        self.twilio_auth_token = twilio_auth_token or os.environ.get("TWILIO_AUTH_TOKEN") or None
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
        """The sessions of every transport (the UI component's registry and limits). Also reads
        as fastrtc's dict: `webrtc_id in stream.connections`, `stream.connections[webrtc_id]`."""
        connections = self.webrtc_component.connections
        assert connections is not None, "the UI wires the handler at construction"
        return connections

    @property
    def handlers(self) -> dict[str, Any]:
        """Each live connection's handler (the per-connection copy), by id."""
        return {webrtc_id: c.handler for webrtc_id, c in self.connections.items()}

    @property
    def pcs(self) -> dict[str, Any]:
        """Each live connection's engine session, by id (fastrtc's peer connections)."""
        return {webrtc_id: c.session for webrtc_id, c in self.connections.items()}

    def clean_up(self, webrtc_id: str) -> None:
        """Ends a connection (its handler's `shutdown()` runs, its slot is freed)."""
        connection = self.connections.get(webrtc_id)
        if connection is not None:
            connection.session.close("closed by the server")

    async def update_connection(self, webrtc_id: str | WebRTCData, desired_state: Literal["closed"]) -> None:
        """Asks the connection's page to change state (`"closed"`: stop streaming)."""
        key = webrtc_id.webrtc_id if isinstance(webrtc_id, WebRTCData) else webrtc_id
        connection = self.connections.get(key)
        if connection is not None:
            connection.session.send_event("update_connection", json.dumps(desired_state))

    async def fetch_latest_output(self, webrtc_id: str) -> AdditionalOutputs:
        """The next `AdditionalOutputs` of a connection, waiting up to 10 s for one.

        Raises:
            asyncio.TimeoutError: none came within 10 s.
        """

        async def first() -> AdditionalOutputs:
            async for outputs in self.output_stream(webrtc_id):
                return outputs
            raise asyncio.TimeoutError

        return await asyncio.wait_for(first(), 10.0)

    def set_input_on_submit(self, webrtc_id: str | WebRTCData, *args: Any) -> None:
        """Sets the inputs and asks a `ReplyOnPause` for a reply now (a submitted text box)."""
        self.webrtc_component.set_input_on_submit(webrtc_id, *args)

    def set_input_gradio(self, webrtc_id: str | WebRTCData, *args: Any) -> None:
        """Sets the inputs from a Gradio event's values (the component's value first)."""
        self.webrtc_component.set_input(webrtc_id, *args)

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
                        icon_radius=args.get("icon_radius"),
                        variant=args.get("variant", "wave"),  # type: ignore[arg-type]
                        full_screen=args.get("full_screen"),
                        allow_extra_tracks=self.allow_extra_tracks,
                    )
                    # A Stream's clients are fastrtc's: its routes and pages read fastrtc's JSON
                    # events (this package's own page reads both).
                    self.webrtc_component.protocol = "fastrtc"
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
                    send_input_on=args.get("send_input_on", "change"),
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
        """Sets the handler's extra inputs for one connection (any transport); an id with no live
        connection is ignored, as in fastrtc. Called while serving a request (e.g. the app's own
        `/input_hook`), it reaches only a connection that client made (`routes.py`): a stranger's
        call is ignored the same way."""
        try:
            self.connections.set_input(webrtc_id, *args)
        except UnknownConnectionError:
            logger.debug("set_input for a connection that is not live (or not the caller's); ignored")

    async def output_stream(self, webrtc_id: str) -> AsyncIterator[AdditionalOutputs]:
        """Every `AdditionalOutputs` of one connection, as it comes, until it ends. As in fastrtc,
        a page may ask before its offer is answered: an id with no live connection is waited for
        (up to `OUTPUT_WAIT_S`; then the stream ends empty). While serving a request, only the
        client that made the connection gets its outputs; a stranger waits as for a missing id."""
        connections = self.connections
        deadline = asyncio.get_running_loop().time() + OUTPUT_WAIT_S
        while True:
            try:
                items = connections.output_stream(webrtc_id)
                break
            except UnknownConnectionError:
                left = deadline - asyncio.get_running_loop().time()
                if left <= 0:
                    return
                await connections.wait_for_new_connection(left)
        async for outputs in items:
            yield outputs

    async def offer(
        self, body: dict[str, Any], *, owner: str | None = None, client: str | None = None
    ) -> dict[str, Any]:
        """The WebRTC offer endpoint's logic: `{sdp, type, webrtc_id}` -> `{sdp, type}`, or a
        trickled candidate (`{"type": "ice-candidate", ...}`) -> `{"status": "success"}`; `owner`
        and `client` bind the connection to its caller (see `Connections.offer`)."""
        return await self.connections.offer(body, owner=owner, client=client)

    # -- your server's routes ----------------------------------------------------------------------

    def mount(
        self, app: FastAPI, path: str = "", tags: Sequence[str | Enum] | None = None, *, io_routes: bool = False
    ) -> None:
        """Adds fastrtc's routes (module docstring) under `path` to a FastAPI `app`; `tags` label
        them in the OpenAPI docs. `io_routes=True` adds `/gradio_webrtc/input_hook` and
        `/gradio_webrtc/outputs` too, for pages that do not define their own."""
        from .routes import mount

        mount(self, app, path, tags, io_routes=io_routes)

    async def websocket_offer(self, websocket: WebSocket) -> None:
        """The `/websocket/offer` route's logic, for an app that routes it itself."""
        from .routes import websocket_offer

        await websocket_offer(self, websocket)

    async def telephone_handler(self, websocket: WebSocket) -> None:
        """The `/telephone/handler` route's logic (Twilio Media Streams; signed when a token is set)."""
        from .routes import telephone_handler

        await telephone_handler(self, websocket, self.twilio_auth_token)

    async def handle_incoming_call(self, request: Request) -> Response:
        """The `/telephone/incoming` route's logic (TwiML for Twilio; signed when a token is set)."""
        from .routes import telephone_incoming

        return await telephone_incoming(self, request, self.twilio_auth_token)

    async def get_rtc_configuration(self) -> dict[str, Any]:
        """The browser's ICE configuration (`rtc_configuration`, called when it is a function)."""
        return await resolve_config(self.rtc_configuration) or {}

    def fastphone(
        self,
        token: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8000,
        *,
        public_url: str | None = None,
        **kwargs: Any,
    ) -> None:
        """Gives the stream a phone number through fastrtc's free phone service (FastPhone), then
        serves until interrupted. See `fastphone.py`: the same calls as fastrtc makes.

        Args:
            token: your Hugging Face token (default: the logged-in one, or `HF_TOKEN`).
            host, port: where the stream's routes are served locally.
            public_url: the address the service should call, if the server is already reachable
                (e.g. behind your own tunnel); default: a Gradio share tunnel to `host:port`.
            kwargs: passed to `uvicorn.Config`.
        """
        from .fastphone import fastphone

        fastphone(self, token=token, host=host, port=port, public_url=public_url, **kwargs)

    def preprocess_inputs(self, values: list[Any]) -> list[Any]:
        """Values posted for the extra inputs, through each component's `preprocess` as Gradio's
        own events would pass them. A value that holds a file is refused: a client could
        otherwise name any path on the server.

        Raises:
            ValueError: the count or a value does not fit the components.
        """
        components = self.additional_input_components
        if len(values) != len(components):
            raise ValueError(f"expected {len(components)} input values, got {len(values)}")
        return [_preprocess(c, v) for c, v in zip(components, values, strict=True)]


def _holds_file(value: Any) -> bool:
    from gradio.data_classes import FileData
    from pydantic import BaseModel

    if isinstance(value, FileData):
        return True
    if isinstance(value, BaseModel):
        return any(_holds_file(getattr(value, name)) for name in type(value).model_fields)
    if isinstance(value, (list, tuple)):
        return any(_holds_file(v) for v in value)
    if isinstance(value, dict):
        return any(_holds_file(v) for v in value.values())
    return False


def _preprocess(component: Component, value: Any) -> Any:
    from pydantic import ValidationError

    name = component.label or type(component).__name__
    model = getattr(component, "data_model", None)
    if model is not None and value is not None:
        try:
            value = model.model_validate(value)
        except ValidationError as exc:
            raise ValueError(f"{name}: not a value of this component ({exc.error_count()} errors)") from None
        if _holds_file(value):
            raise ValueError(f"{name}: files cannot be sent as input values")
    try:
        return component.preprocess(value)
    except Exception as exc:
        raise ValueError(f"{name}: not a value of this component ({type(exc).__name__})") from None
