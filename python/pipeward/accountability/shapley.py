"""Exact Shapley values by enumerating every coalition of the explained features.

The value of a coalition ``S`` for a row ``x`` is the interventional one that shap's
``ExactExplainer`` and ``LinearExplainer`` use with an independent masker: the model's mean
output over the background rows with the features in ``S`` set to ``x``'s values,
``v(S) = mean_b f(x_S, b_rest)``. Shapley values are then one matrix product,
``phi = v @ W``, with ``W[S, j] = +w(|S|-1)`` if ``j`` is in ``S`` and ``-w(|S|)`` if not,
``w(s) = s! (k-s-1)! / k!``.
"""

from __future__ import annotations

from collections.abc import Callable
from math import comb

import numpy as np

from .linear_model import LinearModel

__all__ = ["all_coalitions", "coalition_values", "linear_coalition_values", "shapley_matrix"]

_CHUNK = 1 << 21  # masked values per model call (16 MiB in float64): cache-sized blocks are faster


def all_coalitions(k: int) -> np.ndarray:
    """Every subset of ``k`` features as a ``(2**k, k)`` bool matrix, in binary order."""
    codes = np.arange(1 << k, dtype=np.int64)
    return ((codes[:, None] >> np.arange(k)) & 1).astype(bool)


def shapley_matrix(coalitions: np.ndarray) -> np.ndarray:
    """``W`` such that ``phi = v @ W`` for values ``v`` over all ``coalitions`` (float64)."""
    k = coalitions.shape[1]
    size = coalitions.sum(axis=1)
    weight = np.array([1.0 / (k * comb(k - 1, s)) for s in range(k)] + [0.0])  # w(s) = 1/(k C(k-1, s))
    inside = weight[np.maximum(size - 1, 0)][:, None]
    outside = weight[size][:, None]
    return np.where(coalitions, inside, -outside)


def coalition_values(f: Callable[[np.ndarray], np.ndarray], X: np.ndarray, background: np.ndarray,
                     columns: np.ndarray, coalitions: np.ndarray) -> np.ndarray:
    """``v[i, c]``: mean model output over ``background`` with the explained ``columns`` in
    coalition ``c`` taken from row ``X[i]``; columns not explained stay at ``X[i]``'s values."""
    n, d = X.shape
    m, n_coal = background.shape[0], coalitions.shape[0]
    out = np.empty((n, n_coal))
    every_column = np.array_equal(columns, np.arange(d))
    per_row = n_coal * m * d
    rows_per_call = max(1, _CHUNK // max(per_row, 1))
    coal_per_call = n_coal if per_row <= _CHUNK else max(1, _CHUNK // (m * d))
    for start in range(0, n, rows_per_call):
        rows = X[start:start + rows_per_call]
        for c0 in range(0, n_coal, coal_per_call):
            masks = coalitions[c0:c0 + coal_per_call]
            # (rows, coalitions, background, d): the row's value for a feature in the coalition
            # (and for every feature not explained), the background's otherwise.
            if every_column:
                block = np.where(masks[None, :, None, :], rows[:, None, None, :], background[None, None, :, :])
            else:
                block = np.empty((rows.shape[0], masks.shape[0], m, d), dtype=X.dtype)
                block[...] = rows[:, None, None, :]
                block[..., columns] = np.where(masks[None, :, None, :], rows[:, None, None, columns],
                                               background[None, None, :, columns])
            values = f(block.reshape(-1, d)).reshape(rows.shape[0], masks.shape[0], m)
            out[start:start + rows.shape[0], c0:c0 + masks.shape[0]] = values.mean(axis=2)
    return out


def linear_coalition_values(model: LinearModel, X: np.ndarray, background: np.ndarray,
                            columns: np.ndarray, coalitions: np.ndarray) -> np.ndarray:
    """:func:`coalition_values` for ``link(X @ w + b)`` without calling the model: the linear
    predictor splits into the row's part inside the coalition and the background's outside."""
    w = model.weights
    held = np.ones(X.shape[1], bool)
    held[columns] = False
    fixed = X[:, held].astype(np.float64) @ w[held] + model.intercept  # (n,)
    row_part = (X[:, columns] * w[columns]) @ coalitions.T + fixed[:, None]  # (n, C)
    bg_part = (background[:, columns] * w[columns]) @ (~coalitions).T  # (m, C)
    if model.link == "identity":
        return row_part + bg_part.mean(axis=0)[None, :]
    # sigmoid(z) = (1 + tanh(z / 2)) / 2: halve the two small parts once, then one add, one
    # in-place tanh and one sum per block of (rows, coalitions, background) values.
    n, n_coal, m = X.shape[0], coalitions.shape[0], background.shape[0]
    out = np.empty((n, n_coal))
    half_row = 0.5 * row_part
    half_bg = np.ascontiguousarray(0.5 * bg_part.T)  # (C, m)
    rows_per_step = max(1, (1 << 21) // max(n_coal * m, 1))
    buf = np.empty((min(rows_per_step, n), n_coal, m))
    for start in range(0, n, rows_per_step):
        r = min(rows_per_step, n - start)
        z = buf[:r]
        np.add(half_row[start:start + r, :, None], half_bg[None, :, :], out=z)
        np.tanh(z, out=z)
        np.sum(z, axis=2, out=out[start:start + r])
    out *= 0.5 / m
    out += 0.5
    return out
