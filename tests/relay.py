"""A UDP relay between a browser and the server with a shaped downlink: what the server sends
goes through a FIFO served at `cap_bps` that holds at most `queue_s` of data (tail drop), as a home
or mobile access link; each way loses `loss` of the datagrams. One browser, one server address.

The browser reaches it through a rewritten answer (tests/apps/link_page.html); the server sees the
relay's back socket as the browser (a peer-reflexive candidate) and answers there.
"""

from __future__ import annotations

import heapq
import random
import select
import socket
import threading
import time
from dataclasses import dataclass, field


@dataclass
class Relay:
    cap_bps: float | None = None
    queue_s: float = 0.3
    loss: float = 0.0
    server: tuple[str, int] | None = None
    browser: tuple[str, int] | None = None
    #: (arrival time at the queue, bytes) of each downlink datagram delivered; drop times.
    delivered: list[tuple[float, int]] = field(default_factory=list)
    drops: list[float] = field(default_factory=list)
    _rng: random.Random = field(default_factory=lambda: random.Random(3))
    _free_at: float = 0.0
    _stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.front = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.front.bind(("127.0.0.1", 0))
        self.back = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.back.bind(("127.0.0.1", 0))
        self.port = self.front.getsockname()[1]
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self.front.close()
        self.back.close()

    def drops_since(self, t: float) -> int:
        return sum(1 for d in self.drops if d >= t)

    def kbps_since(self, t: float, until: float) -> float:
        return sum(n for at, n in self.delivered if t <= at < until) * 8 / 1000 / (until - t)

    def _run(self) -> None:
        due: list[tuple[float, int, bytes]] = []  # (when, order, datagram) on its way to the browser
        order = 0
        while not self._stop.is_set():
            now = time.monotonic()
            while due and due[0][0] <= now:
                _, _, data = heapq.heappop(due)
                if self.browser is not None:
                    self.front.sendto(data, self.browser)
            timeout = max(0.0, due[0][0] - now) if due else 0.05
            readable, _, _ = select.select([self.front, self.back], [], [], min(timeout, 0.05))
            for sock in readable:
                data, addr = sock.recvfrom(65536)
                if self._rng.random() < self.loss:
                    continue
                now = time.monotonic()
                if sock is self.front:
                    self.browser = addr
                    if self.server is not None:
                        self.back.sendto(data, self.server)
                    continue
                when = now
                if self.cap_bps:
                    start = max(now, self._free_at)
                    if start - now > self.queue_s:
                        self.drops.append(now)
                        continue
                    self._free_at = start + (len(data) + 28) * 8 / self.cap_bps
                    when = self._free_at
                self.delivered.append((now, len(data)))
                order += 1
                heapq.heappush(due, (when, order, data))
