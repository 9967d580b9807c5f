"""TURN credentials from hosted providers, as `RTCConfiguration` dicts for `rtc_configuration`.

Behind NAT or in a hosted Space, browsers and the server can only meet through a TURN relay. These
helpers fetch short-lived credentials and return them in the browser's `RTCConfiguration` shape,
which both `WebRTC(rtc_configuration=...)` (the browser) and `server_rtc_configuration` (the
server's own peer) accept. Credentials expire: pass the function itself (not its result) as
`rtc_configuration` and the component fetches fresh ones for every connection.

Every endpoint can be redirected with an environment variable (`GRADIO_WEBRTC_HF_TURN_URL`,
`GRADIO_WEBRTC_CLOUDFLARE_API`, `GRADIO_WEBRTC_TWILIO_API`), for proxies and for tests.
"""

from __future__ import annotations

import logging
import os
from typing import Any, Literal

import httpx

logger = logging.getLogger("gradio_webrtc")

HF_TURN_URL = "https://turn.fastrtc.org/credentials"
CLOUDFLARE_API = "https://rtc.live.cloudflare.com/v1"
TWILIO_API = "https://api.twilio.com"
TIMEOUT = 10.0


class TurnCredentialsError(RuntimeError):
    """The provider refused or failed to hand out credentials."""


def _url(env: str, default: str) -> str:
    return os.environ.get(env, default).rstrip("/")


def _normalize(config: Any, provider: str) -> dict[str, Any]:
    """Providers return `iceServers` as a list or a single object; browsers need a list."""
    if not isinstance(config, dict) or "iceServers" not in config:
        raise TurnCredentialsError(f"{provider} returned no iceServers")
    servers = config["iceServers"]
    if isinstance(servers, dict):
        servers = [servers]
    return {**config, "iceServers": servers}


def _check(response: httpx.Response, provider: str) -> Any:
    # Success is any 2xx: Twilio's create-token and Cloudflare's generate-ice-servers both answer
    # 201 Created (twilio.com/docs/stun-turn/api; developers.cloudflare.com/realtime/turn/generate-credentials/).
    # A provider's answer can hold credentials, account ids or internal hosts: the exception (which
    # may reach a log shipped elsewhere, or a page) names only the status; the body is logged at
    # debug level for whoever runs the server.
    if not response.is_success:
        logger.debug("%s answered HTTP %d: %s", provider, response.status_code, response.text[:500])
        raise TurnCredentialsError(f"{provider} refused the TURN credentials request: HTTP {response.status_code}")
    try:
        return response.json()
    except ValueError:
        raise TurnCredentialsError(f"{provider} answered with something that is not JSON") from None


def _hf_request(token: str | None, ttl: int) -> tuple[str, dict[str, str], dict[str, int]]:
    token = token or os.environ.get("HF_TOKEN")
    if not token:
        raise ValueError("get_hf_turn_credentials needs a Hugging Face token: pass token= or set HF_TOKEN")
    return _url("GRADIO_WEBRTC_HF_TURN_URL", HF_TURN_URL), {"Authorization": f"Bearer {token}"}, {"ttl": ttl}


def get_hf_turn_credentials(token: str | None = None, ttl: int = 600) -> dict[str, Any]:
    """TURN credentials from the Hugging Face community TURN service (free with an HF token).

    Args:
        token: a Hugging Face access token; defaults to the `HF_TOKEN` environment variable.
        ttl: lifetime of the credentials in seconds.
    """
    url, headers, params = _hf_request(token, ttl)
    response = httpx.get(url, headers=headers, params=params, timeout=TIMEOUT)
    return _normalize(_check(response, "the Hugging Face TURN service"), "the Hugging Face TURN service")


async def _get(client: httpx.AsyncClient | None, url: str, **kwargs: Any) -> httpx.Response:
    if client is not None:
        return await client.get(url, timeout=TIMEOUT, **kwargs)
    async with httpx.AsyncClient(timeout=TIMEOUT) as own:
        return await own.get(url, **kwargs)


async def _post(client: httpx.AsyncClient | None, url: str, **kwargs: Any) -> httpx.Response:
    if client is not None:
        return await client.post(url, timeout=TIMEOUT, **kwargs)
    async with httpx.AsyncClient(timeout=TIMEOUT) as own:
        return await own.post(url, **kwargs)


async def get_hf_turn_credentials_async(
    token: str | None = None, ttl: int = 600, client: httpx.AsyncClient | None = None
) -> dict[str, Any]:
    """Async `get_hf_turn_credentials` (with your `httpx.AsyncClient`, if given)."""
    url, headers, params = _hf_request(token, ttl)
    response = await _get(client, url, headers=headers, params=params)
    return _normalize(_check(response, "the Hugging Face TURN service"), "the Hugging Face TURN service")


