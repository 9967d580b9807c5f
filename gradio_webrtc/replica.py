"""This process as one replica behind a load balancer: whether it takes new calls, and its drain.

A balancer (HAProxy, ingress-nginx, a Kubernetes readiness probe) asks `GET /gradio_webrtc/ready`
(`READY_PATH`, added to every Gradio app that holds a `WebRTC` component and by `Stream.mount`):
200 with `{"sessions", "capacity", "draining"}` while the replica accepts offers, 503 with the same
body when it is full or draining, so new conversations go elsewhere before a user hears "too many
people".

Draining (SIGTERM, or `replica.drain()`): offers, WebSocket starts and phone calls are refused with
`server_draining` (a page or client retries elsewhere), live calls go on until they end by
themselves (their `time_limit`, the user hanging up) or until the drain deadline
(`GRADIO_WEBRTC_DRAIN_S`, `DEFAULT_DRAIN_S` by default), when they are told that the server is
restarting and closed; then SIGTERM takes its course (the process exits). A second SIGTERM exits at
once. `GRADIO_WEBRTC_DRAIN_ON_SIGTERM=0` keeps SIGTERM as it was.

Like the session cap (`limits.py`), this is process-wide state on purpose: a replica is a process.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

# At module level: FastAPI reads the endpoint's annotation (a string here) from this module's names.
from fastapi import Request

from . import limits

if TYPE_CHECKING:
    from collections.abc import Callable

logger = logging.getLogger("gradio_webrtc")

#: The readiness endpoint's path (on a Gradio app mounted under a prefix, below that prefix).
READY_PATH = "/gradio_webrtc/ready"
#: How long a draining replica lets its live calls go on, by default (seconds).
DEFAULT_DRAIN_S = 300.0
#: The message a call still live at the drain deadline ends with.
RESTARTING = "The server is restarting; please reconnect."


def drain_deadline() -> float:
    """`GRADIO_WEBRTC_DRAIN_S` (seconds a drain waits for live calls), or `DEFAULT_DRAIN_S`."""
    raw = os.environ.get("GRADIO_WEBRTC_DRAIN_S", "").strip()
    if not raw:
        return DEFAULT_DRAIN_S
    try:
        value = float(raw)
    except ValueError:
        raise ValueError(f"GRADIO_WEBRTC_DRAIN_S must be a number of seconds, got {raw!r}") from None
    if value < 0:
        raise ValueError(f"GRADIO_WEBRTC_DRAIN_S must not be negative, got {raw!r}")
    return value


def affinity_cookie() -> dict[str, str]:
    """`{"affinity_cookie": NAME}` for the refusals that mean "go elsewhere" (draining, full): the
    balancer's cookie (`GRADIO_WEBRTC_AFFINITY_COOKIE`, default `gw_replica` as in
    deploy/cluster) that the page drops, so that its next load lands on another replica."""
    name = os.environ.get("GRADIO_WEBRTC_AFFINITY_COOKIE", "gw_replica").strip()
    return {"affinity_cookie": name} if name else {}


def drains_on_sigterm() -> bool:
    """False where `GRADIO_WEBRTC_DRAIN_ON_SIGTERM=0` (test runs, where SIGTERM means "stop now";
    the pytest plugin sets it for the processes of a test run)."""
    return os.environ.get("GRADIO_WEBRTC_DRAIN_ON_SIGTERM", "1").strip().lower() not in ("0", "false", "no")


class Replica:
    """The process's readiness and drain (one instance: `gradio_webrtc.replica`)."""

    def __init__(self, poll_s: float = 0.2) -> None:
        self.poll_s = poll_s
        self._lock = threading.Lock()
        self._draining = False
        self._drained = threading.Event()
        self._then: list[Callable[[], None]] = []
        self._sigterms = 0
        #: Which drain a waiting thread belongs to (a resumed drain's thread stops).
        self._generation = 0

    @property
    def draining(self) -> bool:
        return self._draining

    def status(self) -> dict[str, Any]:
        """`{"sessions", "capacity", "draining", "accepting"}`: live sessions (and offers being
        answered) of every stream in this process, how many it takes (None: no limit)."""
        sessions = limits.live_sessions()
        capacity = limits.capacity()
        full = capacity is not None and sessions >= capacity
        return {
            "sessions": sessions,
            "capacity": capacity,
            "draining": self._draining,
            "accepting": not self._draining and not full,
        }

    def drain(self, deadline_s: float | None = None, then: Callable[[], None] | None = None) -> threading.Event:
        """Stops taking new calls; live calls go on until they end or `deadline_s` (default
        `GRADIO_WEBRTC_DRAIN_S`) passes, when they are ended with `RESTARTING`; then `then` runs.
        Returns an event set once no call is left. Draining again adds `then` to the same drain."""
        with self._lock:
            run_now = then is not None and self._draining and self._drained.is_set()
            if then is not None and not run_now:
                self._then.append(then)
            if not self._draining:
                deadline = drain_deadline() if deadline_s is None else deadline_s
                self._draining = True
                self._drained.clear()
                self._generation += 1
                logger.warning(
                    "draining: no new calls; %d live call(s) may go on for up to %.0f s",
                    limits.live_sessions(),
                    deadline,
                )
                threading.Thread(
                    target=self._wait,
                    args=(self._generation, time.monotonic() + deadline),
                    name="gradio-webrtc-drain",
                    daemon=True,
                ).start()
        if run_now and then is not None:
            then()
        return self._drained

    def resume(self) -> None:
        """Takes new calls again: a drain called off (its callbacks do not run) or done."""
        with self._lock:
            self._draining = False
            self._then.clear()
            self._sigterms = 0

    def _wait(self, generation: int, until: float) -> None:
        def current() -> bool:
            return self._draining and self._generation == generation

        while current() and limits.live_sessions() > 0 and time.monotonic() < until:
            time.sleep(self.poll_s)
        if not current():
            return  # resumed (and maybe drained again: that drain's thread goes on)
        left = limits.end_all(RESTARTING)
        if left:
            logger.warning("drain deadline reached: %d call(s) ended", left)
        logger.warning("drained: no live call left")
        with self._lock:
            self._drained.set()
            callbacks, self._then = self._then, []
        for callback in callbacks:
            callback()

    # --- SIGTERM ---------------------------------------------------------------------------------

    def handle_sigterm(self) -> None:
        """Makes SIGTERM drain this replica, then go on as it would have (the previous handler, or
        the default: the process exits); a second SIGTERM goes on at once. Installed from the main
        thread only (Python's rule); an app's own handler is kept and called after the drain.
        Called again where a server replaced it (uvicorn installs its own while it serves, and
        restores the one before when it stops): wraps the new one."""
        if threading.current_thread() is not threading.main_thread() or not drains_on_sigterm():
            return
        try:
            current = signal.getsignal(signal.SIGTERM)
        except ValueError:  # not the main interpreter
            return
        if getattr(current, "gradio_webrtc_drain", False):
            return

        def on_sigterm(signum: int, frame: Any, previous: Any = current) -> None:
            self._sigterms += 1
            if self._sigterms > 1:
                _deliver(previous, signum, frame)
            else:
                # Once drained, SIGTERM again: handlers run on the main thread, which this one
                # (the drain's) is not; the second one goes on to `previous`.
                self.drain(then=lambda: os.kill(os.getpid(), signum))

        on_sigterm.gradio_webrtc_drain = True  # type: ignore[attr-defined]
        try:
            signal.signal(signal.SIGTERM, on_sigterm)
        except ValueError:
            return


