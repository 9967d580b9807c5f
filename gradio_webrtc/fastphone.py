"""`Stream.fastphone()`: a phone number for a stream through fastrtc's free FastPhone service.

The same calls fastrtc 0.0.34 makes, in this order: the stream's routes are served locally
(uvicorn in a thread); a public address reaches them (a Gradio share tunnel, or `public_url`); the
service is asked for a number: `POST https://api.fastrtc.org/register` with `{"url": <host>}` and
the Hugging Face token raw in `Authorization`, falling back to
`https://fastrtc-fastphone.hf.space/register` if the first fails. It answers 202 when the token's
quota is spent, else `{"code", "phone", "reset_date", "time_remaining"}`: callers dial the number,
enter the code, and the service connects them to `wss://<host>/telephone/handler`. At exit (or on
Ctrl-C) `POST .../unregister` with `{"url", "code"}` gives the number back.

The service's calls are not signed with your Twilio token (they come from fastrtc's account), so
the phone routes of this server check no signature; the code is what keeps strangers out.
`GRADIO_WEBRTC_FASTPHONE_API` redirects the service (a stand-in, for tests).
"""

from __future__ import annotations

import atexit
import logging
import os
import secrets
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

if TYPE_CHECKING:
    from .stream import Stream

logger = logging.getLogger("gradio_webrtc")

SERVICE = "https://api.fastrtc.org"
FALLBACK = "https://fastrtc-fastphone.hf.space"
TIMEOUT = 20.0


def _bases() -> list[str]:
    override = os.environ.get("GRADIO_WEBRTC_FASTPHONE_API")
    if override:
        return [u.strip().rstrip("/") for u in override.split(",") if u.strip()]
    return [SERVICE, FALLBACK]


def _info(message: str) -> None:
    print(f"INFO:\t  {message}", flush=True)


def register(host: str, token: str) -> tuple[str, dict[str, Any]] | None:
    """Asks the service for a number that calls `host`; returns (the service's base URL, its
    answer), or None when the token's quota is spent (HTTP 202).

    Raises:
        httpx.HTTPError: every service address failed.
    """
    headers = {"Authorization": token}
    bases = _bases()
    error: Exception | None = None
    for base in bases:
        try:
            response = httpx.post(f"{base}/register", json={"url": host}, headers=headers, timeout=TIMEOUT)
            response.raise_for_status()
        except httpx.HTTPError as exc:
            error = exc
            continue
        if response.status_code == 202:
            return None
        return base, response.json()
    assert error is not None
    raise error


def unregister(base: str, host: str, code: str, token: str) -> None:
    """Gives the number back (errors are only logged: the service expires it anyway)."""
    try:
        httpx.post(
            f"{base}/unregister", json={"url": host, "code": code}, headers={"Authorization": token}, timeout=TIMEOUT
        )
    except httpx.HTTPError as exc:
        logger.warning("could not give the FastPhone number back: %s", type(exc).__name__)


def fastphone(
    stream: Stream, *, token: str | None, host: str, port: int, public_url: str | None, **kwargs: Any
) -> None:
    import uvicorn
    from fastapi import FastAPI

    from .routes import mount

    app = FastAPI()
    mount(stream, app, phone_token=None)
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, **kwargs))
    thread = threading.Thread(target=server.run, name="fastphone-server", daemon=True)
    thread.start()
    while not server.started and thread.is_alive():
        time.sleep(0.05)
    if public_url is None:
        from gradio.networking import setup_tunnel

        public_url = setup_tunnel(
            local_host=host, local_port=port, share_token=secrets.token_urlsafe(32), share_server_address=None
        )
    public_host = urlsplit(public_url).netloc or public_url
    if token is None:
        from huggingface_hub import get_token

        token = get_token() or ""
    registered = register(public_host, token)
    if registered is None:
        _info("You have run out of your quota")
        server.should_exit = True
        thread.join(5)
        return
    base, answer = registered
    code = str(answer.get("code", ""))
    remaining = float(answer.get("time_remaining", 0))
    _info(f"Your FastPhone is now live! Call {answer.get('phone')} and use code {code} to connect to your stream.")
    _info(
        f"You have {int(remaining // 60):02d}:{int(remaining % 60):02d} minutes remaining in your quota "
        f"(Resetting on {answer.get('reset_date')})"
    )
    _info(
        "Visit https://fastrtc.org/userguide/audio/#telephone-integration for information on making your "
        "handler compatible with phone usage."
    )
    done = threading.Event()

    def give_back() -> None:
        if not done.is_set():
            done.set()
            unregister(base, public_host, code, token)

    atexit.register(give_back)
    try:
        while thread.is_alive():
            time.sleep(0.1)
    except KeyboardInterrupt:
        _info("Keyboard interruption in main thread... closing server.")
    finally:
        give_back()
        server.should_exit = True
        thread.join(5)
