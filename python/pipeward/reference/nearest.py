"""Pure-NumPy reference for the nearest-distance kernel: the readable spec, float64 throughout."""

from __future__ import annotations

import numpy as np


def nearest_sq_distances(X: np.ndarray, Y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row x_i of X: ``min_j ||x_i - y_j||^2`` over the rows of Y, and the smallest j
    attaining it (the first one on ties)."""
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    d2 = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(axis=2)
    index = d2.argmin(axis=1)
    return d2[np.arange(X.shape[0]), index], index.astype(np.int64)
