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


# --- bucket cells and their zoom (``_core.drift_bucket_*``, ``drift_zoom_*``) -------------

def bucket_position(values: np.ndarray, lo: float, scale: float, buckets: int,
                    eps_bits: int) -> np.ndarray:
    """A value's position under a bucket map: (x - lo) * scale clamped to [0, buckets - 1],
    x the value widened to float64 or, with eps_bits >= 0, its order-preserving symmetric log
    (how far |v|'s IEEE bits lie above eps_bits, signed like v). NaN is not a value here."""
    v = np.asarray(values).astype(np.float64)
    if eps_bits >= 0:
        bits = v.view(np.int64)
        magnitude = bits & np.int64(np.iinfo(np.int64).max)
        x = np.where(magnitude > eps_bits, magnitude - eps_bits, 0).astype(np.float64)
        v = np.where(bits < 0, -x, x)
    with np.errstate(invalid="ignore", over="ignore"):
        t = (v - lo) * scale
    t = np.where(t > 0.0, t, 0.0)
    return np.where(t < buckets - 1, t, float(buckets - 1))


def bucket_of(values: np.ndarray, lo: float, scale: float, buckets: int,
              eps_bits: int) -> np.ndarray:
    """A value's bucket: the integer part of its position."""
    return bucket_position(values, lo, scale, buckets, eps_bits).astype(np.int64)


def bucket_counts(x: np.ndarray, lo: np.ndarray, scale: np.ndarray, eps_bits: np.ndarray,
                  buckets: int) -> np.ndarray:
    """(F, buckets + 1): each feature row's values counted into its map's buckets, NaN last."""
    out = np.zeros((x.shape[0], buckets + 1), dtype=np.int64)
    for f in range(x.shape[0]):
        row = x[f].astype(np.float64)
        nan = np.isnan(row)
        out[f, :buckets] = np.bincount(bucket_of(row[~nan], lo[f], scale[f], buckets,
                                                 int(eps_bits[f])), minlength=buckets)
        out[f, buckets] = nan.sum()
    return out


def _ordered(key: np.ndarray) -> np.ndarray:
    """Doubles from their order-preserving int64 keys (-0.0 and +0.0 both key 0)."""
    bits = np.where(key >= 0, key, (-key) | np.int64(np.iinfo(np.int64).min))
    return bits.astype(np.int64).view(np.float64)


def _smallest_reaching(reached, n: int) -> np.ndarray:
    """For n monotone predicates over the doubles (reached(v) -> bool array of n): the
    smallest double each holds for, by bisection over the doubles in order."""
    inf_key = np.int64(np.float64(np.inf).view(np.int64))
    lo = np.full(n, -inf_key, dtype=np.int64)  # -inf: not reached (checked by the caller)
    hi = np.full(n, inf_key, dtype=np.int64)
    while True:
        gap = hi.astype(np.uint64) - lo.astype(np.uint64)
        busy = gap > 1
        if not busy.any():
            return _ordered(hi)
        mid = lo + (gap // 2).astype(np.int64)
        ok = reached(_ordered(mid))
        hi = np.where(busy & ok, mid, hi)
        lo = np.where(busy & ~ok, mid, lo)


def bucket_edges(lo: np.ndarray, scale: np.ndarray, eps_bits: np.ndarray,
                 buckets: int) -> np.ndarray:
    """(F, buckets - 1): the smallest double of buckets 1 .. buckets - 1 of each map, so that a
    value's bucket is the number of edges at or below it."""
    k = np.arange(1, buckets)
    out = np.empty((lo.size, buckets - 1))
    for f in range(lo.size):
        out[f] = _smallest_reaching(
            lambda v, f=f: bucket_of(v, lo[f], scale[f], buckets, int(eps_bits[f])) >= k,
            buckets - 1)
    return out


def sub_bucket(t: np.ndarray, k: np.ndarray, bits: int) -> np.ndarray:
    """The sub-bucket of position t inside its bucket k: the first ``bits`` bits of t - k."""
    return np.clip(((t - k) * 2.0 ** bits).astype(np.int64), 0, 2**bits - 1)


def zoomed_cell(values: np.ndarray, lo: float, scale: float, buckets: int, eps_bits: int,
                base: np.ndarray, bits: int) -> np.ndarray:
    """Each (non-NaN) value's zoomed cell, -1 where its bucket is not zoomed (base[k] < 0): its
    bucket's first zoomed cell plus its sub-bucket."""
    t = bucket_position(values, lo, scale, buckets, eps_bits)
    k = t.astype(np.int64)
    return np.where(base[k] >= 0, base[k] + sub_bucket(t, k, bits), -1)


def zoom_pass(x: np.ndarray, lo: np.ndarray, scale: np.ndarray, eps_bits: np.ndarray,
              buckets: int, zoom_base: np.ndarray, bits: int, zoom_cells: int,
              wanted: np.ndarray | None = None) -> tuple:
    """(counts (F, zoom_cells), values of the wanted cells per feature in data order,
    concatenated, and how many each feature gave)."""
    counts = np.zeros((x.shape[0], zoom_cells), dtype=np.int64)
    out, sizes = [], []
    for f in range(x.shape[0]):
        row = x[f][~np.isnan(x[f])]
        cell = zoomed_cell(row, lo[f], scale[f], buckets, int(eps_bits[f]), zoom_base[f], bits)
        counts[f] = np.bincount(cell[cell >= 0], minlength=zoom_cells)
        if wanted is not None:
            pick = row[(cell >= 0) & (wanted[f][np.maximum(cell, 0)] != 0)]
            out.append(pick)
            sizes.append(pick.size)
    values = np.concatenate(out).astype(x.dtype) if out else np.zeros(0, dtype=x.dtype)
    return counts, values, np.array(sizes, dtype=np.int64)


def zoom_edges(lo: np.ndarray, scale: np.ndarray, eps_bits: np.ndarray, buckets: int,
               bits: int, feature: np.ndarray, bucket: np.ndarray, sub: np.ndarray
               ) -> np.ndarray:
    """The smallest double in or above sub-bucket sub of bucket bucket (per query), -inf where
    every double is."""
    out = np.empty(feature.size)
    for f in np.unique(feature):
        q = np.flatnonzero(feature == f)
        k, s = bucket[q], sub[q]

        def reached(v, f=int(f), k=k, s=s):
            t = bucket_position(v, lo[f], scale[f], buckets, int(eps_bits[f]))
            kv = t.astype(np.int64)
            return (kv > k) | ((kv == k) & (sub_bucket(t, kv, bits) >= s))

        edge = _smallest_reaching(reached, q.size)
        out[q] = np.where(reached(np.full(q.size, -np.inf)), -np.inf, edge)
    return out
