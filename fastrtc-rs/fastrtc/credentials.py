"""`fastrtc.credentials`: fastrtc 0.0.34's TURN helpers (its defaults and warnings), served by
gradio_webrtc's implementations."""

from __future__ import annotations

import warnings
from typing import Any, Literal

import httpx

from gradio_webrtc import credentials as _core
from gradio_webrtc.credentials import (
    get_cloudflare_turn_credentials,
    get_cloudflare_turn_credentials_async,
    get_turn_rest_credentials,
    get_twilio_turn_credentials,
)

__all__ = [
    "CLOUDFLARE_FASTRTC_TURN_URL",
    "get_cloudflare_turn_credentials",
    "get_cloudflare_turn_credentials_async",
    "get_hf_turn_credentials",
    "get_hf_turn_credentials_async",
    "get_turn_credentials",
    "get_turn_credentials_async",
    "get_turn_rest_credentials",
    "get_twilio_turn_credentials",
]

CLOUDFLARE_FASTRTC_TURN_URL = _core.HF_TURN_URL


def get_hf_turn_credentials(token: str | None = None, ttl: int = 600) -> dict[str, Any]:
    """Deprecated in fastrtc in favour of `get_cloudflare_turn_credentials` (same service)."""
    warnings.warn(
        "get_hf_turn_credentials is deprecated. Use get_cloudflare_turn_credentials instead.", UserWarning, stacklevel=2
    )
    return _core.get_hf_turn_credentials(token, ttl)


async def get_hf_turn_credentials_async(
    token: str | None = None, ttl: int = 600, client: httpx.AsyncClient | None = None
) -> dict[str, Any]:
    warnings.warn(
        "get_hf_turn_credentials_async is deprecated. Use get_cloudflare_turn_credentials_async instead.",
        UserWarning,
        stacklevel=2,
    )
    return await _core.get_hf_turn_credentials_async(token, ttl, client)


_KEYS = {
    "hf": ("token", "ttl"),
    "cloudflare": ("turn_key_id", "turn_key_api_token", "hf_token", "ttl"),
    "twilio": ("twilio_sid", "twilio_token"),
}


def get_turn_credentials(method: Literal["hf", "twilio", "cloudflare"] = "cloudflare", **kwargs: Any) -> dict[str, Any]:
    """The credentials of `method`'s provider (arguments the provider does not take are dropped)."""
    if method not in _KEYS:
        raise ValueError("Invalid method. Must be 'hf', 'twilio', or 'cloudflare'")
    args = {k: v for k, v in kwargs.items() if k in _KEYS[method]}
    if method == "hf":
        warnings.warn("Method 'hf' is deprecated. Use 'cloudflare' instead.", UserWarning, stacklevel=2)
        return _core.get_hf_turn_credentials(**args)
    if method == "twilio":
        return get_twilio_turn_credentials(**args)
    return get_cloudflare_turn_credentials(**args)


async def get_turn_credentials_async(
    method: Literal["hf", "twilio", "cloudflare"] = "cloudflare", **kwargs: Any
) -> dict[str, Any]:
    if method == "twilio":
        raise NotImplementedError("Async retrieval for Twilio credentials is not implemented.")
    if method not in _KEYS:
        raise ValueError("Invalid method. Must be 'hf', 'twilio', or 'cloudflare'")
    args = {k: v for k, v in kwargs.items() if k in (*_KEYS[method], "client")}
    if method == "hf":
        warnings.warn("Method 'hf' is deprecated. Use 'cloudflare' instead.", UserWarning, stacklevel=2)
        return await _core.get_hf_turn_credentials_async(**args)
    return await get_cloudflare_turn_credentials_async(**args)
