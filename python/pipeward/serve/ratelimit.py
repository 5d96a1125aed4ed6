"""Rate limits, progressive delay and daily query budgets on the ``limits`` library.

The storage is chosen by URI, as ``limits`` does: ``memory://`` (one process) or
``redis://HOST:PORT/DB`` (shared exactly by every worker and replica: a fixed-window counter is
one atomic INCR in Redis). Past ``soft_fraction`` of the per-key limit an allowed request is
delayed by ``max_delay * (used - soft) / (limit - soft)``, so a scraper slows down smoothly
before it meets the hard 429.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from limits import RateLimitItem, RateLimitItemPerDay, parse
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


def _parse(spec: str, what: str) -> RateLimitItem | None:
    if not spec:
        return None
    try:
        return parse(spec)
    except ValueError:
        raise ValueError(f"{what}: expected a rate such as '100/minute', got {spec!r}") from None


class RateLimiter:
    """Per-address and per-key limits plus a per-key daily budget of rows."""

    def __init__(self, limits: Limits):
        self.limits = limits
        try:
            scheme = limits.storage.split("://", 1)[0]
            self.storage = (LazyExpiryMemoryStorage() if scheme == "memory"
                            else storage_from_string(limits.storage))
        except Exception as exc:  # limits raises ConfigurationError and others for a bad URI
            raise ValueError(f"storage: cannot use {limits.storage!r} ({exc})") from None
        self.strategy = FixedWindowRateLimiter(self.storage)
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

    def _count(self, item: RateLimitItem, idents: tuple[str, ...], cost: int = 1) -> int:
        """The window's count after adding ``cost``: what ``FixedWindowRateLimiter.hit``
        compares with the limit, read in the same single storage call (one Redis round trip),
        since the progressive delay needs the count itself."""
        return self.storage.incr(self._key(item, idents), item.get_expiry(), amount=cost)

    def check_address(self, address: str) -> Decision:
        if self.per_address is None:
            return ALLOWED
        if self._count(self.per_address, ("addr", address)) <= self.per_address.amount:
            return ALLOWED
        return self._denied_for(self.per_address, ("addr", address), "address rate limit")

    def _denied_for(self, item: RateLimitItem, idents: tuple[str, ...], reason: str) -> Decision:
        stats = self.strategy.get_window_stats(item, *idents)
        return Decision(False, max(1, math.ceil(stats.reset_time - time.time())), 0.0, reason)

    def check_key(self, key_id: str) -> Decision:
        """One request by ``key_id`` against the per-key limit, with its progressive delay."""
        delay = 0.0
        if self.per_key is not None:
            used = self._count(self.per_key, ("key", key_id))
            if used > self.per_key.amount:
                return self._denied_for(self.per_key, ("key", key_id), "key rate limit")
            if self._max_delay > 0 and used > self._soft:
                delay = self._max_delay * min(1.0, (used - self._soft) / self._ramp)
        return Decision(True, 0, delay) if delay else ALLOWED

    def check_budget(self, key_id: str, rows: int) -> Decision:
        """``rows`` more rows against ``key_id``'s daily budget; a request that would pass it
        is refused whole (its rows still count, as in ``limits``' fixed window)."""
        if self.budget is None:
            return ALLOWED
        if self._count(self.budget, ("budget", key_id), rows) <= self.budget.amount:
            return ALLOWED
        return self._denied_for(self.budget, ("budget", key_id), "daily query budget")

    def reset(self) -> None:
        self.storage.reset()
