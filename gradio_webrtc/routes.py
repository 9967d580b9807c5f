"""The routes `Stream.mount(app)` adds to a FastAPI app, each bounded for the open internet.

fastrtc's four routes, exactly (`POST /webrtc/offer`, `WS /websocket/offer`, `POST
/telephone/incoming`, `WS /telephone/handler`), and two more only when asked for
(`mount(app, io_routes=True)`: `POST /gradio_webrtc/input_hook`, `GET /gradio_webrtc/outputs`),
named so that they never shadow an app's own `/input_hook` and `/outputs`.

Every route:
* reads at most `MAX_BODY` bytes of a request before parsing it (WebSocket messages are bounded in
  `websocket.py`);
* counts against the client's address (`clients.client_address`, trusted proxies only) in the
  stream's one rate limit and session cap (`Connections._admit`);
* binds what it creates to its client: the offer's answer sets an HttpOnly owner cookie that the
  same browser sends on its later `fetch` and `EventSource` requests; `set_input` and
  `output_stream`, from these routes or from the app's own, answer only that client
  (`clients.RequestContext`), and a stranger gets the same answer for a live id as for a missing
  one;
* for the phone routes, checks Twilio's signature when an auth token is known (`twilio.py`), before
  any handler code runs.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl

# At module level: FastAPI reads the endpoints' annotations (strings here) from this module's names.
from fastapi import Request, WebSocket
from fastapi.responses import JSONResponse, Response, StreamingResponse

from .clients import OWNER_COOKIE, RequestContext, new_owner_token, public_url, requester_of
from .connections import UnknownConnectionError, failed
from .replica import add_ready_route, replica
from .twilio import valid_signature
from .websocket import serve_phone, serve_websocket, twiml

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Sequence
    from enum import Enum

    from fastapi import FastAPI
    from starlette.requests import HTTPConnection

    from .stream import Stream

logger = logging.getLogger("gradio_webrtc")

#: The largest request body a route reads (an offer is bounded to 64 KiB by the engine; a Twilio
#: webhook is ~1 KiB).
MAX_BODY = 128 * 1024


class BodyTooLargeError(Exception):
    """A request body past `MAX_BODY`."""


async def read_body(request: Request, limit: int = MAX_BODY) -> bytes:
    """The request's body, refused past `limit` bytes before any more is read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise BodyTooLargeError
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise BodyTooLargeError
    return bytes(body)


async def read_json(request: Request) -> Any:
    """The request's JSON body (None if it is not JSON); `BodyTooLargeError` past `MAX_BODY`."""
    body = await read_body(request)
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        return None


def _too_large() -> Any:
    return JSONResponse(failed("request_too_large", message=f"the request is larger than {MAX_BODY} bytes"), 413)


def _set_owner_cookie(response: Any, conn: HTTPConnection, token: str, path: str) -> None:
    response.set_cookie(
        OWNER_COOKIE,
        token,
        path=path or "/",
        httponly=True,
        samesite="lax",
        secure=public_url(conn).startswith("https"),
    )


async def webrtc_offer(stream: Stream, request: Request, path: str = "") -> Response:
    """`POST /webrtc/offer`: the offer (or a trickled candidate) of a client; the answer sets the
    owner cookie that binds the connection to this client."""
    replica.handle_sigterm()  # under uvicorn (main thread): SIGTERM drains rather than cuts calls
    try:
        body = await read_json(request)
    except BodyTooLargeError:
        return _too_large()
    if body is None:
        return JSONResponse(failed("invalid_offer", message="the offer must be JSON"))
    requester = requester_of(request)
    if isinstance(body, dict) and body.get("type") == "ice-candidate":
        # A candidate trickled after the offer, often before its answer (and cookie) came back:
        # its sender is matched by the cookie it has, or by its address.
        return JSONResponse(await stream.offer(body, owner=requester.owner, client=requester.client))
    token = requester.owner or new_owner_token()
    answer = await stream.offer(body, owner=token, client=requester.client)
    response = JSONResponse(answer)
    if "sdp" in answer:
        _set_owner_cookie(response, request, token, path)
    return response


async def websocket_offer(stream: Stream, websocket: WebSocket) -> None:
    """`WS /websocket/offer`: fastrtc's WebSocket protocol."""
    replica.handle_sigterm()
    await serve_websocket(websocket, stream.connections, requester_of(websocket))


def _signed(token: str | None, conn: HTTPConnection, params: list[tuple[str, str]], scheme: str) -> bool:
    if token is None:
        return True
    url = public_url(conn, scheme)
    ok = valid_signature(token, url, params, conn.headers.get("x-twilio-signature"))
    if not ok:
        logger.warning("refused a phone request without a valid Twilio signature (for %s)", url)
    return ok


