"""Labels and sensitive features as plain 1-d NumPy columns, read from NumPy, pandas or lists.

No silent casts: labels must be binary (``{0, 1}``, ``{-1, 1}`` or bool, the values fairlearn
accepts without a ``pos_label``), scores must be float, and every column must have one value
per row.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from .._validate import describe

__all__ = ["binary_labels", "scores", "sensitive_columns"]


def _column(x: Any, name: str) -> np.ndarray:
    if hasattr(x, "__cuda_array_interface__"):
        raise TypeError(f"{name}: pw.fairness runs on the CPU and does not copy GPU memory silently; "
                        "pass a NumPy array (cupy.asnumpy)")
    if isinstance(x, (str, bytes)) or np.isscalar(x):
        raise TypeError(f"{name}: expected a 1-d array, list or pandas Series, got {type(x).__name__}")
    values = getattr(x, "to_numpy", None)
    arr = values() if callable(values) else np.asarray(x)
    if arr.ndim == 2 and 1 in arr.shape:
        arr = arr.reshape(-1)  # a (n, 1) column, as scikit-learn accepts
    if arr.ndim != 1:
        raise ValueError(f"{name}: expected a 1-d array, got a {describe(arr)}")
    return arr


def binary_labels(x: Any, name: str) -> np.ndarray:
    """``x`` as an int8 array of 0/1 (1 = the positive label)."""
    arr = _column(x, name)
    if arr.dtype == bool:
        return arr.astype(np.int8)
    if arr.dtype.kind not in "iuf":
        raise TypeError(f"{name}: expected binary labels (0/1, -1/1 or bool), got a {describe(arr)}")
    present = set(np.unique(arr).tolist())
    if not (present <= {0, 1} or present <= {-1, 1}):
        shown = sorted(present)[:6]
        raise ValueError(f"{name}: expected binary labels in {{0, 1}} or {{-1, 1}} (1 is positive), "
                         f"got the values {shown}")
    return (arr == 1).astype(np.int8)


def scores(x: Any, name: str, n: int) -> np.ndarray:
    arr = _column(x, name)
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected float scores (probabilities of the positive label), "
                        f"got a {describe(arr)}")
    if arr.shape[0] != n:
        raise ValueError(f"{name}: expected {n} scores (one per row), got {arr.shape[0]}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name}: contains NaN or infinity")
    return arr.astype(np.float64, copy=False)


def sensitive_columns(x: Any, n: int) -> tuple[list[str], list[np.ndarray]]:
    """Names and 1-d columns of the sensitive features.

    A 1-d array or Series is one feature; a 2-d array, a DataFrame or a dict ``{name: values}``
    gives several, whose combinations are the groups (intersections). Unnamed features are
    called ``sensitive_feature_<i>``, as fairlearn names them.
    """
    if isinstance(x, Mapping):
        names, cols = [str(k) for k in x], [_column(v, f"sensitive_features[{k!r}]") for k, v in x.items()]
    elif hasattr(x, "columns") and hasattr(x, "to_numpy"):  # a pandas DataFrame
        names = [str(c) for c in x.columns]
        cols = [_column(x[c], f"sensitive_features[{c!r}]") for c in x.columns]
    else:
        values = getattr(x, "to_numpy", None)
        arr = values() if callable(values) else np.asarray(x)
        if arr.ndim == 1:
            name = getattr(x, "name", None)
            names, cols = [str(name) if name is not None else "sensitive_feature_0"], [arr]
        elif arr.ndim == 2:
            names = [f"sensitive_feature_{i}" for i in range(arr.shape[1])]
            cols = [arr[:, i] for i in range(arr.shape[1])]
        else:
            raise ValueError(f"sensitive_features: expected 1-d or 2-d, got a {describe(arr)}")
    if not cols:
        raise ValueError("sensitive_features: expected at least one feature")
    for name, col in zip(names, cols):
        if col.shape[0] != n:
            raise ValueError(f"sensitive feature {name!r}: expected {n} values (one per row), "
                             f"got {col.shape[0]}")
        if col.dtype.kind == "f" and np.isnan(col).any():
            raise ValueError(f"sensitive feature {name!r} has missing values (NaN); give them a "
                             "group of their own or drop those rows")
        if col.dtype.kind == "O" and any(v is None for v in col):
            raise ValueError(f"sensitive feature {name!r} has missing values (None)")
    return names, cols
