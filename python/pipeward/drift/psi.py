"""Population Stability Index with explicit binning and empty-bin conventions.

PSI = sum over bins of (a - e) * ln(a / e), with e the reference and a the current proportion.
Bins are cut at interior edges with open-ended tails, so every finite or infinite value lands
in a bin; NaNs get one extra bin of their own (a change in missingness is drift too). A
proportion of exactly 0 is replaced by ``eps`` before the formula (Evidently's convention with
its default 1e-4), so PSI is never inf or NaN because a bin is empty.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import _core
from .._backend import Backends, array_module, is_gpu_array
from .._validate import describe, workers_arg
from ._inputs import feature_major, float_sample, sample_array

BINNINGS = ("quantile", "uniform", "evidently")
DEFAULT_EPS = 1e-4


def reference_edges(ref: np.ndarray, bins: Any, binning: str, current: np.ndarray | None = None,
                    ) -> np.ndarray:
    """Interior edges, shape (features, k), for (features, samples) data ``ref``.

    quantile: the reference's ``j/bins`` quantiles (NumPy's linear rule, NaNs ignored);
    uniform: ``bins`` equal-width bins over the reference's finite range; evidently: NumPy's
    Sturges edges over reference and current combined, as Evidently bins numeric columns;
    an array: the same interior edges for every feature.
    """
    F = ref.shape[0]
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool):
        edges = np.asarray(bins, dtype=np.float64)
        if edges.ndim != 1 or edges.size == 0 or np.isnan(edges).any() or np.any(np.diff(edges) < 0):
            raise ValueError(f"bins: explicit edges must be a non-empty, non-decreasing 1-d array "
                             f"without NaN, got {describe(bins)}")
        return np.ascontiguousarray(np.broadcast_to(edges, (F, edges.size)))
    if bins < 1:
        raise ValueError(f"bins must be a positive integer or an array of edges, got {bins}")
    if binning not in BINNINGS:
        raise ValueError(f"binning must be one of {', '.join(BINNINGS)}, got {binning!r}")
    out = np.empty((F, max(int(bins) - 1, 0)), dtype=np.float64)
    if binning == "evidently":
        rows = [_sturges_interior(np.concatenate([ref[f], current[f]])) for f in range(F)]
        width = max(len(r) for r in rows)
        out = np.empty((F, width), dtype=np.float64)
        for f, r in enumerate(rows):  # pad with the top edge: empty bins add nothing
            out[f, : len(r)] = r
            out[f, len(r):] = r[-1] if len(r) else 0.0
        return out
    for f in range(F):
        finite = ref[f][np.isfinite(ref[f])]
        if finite.size == 0:
            out[f] = 0.0  # all-NaN/inf reference: every finite value in one bin
            continue
        if binning == "quantile":
            out[f] = np.quantile(finite.astype(np.float64), np.arange(1, bins) / bins)
        else:
            out[f] = uniform_interior(float(finite.min()), float(finite.max()), int(bins))
    return out


def uniform_interior(lo: float, hi: float, bins: int) -> np.ndarray:
    """``np.linspace(lo, hi, bins + 1)[1:-1]``, also when ``hi - lo`` overflows a double (a
    range wider than DBL_MAX made every edge +inf and so every PSI 0): then the edges are
    computed on ``lo / 2, hi / 2`` and doubled, which is exact for a power of two."""
    if hi / 2 - lo / 2 <= np.finfo(np.float64).max / 2:  # hi - lo is finite
        return np.linspace(lo, hi, bins + 1)[1:-1]
    return 2.0 * np.linspace(lo / 2.0, hi / 2.0, bins + 1)[1:-1]


def _sturges_interior(values: np.ndarray) -> np.ndarray:
    finite = values[np.isfinite(values)].astype(np.float64)
    if finite.size == 0:
        return np.zeros(0)
    return np.histogram_bin_edges(finite, bins="sturges")[1:-1]


def bin_counts(x: np.ndarray, edges: np.ndarray, *, workers: int | None = None) -> np.ndarray:
    """Counts (features, k + 2): bins (-inf, e0), [e0, e1), ..., [e_{k-1}, inf), then NaN
    (the C++ kernel)."""
    return _core.drift_psi_counts(x, edges, workers)


def psi_from_counts(ref_counts: Any, cur_counts: Any, eps: float) -> Any:
    """PSI per feature from bin counts (the last axis is bins); zero proportions become eps.
    NumPy or CuPy counts (the array module of ``cur_counts``); the result is of that kind."""
    xp = array_module(cur_counts)
    e = _proportions(xp, ref_counts, eps)
    a = _proportions(xp, cur_counts, eps)
    return ((a - e) * xp.log(a / e)).sum(axis=-1)


def _proportions(xp: Any, counts: Any, eps: float) -> Any:
    counts = xp.asarray(counts, dtype=xp.float64)
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):  # all-empty rows: NaN, as intended
        p = counts / total
    return xp.where(p == 0, eps, p)


@dataclass
class PsiProfile:
    """A reference histogram: bin edges and counts per feature. Profiles built on partitions of
    the same data with the same edges ``merge`` into exactly the profile of the whole.

    Fitted on a CuPy array, the edges and counts are CuPy arrays: such a profile counts and
    scores CuPy data on the GPU (results are CuPy arrays) and a NumPy-fitted one NumPy data;
    mixing the two is a ``TypeError`` (move a profile explicitly, e.g.
    ``PsiProfile(cupy.asarray(p.edges), cupy.asarray(p.counts), p.eps)``).
    """

    edges: np.ndarray                    # (features, k) interior edges
    counts: np.ndarray                   # (features, k + 2) int64, last column NaN
    eps: float = DEFAULT_EPS
    feature_names: list[str] | None = field(default=None)

    @classmethod
    def fit(cls, reference: Any, *, bins: Any = 10, binning: str = "quantile",
            eps: float = DEFAULT_EPS, axis: int = 0, edges: np.ndarray | None = None,
            backend: str = "auto", workers: int | None = None) -> PsiProfile:
        """Edges (``bins``/``binning``, or the given ``edges``) and counts of ``reference``;
        a CuPy reference keeps both on the device."""
        fit = PROFILE_FIT_BACKENDS.choose(backend, reference)
        ref, _, hidden = _features(reference, axis, "reference")
        if binning == "evidently" and edges is None:
            raise ValueError("binning='evidently' needs the current data: use psi(...) directly")
        edges, counts = fit(ref, bins, binning, edges, workers_arg(workers))
        return cls(edges=edges, counts=_uncount_masked(counts, hidden), eps=check_eps(eps))

    @property
    def _on_gpu(self) -> bool:
        """True when the edges and counts are CuPy arrays (a profile fitted on the GPU)."""
        return is_gpu_array(self.edges)

    def count(self, current: Any, *, axis: int = 0, backend: str = "auto",
              workers: int | None = None) -> np.ndarray:
        """Bin counts of ``current`` with this profile's edges (CuPy in, CuPy out)."""
        counts = COUNT_BACKENDS.choose(backend, current)
        if is_gpu_array(current) != self._on_gpu:
            where = "CuPy" if self._on_gpu else "NumPy"
            raise TypeError(f"this profile was fitted on {where} arrays, got current as a "
                            f"{describe(current)}; pipeward never copies between host and GPU "
                            "silently (move the data or the profile explicitly)")
        cur, _, hidden = _features(current, axis, "current")
        if cur.shape[0] != self.edges.shape[0]:
            raise ValueError(f"current has {cur.shape[0]} features, the profile {self.edges.shape[0]}")
        return _uncount_masked(counts(cur, self.edges, workers_arg(workers)), hidden)

    def psi(self, current: Any, *, axis: int = 0, backend: str = "auto",
            workers: int | None = None) -> np.ndarray:
        """PSI of ``current`` against the profile, per feature (float64; CuPy in, CuPy out)."""
        counts = self.count(current, axis=axis, backend=backend, workers=workers)
        return psi_from_counts(self.counts, counts, self.eps)

    def merge(self, other: PsiProfile) -> PsiProfile:
        """The profile of both partitions together (the edges must be the same)."""
        if self._on_gpu != other._on_gpu:
            raise TypeError("cannot merge a GPU (CuPy) profile with a host (NumPy) one; move "
                            "one of them explicitly")
        same = self.edges.shape == other.edges.shape and bool((self.edges == other.edges).all())
        if not same:
            raise ValueError("profiles with different bin edges cannot be merged; fit the "
                             "partitions with the same `edges=`")
        return PsiProfile(edges=self.edges, counts=self.counts + other.counts, eps=self.eps,
                          feature_names=self.feature_names)

    @property
    def nan_counts(self) -> np.ndarray:
        return self.counts[:, -1]