async def telephone_incoming(stream: Stream, request: Request, token: str | None = None) -> Response:
    """`POST /telephone/incoming`: Twilio's webhook for a call; TwiML that connects it to
    `/telephone/handler`. Signed with `token` (Twilio's auth token) when one is given."""
    try:
        body = await read_body(request)
    except BodyTooLargeError:
        return _too_large()
    form = "application/x-www-form-urlencoded" in request.headers.get("content-type", "")
    params = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True) if form else []
    if not _signed(token, request, params, "http"):
        return Response("invalid or missing X-Twilio-Signature", status_code=403, media_type="text/plain")
    # Twilio connects Media Streams over TLS only: the stream's URL is wss:// whatever the scheme
    # this request arrived with behind a proxy.
    url = public_url(request, "ws").split("?", 1)[0].removesuffix("/telephone/incoming")
    url = "wss://" + url.split("://", 1)[1]
    return Response(twiml(f"{url}/telephone/handler"), media_type="application/xml")


async def telephone_handler(stream: Stream, websocket: WebSocket, token: str | None = None) -> None:
    """`WS /telephone/handler`: Twilio Media Streams (refused before it is accepted when a `token`
    is given and the upgrade is not signed with it)."""
    if not _signed(token, websocket, [], "ws"):
        await websocket.close(code=1008)  # before accepting: the client gets HTTP 403
        return
    await serve_phone(websocket, stream.connections, requester_of(websocket), signed=token is not None)


def mount(
    stream: Stream,
    app: FastAPI,
    path: str = "",
    tags: Sequence[str | Enum] | None = None,
    *,
    io_routes: bool = False,
    phone_token: str | Literal["stream"] | None = "stream",
) -> None:
    """Adds `stream`'s routes under `path` to `app` (module docstring). The phone routes check
    signatures with `phone_token` (default: the stream's Twilio auth token; None: none, for
    `Stream.fastphone`, whose calls come from fastrtc's phone service, not your Twilio account)."""
    token = stream.twilio_auth_token if phone_token == "stream" else phone_token
    from fastapi import APIRouter

    router = APIRouter(prefix=path)
    route_tags: list[str | Enum] | None = list(tags) if tags else None

    @router.post("/webrtc/offer", tags=route_tags)
    async def offer_route(request: Request) -> Response:
        return await webrtc_offer(stream, request, path)

    @router.websocket("/websocket/offer")
    async def websocket_route(websocket: WebSocket) -> None:
        await websocket_offer(stream, websocket)

    @router.post("/telephone/incoming", tags=route_tags)
    async def incoming_route(request: Request) -> Response:
        return await telephone_incoming(stream, request, token)

    @router.websocket("/telephone/handler")
    async def phone_route(websocket: WebSocket) -> None:
        await telephone_handler(stream, websocket, token)

    if io_routes:

        @router.post("/gradio_webrtc/input_hook", tags=route_tags)
        async def input_hook(request: Request) -> Response:
            try:
                body = await read_json(request)
            except BodyTooLargeError:
                return _too_large()
            if not isinstance(body, dict) or not isinstance(body.get("webrtc_id"), str):
                return JSONResponse(failed("invalid_input", message="expected {webrtc_id, inputs: [...]}"), 400)
            values = body.get("inputs")
            if not isinstance(values, list):
                return JSONResponse(failed("invalid_input", message="inputs must be a list"), 400)
            try:
                stream.connections.set_input(body["webrtc_id"], *stream.preprocess_inputs(values))
            except UnknownConnectionError:
                return JSONResponse(failed("unknown_connection"), 404)
            except ValueError as exc:
                return JSONResponse(failed("invalid_input", message=str(exc)), 400)
            return JSONResponse({"status": "success"})

        @router.get("/gradio_webrtc/outputs", tags=route_tags)
        async def outputs(webrtc_id: str) -> Response:
            # `Stream.output_stream`'s answer is the same for a missing id and another client's:
            # it waits for a connection of this caller's, then streams its outputs.
            async def events() -> AsyncIterator[str]:
                async for item in stream.output_stream(webrtc_id):
                    yield f"event: output\ndata: {json.dumps(list(item.args), default=str)}\n\n"

            return StreamingResponse(events(), media_type="text/event-stream")

    app.include_router(router)
    add_ready_route(app)  # process-wide, at the app's root: GET /gradio_webrtc/ready
    if not any(m.cls is RequestContext for m in app.user_middleware):
        app.add_middleware(RequestContext)
    if token is None and phone_token == "stream":
        logger.warning(
            "gradio_webrtc: the phone routes under %r answer anyone: set TWILIO_AUTH_TOKEN (or "
            "Stream(twilio_auth_token=...)) to accept only requests Twilio signed",
            path or "/",
        )
    if stream.verbose:
        logger.info("gradio_webrtc Stream mounted at %r (WebRTC, WebSocket, telephone)", path or "/")
