"""Who is asking: a request's client address behind trusted proxies, the public URL it was sent
to, and the owner token that binds a stream's routes to the client that made the offer.

Every route a stranger can reach counts its work against the client's address (rate limits) and
checks that the caller owns the connection it names. Both need to know who the client is, and a
client can write any `X-Forwarded-For` it likes: the header is only believed where a proxy we trust
appended to it, so the address used is the rightmost hop that is not a trusted proxy.

Trusted proxies come from `GRADIO_WEBRTC_TRUSTED_PROXIES`: a comma-separated list of addresses or
networks (CIDR), `*` for every peer (only when nothing but your proxy can reach the server), or
empty for none. The default is loopback (a proxy on the same machine: nginx, HAProxy, uvicorn's own
`--proxy-headers` setting behaves the same), plus the private networks on Hugging Face Spaces
(`SPACE_ID` is set there; its proxy reaches the app from a private address).
"""

from __future__ import annotations

import contextvars
import ipaddress
import os
import secrets
from dataclasses import dataclass
from functools import lru_cache
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, MutableMapping

    from starlette.requests import HTTPConnection

Network = ipaddress.IPv4Network | ipaddress.IPv6Network

#: Clients whose address cannot be known (a Unix socket, a test client) share one bucket.
UNKNOWN_CLIENT = "unknown"
#: The cookie that names the client that made an offer through a `Stream` route.
OWNER_COOKIE = "gradio_webrtc_owner"

