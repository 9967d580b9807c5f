"""A shaped network for this process's aiortc peers: loss (both ways, or one) and jitter both ways, and a downlink
(what the server sends) capped by a FIFO that holds at most `queue_s` of data, tail drop: a home
or mobile access link. Applied in aioice's datagram protocol, so only aiortc peers in this process
see it; the server's sockets are untouched.

This kernel has no `sch_netem`, hence the emulation in user space (bench/video_network.py uses it
for the figures in the README).
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aioice.ice import StunProtocol


@dataclass
class Link:
    loss: float = 0.0
    #: Which way `loss` applies: "both", "up" (to the server) or "down" (from it).
    loss_way: str = "both"
    jitter_s: float = 0.0
    cap_bps: float | None = None
    queue_s: float = 0.3
    rng: random.Random = field(default_factory=lambda: random.Random(1))
    free_at: float = 0.0
    #: Downlink datagrams delivered and tail-dropped, by the loop time they arrived at the queue.
    delivered: list[tuple[float, int]] = field(default_factory=list)
    queue_drops: list[float] = field(default_factory=list)

    def later(self, fn: Any, *args: Any, size: int = 0, downlink: bool = False) -> None:
        # One draw per datagram whichever way loses, so the pattern stays the seed's.
        if self.rng.random() < self.loss and self.loss_way in ("both", "down" if downlink else "up"):
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        delay = self.rng.uniform(0, self.jitter_s)
        if downlink and self.cap_bps:
            start = max(now, self.free_at)
            if start - now > self.queue_s:
                self.queue_drops.append(now)
                return
            self.free_at = start + (size + 28) * 8 / self.cap_bps
            delay += self.free_at - now
        if downlink:
            self.delivered.append((now, size))
        loop.call_later(delay, _safely, fn, *args)

    def drops_since(self, t: float) -> int:
        return sum(1 for d in self.queue_drops if d >= t)

    def kbps_since(self, t: float, until: float) -> float:
        return sum(size for at, size in self.delivered if t <= at < until) * 8 / 1000 / (until - t)


def _safely(fn: Any, *args: Any) -> None:
    with contextlib.suppress(Exception):
        fn(*args)


@contextlib.contextmanager
def shaped(link: Link) -> Iterator[Link]:
    """Routes every aioice datagram of this process through `link` while in the block."""
    recv, send_data, send_stun = StunProtocol.datagram_received, StunProtocol.send_data, StunProtocol.send_stun

    def recv_shaped(self: StunProtocol, data: Any, addr: Any) -> None:
        link.later(recv, self, data, addr, size=len(data), downlink=True)

    async def send_shaped(self: StunProtocol, data: bytes, addr: Any) -> None:
        link.later(lambda: self.transport.sendto(data, addr))

    def stun_shaped(self: StunProtocol, message: Any, addr: Any) -> None:
        link.later(send_stun, self, message, addr)

    StunProtocol.datagram_received = recv_shaped  # type: ignore[method-assign]
    StunProtocol.send_data = send_shaped  # type: ignore[method-assign]
    StunProtocol.send_stun = stun_shaped  # type: ignore[method-assign]
    try:
        yield link
    finally:
        StunProtocol.datagram_received = recv  # type: ignore[method-assign]
        StunProtocol.send_data = send_data  # type: ignore[method-assign]
        StunProtocol.send_stun = send_stun  # type: ignore[method-assign]
