"""Group metrics and disparities from confusion counts, with fairlearn's definitions.

Every function takes ``cells`` of shape ``(..., G, 2, 2)`` (leading axes are bootstrap draws)
indexed ``[group, true label, predicted label]`` and returns arrays of shape ``(..., G)`` or
``(...)``. Definitions follow fairlearn: a rate whose denominator is empty is 0 (as
``sklearn.metrics.confusion_matrix(normalize="true")`` gives), a group with no rows at all has
NaN metrics and is skipped by the aggregates, ``difference`` is ``max - min`` over groups
("between_groups") or the largest ``|group - overall|`` ("to_overall"), ``ratio`` is
``min / max`` or the smallest ``group / overall`` folded below 1.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["COUNT_METRICS", "difference", "metric_table", "ratio"]

COUNT_METRICS = ("selection_rate", "accuracy", "true_positive_rate", "false_positive_rate",
                 "base_rate")


def _rate(num: np.ndarray, den: np.ndarray, empty: float) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / den
    return np.where(den > 0, out, empty)


def metric_table(cells: np.ndarray) -> dict[str, np.ndarray]:
    """selection rate, accuracy, TPR, FPR, base rate and count for each group."""
    c = np.asarray(cells, dtype=np.float64)
    tn, fp, fn, tp = c[..., 0, 0], c[..., 0, 1], c[..., 1, 0], c[..., 1, 1]
    n = tn + fp + fn + tp
    nan = np.nan
    return {
        "count": n,
        "selection_rate": _rate(fp + tp, n, nan),
        "accuracy": _rate(tn + tp, n, nan),
        # An empty class inside a non-empty group gives 0, as fairlearn's rates do.
        "true_positive_rate": np.where(n > 0, _rate(tp, fn + tp, 0.0), nan),
        "false_positive_rate": np.where(n > 0, _rate(fp, tn + fp, 0.0), nan),
        "base_rate": _rate(fn + tp, n, nan),
    }


def _fold(x: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(x > 1, 1.0 / x, x)


def difference(by_group: np.ndarray, overall: np.ndarray, method: str) -> np.ndarray:
    with np.errstate(invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # an all-NaN slice stays NaN
        if method == "between_groups":
            return np.nanmax(by_group, axis=-1) - np.nanmin(by_group, axis=-1)
        return np.nanmax(np.abs(by_group - overall[..., None]), axis=-1)


def ratio(by_group: np.ndarray, overall: np.ndarray, method: str) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        if method == "between_groups":
            return np.nanmin(by_group, axis=-1) / np.nanmax(by_group, axis=-1)
        return np.nanmin(_fold(by_group / overall[..., None]), axis=-1)
