"""Nearest-distance search: for each query row, the squared L2 distance to the closest row of
a reference set and its index (what PRADA's extraction detector asks of every query).

``nearest_distances(X, Y)`` returns ``(d2, index)`` with ``d2[i] = min_j ||X[i] - Y[j]||^2``
and ``index[i]`` the first j attaining it, as ``scipy.spatial.distance.cdist(X, Y,
"sqeuclidean").min(axis=1)`` / ``argmin``. Exact differences are summed (never the
``|x|^2 + |y|^2 - 2 x.y`` expansion, whose cancellation loses near-duplicates, the very
queries PRADA looks for). float32 input is computed in float32, float64 in float64.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import _core
from ._validate import describe, float_array, workers_arg
from .outliers.kernel import native_float
from .reference import nearest as reference

__all__ = ["nearest_distances"]


def nearest_distances(X: Any, Y: Any, *, backend: str = "auto", workers: int | None = None,
                      check_finite: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """``(d2, index)``: each row of X's squared distance to its nearest row of Y, and which.

    X (m, d) and Y (n, d) share one float dtype (float32 or float64; no silent cast); rows
    may have any strides (a column-strided array is copied once). ``backend``: ``"auto"``
    (the native kernel) or ``"reference"``. NaN or infinity is a ValueError;
    ``check_finite=False`` skips that pass over Y when the caller already knows (as the
    extraction detector does of the queries it validated).
    """
    if backend not in ("auto", "cpu", "reference"):
        raise ValueError(f"backend must be 'auto', 'cpu' or 'reference', got {backend!r}")
    X = float_array(X, "X", ndim=2, finite=True)
    Y = float_array(Y, "Y", ndim=2, finite=check_finite)
    if X.dtype != Y.dtype:
        raise TypeError(f"X and Y must share a dtype, got a {describe(X)} and a {describe(Y)}")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"X and Y must have the same number of columns, got a {describe(X)} "
                         f"and a {describe(Y)}")
    if backend == "reference":
        d2, index = reference.nearest_sq_distances(X, Y)
        return d2.astype(X.dtype, copy=False), index
    X, Y = _unit_columns(native_float(X)), _unit_columns(native_float(Y))
    d2 = np.empty(X.shape[0], dtype=X.dtype)
    index = np.empty(X.shape[0], dtype=np.int64)
    _core.nearest_sq_distances(X, Y, d2, index, workers_arg(workers))
    return d2, index


def _unit_columns(A: np.ndarray) -> np.ndarray:
    """A with contiguous columns (the kernel reads rows as vectors); copies only otherwise."""
    if A.shape[1] > 1 and A.strides[1] != A.itemsize:
        return np.ascontiguousarray(A)
    if A.strides[0] % A.itemsize:
        return np.ascontiguousarray(A)
    return A
