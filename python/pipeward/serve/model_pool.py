"""The model call off the event loop: a bounded thread pool.

A slow model (a big ensemble, an ONNX graph) called on the event loop would stall every other
request, health checks included. Calls run on ``threads`` worker threads; at most ``queue``
more wait for one, and past that a request is answered 503 with ``Retry-After`` at once rather
than piling up.

Handing a call to a thread and back costs tens of microseconds of CPU (more than a small
scikit-learn model's whole answer), so a call expected to take under ``inline_below_ms`` runs
on the event loop instead. The expectation is the quickest of the last few measured calls,
scaled by the rows asked for (the quickest, because on a busy machine single calls are
stretched by preemption, while a slow model is slow every time); until a call has been
measured, calls go to the pool. ``threads = 0``
calls the model on the event loop always.
"""

from __future__ import annotations

import asyncio
import collections
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any, TypeVar

from .auth import Refusal

__all__ = ["ModelPool"]

T = TypeVar("T")
_RECENT = 8  # measured calls the expectation looks at


class ModelPool:
    """``await pool.run(fn, *args)``: ``fn(*args)`` on the pool, or a 503 :class:`Refusal`
    when ``threads + queue`` calls are already in flight."""

    def __init__(self, threads: int, queue: int, inline_below_ms: float = 0.0):
        if threads < 0 or queue < 0 or inline_below_ms < 0:
            raise ValueError(f"model pool: threads, queue and inline_below_ms must be >= 0, got "
                             f"{threads}, {queue} and {inline_below_ms}")
        self.threads, self.capacity = threads, threads + queue
        self.inline_below_s = inline_below_ms / 1000.0
        self._recent: collections.deque[tuple[float, int]] = collections.deque(maxlen=_RECENT)
        self.inline_calls = self.pooled_calls = 0
        self._executor = (ThreadPoolExecutor(threads, thread_name_prefix="pipeward-model")
                          if threads else None)
        self.in_flight = 0
        self.refused = 0

    async def run(self, rows: int, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, a model call over ``rows`` rows."""
        if self._executor is None or self.expected_seconds(rows) < self.inline_below_s:
            self.inline_calls += 1
            return self._timed(rows, fn, *args)
        if self.in_flight >= self.capacity:
            self.refused += 1
            raise Refusal(503, f"the model is busy ({self.in_flight} calls in flight, the limit "
                               f"is {self.capacity}); retry shortly", "busy", {"Retry-After": "1"})
        loop = asyncio.get_running_loop()
        self.in_flight += 1
        self.pooled_calls += 1
        future: Future[T] = self._executor.submit(self._timed, rows, fn, *args)
        # Counted down when the thread finishes, not when the caller stops waiting (a client
        # that disconnects does not free the thread its call still occupies).
        future.add_done_callback(lambda _: self._finished(loop))
        return await asyncio.wrap_future(future, loop=loop)

    def expected_seconds(self, rows: int) -> float:
        """How long a call over ``rows`` rows should take (infinite before any was measured)."""
        recent = list(self._recent)  # a snapshot: pool threads append concurrently
        return min((s * max(1.0, rows / max(r, 1)) for s, r in recent), default=float("inf"))

    def _timed(self, rows: int, fn: Callable[..., T], *args: Any) -> T:
        start = time.perf_counter()
        result = fn(*args)
        self._recent.append((time.perf_counter() - start, rows))
        return result

    def _finished(self, loop: asyncio.AbstractEventLoop) -> None:
        try:
            loop.call_soon_threadsafe(self._count_down)
        except RuntimeError:  # the loop closed while the call ran (shutdown)
            pass

    def _count_down(self) -> None:
        self.in_flight -= 1

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
