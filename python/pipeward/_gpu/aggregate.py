"""Launchers for ``cuda/aggregate.cu``: the aggregate kernels on K device rows, read in place.

Each function takes the K client rows of one layer (1-d C-contiguous CuPy arrays of one float
dtype and length, on the current device) and returns ``(result, status)`` like its
``_core.aggregate_*`` counterpart: status 0, or 1 when some value was NaN or infinite.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _backend
from . import module

_THREADS = 256
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _row_table(rows: Sequence[Any]) -> tuple[Any, str, int]:
    """(device table of the rows' addresses, dtype suffix, P); only the table moves."""
    cp = _backend.cupy()
    device = cp.cuda.Device().id
    first = rows[0]
    suffix = _SUFFIX.get(np.dtype(first.dtype))
    if suffix is None:
        raise TypeError(f"rows[0]: expected float32 or float64, got {first.dtype}")
    p = first.shape[0]
    addresses = np.empty(len(rows), dtype=np.uint64)
    for i, r in enumerate(rows):
        if r.ndim != 1 or r.shape[0] != p or r.dtype != first.dtype or not r.flags.c_contiguous:
            raise ValueError(f"rows[{i}]: expected a C-contiguous {first.dtype} vector of {p} "
                             f"values like rows[0], got {r.dtype} of shape {r.shape}")
        if r.device.id != device:
            raise ValueError(f"rows[{i}]: on device {r.device.id}, the current device is "
                             f"{device}")
        addresses[i] = r.data.ptr
    return cp.asarray(addresses), suffix, p


def weighted_mean(rows: Sequence[Any], weights: np.ndarray | None) -> tuple[Any, int]:
    """sum_i w_i rows[i] / sum_i w_i (float64 sums; all w_i = 1 without weights)."""
    cp = _backend.cupy()
    table, suffix, p = _row_table(rows)
    w = np.ones(len(rows)) if weights is None else np.asarray(weights, dtype=np.float64)
    out = cp.empty(p, dtype=rows[0].dtype)
    bad = cp.zeros(1, dtype=cp.int32)
    module.launch("aggregate", f"aggregate_weighted_mean_{suffix}", module.blocks_for(p, _THREADS),
                  _THREADS, (table, np.int64(len(rows)), np.int64(p), cp.asarray(w),
                             np.float64(1.0 / w.sum()), out, bad))
    return out, int(bad[0])


def rank_mean(rows: Sequence[Any], lo: int, hi: int) -> tuple[Any, int]:
    """Per coordinate, the mean of the values ranked [lo, hi) among the rows."""
    cp = _backend.cupy()
    if not 0 <= lo < hi <= len(rows):
        raise ValueError(f"ranks: expected 0 <= lo < hi <= {len(rows)}, got lo={lo}, hi={hi}")
    table, suffix, p = _row_table(rows)
    out = cp.empty(p, dtype=rows[0].dtype)
    bad = cp.zeros(1, dtype=cp.int32)
    module.launch("aggregate", f"aggregate_rank_mean_{suffix}", module.blocks_for(p, _THREADS),
                  _THREADS, (table, np.int64(len(rows)), np.int64(p), np.int64(lo), np.int64(hi),
                             out, bad))
    return out, int(bad[0])


def pairwise_sq_distances(rows: Sequence[Any]) -> tuple[np.ndarray, int]:
    """K x K squared distances between the rows, float64, copied to the host (Krum's scoring
    and selection are K x K work)."""
    cp = _backend.cupy()
    table, suffix, p = _row_table(rows)
    k = len(rows)
    out = cp.zeros((k, k), dtype=cp.float64)
    bad = cp.zeros(1, dtype=cp.int32)
    if k > 1:
        module.launch("aggregate", f"aggregate_pairwise_sq_distances_{suffix}", (k, k), _THREADS,
                      (table, np.int64(k), np.int64(p), out, bad))
    return cp.asnumpy(out), int(bad[0])