def is_categorical(x: Any) -> bool:
    """Strings, pandas categoricals and string/object arrays are categorical data."""
    dtype = getattr(x, "dtype", None)
    if dtype is None:
        return False
    if str(dtype) in ("category", "string", "str"):
        return True
    return getattr(dtype, "kind", "") in "OUS"  # pandas extension dtypes have a kind too


def as_categories(x: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    """(values as a str array, mask of missing entries) for a 1-d categorical column."""
    if hasattr(x, "isna"):  # pandas Series / Categorical
        import pandas as pd  # noqa: PLC0415

        missing = np.asarray(pd.isna(x))
        series = pd.Series(x)
        values = series.astype(object).where(~missing, "").astype(str).to_numpy()
        return np.asarray(values, dtype=str), missing
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"{name}: categorical data must be 1-d, got a {describe(arr)}")
    if arr.dtype.kind == "O":
        missing = np.array([v is None or (isinstance(v, float) and np.isnan(v)) for v in arr], bool)
        bad = [type(v).__name__ for v, m in zip(arr, missing) if not m and not isinstance(v, str)]
        if bad:
            raise TypeError(f"{name}: an object array must hold strings (or None) to be "
                            f"categorical; found {bad[0]} values")
        return np.array(["" if m else v for v, m in zip(arr, missing)], dtype=str), missing
    return arr.astype(str), np.zeros(arr.shape, dtype=bool)


