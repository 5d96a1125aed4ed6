"""Launchers for ``cuda/drift.cu``: batched KS and PSI on CuPy arrays.

KS: each feature is sorted (radix sorts of order-preserving keys, NaNs last), one block per
feature finds the ECDF gap extremes and their first location, and the asymptotic p-value is
computed on the device. Exact
p-values (``method="exact"``, or ``"auto"`` with both samples <= ``_core.drift_ks_max_auto_n``) and the few asymptotic
ones that need Durbin's matrix (n <= 140, or a tiny n*D^2) are computed on the host from the
device statistics: only those features' (D, n1, n2) are read back, never the data.
PSI: bin counts against fitted interior edges with shared-memory counters, (features, k + 2)
with the NaN count last, exactly the CPU kernel's layout; the edges are fitted on the device
(quantile, uniform) or, for Sturges' ``"evidently"`` bins, from 3 numbers per feature read back.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .. import _backend, _core
from . import module

_THREADS = 256
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}
_STATUS = _core.KsStatus  # pipeward/drift.hpp, shared with cuda/drift.cu
_INT32_MAX = 2**31 - 1


def _suffix(x: Any) -> str:
    try:
        return _SUFFIX[np.dtype(x.dtype)]
    except KeyError:
        raise TypeError(f"expected a float32 or float64 CuPy array, got {x.dtype}") from None


def _sms(cp: Any) -> int:
    return int(cp.cuda.Device().attributes["MultiProcessorCount"])


def ks_2samp(v1: Any, v2: Any, alternative: int, method: int,
             omit_nan: bool) -> _core.KsArrays:
    """Batched ks_2samp over feature-major CuPy views ``(F, n1)`` and ``(F, n2)``.

    ``alternative`` and ``method`` are ``_core.KsAlternative`` / ``_core.KsMethod`` (or their
    ints). Returns ``_core.KsArrays`` of CuPy arrays, as the CPU kernel
    (``_core.drift_ks_2samp``) does.
    """
    if v1.dtype != v2.dtype:
        raise TypeError(f"data1 and data2 must share a dtype, got {v1.dtype} and {v2.dtype}")
    _suffix(v1)
    # sorted C-contiguous device copies, NaNs last
    return ks_2samp_sorted(sort_features(v1), sort_features(v2), alternative, method, omit_nan)


def ks_2samp_sorted(s1: Any, s2: Any, alternative: int, method: int,
                    omit_nan: bool) -> _core.KsArrays:
    """:func:`ks_2samp` on rows already sorted by :func:`sort_features` (C-contiguous, NaNs
    last): a fitted reference is sorted once and tested against many windows."""
    cp = _backend.cupy()
    if s1.dtype != s2.dtype:
        raise TypeError(f"data1 and data2 must share a dtype, got {s1.dtype} and {s2.dtype}")
    if not (s1.flags.c_contiguous and s2.flags.c_contiguous):
        raise ValueError("ks_2samp_sorted needs C-contiguous sorted rows (sort_features)")
    suffix = _suffix(s1)
    n_features, n1 = s1.shape
    n2 = s2.shape[1]
    stat = cp.empty(n_features, dtype=cp.float64)
    pvalue = cp.empty_like(stat)
    location = cp.empty_like(stat)
    sign = cp.empty_like(stat)
    used1 = cp.empty(n_features, dtype=cp.int64)
    used2 = cp.empty_like(used1)
    status = cp.empty(n_features, dtype=cp.int32)
    if n_features:
        module.launch("drift", f"drift_ks_2samp_sorted_{suffix}", min(n_features, 65535),
                      _THREADS, (s1, np.int64(n1), s2, np.int64(n2), np.int64(n_features),
                                 np.int32(int(alternative)), np.int32(int(method)),
                                 np.int32(omit_nan),
                                 stat, pvalue, location, sign, used1, used2, status))
        _host_pvalues(stat, pvalue, used1, used2, status, alternative, method)
    return _core.KsArrays(statistic=stat, pvalue=pvalue, location=location, sign=sign, n1=used1,
                          n2=used2, status=status)


def sort_features(v: Any) -> Any:
    """Each row of a (F, n) CuPy array sorted ascending with NaNs last, as a C-contiguous copy.

    ``cupy.sort(v, axis=1)`` is a comparison merge sort over (row, value) pairs; radix sorts of
    unsigned keys are several times faster, so values become order-preserving integer keys
    (sign flipped for positives, all bits for negatives, NaN the largest key). float32: one sort
    of 64-bit keys ``row << 32 | key``, decoded in place. float64: two stable radix argsorts,
    by value key then by row (least significant first), and one gather.
    """
    cp = _backend.cupy()
    n_features, n = v.shape
    if v.dtype == cp.float32:
        bits = cp.ascontiguousarray(v).view(cp.uint32)
        key = cp.where((bits >> cp.uint32(31)) == 1, ~bits, bits | cp.uint32(0x80000000))
        key = cp.where(cp.isnan(v), cp.uint32(0xFFFFFFFF), key).astype(cp.uint64)
        rows = cp.arange(n_features, dtype=cp.uint64)[:, None] << cp.uint64(32)
        full = cp.sort((rows | key).ravel())
        k32 = (full & cp.uint64(0xFFFFFFFF)).astype(cp.uint32)
        bits = cp.where((k32 >> cp.uint32(31)) == 1, k32 & cp.uint32(0x7FFFFFFF), ~k32)
        return bits.view(cp.float32).reshape(n_features, n)
    x = cp.ascontiguousarray(v)
    bits = x.view(cp.uint64)
    key = cp.where((bits >> cp.uint64(63)) == 1, ~bits, bits | cp.uint64(1 << 63))
    key = cp.where(cp.isnan(x), cp.uint64(2**64 - 1), key)
    order = cp.argsort(key.ravel(), kind="stable")
    order = order[cp.argsort((order // n).astype(cp.int32), kind="stable")]
    return x.ravel()[order].reshape(n_features, n)


def _host_pvalues(stat: Any, pvalue: Any, used1: Any, used2: Any, status: Any,
                  alternative: int, method: int) -> None:
    """Fill the p-values the device left to the host (exact ones, Durbin-matrix regions)."""
    cp = _backend.cupy()
    need = status >= int(_STATUS.host_exact)
    if not bool(need.any()):  # one flag read
        return
    idx = cp.flatnonzero(need)
    d_all, a_all, b_all, st_all = (x[idx].get() for x in (stat, used1, used2, status))
    new_d, new_p, new_st = d_all.copy(), np.empty_like(d_all), np.zeros_like(st_all)
    for t, (d, n1, n2, st) in enumerate(zip(d_all, a_all.tolist(), b_all.tolist(), st_all)):
        code = _STATUS.ok
        if st == int(_STATUS.host_exact):
            g = math.gcd(n1, n2)
            if int(method) == int(_core.KsMethod.exact) and n1 // g >= _INT32_MAX / (n2 // g):
                code, p = _STATUS.lcm_too_large, None
            else:
                lcm = (n1 // g) * n2
                h = int(np.round(d * lcm))
                d = h / lcm
                if h == 0:
                    p = 1.0
                else:
                    ok, p = _core.drift_ks_exact_pvalue(n1, n2, h, alternative)
                    if not ok:
                        code, p = _STATUS.exact_failed, None
            if p is None:
                p = _core.drift_ks_asymp_pvalue(n1, n2, d, alternative)
        else:
            p = _core.drift_ks_asymp_pvalue(n1, n2, d, alternative)
        new_d[t], new_p[t], new_st[t] = d, min(max(p, 0.0), 1.0), int(code)
    stat[idx] = cp.asarray(new_d)
    pvalue[idx] = cp.asarray(new_p)
    status[idx] = cp.asarray(new_st)


def psi_counts(x: Any, edges: Any) -> Any:
    """Counts ``(F, k + 2)`` int64 of feature-major CuPy ``x`` ``(F, n)`` in the bins cut at
    ``edges`` ``(F, k)`` (interior edges, float64): bins (-inf, e0), [e0, e1), ...,
    [e_{k-1}, inf), then NaN."""
    cp = _backend.cupy()
    suffix = _suffix(x)
    n_features, n = x.shape
    edges = cp.asarray(edges, dtype=cp.float64)  # a few numbers per feature; host edges go up
    if edges.ndim != 2 or edges.shape[0] != n_features:
        raise ValueError(f"edges: expected shape ({n_features}, k), got {edges.shape}")
    k = edges.shape[1]
    counts = cp.zeros((n_features, k + 2), dtype=cp.uint64)
    if n_features == 0 or n == 0:
        return counts.view(cp.int64)
    item = x.dtype.itemsize
    fstride, sstride = x.strides[0] // item, x.strides[1] // item
    estride = edges.strides[0] // 8 if n_features > 1 else k
    if edges.strides[1] != 8 and k > 1:
        edges = cp.ascontiguousarray(edges)
        estride = k
    sms = _sms(cp)
    by_row = abs(fstride) < abs(sstride) and n_features > 1
    smem = (32 * k * 8 + 32 * (k + 2) * 4) if by_row else (k * 8 + (k + 2) * 4)
    if smem > 48 * 1024:  # the shared-memory counters and edges must fit in one block
        raise ValueError(f"psi on the GPU supports up to {(48 * 1024) // (12 * (32 if by_row else 1))} "
                         f"interior edges per feature in this layout, got {k}")
    args = (x, np.int64(n_features), np.int64(n), np.int64(fstride), np.int64(sstride), edges,
            np.int64(k), np.int64(estride))
    if by_row:
        tiles = -(-n_features // 32)
        slices = max(1, min(-(-n // 1024), (8 * sms) // tiles + 1))
        module.launch("drift", f"drift_psi_counts_by_row_{suffix}", min(tiles * slices, 1 << 20),
                      _THREADS, (*args, np.int64(slices), counts), shared_mem=smem)
    else:
        slices = max(1, min(-(-n // 4096), (8 * sms) // n_features + 1))
        module.launch("drift", f"drift_psi_counts_by_feature_{suffix}",
                      min(n_features * slices, 1 << 20), _THREADS,
                      (*args, np.int64(slices), counts), shared_mem=smem)
    return counts.view(cp.int64)


def quantile_edges(x: Any, bins: int) -> Any:
    """Interior edges ``(F, bins - 1)``: the ``j/bins`` quantiles of each feature's finite
    values with NumPy's linear rule (the CPU path's ``binning="quantile"``), on the device."""
    return quantile_edges_sorted(sort_features(x), bins)


def quantile_edges_sorted(s: Any, bins: int) -> Any:
    """:func:`quantile_edges` of rows already sorted by :func:`sort_features`."""
    cp = _backend.cupy()
    s = s.astype(cp.float64, copy=False)  # -inf first, then finite, inf, NaN
    finite = cp.isfinite(s)
    lo = (s == -cp.inf).sum(axis=1)
    cnt = finite.sum(axis=1)
    q = (cp.arange(1, bins, dtype=cp.float64) / bins)[None, :]
    n = cnt[:, None].astype(cp.float64)
    pos = (n - 1) * q  # NumPy's virtual index for method="linear"
    below = cp.clip(cp.floor(pos), 0, None).astype(cp.int64)
    top = cp.maximum(cnt - 1, 0)[:, None]
    below = cp.minimum(below, top)
    above = cp.minimum(below + 1, top)
    t = pos - below
    rows = cp.arange(s.shape[0])[:, None]
    start = lo[:, None]
    a = s[rows, cp.minimum(start + below, s.shape[1] - 1)]
    b = s[rows, cp.minimum(start + above, s.shape[1] - 1)]
    # NumPy's _lerp: a + (b - a) t, or b - (b - a)(1 - t) for t >= 1/2.
    diff = b - a
    edges = cp.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return cp.where(cnt[:, None] > 0, edges, 0.0)


def uniform_edges(x: Any, bins: int) -> Any:
    """Interior edges of ``bins`` equal-width bins over each feature's finite range."""
    cp = _backend.cupy()
    x64 = x.astype(cp.float64, copy=False)
    finite = cp.isfinite(x64)
    lo = cp.where(finite, x64, cp.inf).min(axis=1)
    hi = cp.where(finite, x64, -cp.inf).max(axis=1)
    some = finite.any(axis=1)  # rows without a finite value get edges 0, as on the CPU
    lo, hi = cp.where(some, lo, 0.0), cp.where(some, hi, 0.0)
    # np.linspace(lo, hi, bins + 1)[1:-1] = j * step + lo with step = (hi - lo) / bins; a range
    # wider than DBL_MAX is halved first and the edges doubled (as drift.psi.uniform_interior)
    fits = hi / 2 - lo / 2 <= np.finfo(np.float64).max / 2  # hi - lo is finite
    scale = cp.where(fits, 1.0, 2.0)
    lo, hi = lo / scale, hi / scale
    step = (hi - lo) / bins
    edges = cp.arange(1, bins, dtype=cp.float64)[None, :] * step[:, None] + lo[:, None]
    return edges * scale[:, None]