def _hf_fallback(turn_key_id: str | None, turn_key_api_token: str | None, hf_token: str | None) -> str | None:
    """The HF token to use instead of Cloudflare keys: the one given, else `HF_TOKEN` when no
    Cloudflare key is given or set (fastrtc falls back to it: a Space with `HF_TOKEN` gets TURN)."""
    if hf_token is not None:
        return hf_token
    keys = turn_key_id or turn_key_api_token or os.environ.get("CLOUDFLARE_TURN_KEY_ID")
    return None if keys else (os.environ.get("HF_TOKEN", "").strip() or None)


def _cloudflare_request(turn_key_id: str | None, turn_key_api_token: str | None) -> tuple[str, dict[str, str]]:
    key_id = turn_key_id or os.environ.get("CLOUDFLARE_TURN_KEY_ID")
    api_token = turn_key_api_token or os.environ.get("CLOUDFLARE_TURN_KEY_API_TOKEN")
    if not key_id or not api_token:
        raise ValueError(
            "get_cloudflare_turn_credentials needs turn_key_id and turn_key_api_token (or the environment "
            "variables CLOUDFLARE_TURN_KEY_ID and CLOUDFLARE_TURN_KEY_API_TOKEN), or an hf_token"
        )
    base = _url("GRADIO_WEBRTC_CLOUDFLARE_API", CLOUDFLARE_API)
    return f"{base}/turn/keys/{key_id}/credentials/generate-ice-servers", {"Authorization": f"Bearer {api_token}"}


def get_cloudflare_turn_credentials(
    turn_key_id: str | None = None,
    turn_key_api_token: str | None = None,
    hf_token: str | None = None,
    ttl: int = 600,
) -> dict[str, Any]:
    """TURN credentials from Cloudflare Calls (your TURN key), or through the HF service with
    `hf_token` (or `HF_TOKEN`, when no Cloudflare key is given or set)."""
    if (token := _hf_fallback(turn_key_id, turn_key_api_token, hf_token)) is not None:
        return get_hf_turn_credentials(token, ttl)
    url, headers = _cloudflare_request(turn_key_id, turn_key_api_token)
    response = httpx.post(url, headers=headers, json={"ttl": ttl}, timeout=TIMEOUT)
    return _normalize(_check(response, "Cloudflare"), "Cloudflare")


async def get_cloudflare_turn_credentials_async(
    turn_key_id: str | None = None,
    turn_key_api_token: str | None = None,
    hf_token: str | None = None,
    ttl: int = 600,
    client: httpx.AsyncClient | None = None,
) -> dict[str, Any]:
    """Async `get_cloudflare_turn_credentials` (with your `httpx.AsyncClient`, if given)."""
    if (token := _hf_fallback(turn_key_id, turn_key_api_token, hf_token)) is not None:
        return await get_hf_turn_credentials_async(token, ttl, client)
    url, headers = _cloudflare_request(turn_key_id, turn_key_api_token)
    response = await _post(client, url, headers=headers, json={"ttl": ttl})
    return _normalize(_check(response, "Cloudflare"), "Cloudflare")


def get_twilio_turn_credentials(
    twilio_sid: str | None = None, twilio_token: str | None = None, *, ttl: int | None = None
) -> dict[str, Any]:
    """TURN credentials from Twilio's Network Traversal Service, relay-only as in the original.

    Calls Twilio's REST API directly (`POST /2010-04-01/Accounts/{sid}/Tokens.json`, HTTP Basic auth,
    form-encoded `Ttl`; it answers 201 Created), so the `twilio` package is not needed.

    Args:
        twilio_sid: account SID; defaults to `TWILIO_ACCOUNT_SID`.
        twilio_token: auth token; defaults to `TWILIO_AUTH_TOKEN`.
        ttl: lifetime of the credentials in seconds (Twilio's default: 86400, its maximum).
    """
    sid = twilio_sid or os.environ.get("TWILIO_ACCOUNT_SID")
    token = twilio_token or os.environ.get("TWILIO_AUTH_TOKEN")
    if not sid or not token:
        raise ValueError(
            "get_twilio_turn_credentials needs twilio_sid and twilio_token, or the environment variables "
            "TWILIO_ACCOUNT_SID and TWILIO_AUTH_TOKEN"
        )
    base = _url("GRADIO_WEBRTC_TWILIO_API", TWILIO_API)
    response = httpx.post(
        f"{base}/2010-04-01/Accounts/{sid}/Tokens.json",
        auth=(sid, token),
        data={"Ttl": str(ttl)} if ttl is not None else None,
        headers={"Accept": "application/json"},
        timeout=TIMEOUT,
    )
    body = _check(response, "Twilio")
    servers = []
    for entry in body.get("ice_servers", []):
        server = {"urls": entry.get("urls") or entry.get("url")}  # Twilio sends both spellings
        server.update({k: entry[k] for k in ("username", "credential") if k in entry})
        servers.append(server)
    if not servers:
        raise TurnCredentialsError("Twilio returned no ice_servers")
    return {"iceServers": servers, "iceTransportPolicy": "relay"}