def category_counts(categories: np.ndarray, values: np.ndarray, missing: np.ndarray
                    ) -> tuple[np.ndarray, int]:
    """Counts over the sorted reference ``categories``, then one bin per unseen category (in
    sorted order), then missing values; returns the counts and the number of unseen bins."""
    present = values[~missing]
    pos = np.searchsorted(categories, present)
    seen = np.zeros(present.shape, dtype=bool)
    if categories.size:
        inside = pos < categories.size
        seen[inside] = categories[pos[inside]] == present[inside]
    known = np.bincount(pos[seen], minlength=categories.size)
    _, unseen = np.unique(present[~seen], return_counts=True)
    counts = np.concatenate([known, unseen, [missing.sum()]]).astype(np.int64)
    return counts, int(unseen.size)


def categorical_psi(reference: Any, current: Any, eps: float = DEFAULT_EPS) -> float:
    """PSI over the reference's categories; each category unseen in the reference gets its own
    bin (reference proportion 0, so eps), missing values one more bin."""
    ref_values, ref_missing = as_categories(reference, "reference")
    cur_values, cur_missing = as_categories(current, "current")
    categories, counts = np.unique(ref_values[~ref_missing], return_counts=True)
    ref_counts = np.append(counts, ref_missing.sum()).astype(np.int64)
    cur_counts, unseen = category_counts(categories, cur_values, cur_missing)
    ref_full = np.concatenate([ref_counts[:-1], np.zeros(unseen, np.int64), ref_counts[-1:]])
    return float(psi_from_counts(ref_full, cur_counts, check_eps(eps)))


def psi(reference: Any, current: Any, *, bins: Any = 10, binning: str = "quantile",
        eps: float = DEFAULT_EPS, axis: int = 0, backend: str = "auto",
        workers: int | None = None) -> Any:
    """Population Stability Index of ``current`` against ``reference``, per feature.

    ``PSI = sum_b (a_b - e_b) ln(a_b / e_b)`` over bins b, e and a the reference and current
    proportions. ``binning="quantile"`` (default: reference deciles, open-ended tails),
    ``"uniform"`` (equal width over the reference's range, open tails) or ``"evidently"``
    (Sturges bins over both samples, as Evidently does); ``bins`` may also be an array of
    interior edges. Zero proportions become ``eps`` (Evidently's 1e-4 by default), so an empty
    bin never makes PSI infinite. NaNs count in a bin of their own. Returns one float64 per
    feature (a float for 1-d input).

    Categorical data (1-d string arrays, pandas categoricals or string Series) is
    dictionary-encoded on the reference's categories instead of binned; every category unseen
    in the reference gets its own bin, missing values another.
    """
    run = PSI_BACKENDS.choose(backend, reference, current)
    if is_categorical(reference) or is_categorical(current):
        return categorical_psi(reference, current, eps)
    ref, feature_shape, hidden_ref = _features(reference, axis, "reference")
    cur, _, hidden_cur = _features(current, axis, "current")
    if ref.shape[0] != cur.shape[0]:
        raise ValueError(f"reference and current must have the same features, got "
                         f"{ref.shape[0]} and {cur.shape[0]}")
    value = run(ref, cur, bins, binning, eps, workers, (hidden_ref, hidden_cur))
    if feature_shape == ():  # a float, or a 0-d CuPy array (never read back silently)
        return value.reshape(()) if is_gpu_array(value) else float(value[0])
    return value.reshape(feature_shape)


# ---- the three implementations of each operation: feature-major (F, n) views in ------------

Hidden = tuple[np.ndarray | None, np.ndarray | None]  # masked entries per feature, or None


def _uncount_masked(counts: Any, hidden: np.ndarray | None) -> Any:
    """Counts less the masked entries, which the views hold as NaN: masked values are not data."""
    if hidden is not None:
        counts[:, -1] -= hidden
    return counts


def _counts_cpu(x: np.ndarray, edges: np.ndarray, workers: int | None) -> np.ndarray:
    return bin_counts(x, edges, workers=workers)


