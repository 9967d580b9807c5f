"""The threads sync handlers run on: one bounded pool shared by every session of the process."""

from __future__ import annotations

import asyncio
import os
import queue
import threading
from concurrent.futures import Executor, Future
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable


class WorkerPool(Executor):
    """The threads sync handlers run on, shared by every session.

    A few threads (`core`) serve the short calls of many sessions (`receive`, `emit`, a generator
    step). Handlers that block (`emit` waiting on a queue, `wait_for_args_sync`) would starve the
    rest of a fixed pool, so when a call has waited 50 ms with every thread busy the pool grows, up
    to `limit`. Threads beyond `core` retire after `retire_after` seconds without work (a burst of
    blocking handlers does not leave its threads behind); a server with 100 echo sessions runs on a
    handful.
    """

    GROW_AFTER_S = 0.05

    def __init__(self, core: int, limit: int, retire_after: float = 30.0) -> None:
        self._core, self._limit = core, max(core, limit)
        self._retire_after = retire_after
        self._spawned = 0
        self._pending = 0
        self._jobs: queue.SimpleQueue[tuple[Future[Any], Callable[..., Any], tuple[Any, ...]] | None] = (
            queue.SimpleQueue()
        )
        self._lock = threading.Lock()
        self._threads: list[threading.Thread] = []
        self._idle = 0
        self._closed = False

    @property
    def threads(self) -> int:
        """Threads started so far."""
        return len(self._threads)

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        if self._closed:
            raise RuntimeError("the worker pool is shut down")
        future: Future[Any] = Future()
        with self._lock:
            self._jobs.put((future, lambda: fn(*args, **kwargs), ()))
            self._pending += 1
            # Calls queued but not yet taken, against threads waiting for one: two calls submitted
            # back to back must not both count on the same idle thread.
            if self._pending <= self._idle:
                return future
            if len(self._threads) < self._core:
                self._spawn()
                return future
        # Every thread is busy: grow if this call is still waiting in a moment.
        try:
            asyncio.get_running_loop().call_later(self.GROW_AFTER_S, self._grow_if_stuck)
        except RuntimeError:
            threading.Timer(self.GROW_AFTER_S, self._grow_if_stuck).start()
        return future

    def _grow_if_stuck(self) -> None:
        with self._lock:
            if not self._closed and self._pending > self._idle and len(self._threads) < self._limit:
                self._spawn()

    def _spawn(self) -> None:
        thread = threading.Thread(target=self._work, name=f"gradio-webrtc-worker-{self._spawned}", daemon=True)
        self._spawned += 1
        self._threads.append(thread)
        thread.start()

    def _work(self) -> None:
        me = threading.current_thread()
        while True:
            with self._lock:
                self._idle += 1
                extra = len(self._threads) > self._core
            try:
                job = self._jobs.get(timeout=self._retire_after if extra else None)
            except queue.Empty:
                with self._lock:
                    self._idle -= 1
                    # A call queued meanwhile may have counted on this thread: stay for it.
                    if len(self._threads) > self._core and self._pending <= self._idle:
                        self._threads.remove(me)
                        return
                continue
            with self._lock:
                self._idle -= 1
                if job is not None:
                    self._pending -= 1
            if job is None:
                return
            future, call, _ = job
            if future.set_running_or_notify_cancel():
                try:
                    future.set_result(call())
                except BaseException as exc:
                    future.set_exception(exc)
            # An idle thread must not hold its last call (and through it a handler, its model
            # state and its session's buffers) until the next job arrives.
            del job, future, call

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        self._closed = True
        with self._lock:
            threads = list(self._threads)
        for _ in threads:
            self._jobs.put(None)
        if wait:
            for thread in threads:
                thread.join()


_pool: WorkerPool | None = None


def worker_pool() -> WorkerPool:
    """The process's worker pool, created on first use: `GRADIO_WEBRTC_WORKER_THREADS` threads
    (default 6) for short calls, growing to `GRADIO_WEBRTC_MAX_WORKER_THREADS` (default 64) only
    while handlers block; the extra threads retire after 30 s without work."""
    global _pool
    if _pool is None:
        _pool = WorkerPool(
            core=int(os.environ.get("GRADIO_WEBRTC_WORKER_THREADS", "6")),
            limit=int(os.environ.get("GRADIO_WEBRTC_MAX_WORKER_THREADS", "64")),
        )
    return _pool
