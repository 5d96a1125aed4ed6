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
from limits.storage import storage_from_string
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
            self.storage = storage_from_string(limits.storage)
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

    def check_address(self, address: str) -> Decision:
        if self.per_address is None:
            return ALLOWED
        if self.strategy.hit(self.per_address, "addr", address):
            return ALLOWED
        return self._denied_for(self.per_address, ("addr", address), "address rate limit")

    def _denied_for(self, item: RateLimitItem, idents: tuple[str, ...], reason: str) -> Decision:
        stats = self.strategy.get_window_stats(item, *idents)
        return Decision(False, max(1, math.ceil(stats.reset_time - time.time())), 0.0, reason)

    def check_key(self, key_id: str) -> Decision:
        """One request by ``key_id`` against the per-key limit, with its progressive delay."""
        delay = 0.0
        if self.per_key is not None:
            if not self.strategy.hit(self.per_key, "key", key_id):
                return self._denied_for(self.per_key, ("key", key_id), "key rate limit")
            if self._max_delay > 0 and self._soft < self.per_key.amount:
                used = self.per_key.amount - self.strategy.get_window_stats(self.per_key, "key", key_id).remaining
                if used > self._soft:
                    delay = self._max_delay * min(1.0, (used - self._soft) / self._ramp)
        return Decision(True, 0, delay) if delay else ALLOWED

    def check_budget(self, key_id: str, rows: int) -> Decision:
        """``rows`` more rows against ``key_id``'s daily budget (a request that would pass it
        is refused whole, and costs nothing)."""
        if self.budget is None:
            return ALLOWED
        if self.strategy.hit(self.budget, "budget", key_id, cost=rows):
            return ALLOWED
        return self._denied_for(self.budget, ("budget", key_id), "daily query budget")

    def reset(self) -> None:
        self.storage.reset()
