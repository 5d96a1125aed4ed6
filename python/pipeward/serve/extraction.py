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

import functools
import math
import threading
from dataclasses import dataclass
from statistics import NormalDist
from typing import Any

import numpy as np

from .. import _core
from .._validate import describe
from ..nearest import nearest_distances

__all__ = ["ExtractionDetector", "KeyHistory", "baseline_w", "shapiro_w"]

_BLOCK = 64  # batch rows compared with the batch's earlier rows at once


@functools.lru_cache(maxsize=8)
def _shapiro_coefficients(n: int) -> np.ndarray:
    """Royston's (1992, 1995) approximation of the Shapiro-Wilk coefficients for sample size n
    (algorithm AS R94, as in scipy.stats.shapiro): normal scores m_i, then a polynomial in
    1/sqrt(n) for the two outermost weights and m_i / sqrt(phi) for the rest."""
    if n == 3:
        return np.array([-np.sqrt(0.5), 0.0, np.sqrt(0.5)])
    inv = NormalDist().inv_cdf
    m = np.array([inv((i - 0.375) / (n + 0.25)) for i in range(1, n + 1)])
    mm = float(m @ m)
    u = 1.0 / np.sqrt(n)
    a = m / np.sqrt(mm)
    an = a[-1] + np.polyval([-2.706056, 4.434685, -2.071190, -0.147981, 0.221157, 0.0], u)
    if n > 5:
        an1 = a[-2] + np.polyval([-3.582633, 5.682633, -1.752461, -0.293762, 0.042981, 0.0], u)
        phi = (mm - 2 * m[-1] ** 2 - 2 * m[-2] ** 2) / (1 - 2 * an ** 2 - 2 * an1 ** 2)
        a = m / np.sqrt(phi)
        a[-1], a[-2], a[0], a[1] = an, an1, -an, -an1
    else:
        phi = (mm - 2 * m[-1] ** 2) / (1 - 2 * an ** 2)
        a = m / np.sqrt(phi)
        a[-1], a[0] = an, -an
    return a


def shapiro_w(x: np.ndarray) -> float:
    """The Shapiro-Wilk W statistic of a sample (3 <= n <= 5000), equal to
    ``scipy.stats.shapiro(x).statistic`` to about 1e-6 without importing SciPy (whose stats
    module takes seconds to import). W near 1: consistent with a normal sample."""
    x = np.sort(np.asarray(x, dtype=np.float64))
    n = x.size
    if not 3 <= n <= 5000:
        raise ValueError(f"shapiro_w: expected 3 to 5000 values, got {n}")
    centred = x - x.mean()
    ss = float(centred @ centred)
    if ss == 0:
        raise ValueError("shapiro_w: all values are equal")
    return min(1.0, float(_shapiro_coefficients(n) @ x) ** 2 / ss)


@dataclass
class KeyHistory:
    """One key's recent queries (a ring buffer of scaled rows) and its latest minimum distances
    (a ring too: the normality test reads them in any order)."""

    queries: np.ndarray
    recent: np.ndarray
    count: int = 0     # rows of ``queries`` in use
    start: int = 0     # the oldest row once ``queries`` is full
    observed: int = 0  # queries seen in all
    measured: int = 0  # minimum distances recorded in all (every query but the first)
    w: float = 1.0
    alarm: bool = False

    @property
    def distances(self) -> np.ndarray:
        """The last ``window`` minimum distances, oldest first."""
        end = self.measured % self.recent.size
        if self.measured <= self.recent.size:
            return self.recent[:self.measured].copy()
        return np.concatenate((self.recent[end:], self.recent[:end]))


