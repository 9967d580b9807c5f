"""Limits that keep one client from exhausting a server open to the internet: offers per client
address (per stream), and live sessions per process (all streams together).

The session cap is the one piece of process-wide state in the package, on purpose: CPU, memory
and sockets are the machine's, whichever component a session belongs to.
"""

from __future__ import annotations

import os
import time
import weakref
from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from collections.abc import Callable

#: Offers a client address may make per minute to one stream, by default (`stream(offers_per_minute=)`).
DEFAULT_OFFERS_PER_MINUTE = 60.0


class OfferRateLimiter:
    """A token bucket per client address: `per_minute` offers a minute, `burst` at once.

    Reloading a page or pressing Record again costs one offer; 60 a minute leaves a person all
    the room they need and stops a script posting thousands.
    """

    #: Clients remembered at most; full buckets (idle clients) are forgotten first.
    MAX_CLIENTS = 10_000

    def __init__(
        self, per_minute: float, burst: float | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        if per_minute <= 0:
            raise ValueError(f"offers_per_minute must be positive (or None for no limit), got {per_minute}")
        self.rate = per_minute / 60.0
        self.burst = float(burst if burst is not None else max(1.0, per_minute))
        self.clock = clock
        self._buckets: dict[str, tuple[float, float]] = {}  # client -> (tokens, at)

    def allow(self, client: str) -> float:
        """Takes one offer from `client`'s bucket. Returns 0 if allowed, else the seconds until
        the next offer would be."""
        now = self.clock()
        tokens, at = self._buckets.get(client, (self.burst, now))
        tokens = min(self.burst, tokens + (now - at) * self.rate)
        if tokens < 1.0:
            self._buckets[client] = (tokens, now)
            return (1.0 - tokens) / self.rate
        self._buckets[client] = (tokens - 1.0, now)
        if len(self._buckets) > self.MAX_CLIENTS:
            self._forget_idle(now)
        return 0.0

    def _forget_idle(self, now: float) -> None:
        full = [c for c, (t, at) in self._buckets.items() if t + (now - at) * self.rate >= self.burst]
        for client in full:
            del self._buckets[client]
        while len(self._buckets) > self.MAX_CLIENTS:  # all busy: drop the oldest
            del self._buckets[next(iter(self._buckets))]


class _Registry(Protocol):
    def __len__(self) -> int: ...


_registries: weakref.WeakSet[_Registry] = weakref.WeakSet()


def track(registry: _Registry) -> None:
    """Counts `registry`'s sessions (its `len()`) towards the process-wide cap."""
    _registries.add(registry)


def live_sessions() -> int:
    """Live sessions (and offers being answered) of every stream in this process."""
    return sum(len(r) for r in list(_registries))


def max_sessions() -> int | None:
    """The process-wide session cap: `GRADIO_WEBRTC_MAX_SESSIONS` (0 = none), by default 64 per
    CPU core (a session of the echo benchmark costs 2-7 % of a core)."""
    raw = os.environ.get("GRADIO_WEBRTC_MAX_SESSIONS")
    if raw is None or raw.strip() == "":
        return 64 * (os.cpu_count() or 1)
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"GRADIO_WEBRTC_MAX_SESSIONS must be an integer (0 for no cap), got {raw!r}") from None
    return value if value > 0 else None


def capacity() -> int | None:
    """How many sessions this process takes: the cap, or less where every stream has a
    concurrency limit (their sum); None means no limit."""
    cap = max_sessions()
    stream_limits = [getattr(r, "concurrency_limit", None) for r in list(_registries)]
    if stream_limits and all(isinstance(n, int) for n in stream_limits):
        total = sum(stream_limits)  # type: ignore[arg-type]
        cap = total if cap is None else min(cap, total)
    return cap


def end_all(reason: str) -> int:
    """Ends every live session of this process, telling each page `reason`; returns how many."""
    ended = 0
    for registry in list(_registries):
        for connection in list(getattr(registry, "connections", {}).values()):
            if not connection.session.closed:
                connection.session.fail(reason)
                ended += 1
    return ended
