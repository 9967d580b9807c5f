"""The `WebRTC` Gradio component: the original's API, backed by the Rust engine.

The component's value is a plain string: the browser's `webrtc_id` once connected, or the
sentinels `"__webrtc_value__"` (not connected) and `"start_webrtc_stream"` (receive mode: the trigger
asked for a stream). Media never passes through Gradio's queue: the browser posts its SDP offer to
the `offer` server function, and audio/video flow over WebRTC to the engine. Other inputs reach the
handler through the `tick` event (`set_input`), and values for other components leave it through
`AdditionalOutputs` and the `state_change` event.

Each component owns its `Connections` (registry, concurrency limit, engine): two components in one
app never share sessions or limits.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import gradio
from gradio.components.base import Component, server
from gradio.events import Dependency

from . import limits
from .clients import Requester, client_address
from .connections import Connections, Modality, Mode, UnknownConnectionError, failed, resolve_config
from .credentials import turn_from_environment
from .protocol import Protocol
from .replica import serve_in_gradio_apps
from .stream_handler import (
    WEBRTC_VALUE,
    AsyncAudioVideoStreamHandler,
    AudioVideoStreamHandler,
    StreamHandlerBase,
)
from .utils import WebRTCData

if TYPE_CHECKING:
    from gradio.blocks import Block

logger = logging.getLogger("gradio_webrtc")

START_STREAM = "start_webrtc_stream"
GRADIO_MAJOR = int(gradio.__version__.split(".")[0])
#: The built frontend for this Gradio major (shipped in the wheel and the sdist; `make frontend` in a
#: checkout). Gradio serves whatever is there: without it a page shows "Loading..." forever and the
#: server logs nothing, so its absence is an import error instead.
BUNDLE = Path(__file__).parent / "templates" / f"gradio{GRADIO_MAJOR}" / "component" / "index.js"
if not BUNDLE.exists() and not os.environ.get("GRADIO_WEBRTC_NO_FRONTEND"):
    raise ImportError(
        f"gradio_webrtc: the component's frontend for Gradio {gradio.__version__} is missing ({BUNDLE}); "
        "a page would show 'Loading...' forever. Install the released wheel (pip install gradio-webrtc-rs), "
        "or in a checkout run `make frontend`."
    )


def _requester(request: Any) -> Requester:
    """Who sent a Gradio event: its browser session (`session_hash`) and client address."""
    client = client_address(getattr(getattr(request, "client", None), "host", None), getattr(request, "headers", None))
    session = getattr(request, "session_hash", None)
    return Requester(owner=session if isinstance(session, str) else None, client=client)


def _session_bound(fn: Callable[..., Any], n_inputs: int) -> Callable[..., Any]:
    """`fn(*values, requester=...)` as a Gradio listener of `n_inputs` inputs: Gradio hands a
    listener the request when a parameter is annotated `gr.Request`, and the request names the
    browser session (`session_hash`) that sent the event."""

    def listener(*args: Any) -> Any:
        *values, request = args
        return fn(*values, requester=_requester(request))

    params = [inspect.Parameter(f"value_{i}", inspect.Parameter.POSITIONAL_OR_KEYWORD) for i in range(n_inputs)]
    params.append(inspect.Parameter("request", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=gradio.Request))
    listener.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    listener.__annotations__ = {"request": gradio.Request}
    listener.__name__ = getattr(fn, "__name__", "listener")
    return listener


async def _offer_origin(request: Any) -> Requester:
    """The requester of a `component_server` call (Gradio passes the raw request; its JSON body,
    already read and cached, carries the session hash)."""
    if request is None:
        return Requester(owner=None, client=None)
    requester = _requester(request)
    if requester.owner is None:
        try:
            body = await request.json()
            session = body.get("session_hash") if isinstance(body, dict) else None
        except Exception:
            session = None
        requester = Requester(owner=session if isinstance(session, str) else None, client=requester.client)
    return requester


#: How long the result of an `rtc_configuration` function is reused for the pages that ask
#: (`turn`): a provider's TURN credentials live for minutes to hours, and every call may cost.
TURN_CACHE_S = 60.0


_AUDIO_CONSTRAINTS = {
    "echoCancellation": True,
    "noiseSuppression": {"exact": True},
    "autoGainControl": {"exact": True},
    "sampleRate": {"ideal": 24000},
    "sampleSize": {"ideal": 16},
    "channelCount": {"exact": 1},
}
_VIDEO_CONSTRAINTS = {
    "facingMode": "user",
    "width": {"ideal": 500},
    "height": {"ideal": 500},
    "frameRate": {"ideal": 30},
}


def default_track_constraints(modality: str, full_screen: bool = False) -> dict[str, Any]:
    """The original's `getUserMedia` constraints per modality (fastrtc asks for 1280x720 video
    when the component is `full_screen`)."""
    video = dict(_VIDEO_CONSTRAINTS)
    if full_screen:
        video.update(width={"ideal": 1280}, height={"ideal": 720})
    if modality == "audio":
        return dict(_AUDIO_CONSTRAINTS)
    if modality == "video":
        return video
    return {"video": video, "audio": dict(_AUDIO_CONSTRAINTS)}


class WebRTC(Component):
    """Streams audio and/or video between the browser and a Python handler over WebRTC.

    Args:
        value: must be None (the value is managed by the component).
        height, width: CSS size of the component (px when int).
        label, show_label, container, scale, min_width, interactive, visible, elem_id,
            elem_classes, render, key, every, inputs: the standard Gradio component arguments.
        mirror_webcam: mirror the local webcam preview.
        rtc_configuration: the browser's `RTCPeerConnection` configuration (ICE/TURN servers), or a
            sync/async function returning it, called for every connection (fresh TURN credentials).
        server_rtc_configuration: the server peer's ICE configuration, same shape (or a function).
            Default: host candidates only (enough when the browser relays through TURN, or on a LAN).
        track_constraints: `getUserMedia` constraints; defaults per modality as in the original.
        time_limit: seconds a stream may last (overwritten by `stream(time_limit=...)`).
        mode: `"send-receive"`, `"receive"` (server to browser) or `"send"` (browser to server).
        modality: `"video"`, `"audio"` or `"audio-video"`.
        rtp_params: merged into each browser `RTCRtpSender`'s parameters.
        icon: image shown instead of the level bars in audio mode (path or URL).
        icon_button_color, pulse_color: colours of the icon button and of the level pulse.
        button_labels: texts for the `start`, `stop` and `waiting` states.
        icon_radius: corner radius of the icon, in percent (fastrtc's option; default 50).
        variant: `"wave"` (the level bars) or `"textbox"` (a text box beside the microphone; the
            component's value is then a `WebRTCData` whose `textbox` is the text, and submitting it
            asks `ReplyOnPause` for a reply at once).
        full_screen: let the widget take the full width and ask the camera for 1280x720 (fastrtc's
            default); False keeps 0.0.31's compact 500x500 video.
        allow_extra_tracks: accepted for fastrtc's apps: a browser's media tracks this modality does
            not use are always ignored here (never a refused offer).

    Events: `tick` (the page sends the extra inputs), `state_change` (additional outputs are
    waiting), `submit` (the text box was submitted), `start_recording` and `stop_recording` (the
    user started or stopped streaming).
    """

    EVENTS = ["tick", "state_change", "submit", "start_recording", "stop_recording"]
    #: How page events are worded for this component's connections (`protocol.py`): gradio_webrtc
    #: 0.0.31's plain strings here, fastrtc's JSON in `fastrtc.WebRTC`.
    PROTOCOL: Protocol = "0.0.31"
    # One prebuilt bundle per Gradio major: Gradio 5 runs Svelte 4 components on its own Svelte,
    # Gradio 6 loads Svelte 5 components that bring their runtime. Both mount frontend/shared/.
    TEMPLATE_DIR = f"./templates/gradio{GRADIO_MAJOR}/"
    FRONTEND_DIR = "../frontend/" if GRADIO_MAJOR >= 6 else "../frontend5/"

    def __init__(
        self,
        value: None = None,
        height: int | str | None = None,
        width: int | str | None = None,
        label: str | None = None,
        every: float | None = None,
        inputs: Component | Sequence[Component] | set[Component] | None = None,
        show_label: bool | None = None,
        container: bool = True,
        scale: int | None = None,
        min_width: int = 160,
        interactive: bool | None = None,
        visible: bool = True,
        elem_id: str | None = None,
        elem_classes: list[str] | str | None = None,
        render: bool = True,
        key: int | str | None = None,
        mirror_webcam: bool = True,
        rtc_configuration: dict[str, Any] | Callable[[], Any] | None = None,
        track_constraints: dict[str, Any] | None = None,
        time_limit: float | None = None,
        mode: Literal["send-receive", "receive", "send"] = "send-receive",
        modality: Literal["video", "audio", "audio-video"] = "video",
        rtp_params: dict[str, Any] | None = None,
        icon: str | None = None,
        icon_button_color: str | None = None,
        pulse_color: str | None = None,
        button_labels: dict[str, str] | None = None,
        server_rtc_configuration: dict[str, Any] | Callable[[], Any] | None = None,
        *,
        icon_radius: int | None = None,
        variant: Literal["wave", "textbox"] = "wave",
        full_screen: bool | None = None,
        allow_extra_tracks: bool = False,
    ) -> None:
        if mode not in ("send-receive", "receive", "send"):
            raise ValueError(f'mode must be "send-receive", "receive" or "send", got {mode!r}')
        if modality not in ("video", "audio", "audio-video"):
            raise ValueError(f'modality must be "video", "audio" or "audio-video", got {modality!r}')
        if mode == "receive" and modality == "audio-video":
            raise ValueError('mode="receive" supports modality "audio" or "video", not "audio-video"')
        if value is not None:
            raise ValueError("WebRTC manages its own value; pass value=None")
        if variant not in ("wave", "textbox"):
            raise ValueError(f'variant must be "wave" or "textbox", got {variant!r}')
        self.icon_radius = icon_radius
        self.variant = variant
        #: How page events are worded for this component's connections (`protocol.py`).
        self.protocol: Protocol = self.PROTOCOL
        self.full_screen = bool(full_screen) if full_screen is not None else False
        self.allow_extra_tracks = allow_extra_tracks
        self.time_limit = time_limit
        self.height = height
        self.width = width
        self.mirror_webcam = mirror_webcam
        self.concurrency_limit: int | None = 1
        # A function (e.g. get_hf_turn_credentials) is not sent to the page: the page asks the `turn`
        # server function before every connection and gets fresh credentials.
        # A TURN relay shared by replicas (GRADIO_WEBRTC_TURN_SECRET/_URLS) serves components that name none.
        rtc_configuration, server_rtc_configuration = turn_from_environment(rtc_configuration, server_rtc_configuration)
        self._rtc_configuration_fn = rtc_configuration if callable(rtc_configuration) else None
        self.rtc_configuration = None if callable(rtc_configuration) else rtc_configuration
        self.server_rtc_configuration = server_rtc_configuration
        serve_in_gradio_apps()  # the app answers the readiness probe (`replica.py`); SIGTERM drains
        self.mode: Mode = mode
        self.modality: Modality = modality
        self.icon_button_color = icon_button_color
        self.pulse_color = pulse_color
        self.rtp_params = rtp_params or {}
        self.button_labels = {"start": "", "stop": "", "waiting": "", **(button_labels or {})}
        self.track_constraints = (
            track_constraints
            if track_constraints is not None
            else default_track_constraints(modality, self.full_screen)
        )
        self.event_handler: Any = None
        self._connections: Connections | None = None
        self._turn_cache: tuple[asyncio.Future[dict[str, Any]], float] | None = None
        super().__init__(
            label=label,
            every=every,
            inputs=inputs,
            show_label=show_label,
            container=container,
            scale=scale,
            min_width=min_width,
            interactive=interactive,
            visible=visible,
            elem_id=elem_id,
            elem_classes=elem_classes,
            render=render,
            key=key,
            value=value,
        )
        self.icon = self._resolve_icon(icon)

    def _resolve_icon(self, icon: str | None) -> str | None:
        if icon is None or icon.startswith(("http://", "https://", "data:")):
            return icon
        path = Path(icon)
        if not path.exists():
            raise ValueError(f"icon file {icon!r} does not exist")
        return self.serve_static_file(str(path.resolve()))["url"]  # type: ignore[index]

    # -- Gradio data contract: the value is the webrtc_id string ---------------------------------

    def preprocess(self, payload: Any) -> Any:
        """The `webrtc_id` (or a sentinel; Gradio 6 may send None before the first connection).
        The textbox variant's page sends `{webrtc_id, textbox}`: a `WebRTCData`."""
        if isinstance(payload, dict):
            data = WebRTCData.model_validate(payload)
            return data if self.variant == "textbox" else data.webrtc_id
        if isinstance(payload, WebRTCData):
            return payload if self.variant == "textbox" else payload.webrtc_id
        return payload

    def postprocess(self, value: str | None) -> str | None:
        return value

    def api_info(self) -> dict[str, Any]:
        return {"type": "string", "description": "the webrtc_id of the connection"}

    def example_payload(self) -> Any:
        return WEBRTC_VALUE

    def example_value(self) -> Any:
        return WEBRTC_VALUE

    # -- wiring ------------------------------------------------------------------------------------

    @property
    def connections(self) -> Connections | None:
        """The registry of this component's live connections (None until `stream()` is called)."""
        return self._connections

    def set_input(self, webrtc_id: str | WebRTCData, *args: Any, requester: Requester | None = None) -> None:
        """Pushes the current values of the extra inputs to the handler of `webrtc_id` (the
        component's value: the id, or the textbox variant's `WebRTCData`, which then reaches the
        handler as its first input). From a Gradio event (`requester` given), only the browser
        session that made the connection may; called by the app's own code (no `requester`), any
        connection may be set."""
        data = webrtc_id if isinstance(webrtc_id, WebRTCData) else None
        webrtc_id = data.webrtc_id if data is not None else webrtc_id
        if self._connections is None or webrtc_id in (None, WEBRTC_VALUE, START_STREAM):
            return
        try:
            self._connections.set_input(webrtc_id, *((data, *args) if data is not None else args), requester=requester)
        except UnknownConnectionError as exc:
            logger.info("%s", exc)

    def set_input_on_submit(self, webrtc_id: str | WebRTCData, *args: Any, requester: Requester | None = None) -> None:
        """The text box was submitted: the inputs are set (as `set_input`) and a `ReplyOnPause`
        replies at once, to what was typed and what was said so far (`trigger_response`)."""
        self.set_input(webrtc_id, *args, requester=requester)
        key = webrtc_id.webrtc_id if isinstance(webrtc_id, WebRTCData) else webrtc_id
        if self._connections is not None and isinstance(key, str):
            self._connections.trigger_response(key, requester=requester)

    def stream(
        self,
        fn: Callable[..., Any] | StreamHandlerBase | None = None,
        inputs: Block | Sequence[Block] | set[Block] | None = None,
        outputs: Block | Sequence[Block] | set[Block] | None = None,
        js: str | None = None,
        concurrency_limit: int | Literal["default"] | None = "default",
        concurrency_id: str | None = None,
        time_limit: float | None = None,
        trigger: Callable[..., Any] | None = None,
        offers_per_minute: float | None = limits.DEFAULT_OFFERS_PER_MINUTE,
        send_input_on: Literal["change", "submit"] = "change",
    ) -> Dependency | None:
        """Runs `fn` for every connection of this component.

        Args:
            fn: a `StreamHandler`-family instance (audio and audio-video), a function of a frame
                (video send/send-receive), or a generator function (receive mode).
            inputs: the component itself first (send modes), then extra inputs passed to `fn`.
            outputs: the component itself.
            js: forwarded to the generated listeners.
            concurrency_limit: most simultaneous connections; "default" and None mean 1, as in the
                original. Enforced per component.
            concurrency_id: forwarded to the generated listeners.
            time_limit: seconds after which each connection is closed.
            trigger: receive mode only: the event that starts the stream (e.g. `button.click`).
            offers_per_minute: connection attempts one client address may make per minute (a
                burst of as many, then refilled); None for no limit. Beyond it the page says to
                retry later.
            send_input_on: when an extra input pushes its value to the handler: on every
                `"change"`, or only when it is `"submit"`ted (text boxes).
        """
        from gradio.blocks import Block

        if inputs is None:
            inputs = []
        elif isinstance(inputs, Block):
            inputs = [inputs]
        inputs = list(inputs)
        if outputs is None:
            outputs = []
        elif isinstance(outputs, Block):
            outputs = [outputs]
        outputs = list(outputs)
        if fn is None:
            raise ValueError("stream() needs fn: a stream handler, a frame function or a generator function")
        if self.mode != "receive":
            if not inputs or inputs[0] is not self:
                raise ValueError(
                    f'In mode "{self.mode}" the WebRTC component must be the first of inputs, e.g. '
                    "inputs=[webrtc, slider]"
                )
            if outputs and (len(outputs) != 1 or outputs[0] is not self):
                raise ValueError("The only output of stream() may be the WebRTC component itself: outputs=[webrtc]")
            if self.modality in ("audio", "audio-video") and not isinstance(fn, StreamHandlerBase):
                raise ValueError(
                    f'modality="{self.modality}" needs a StreamHandler instance (e.g. ReplyOnPause(fn) or a '
                    f"StreamHandler subclass), got {type(fn).__name__}"
                )
        else:
            if self in inputs:
                raise ValueError('In mode "receive" the WebRTC component must not be among the inputs')
            if trigger is None:
                raise ValueError('mode="receive" needs a trigger, e.g. trigger=button.click')
            if isinstance(fn, StreamHandlerBase):
                raise ValueError('mode="receive" takes a generator function, not a StreamHandler')
        if self.modality == "audio-video" and not isinstance(
            fn, (AudioVideoStreamHandler, AsyncAudioVideoStreamHandler)
        ):
            raise ValueError(
                'modality="audio-video" needs an AudioVideoStreamHandler or AsyncAudioVideoStreamHandler instance '
                f"(video_receive/video_emit beside receive/emit), got {type(fn).__name__}"
            )
        if self.modality == "video" and self.mode != "receive" and isinstance(fn, StreamHandlerBase):
            raise ValueError('modality="video" takes a function fn(frame, *inputs) -> frame, not a StreamHandler')
        if send_input_on not in ("change", "submit"):
            raise ValueError(f'send_input_on must be "change" or "submit", got {send_input_on!r}')
        if self.variant == "textbox" and hasattr(fn, "needs_args"):
            fn.needs_args = True  # the typed text comes with the inputs, before each reply
        limit = 1 if concurrency_limit in ("default", None) else int(concurrency_limit)  # type: ignore[arg-type]
        if limit < 1:
            raise ValueError(f"concurrency_limit must be at least 1, got {concurrency_limit}")
        self.concurrency_limit = limit
        self.time_limit = time_limit
        self.event_handler = fn
        # The Blocks being built: its `show_error` (set by `launch()`) decides whether a handler's
        # exception text may reach the page.
        from gradio.context import Context

        root = Context.root_block
        self._connections = Connections(
            fn,
            mode=self.mode,
            modality=self.modality,
            concurrency_limit=limit,
            time_limit=time_limit,
            ice_servers=self.server_rtc_configuration,
            offers_per_minute=offers_per_minute,
            show_error=lambda: bool(getattr(root, "show_error", False)),
            protocol=self.protocol,
        )
        # Inputs reach a connection only from the browser session that made it. The listeners'
        # inputs: the component, then the extra inputs (send modes list the component first).
        n_inputs = len(inputs) if self.mode != "receive" else 1 + len(inputs)
        set_input = _session_bound(self.set_input, n_inputs)

        if self.mode == "receive":
            trigger(lambda: START_STREAM, inputs=None, outputs=self)  # type: ignore[misc]
            self.tick(  # type: ignore[attr-defined]
                set_input,
                inputs=[self, *inputs],
                outputs=None,
                concurrency_id=concurrency_id,
                js=js,
                concurrency_limit=None,
            )
            return None
        # Every change (or submit) of an extra input, and every `tick` from the page, pushes the
        # current values; the text box's submit also asks for a reply.
        listener = {"inputs": inputs, "outputs": None, "concurrency_id": concurrency_id, "concurrency_limit": None}
        for component in inputs[1:]:
            if hasattr(component, send_input_on):
                getattr(component, send_input_on)(set_input, js=js, **listener)
        self.submit(_session_bound(self.set_input_on_submit, n_inputs), js=js, **listener)  # type: ignore[attr-defined]
        return self.tick(set_input, js=js, **listener)  # type: ignore[attr-defined]

    def on_additional_outputs(
        self,
        fn: Callable[..., Any],
        inputs: Block | Sequence[Block] | set[Block] | None = None,
        outputs: Block | Sequence[Block] | set[Block] | None = None,
        js: str | None = None,
        concurrency_limit: int | Literal["default"] | None = "default",
        concurrency_id: str | None = None,
        show_progress: Literal["full", "minimal", "hidden"] = "full",
        queue: bool = True,
    ) -> Dependency:
        """Calls `fn(*input values, *AdditionalOutputs.args)` for every `AdditionalOutputs` the handler
        yields, in order, and sends the result to `outputs`."""
        from gradio.blocks import Block

        if inputs is None:
            inputs = []
        elif isinstance(inputs, Block):
            inputs = [inputs]
        inputs = list(inputs)
        n_outputs = 1 if isinstance(outputs, Block) else len(list(outputs or []))

        def handler(webrtc_id: str | WebRTCData, *args: Any, requester: Requester) -> Any:
            # A Gradio event always names its sender: one without a session (a `queue=False`
            # call made without one) presents no owner, and reads only what its address made.
            if isinstance(webrtc_id, WebRTCData):  # the textbox variant's value
                webrtc_id = webrtc_id.webrtc_id
            item = self._connections.pop_outputs(webrtc_id, requester) if self._connections else None
            if item is None:
                # Nothing queued (a duplicate event, or another session's id): outputs stay as they are.
                return gradio.skip() if n_outputs <= 1 else tuple(gradio.skip() for _ in range(n_outputs))
            return fn(*args, *item.args)

        return self.state_change(  # type: ignore[attr-defined]
            _session_bound(handler, 1 + len(inputs)),
            inputs=[self, *inputs],
            outputs=outputs,
            js=js,
            concurrency_limit=concurrency_limit,
            concurrency_id=concurrency_id,
            show_progress=show_progress,
            queue=queue,
            trigger_mode="multiple",
        )

    @server
    async def turn(self, _body: Any = None) -> dict[str, Any] | None:
        """The browser's ICE configuration for the next connection, when it is a function.

        Its result is shared by every page for `TURN_CACHE_S` (one call in flight at a time), so
        a page reloaded in a loop does not call a paid provider each time; a failure is retried
        after a few seconds, and the page hears that the servers could not be had, not why."""
        if self._rtc_configuration_fn is None:
            return self.rtc_configuration
        loop = asyncio.get_running_loop()
        cached = self._turn_cache
        if cached is None or cached[1] <= loop.time():
            future: asyncio.Future[dict[str, Any]] = loop.create_future()
            self._turn_cache = (future, loop.time() + TURN_CACHE_S)
            try:
                future.set_result(await resolve_config(self._rtc_configuration_fn))
            except Exception as exc:
                logger.error("the rtc_configuration function failed: %s", type(exc).__name__, exc_info=exc)
                future.set_result({"error": "could not get ICE servers for this connection"})
                self._turn_cache = (future, loop.time() + 5.0)
            cached = self._turn_cache
        return await asyncio.shield(cached[0])

    @server
    async def quit_output_stream(self, body: Any = None) -> dict[str, Any]:
        """The page stopped: fastrtc's page calls this so its outputs stream ends. Outputs here end
        with their session, so there is nothing to stop; answered as fastrtc does."""
        return {"success": True}

    @server
    async def offer(self, body: dict[str, Any], request: gradio.Request = None) -> dict[str, Any]:  # type: ignore[assignment]
        """Signalling: `{sdp, type, webrtc_id}` -> `{sdp, type}` or `{status: "failed", meta: {...}}`.
        The connection is bound to the browser session that offers it; offers are counted per
        client address (`stream(offers_per_minute=)`)."""
        if self._connections is None:
            return failed("not_ready", message="this WebRTC component has no stream() handler")
        requester = await _offer_origin(request)
        return await self._connections.offer(body, owner=requester.owner, client=requester.client)


if os.environ.get("GRADIO_WEBRTC_DEBUG"):
    logging.getLogger("gradio_webrtc").setLevel(logging.DEBUG)