def _deliver(previous: Any, signum: int, frame: Any) -> None:
    """What SIGTERM would have done without the drain."""
    if callable(previous):
        previous(signum, frame)
    elif previous != signal.SIG_IGN:  # the default: the process ends as SIGTERM ends it
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGTERM)


#: This process.
replica = Replica()


async def ready_endpoint(request: Request) -> Any:
    """`GET`/`HEAD /gradio_webrtc/ready`: 200 while this replica takes new calls, else 503."""
    from fastapi.responses import JSONResponse

    replica.handle_sigterm()  # under uvicorn, requests run on the main thread: wrap its handler
    status = replica.status()
    accepting = status.pop("accepting")
    return JSONResponse(status, status_code=200 if accepting else 503, headers={"Cache-Control": "no-store"})


def add_ready_route(app: Any) -> None:
    """Adds `READY_PATH` to a FastAPI/Starlette app, first, so no catch-all route shadows it."""
    if any(getattr(r, "path", None) == READY_PATH for r in app.router.routes):
        return
    app.add_api_route(READY_PATH, ready_endpoint, methods=["GET", "HEAD"], include_in_schema=False)
    route = app.router.routes.pop()
    app.router.routes.insert(0, route)


_gradio_patched = False


def serve_in_gradio_apps() -> None:
    """Every Gradio app created from now on serves `READY_PATH` (Gradio builds its FastAPI app in
    `launch()` / `mount_gradio_app`, after the components exist); SIGTERM drains the process."""
    global _gradio_patched  # one patch per process, like the signal handler
    replica.handle_sigterm()
    if _gradio_patched:
        return
    from gradio import routes

    create_app = routes.App.create_app

    def create_app_with_ready(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)
        add_ready_route(app)
        return app

    routes.App.create_app = staticmethod(create_app_with_ready)  # type: ignore[method-assign]
    _gradio_patched = True