def _finite_range(x: Any) -> tuple[Any, Any, Any]:
    """Per-row (min, max, count) of the finite values of a (F, n) CuPy array (float64)."""
    cp = _backend.cupy()
    finite = cp.isfinite(x)
    lo = cp.where(finite, x, cp.inf).min(axis=1).astype(cp.float64)
    hi = cp.where(finite, x, -cp.inf).max(axis=1).astype(cp.float64)
    return lo, hi, finite.sum(axis=1)


def evidently_edges(ref: Any, cur: Any) -> Any:
    """Interior edges of ``binning="evidently"``: NumPy's Sturges edges
    (``np.histogram_bin_edges(values, "sturges")``) over each feature's finite reference and
    current values together, rows padded with their top edge to the widest (the CPU rule).

    The data stays on the device: each feature's finite (min, max, count) is reduced there
    and only those 3 numbers per feature come back; the edges are then computed with NumPy's
    own formulas on the host (so the bin count, a ceil of a ratio, is NumPy's exactly) and
    sent up, (F, k) float64.
    """
    cp = _backend.cupy()
    lo1, hi1, n1 = _finite_range(ref)
    lo2, hi2, n2 = _finite_range(cur)
    summary = cp.stack([cp.minimum(lo1, lo2), cp.maximum(hi1, hi2),
                        (n1 + n2).astype(cp.float64)]).get()  # 3 x F numbers, deliberately
    rows = [_sturges_interior(float(lo), float(hi), int(n)) for lo, hi, n in summary.T]
    width = max((len(r) for r in rows), default=0)
    out = np.empty((len(rows), width), dtype=np.float64)
    for f, r in enumerate(rows):  # pad with the top edge: empty bins add nothing
        out[f, :len(r)] = r
        out[f, len(r):] = r[-1] if len(r) else 0.0
    return cp.asarray(out)


