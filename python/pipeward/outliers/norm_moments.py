"""Mergeable fourth moments of the centred row norms: what Ledoit-Wolf needs beyond M2.

scikit-learn's Ledoit-Wolf shrinkage reads ``sum_i ||x_i - mean||^4`` about the mean of *all*
rows. Kept about each batch's own mean together with ``v3 = sum_i ||u_i||^2 u_i``
(``u_i = x_i - mean``), it moves to a new centre exactly (as Chan's update moves M2), so
``partial_fit`` and partitions merge to the statistic of the concatenated data.

With ``u - delta`` the rows about the new centre (``delta = new - old``, ``sum u = 0``)::

    S4' = S4 - 4 delta.v3 + 4 delta^T M2 delta + 2 |delta|^2 tr(M2) + n |delta|^4
    v3' = v3 - 2 M2 delta - tr(M2) delta - n |delta|^2 delta
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._backend import array_module, is_gpu_array
from .kernel import CovarianceStats, squared_distances_factored


@dataclass(frozen=True)
class NormMoments:
    """``(S4, v3)`` of some rows about the mean of their ``CovarianceStats``."""

    fourth: float
    third: Any  # (d,) vector

    @classmethod
    def from_data(cls, X: Any, mean: Any, workers: int | None = None) -> NormMoments:
        """The moments of the rows of X about ``mean`` (their own mean)."""
        xp = array_module(X)
        d = X.shape[1]
        if is_gpu_array(X):
            from .._gpu import mahalanobis as gpu  # noqa: PLC0415 - GPU path only

            norms = gpu.squared_distances(X, mean, xp.eye(d), True)
        else:  # the kernel with the identity factor: squared norms without an n x d temporary
            norms = squared_distances_factored(X, mean, np.eye(d), True, workers=workers)
        norms = norms.astype(xp.float64)
        third = norms @ X - float(norms.sum()) * mean
        return cls(float((norms**2).sum()), xp.asarray(third, dtype=xp.float64))

    def shifted(self, stats: CovarianceStats, centre: Any) -> NormMoments:
        """These moments (of the rows ``stats`` describes) about ``centre`` instead."""
        delta = centre - stats.mean
        M2, n = stats.comoment, stats.count
        trace = float(M2.trace())
        dd = float(delta @ delta)
        M2d = M2 @ delta
        fourth = (self.fourth - 4.0 * float(delta @ self.third) + 4.0 * float(delta @ M2d)
                  + 2.0 * dd * trace + n * dd * dd)
        third = self.third - 2.0 * M2d - trace * delta - n * dd * delta
        return NormMoments(fourth, third)


def merge(a: tuple[CovarianceStats, NormMoments],
          b: tuple[CovarianceStats, NormMoments]) -> tuple[CovarianceStats, NormMoments]:
    """The statistics and moments of two disjoint sets of rows taken together."""
    if a[0].count == 0:
        return b
    if b[0].count == 0:
        return a
    stats = a[0] + b[0]
    sa, sb = a[1].shifted(a[0], stats.mean), b[1].shifted(b[0], stats.mean)
    return stats, NormMoments(sa.fourth + sb.fourth, sa.third + sb.third)