def get_turn_rest_credentials(
    secret: str | None = None,
    urls: str | list[str] | None = None,
    ttl: int = 3600,
    user: str = "gradio-webrtc",
    *,
    relay_only: bool = False,
) -> dict[str, Any]:
    """Time-limited credentials for your own TURN server (coturn's `use-auth-secret`, the "TURN
    REST API" scheme): no provider is called; every replica that knows the shared secret computes
    them, and they stop working `ttl` seconds later, so a page that leaks them leaks little.

    The username is `<expiry as Unix time>:<user>`, the password the base64 HMAC-SHA1 of the
    username keyed with the secret (coturn's `static-auth-secret`; see `deploy/vm/turnserver.conf`).

    Args:
        secret: the shared secret; defaults to `GRADIO_WEBRTC_TURN_SECRET`.
        urls: the TURN server's URL(s), e.g. `"turn:turn.example.com:3478?transport=udp"`;
            defaults to `GRADIO_WEBRTC_TURN_URLS` (comma-separated).
        ttl: seconds the credentials stay valid.
        user: a name coturn logs with each allocation.
        relay_only: set `iceTransportPolicy: "relay"` (e.g. for the server's own peer in a
            container without public UDP: `server_rtc_configuration`).
    """
    import base64
    import hashlib
    import hmac
    import time

    secret = secret or os.environ.get("GRADIO_WEBRTC_TURN_SECRET")
    urls = urls or [u.strip() for u in os.environ.get("GRADIO_WEBRTC_TURN_URLS", "").split(",") if u.strip()]
    if not secret or not urls:
        raise ValueError(
            "get_turn_rest_credentials needs the TURN server's shared secret and URLs: pass secret= and urls=, "
            "or set GRADIO_WEBRTC_TURN_SECRET and GRADIO_WEBRTC_TURN_URLS"
        )
    username = f"{int(time.time()) + int(ttl)}:{user}"
    password = base64.b64encode(hmac.new(secret.encode(), username.encode(), hashlib.sha1).digest()).decode()
    config: dict[str, Any] = {"iceServers": [{"urls": urls, "username": username, "credential": password}]}
    if relay_only:
        config["iceTransportPolicy"] = "relay"
    return config


def get_turn_credentials(method: Literal["hf", "twilio", "cloudflare"] = "hf", **kwargs: Any) -> dict[str, Any]:
    """Dispatches to the provider named by `method`; `kwargs` go to its function."""
    if method == "hf":
        return get_hf_turn_credentials(**kwargs)
    if method == "twilio":
        return get_twilio_turn_credentials(**kwargs)
    if method == "cloudflare":
        return get_cloudflare_turn_credentials(**kwargs)
    raise ValueError(f'method must be "hf", "twilio" or "cloudflare", got {method!r}')


async def get_turn_credentials_async(method: Literal["hf", "cloudflare"] = "hf", **kwargs: Any) -> dict[str, Any]:
    """Async `get_turn_credentials` (Twilio has no async variant)."""
    if method == "hf":
        return await get_hf_turn_credentials_async(**kwargs)
    if method == "cloudflare":
        return await get_cloudflare_turn_credentials_async(**kwargs)
    raise ValueError(f'method must be "hf" or "cloudflare", got {method!r}')


def turn_from_environment(rtc_configuration: Any, server_rtc_configuration: Any) -> tuple[Any, Any]:
    """The ICE configurations of a component or stream: as given, or, where one is None and
    `GRADIO_WEBRTC_TURN_SECRET` and `GRADIO_WEBRTC_TURN_URLS` are set (a TURN relay shared by every
    replica, `deploy/cluster`), functions computing fresh `get_turn_rest_credentials` for each
    connection, the server's relay-only when `GRADIO_WEBRTC_TURN_RELAY_ONLY=1` (replicas without
    public UDP)."""
    if not (os.environ.get("GRADIO_WEBRTC_TURN_SECRET") and os.environ.get("GRADIO_WEBRTC_TURN_URLS")):
        return rtc_configuration, server_rtc_configuration
    relay_only = os.environ.get("GRADIO_WEBRTC_TURN_RELAY_ONLY", "").strip().lower() in ("1", "true", "yes")
    if rtc_configuration is None:
        rtc_configuration = get_turn_rest_credentials
    if server_rtc_configuration is None:

        def server_rtc_configuration() -> dict[str, Any]:
            return get_turn_rest_credentials(relay_only=relay_only)

    return rtc_configuration, server_rtc_configuration