class ExtractionDetector:
    """``observe(key, X)`` records queries; ``w(key)`` and ``alarm(key)`` read the verdict."""

    def __init__(self, n_features: int, *, min_queries: int = 50, threshold: float = 0.6,
                 low: np.ndarray | None = None, width: np.ndarray | None = None,
                 max_history: int = 10_000, window: int = 2000, test_every: int = 25,
                 dtype: type = np.float32):
        if n_features < 1 or min_queries < 3 or max_history < 2:
            raise ValueError("ExtractionDetector: n_features >= 1, min_queries >= 3, max_history >= 2")
        if not min_queries <= window <= 5000:
            raise ValueError(f"ExtractionDetector: window must be from min_queries ({min_queries}) "
                             f"to 5000 (the normality test's range), got {window}")
        self.n_features, self.min_queries, self.threshold = n_features, min_queries, threshold
        self.max_history, self.window, self.test_every = max_history, window, max(1, test_every)
        self.low = self._vector(np.zeros(n_features) if low is None else low, "low")
        width = self._vector(np.ones(n_features) if width is None else width, "width")
        self.scale = 1.0 / np.maximum(width, 1e-12)
        # float32 history by default: half the bytes to stream per query, and PRADA's test
        # reads the shape of the distance distribution, not the 8th digit.
        self.dtype = np.dtype(dtype)
        if self.dtype not in (np.dtype(np.float32), np.dtype(np.float64)):
            raise TypeError(f"ExtractionDetector: dtype must be float32 or float64, got {self.dtype}")
        self._keys: dict[str, KeyHistory] = {}
        self._lock = threading.Lock()

    def _vector(self, v: Any, name: str) -> np.ndarray:
        v = np.ascontiguousarray(v, dtype=np.float64)
        if v.shape != (self.n_features,) or not np.isfinite(v).all():
            raise ValueError(f"ExtractionDetector: {name} must be {self.n_features} finite "
                             f"values, got a {describe(v)}")
        return v

    def observe(self, key: str, X: np.ndarray) -> KeyHistory:
        """Record the rows of X ((n, n_features), finite) as ``key``'s next queries. A row that
        is not finite (or leaves the history's dtype once scaled) is a ValueError; the rows
        before it in X stay recorded."""
        h = self._keys.get(key)
        if h is None:
            with self._lock:
                h = self._keys.setdefault(key, KeyHistory(
                    np.empty((self.max_history, self.n_features), dtype=self.dtype),
                    np.empty(self.window)))
        X = np.ascontiguousarray(X, dtype=np.float64)
        if X.size % self.n_features:
            raise ValueError(f"observe: expected rows of {self.n_features} features, "
                             f"got a {describe(X)}")
        rows = X.reshape(-1, self.n_features)
        before = h.measured
        try:
            if len(rows) > 1 and h.count + len(rows) <= self.max_history:
                self._add_batch(h, rows)
            else:  # one query, or the ring overflows within the batch: each sees what it would
                for row in rows:
                    self._push(h, row)
        finally:  # a bad row stops the batch; what was recorded before it is still tested
            n, every = h.measured, self.test_every
            if min(n, self.window) >= self.min_queries and n // every != before // every:
                self._test(h)
        return h

    def _push(self, h: KeyHistory, row: np.ndarray) -> None:
        """One query: scaled, compared with the history and stored, in one native call."""
        full = h.count == self.max_history
        d2 = _core.nearest_history_push(row, self.low, self.scale, h.queries, h.count,
                                        h.start if full else h.count)
        if h.count:
            h.recent[h.measured % self.window] = math.sqrt(d2)
            h.measured += 1
        if full:
            h.start = (h.start + 1) % self.max_history
        else:
            h.count += 1
        h.observed += 1

    def _add_batch(self, h: KeyHistory, X: np.ndarray) -> None:
        """Rows appended in order without overflowing the ring (``h.start`` stays 0): each
        row's nearest earlier query is the nearer of its nearest in the history before the
        batch (one native call for all rows) and its nearest among the batch's earlier rows."""
        with np.errstate(over="ignore", invalid="ignore"):  # refused just below, with a reason
            rows = ((X - self.low) * self.scale).astype(self.dtype)
        if not np.isfinite(rows).all():
            raise ValueError(f"X: expected finite values that stay within {self.dtype} range "
                             "once scaled, got NaN or infinity")
        m = len(rows)
        nearest = np.full(m, np.inf)
        if h.count:
            nearest, _ = nearest_distances(rows, h.queries[:h.count], check_finite=False)
            nearest = nearest.astype(np.float64)
        for i0 in range(1, m, _BLOCK):  # earlier rows of the batch, a block of rows at a time
            i1 = min(i0 + _BLOCK, m)
            diff = rows[i0:i1, None, :].astype(np.float64) - rows[None, :i1 - 1, :]
            d2 = np.einsum("ijk,ijk->ij", diff, diff)
            d2[np.arange(i1 - i0)[:, None] <= np.arange(i1 - 1)[None, :] - i0] = np.inf
            nearest[i0:i1] = np.minimum(nearest[i0:i1], d2.min(axis=1))
        found = np.sqrt(nearest[0 if h.count else 1:])  # the very first query has no earlier one
        keep = found[-self.window:]
        h.recent[(h.measured + len(found) - len(keep) + np.arange(len(keep))) % self.window] = keep
        h.measured += len(found)
        h.queries[h.count:h.count + m] = rows
        h.count += m
        h.observed += m

    def _test(self, h: KeyHistory) -> None:
        d = h.recent[:min(h.measured, self.window)]
        # Every query at the same distance from its nearest: nothing natural does that.
        h.w = 0.0 if np.ptp(d) == 0 else shapiro_w(d)
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
