"""Reference for the value-cell kernels (``_core.drift_cell_counts`` / ``drift_cell_values``)
that pipeward.dask uses for exact distributed order statistics: the readable spec."""

from __future__ import annotations

import numpy as np


def cell_of(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """The cell of each non-NaN value: the number of edges <= it, so cells are
    (-inf, e0), [e0, e1), ..., [e_{m-1}, inf)."""
    return np.searchsorted(edges, values.astype(np.float64), side="right")


def cell_counts(x: np.ndarray, edges: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For (features, samples) x and (features, m) edges: counts (F, m + 2), the last column
    NaN; and each cell's smallest and largest value (F, m + 1), +inf / -inf when empty."""
    F, m = edges.shape
    counts = np.zeros((F, m + 2), dtype=np.int64)
    lo = np.full((F, m + 1), np.inf)
    hi = np.full((F, m + 1), -np.inf)
    for f in range(F):
        row = x[f].astype(np.float64)
        nan = np.isnan(row)
        counts[f, m + 1] = nan.sum()
        values = row[~nan]
        cells = cell_of(values, edges[f])
        counts[f, : m + 1] = np.bincount(cells, minlength=m + 1)
        np.minimum.at(lo[f], cells, values)
        np.maximum.at(hi[f], cells, values)
    return counts, lo, hi


def cell_values(x: np.ndarray, edges: np.ndarray, wanted: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """The values of the cells flagged in ``wanted`` (F, m + 1), per feature in data order,
    concatenated, and how many each feature gave."""
    out, sizes = [], []
    for f in range(edges.shape[0]):
        row = x[f]
        row = row[~np.isnan(row)]
        pick = row[wanted[f, cell_of(row, edges[f])].astype(bool)]
        out.append(pick)
        sizes.append(pick.size)
    return np.concatenate(out).astype(x.dtype), np.array(sizes, dtype=np.int64)
