"""Rate limits, progressive delay and daily query budgets on the ``limits`` library.

The storage is chosen by URI, as ``limits`` does: ``memory://`` (one process) or
``redis://HOST:PORT/DB`` (shared exactly by every worker and replica: a fixed-window counter is
one atomic INCR in Redis). Past ``soft_fraction`` of the per-key limit an allowed request is
delayed by ``max_delay * (used - soft) / (limit - soft)``, so a scraper slows down smoothly
before it meets the hard 429.

The decisions are coroutines, awaited on the event loop. Redis goes through ``limits.aio``
(redis-py's asyncio client), so a decision's round trip lets the loop serve other requests
instead of blocking it; the memory storage stays synchronous (a dict update, no I/O: a
coroutine of its own would only add cost), as do storages ``limits`` has no async form for.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from limits import RateLimitItem, RateLimitItemPerDay, parse
from limits.aio.strategies import FixedWindowRateLimiter as AsyncFixedWindowRateLimiter
from limits.storage import MemoryStorage, storage_from_string
from limits.strategies import FixedWindowRateLimiter

from .policy import Limits

__all__ = ["Decision", "RateLimiter"]


@dataclass(frozen=True)
class Decision:
    """``allowed``; when not, ``retry_after`` seconds and ``reason``; when allowed, the
    progressive ``delay`` in seconds to wait before answering."""

    allowed: bool
    retry_after: int = 0
    delay: float = 0.0
    reason: str = ""


ALLOWED = Decision(True)
_KEY_CACHE = 65_536
# Schemes served by limits.aio over redis-py's asyncio client (the serve extra's ``redis``).
_ASYNC_SCHEMES = frozenset({"redis", "rediss", "redis+unix"})


class LazyExpiryMemoryStorage(MemoryStorage):
    """``limits``' in-memory storage without its expiry timer: the parent starts a new
    ``threading.Timer`` thread whenever the last one has finished (every 10 ms under steady
    load), and each start stalls the event loop. Expired counters are already dropped when read
    (``get``); this also sweeps all of them every 4096 increments, on the caller's thread."""

    STORAGE_SCHEME = ["pipeward+memory"]
    _SWEEP_EVERY = 4096

    def __init__(self, uri: str | None = None, wrap_exceptions: bool = False, **options: object):
        self._increments = 0
        super().__init__(uri, wrap_exceptions=wrap_exceptions, **options)

    def _MemoryStorage__schedule_expiry(self) -> None:  # replaces the parent's private timer start
        self._increments += 1
        if self._increments % self._SWEEP_EVERY == 0:
            self._MemoryStorage__expire_events()


def _storage(uri: str) -> Any:
    """The storage for ``uri``: pipeward's memory storage, limits.aio's Redis storage, or
    limits' synchronous storage for any other scheme it knows."""
    scheme = uri.split("://", 1)[0]
    if scheme == "memory":
        return LazyExpiryMemoryStorage()
    if scheme in _ASYNC_SCHEMES:
        return storage_from_string(f"async+{uri}", implementation="redispy")
    return storage_from_string(uri)


def _parse(spec: str, what: str) -> RateLimitItem | None:
    if not spec:
        return None
    try:
        return parse(spec)
    except ValueError:
        raise ValueError(f"{what}: expected a rate such as '100/minute', got {spec!r}") from None


class RateLimiter:
    """Per-address and per-key limits plus a per-key daily budget of rows; each check is a
    coroutine (``await limiter.check_key(key_id)``)."""

    def __init__(self, limits: Limits):
        self.limits = limits
        try:
            self.storage = _storage(limits.storage)
        except Exception as exc:  # limits raises ConfigurationError and others for a bad URI
            raise ValueError(f"storage: cannot use {limits.storage!r} ({exc})") from None
        self.asynchronous = self.storage.STORAGE_SCHEME[0].startswith("async+")
        self.strategy = (AsyncFixedWindowRateLimiter if self.asynchronous
                         else FixedWindowRateLimiter)(self.storage)
        self.per_key = _parse(limits.per_key, "per_key")
        self.per_address = _parse(limits.per_address, "per_address")
        self.budget = RateLimitItemPerDay(limits.daily_budget) if limits.daily_budget > 0 else None
        if self.per_key is not None:
            self._soft = math.ceil(limits.soft_fraction * self.per_key.amount)
            self._ramp = max(self.per_key.amount - self._soft, 1)
        self._max_delay = limits.max_delay_ms / 1000.0
        self._keys: dict[tuple[RateLimitItem, tuple[str, ...]], str] = {}

    def _key(self, item: RateLimitItem, idents: tuple[str, ...]) -> str:
        """``item.key_for(*idents)``, remembered (building it is most of a memory:// decision)."""
        key = self._keys.get((item, idents))
        if key is None:
            if len(self._keys) >= _KEY_CACHE:  # many addresses: start over rather than grow
                self._keys.clear()
            key = self._keys[(item, idents)] = item.key_for(*idents)
        return key

    async def _count(self, item: RateLimitItem, idents: tuple[str, ...], cost: int = 1) -> int:
        """The window's count after adding ``cost``: what ``FixedWindowRateLimiter.hit``
        compares with the limit, read in the same single storage call (one Redis round trip),
        since the progressive delay needs the count itself."""
        count = self.storage.incr(self._key(item, idents), item.get_expiry(), amount=cost)
        return await count if self.asynchronous else count

    async def check_address(self, address: str) -> Decision:
        if self.per_address is None:
            return ALLOWED
        if await self._count(self.per_address, ("addr", address)) <= self.per_address.amount:
            return ALLOWED
        return await self._denied_for(self.per_address, ("addr", address), "address rate limit")

    async def _denied_for(self, item: RateLimitItem, idents: tuple[str, ...], reason: str) -> Decision:
        stats: Any = self.strategy.get_window_stats(item, *idents)
        if self.asynchronous:
            stats = await stats
        return Decision(False, max(1, math.ceil(stats.reset_time - time.time())), 0.0, reason)

    async def check_key(self, key_id: str) -> Decision:
        """One request by ``key_id`` against the per-key limit, with its progressive delay."""
        delay = 0.0
        if self.per_key is not None:
            used = await self._count(self.per_key, ("key", key_id))
            if used > self.per_key.amount:
                return await self._denied_for(self.per_key, ("key", key_id), "key rate limit")
            if self._max_delay > 0 and used > self._soft:
                delay = self._max_delay * min(1.0, (used - self._soft) / self._ramp)
        return Decision(True, 0, delay) if delay else ALLOWED

    async def check_budget(self, key_id: str, rows: int) -> Decision:
        """``rows`` more rows against ``key_id``'s daily budget; a request that would pass it
        is refused whole (its rows still count, as in ``limits``' fixed window)."""
        if self.budget is None:
            return ALLOWED
        if await self._count(self.budget, ("budget", key_id), rows) <= self.budget.amount:
            return ALLOWED
        return await self._denied_for(self.budget, ("budget", key_id), "daily query budget")

    async def aclose(self) -> None:
        """Close the asynchronous storage's connections, on the event loop that opened them
        (they belong to it; a later loop opens its own)."""
        if self.asynchronous:
            client = self.storage.bridge.storage  # limits.aio's redis-py client
            await client.aclose()