_LOOPBACK = ("127.0.0.0/8", "::1/128")
_PRIVATE = ("10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "100.64.0.0/10", "fc00::/7")


@lru_cache(maxsize=8)
def _parse_trusted(raw: str | None, on_spaces: bool) -> tuple[Network, ...] | None:
    """The trusted networks for a setting (None: every peer is trusted)."""
    if raw is None:
        return tuple(ipaddress.ip_network(n) for n in (*_LOOPBACK, *(_PRIVATE if on_spaces else ())))
    entries = [e.strip() for e in raw.split(",") if e.strip()]
    if "*" in entries:
        return None
    networks = []
    for entry in entries:
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(
                f"GRADIO_WEBRTC_TRUSTED_PROXIES: {entry!r} is not an address or a network (e.g. 10.0.0.0/8)"
            ) from None
    return tuple(networks)


def trusted_proxies() -> tuple[Network, ...] | None:
    """The networks whose `X-Forwarded-*` headers are believed (None: all)."""
    return _parse_trusted(os.environ.get("GRADIO_WEBRTC_TRUSTED_PROXIES"), bool(os.environ.get("SPACE_ID")))


def _address(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    text = text.strip()
    if text.startswith("[") and "]" in text:  # [v6]:port
        text = text[1 : text.index("]")]
    elif text.count(":") == 1:  # v4:port
        text = text.split(":", 1)[0]
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def _trusted(address: ipaddress.IPv4Address | ipaddress.IPv6Address, networks: tuple[Network, ...] | None) -> bool:
    return networks is None or any(address in n for n in networks)


def _key(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    """The bucket of an address: itself for IPv4, its /64 for IPv6 (one subscriber gets a whole
    /64 and can pick any address in it)."""
    if isinstance(address, ipaddress.IPv6Address):
        return str(ipaddress.IPv6Network((address, 64), strict=False))
    return str(address)


def forwarded_chain(headers: Any) -> list[str]:
    """Every hop of every `X-Forwarded-For` line, in order (a client may send several lines)."""
    lines = headers.getlist("x-forwarded-for") if hasattr(headers, "getlist") else [headers.get("x-forwarded-for")]
    return [hop.strip() for line in lines if line for hop in line.split(",") if hop.strip()]


def client_address(peer: str | None, headers: Any) -> str:
    """The client a request counts against: `peer` (the socket's address), or, where `peer` is a
    trusted proxy, the rightmost `X-Forwarded-For` hop that is not one. IPv6 clients count by /64;
    clients that cannot be known share `UNKNOWN_CLIENT`."""
    networks = trusted_proxies()
    address = _address(peer) if peer else None
    if address is None:
        return UNKNOWN_CLIENT
    if not _trusted(address, networks):
        return _key(address)
    hops = forwarded_chain(headers) if headers is not None else []
    for hop in reversed(hops):
        hop_address = _address(hop)
        if hop_address is None:
            # Garbage where a proxy should have written an address: nothing left of it is believed.
            return UNKNOWN_CLIENT
        if not _trusted(hop_address, networks):
            return _key(hop_address)
    # Every hop is a trusted proxy (or there were none): the request came from inside.
    return _key((hops and _address(hops[0])) or address)  # type: ignore[arg-type]


def connection_address(conn: HTTPConnection) -> str:
    """`client_address` of a Starlette request or WebSocket."""
    return client_address(conn.client.host if conn.client else None, conn.headers)


def public_url(conn: HTTPConnection, scheme: str | None = None) -> str:
    """The URL the client called, as it wrote it: behind a trusted proxy, the scheme and host the
    proxy forwarded (`X-Forwarded-Proto`, `X-Forwarded-Host`), else the request's own. `scheme`
    replaces http/https with a WebSocket's ws/wss (or the reverse) when given."""
    peer = _address(conn.client.host) if conn.client else None
    trusted = peer is not None and _trusted(peer, trusted_proxies())
    url = conn.url
    proto = url.scheme
    host = conn.headers.get("host") or url.netloc
    if trusted:
        forwarded_proto = conn.headers.get("x-forwarded-proto")
        forwarded_host = conn.headers.get("x-forwarded-host")
        if forwarded_proto:
            proto = forwarded_proto.split(",")[0].strip().lower()
        if forwarded_host:
            host = forwarded_host.split(",")[0].strip()
    secure = proto in ("https", "wss")
    if scheme == "ws":
        proto = "wss" if secure else "ws"
    elif scheme == "http":
        proto = "https" if secure else "http"
    query = f"?{url.query}" if url.query else ""
    return f"{proto}://{host}{url.path}{query}"


@dataclass(frozen=True)
class Requester:
    """Who is calling into a connection: the owner token or Gradio session it presents (None when
    it presents none) and its client address (None where the caller is Gradio's queue, which
    always presents a session)."""

    owner: str | None
    client: str | None = None


#: The requester of the HTTP request or WebSocket being served, set by `RequestContext` for every
#: request of an app a `Stream` is mounted on. Outside any request (the app's own code, a
#: background task) it is None: server code may use every connection.
current_requester: contextvars.ContextVar[Requester | None] = contextvars.ContextVar(
    "gradio_webrtc_requester", default=None
)


def new_owner_token() -> str:
    """A fresh, unguessable owner token (128 bits)."""
    return secrets.token_urlsafe(16)


def owner_token(conn: HTTPConnection) -> str | None:
    """The owner token the client presents (the cookie set by an offer's answer), if well formed."""
    token = conn.cookies.get(OWNER_COOKIE)
    if token and 16 <= len(token) <= 64 and all(c.isalnum() or c in "-_" for c in token):
        return token
    return None


def requester_of(conn: HTTPConnection) -> Requester:
    return Requester(owner=owner_token(conn), client=connection_address(conn))


class RequestContext:
    """ASGI middleware: names the requester of every HTTP request and WebSocket in
    `current_requester`, so that `Stream.set_input` and `Stream.output_stream`, called from the
    app's own routes (as fastrtc's guides write `/input_hook` and `/outputs`), answer only the
    client that made the connection."""

    def __init__(self, app: Callable[..., Awaitable[None]]) -> None:
        self.app = app

    async def __call__(self, scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        from starlette.requests import HTTPConnection

        token = current_requester.set(requester_of(HTTPConnection(scope)))
        try:
            await self.app(scope, receive, send)
        finally:
            current_requester.reset(token)
