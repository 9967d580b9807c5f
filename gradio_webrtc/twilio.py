"""Twilio's request signatures: proof that a phone route's caller is Twilio.

Twilio signs every webhook and every Media Streams WebSocket upgrade with the account's auth token
(twilio.com/docs/usage/webhooks/webhooks-security): `X-Twilio-Signature` is the base64 HMAC-SHA1,
keyed with the auth token, of the full URL it called (scheme, host, path and query as Twilio wrote
them), followed, for a form POST, by each parameter's name and value sorted by name. The WebSocket
upgrade is signed the same way over its `wss://` URL, with no parameters
(twilio.com/docs/voice/media-streams, "validate the X-Twilio-Signature header"). Twilio's own
validators accept the URL with and without its default port, since proxies differ in whether they
pass it on; so does `valid_signature`, and it accepts either scheme of the pair (http/https,
ws/wss), since a TLS-terminating proxy may not say which one Twilio used.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Iterable
from urllib.parse import urlsplit, urlunsplit

_DEFAULT_PORTS = {"https": 443, "wss": 443, "http": 80, "ws": 80}


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The `X-Twilio-Signature` Twilio sends for `url` and form `params`."""
    # Twilio's validators sort by name, then by value where a name repeats.
    data = url + "".join(name + value for name, value in sorted(set(params)))
    digest = hmac.new(auth_token.encode(), data.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


_OTHER_SCHEME = {"https": "http", "http": "https", "wss": "ws", "ws": "wss"}


def _variants(url: str) -> list[str]:
    """`url` as given and with the other of its scheme pair (a TLS-terminating proxy that sends no
    `X-Forwarded-Proto` hides which one Twilio used), each without its default port and with it."""
    parts = urlsplit(url)
    variants = []
    for scheme in (parts.scheme, _OTHER_SCHEME.get(parts.scheme)):
        if scheme is None:
            continue
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        default = _DEFAULT_PORTS.get(scheme)
        variants.append(urlunsplit(parts._replace(scheme=scheme)))
        if default is not None and parts.port in (None, _DEFAULT_PORTS.get(parts.scheme)):
            variants.append(urlunsplit(parts._replace(scheme=scheme, netloc=host)))
            variants.append(urlunsplit(parts._replace(scheme=scheme, netloc=f"{host}:{default}")))
    return variants


def valid_signature(auth_token: str, url: str, params: Iterable[tuple[str, str]], given: str | None) -> bool:
    """True if `given` is Twilio's signature of `url` and `params`, with either scheme of the pair
    and with or without the default port (no variant can be signed without the token). Compared
    in constant time."""
    if not given:
        return False
    params = list(params)
    return any(hmac.compare_digest(signature(auth_token, u, params), given) for u in _variants(url))