def _counts_reference(x: np.ndarray, edges: np.ndarray, workers: int | None) -> np.ndarray:
    from ..reference.drift import psi_counts  # noqa: PLC0415

    return psi_counts(x, edges)


def _counts_cuda(x: Any, edges: Any, workers: int | None) -> Any:
    from .._gpu import drift as gpu  # noqa: PLC0415 - GPU path only: cuda/drift.cu

    return gpu.psi_counts(x, edges)


# Bin counts (features, k + 2) of data with given edges: PsiProfile.count.
COUNT_BACKENDS = Backends(cpu=_counts_cpu, cuda=_counts_cuda, reference=_counts_reference)


def _fit_host(ref: np.ndarray, bins: Any, binning: str, edges: Any, workers: int | None,
              counts: Any) -> tuple[np.ndarray, np.ndarray]:
    if is_gpu_array(edges):
        raise TypeError("edges: a CuPy array was given for NumPy reference data; pass "
                        "host edges (pipeward never copies between host and GPU silently)")
    if edges is None:
        edges = reference_edges(ref, bins, binning)
    return edges, counts(ref, edges, workers)


def _fit_cpu(ref: np.ndarray, bins: Any, binning: str, edges: Any, workers: int | None,
             ) -> tuple[np.ndarray, np.ndarray]:
    return _fit_host(ref, bins, binning, edges, workers, _counts_cpu)


def _fit_reference(ref: np.ndarray, bins: Any, binning: str, edges: Any, workers: int | None,
                   ) -> tuple[np.ndarray, np.ndarray]:
    return _fit_host(ref, bins, binning, edges, workers, _counts_reference)


def _fit_cuda(ref: Any, bins: Any, binning: str, edges: Any, workers: int | None,
              ) -> tuple[Any, Any]:
    from .._backend import cupy  # noqa: PLC0415
    from .._gpu import drift as gpu  # noqa: PLC0415 - GPU path only: cuda/drift.cu

    cp = cupy()
    edges = (gpu.edges(ref, bins, binning) if edges is None  # given edges: sent up
             else cp.ascontiguousarray(cp.asarray(edges, dtype=cp.float64)))
    return edges, gpu.psi_counts(ref, edges)


# A profile's (edges, counts), kept where the reference is: PsiProfile.fit.
PROFILE_FIT_BACKENDS = Backends(cpu=_fit_cpu, cuda=_fit_cuda, reference=_fit_reference)


def _psi_host(ref: np.ndarray, cur: np.ndarray, bins: Any, binning: str, eps: float,
              workers: int | None, hidden: Hidden, counts: Any) -> np.ndarray:
    edges = reference_edges(ref, bins, binning, cur)
    w = workers_arg(workers)
    return psi_from_counts(_uncount_masked(counts(ref, edges, w), hidden[0]),
                           _uncount_masked(counts(cur, edges, w), hidden[1]), check_eps(eps))


def _psi_cpu(ref: np.ndarray, cur: np.ndarray, bins: Any, binning: str, eps: float,
             workers: int | None, hidden: Hidden) -> np.ndarray:
    return _psi_host(ref, cur, bins, binning, eps, workers, hidden, _counts_cpu)


def _psi_reference(ref: np.ndarray, cur: np.ndarray, bins: Any, binning: str, eps: float,
                   workers: int | None, hidden: Hidden) -> np.ndarray:
    return _psi_host(ref, cur, bins, binning, eps, workers, hidden, _counts_reference)


def _psi_cuda(ref: Any, cur: Any, bins: Any, binning: str, eps: float,
              workers: int | None, hidden: Hidden) -> Any:
    from .._gpu import drift as gpu  # noqa: PLC0415 - GPU path only: cuda/drift.cu

    return gpu.psi(ref, cur, bins, binning, check_eps(eps))


# PSI per feature of current against reference: pw.psi.
PSI_BACKENDS = Backends(cpu=_psi_cpu, cuda=_psi_cuda, reference=_psi_reference)


def _features(x: Any, axis: int, name: str) -> tuple[Any, tuple[int, ...], np.ndarray | None]:
    """(features, samples) view, feature shape, masked entries per feature (or None). Host
    data is read as scipy reads it (pandas, lists, masked arrays, ints and bools as float64);
    CuPy data must be float32/float64. An empty sample is an error (in feature_major)."""
    if is_gpu_array(x):
        view, shape = feature_major(sample_array(x, name), axis, name)
        return view, shape, None
    return float_sample(x, name, axis)


def check_eps(eps: float) -> float:
    if not (isinstance(eps, (float, int)) and 0 < eps < 1):
        raise ValueError(f"eps must be a number in (0, 1), got {eps!r}")
    return float(eps)
