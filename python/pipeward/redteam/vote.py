"""The vote kernel family: plurality vote and the Deep Partition Aggregation certificate.

The readable spec is :mod:`pipeward.reference.vote`; the C++ kernel (``_core.vote_count``)
counts each row's votes in a per-thread histogram.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import describe, workers_arg

__all__ = ["VoteCount", "count_votes"]

_LABEL_DTYPES = tuple(np.dtype(t) for t in (np.uint8, np.int16, np.int32, np.int64))


@dataclass(frozen=True)
class VoteCount:
    """``counts`` (n x n_classes int32), ``prediction`` (smallest label among the most votes)
    and ``radius`` (poisoned training rows each prediction is certified against), per row."""

    counts: np.ndarray
    prediction: np.ndarray
    radius: np.ndarray


def count_votes(labels: Any, n_classes: int, *, backend: str = "auto", workers: int | None = None) -> VoteCount:
    """Count an ``(n, k)`` matrix of class indices voted by k partition models.

    ``radius[i] = min_{c != top} (counts[top] - counts[c] - [c < top]) // 2`` (Levine & Feizi
    2021, with ties going to the smaller label). ``backend="reference"`` runs the NumPy spec.
    """
    if not hasattr(labels, "dtype") or np.dtype(labels.dtype) not in _LABEL_DTYPES:
        raise TypeError(f"labels: expected a uint8, int16, int32 or int64 array, got a {describe(labels)}")
    if labels.ndim != 2:
        raise ValueError(f"labels: expected a 2-d array (rows x partitions), got a {describe(labels)}")
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise ValueError(f"n_classes: expected a positive integer, got {n_classes!r}")
    if backend == "reference":
        from ..reference.vote import count_votes as reference  # noqa: PLC0415

        return VoteCount(*reference(labels, int(n_classes)))
    if backend not in ("auto", "cpu"):
        raise ValueError(f"backend: expected 'auto', 'cpu' or 'reference', got {backend!r}")
    from .. import _core  # noqa: PLC0415

    return VoteCount(*_core.vote_count(labels, int(n_classes), workers_arg(workers)))
