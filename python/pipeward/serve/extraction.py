"""Model-extraction detection after PRADA (Juuti et al., 2019).

For each key, every new query's minimum L2 distance to that key's earlier queries is recorded.
Queries a person or an application sends spread naturally and these distances look roughly
normal; the synthetic queries of an extraction attack (small perturbations of a few seeds,
walks along decision boundaries) pile up at small distances and skew the distribution. The
Shapiro-Wilk W of a key's recent distances falls, and the key is flagged when W < threshold.

Features are first scaled by their training range (``low``, ``width``), so no single feature's
units dominate the distance. Natural traffic is not exactly normal either (minimum distances
are right-skewed), so the threshold is best set relative to the W of the training data itself
read as a query stream: :func:`baseline_w` computes it at packaging, and the service's default
threshold is 0.75 of it.

Simplifications of the paper: one growing set per key (all its queries, up to
``max_history`` most recent) rather than one per predicted class, and no growing-set
threshold. Like PRADA, it does not catch slow random walks, whose steps look natural. The
nearest distance search runs on the native ``nearest`` kernel.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from ..nearest import nearest_distances

__all__ = ["ExtractionDetector", "KeyHistory", "baseline_w"]


@dataclass
class KeyHistory:
    """One key's recent queries (a ring buffer) and their minimum distances."""

    queries: np.ndarray
    count: int = 0
    start: int = 0
    distances: list[float] = field(default_factory=list)
    w: float = 1.0
    alarm: bool = False


class ExtractionDetector:
    """``observe(key, X)`` records queries; ``w(key)`` and ``alarm(key)`` read the verdict."""

    def __init__(self, n_features: int, *, min_queries: int = 50, threshold: float = 0.6,
                 low: np.ndarray | None = None, width: np.ndarray | None = None,
                 max_history: int = 10_000, window: int = 2000, test_every: int = 25,
                 dtype: type = np.float32):
        if n_features < 1 or min_queries < 3 or max_history < 2:
            raise ValueError("ExtractionDetector: n_features >= 1, min_queries >= 3, max_history >= 2")
        self.n_features, self.min_queries, self.threshold = n_features, min_queries, threshold
        self.max_history, self.window, self.test_every = max_history, window, max(1, test_every)
        self.low = np.zeros(n_features) if low is None else np.asarray(low, dtype=np.float64)
        self.scale = (np.ones(n_features) if width is None
                      else 1.0 / np.maximum(np.asarray(width, dtype=np.float64), 1e-12))
        # float32 history by default: half the bytes to stream per query, and PRADA's test
        # reads the shape of the distance distribution, not the 8th digit.
        self.dtype = np.dtype(dtype)
        self._keys: dict[str, KeyHistory] = {}
        self._lock = threading.Lock()

    def observe(self, key: str, X: np.ndarray) -> KeyHistory:
        """Record the rows of X ((n, n_features), finite) as ``key``'s next queries."""
        with self._lock:
            h = self._keys.get(key)
            if h is None:
                h = self._keys[key] = KeyHistory(np.empty((self.max_history, self.n_features),
                                                         dtype=self.dtype))
        before = len(h.distances)
        scaled = (np.asarray(X, dtype=np.float64).reshape(-1, self.n_features) - self.low) * self.scale
        for row in scaled.astype(self.dtype):
            self._add(h, row)
        n = len(h.distances)
        if n >= self.min_queries and (n // self.test_every != before // self.test_every):
            self._test(h)
        return h

    def _add(self, h: KeyHistory, row: np.ndarray) -> None:
        if h.count:
            # The ring buffer is at most two contiguous pieces: its used part in order.
            used = h.queries[:h.count] if h.count < self.max_history else h.queries
            d2, _ = nearest_distances(row[None, :], used, check_finite=False)
            h.distances.append(float(np.sqrt(d2[0])))
            if len(h.distances) > self.window:
                del h.distances[: len(h.distances) - self.window]
        slot = (h.start + h.count) % self.max_history if h.count < self.max_history else h.start
        h.queries[slot] = row
        if h.count < self.max_history:
            h.count += 1
        else:
            h.start = (h.start + 1) % self.max_history

    def _test(self, h: KeyHistory) -> None:
        from scipy.stats import shapiro  # noqa: PLC0415 - scipy comes with scikit-learn/skops

        d = np.asarray(h.distances[-min(len(h.distances), 5000):])
        if np.ptp(d) == 0:
            h.w = 0.0  # every query the same distance from the last: nothing natural does that
        else:
            h.w = float(shapiro(d).statistic)
        h.alarm = h.w < self.threshold

    def w(self, key: str) -> float:
        h = self._keys.get(key)
        return h.w if h is not None else 1.0

    def alarm(self, key: str) -> bool:
        h = self._keys.get(key)
        return bool(h is not None and h.alarm)

    def keys(self) -> list[str]:
        return list(self._keys)


def baseline_w(X: np.ndarray, low: np.ndarray, width: np.ndarray, *, max_rows: int = 2000,
               seed: int = 0) -> float:
    """The Shapiro-Wilk W of natural traffic: the training rows, shuffled, read as one key's
    query stream (what the service's default threshold is scaled from)."""
    X = np.asarray(X, dtype=np.float64)
    rows = np.random.default_rng(seed).permutation(X.shape[0])[:max_rows]
    detector = ExtractionDetector(X.shape[1], low=low, width=width, min_queries=3,
                                  max_history=max(2, rows.size), test_every=10**9)
    history = detector.observe("baseline", X[rows])
    detector._test(history)
    return history.w
