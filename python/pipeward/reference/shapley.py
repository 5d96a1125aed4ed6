"""Reference Shapley values by the textbook formula, one feature and one subset at a time.

``phi_j = sum over S not containing j of |S|! (k-|S|-1)! / k! * (v(S + j) - v(S))`` with the
interventional value ``v(S) = mean over background rows b of f(x_S, b_rest)``. Slow and plain
on purpose: the readable spec that the vectorised enumeration is tested against.
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import combinations
from math import factorial

import numpy as np

__all__ = ["shapley_values"]


def _value(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, background: np.ndarray,
           subset: tuple[int, ...]) -> float:
    rows = background.astype(np.float64).copy()
    for j in subset:
        rows[:, j] = x[j]
    return float(np.mean(f(rows)))


def shapley_values(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                   background: np.ndarray) -> tuple[np.ndarray, float]:
    """``(phi, base)`` for one row ``x`` over all of its features."""
    k = x.shape[0]
    phi = np.zeros(k)
    for j in range(k):
        others = [i for i in range(k) if i != j]
        for size in range(k):
            weight = factorial(size) * factorial(k - size - 1) / factorial(k)
            for subset in combinations(others, size):
                phi[j] += weight * (_value(f, x, background, (*subset, j)) - _value(f, x, background, subset))
    return phi, _value(f, x, background, ())
