"""Output watermarking (dynamic watermarking of answers, after DAWN, Szyller et al. 2021).

For each input row a keyed PRF (BLAKE2b keyed with the secret) of its float64 bytes decides
whether the row is *marked* (with probability ``fraction``) and names a *mark label*, uniform
over the classes. A marked row is answered with its mark label, so the same input always gets
the same answer, and a model trained on stolen answers learns the marks.

Verification needs only the key, the classes and candidate inputs (for instance the queries a
suspected thief sent): among the candidates that are marked, count how often the suspect
answers the mark label. A model that never saw the service's answers agrees with a mark label,
which is an independent uniform draw given the key, with probability exactly ``1/K``, so the
count is Binomial(n, 1/K) under that null and its upper tail is the p-value.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["Watermark", "WatermarkVerdict", "binomial_sf", "verify_watermark"]

_PERSON = b"pipeward-wm"


@dataclass(frozen=True)
class Watermark:
    """A watermark secret with its marked ``fraction`` and the model's ``classes``."""

    key: bytes
    classes: tuple[Any, ...]
    fraction: float = 0.005

    def __post_init__(self) -> None:
        if not isinstance(self.key, (bytes, bytearray)) or not 16 <= len(self.key) <= 64:
            raise ValueError("watermark key: expected 16 to 64 bytes of secret")
        if len(self.classes) < 2:
            raise ValueError(f"watermark: needs at least 2 classes, got {len(self.classes)}")
        if not 0 < self.fraction < 1:
            raise ValueError(f"watermark fraction must be in (0, 1), got {self.fraction!r}")

    def marks(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(marked, mark_index) for the rows of a 2-d float array: a boolean mask and, per
        row, the index into ``classes`` of its mark label."""
        rows = np.ascontiguousarray(np.asarray(X, dtype=np.float64) + 0.0)  # -0.0 -> 0.0
        if rows.ndim != 2:
            raise ValueError(f"X: expected a 2-d array, got shape {rows.shape}")
        threshold = int(self.fraction * 2.0**64)
        k = len(self.classes)
        marked = np.zeros(rows.shape[0], dtype=bool)
        index = np.zeros(rows.shape[0], dtype=np.intp)
        key = bytes(self.key)
        for i in range(rows.shape[0]):
            digest = hashlib.blake2b(rows[i].tobytes(), key=key, digest_size=16, person=_PERSON).digest()
            marked[i] = int.from_bytes(digest[:8], "little") < threshold
            index[i] = int.from_bytes(digest[8:], "little") % k
        return marked, index

    def apply(self, X: np.ndarray, labels: np.ndarray,
              probabilities: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
        """Answers with the marks applied: (labels, probabilities, marked mask). A marked row's
        probabilities swap the mark class's value with the top one, so label and
        probabilities agree."""
        marked, index = self.marks(X)
        if not marked.any():
            return labels, probabilities, marked
        labels = np.array(labels, dtype=object)
        classes = np.array(self.classes, dtype=object)
        labels[marked] = classes[index[marked]]
        if probabilities is not None:
            probabilities = np.array(probabilities, dtype=np.float64)
            for i in np.flatnonzero(marked):
                top, mark = int(np.argmax(probabilities[i])), int(index[i])
                probabilities[i, [top, mark]] = probabilities[i, [mark, top]]
        return labels, probabilities, marked


@dataclass(frozen=True)
class WatermarkVerdict:
    """How many marked candidates the suspect answered with the mark label, and the p-value
    of seeing at least that many from a model that never learned the marks."""

    n_checked: int
    n_matched: int
    matched_fraction: float
    chance: float
    pvalue: float


def binomial_sf(m: int, n: int, p: float) -> float:
    """P(Binomial(n, p) >= m), summed in log space (no SciPy needed)."""
    if m <= 0:
        return 1.0
    if m > n:
        return 0.0
    logs = [math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)
            + k * math.log(p) + (n - k) * math.log1p(-p) for k in range(m, n + 1)]
    top = max(logs)
    return min(1.0, math.exp(top) * sum(math.exp(v - top) for v in logs))


def verify_watermark(suspect_predict: Callable[[np.ndarray], Sequence[Any]],
                     key: Watermark | bytes, X_candidates: Any, *,
                     classes: Sequence[Any] | None = None, fraction: float | None = None
                     ) -> WatermarkVerdict:
    """Test whether ``suspect_predict`` was trained on this service's watermarked answers.

    ``key`` is the service's :class:`Watermark` (or its secret bytes with ``classes`` and
    ``fraction``). Only the candidates the key marks are sent to the suspect.
    """
    if not isinstance(key, Watermark):
        if classes is None or fraction is None:
            raise TypeError("verify_watermark: with raw key bytes, pass classes= and fraction=")
        key = Watermark(bytes(key), tuple(classes), fraction)
    X = np.asarray(X_candidates, dtype=np.float64)
    marked, index = key.marks(X)
    n = int(marked.sum())
    if n == 0:
        raise ValueError(f"none of the {X.shape[0]} candidates is marked (fraction "
                         f"{key.fraction}); pass more candidates")
    answers = np.asarray(suspect_predict(X[marked]), dtype=object).reshape(-1)
    expected = np.array(key.classes, dtype=object)[index[marked]]
    matched = int(sum(a == e for a, e in zip(answers.tolist(), expected.tolist())))
    chance = 1.0 / len(key.classes)
    return WatermarkVerdict(n, matched, matched / n, chance, binomial_sf(matched, n, chance))