def _sturges_interior(lo: float, hi: float, count: int) -> np.ndarray:
    """``np.histogram_bin_edges(v, "sturges")[1:-1]`` from v's min, max and size alone
    (NumPy 2's _get_outer_edges, _hist_bin_sturges and linspace, step for step)."""
    if count == 0:
        return np.zeros(0)
    lo64, hi64 = np.float64(lo), np.float64(hi)
    first, last = (lo64 - 0.5, hi64 + 0.5) if lo64 == hi64 else (lo64, hi64)
    width = (hi64 - lo64) / (np.log2(count) + 1.0)
    n_bins = int(np.ceil((last - first) / width)) if width else 1
    full = np.linspace(first, last, n_bins + 1)
    if np.any(full[:-1] >= full[1:]):  # NumPy's own refusal (a range below float resolution)
        raise ValueError(f"Too many bins for data range. Cannot create {n_bins} finite-sized bins.")
    return full[1:-1]


def edges(ref: Any, bins: Any, binning: str, cur: Any = None, sorted_ref: Any = None) -> Any:
    """Interior edges ``(F, k)`` float64 on the device, as the CPU path fits them: reference
    quantiles, equal widths over the reference's finite range, Sturges edges over reference
    and current (``"evidently"``, needs ``cur``), or the given interior edges (an array of
    host numbers, sent up). ``sorted_ref`` (rows of :func:`sort_features`) saves a sort."""
    cp = _backend.cupy()
    n_features = ref.shape[0]
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool):
        given = bins.get() if _backend.is_gpu_array(bins) else bins
        e = np.asarray(given, dtype=np.float64)  # user-given edges: a few numbers
        if e.ndim != 1 or e.size == 0 or np.isnan(e).any() or np.any(np.diff(e) < 0):
            raise ValueError("bins: explicit edges must be a non-empty, non-decreasing 1-d array "
                             f"without NaN, got shape {e.shape}")
        return cp.ascontiguousarray(cp.broadcast_to(cp.asarray(e), (n_features, e.size)))
    if bins < 1:
        raise ValueError(f"bins must be a positive integer or an array of edges, got {bins}")
    if binning == "quantile":
        return (quantile_edges(ref, int(bins)) if sorted_ref is None
                else quantile_edges_sorted(sorted_ref, int(bins)))
    if binning == "uniform":
        return uniform_edges(ref, int(bins))
    if binning == "evidently":
        if cur is None:
            raise ValueError("binning='evidently' needs the current data")
        return evidently_edges(ref, cur)
    raise ValueError(f"binning must be one of quantile, uniform, evidently, got {binning!r}")


def psi(ref: Any, cur: Any, bins: Any, binning: str, eps: float) -> Any:
    """``pw.psi`` on feature-major CuPy views ``(F, n_ref)``, ``(F, n_cur)``: (F,) float64,
    with the edges of :func:`edges`."""
    e = edges(ref, bins, binning, cur)
    from ..drift.psi import psi_from_counts  # noqa: PLC0415 - written once for both kinds

    return psi_from_counts(psi_counts(ref, e), psi_counts(cur, e), eps)
