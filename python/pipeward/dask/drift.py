"""Drift on Dask: ``ks_2samp``, ``psi`` and ``DriftMonitor`` over partitioned data, with the
one-machine results: KS statistics and locations bit-identical to scipy's on the
concatenated data, p-values from the same C++ code as ``pw.ks_2samp``, PSI from histograms
merged over partitions with the reference's own edges."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

import numpy as np
from dask.delayed import Delayed, delayed

from .. import _core
from ..drift.ks import (ALTERNATIVES, METHODS, Alternative, KsResult, Method, NanPolicy,
                        check_options, package_result)
from ..drift.monitor import TESTS, _record, check_decision, verdicts
from ..drift.psi import DEFAULT_EPS, check_eps, psi_from_counts, reference_edges
from ..drift.report import DriftReport
from ._exact import ks_extremes, order_statistics
from ._inputs import Table, table
from ._job import Job, shared, tree

__all__ = ["DriftMonitor", "ks_2samp", "psi"]


def ks_2samp(data1: Any, data2: Any, alternative: Alternative = "two-sided",
             method: Method = "auto", *, axis: int = 0, nan_policy: NanPolicy = "propagate",
             client: Any = None) -> KsResult:
    """``pw.ks_2samp`` on Dask arrays or DataFrames (samples along axis 0, one test per
    column), computed on the workers of ``client`` (default: the active
    ``distributed.Client``; without one, Dask's local scheduler).

    The statistic, its location and sign are bit-identical to ``scipy.stats.ks_2samp`` on the
    concatenated data, and the p-values are ``pw.ks_2samp``'s (the same C++ code), NaN
    handling included. Only per-cell counts and the few values that can hold the extremes
    reach the client (see docs/scale.md).
    """
    _check_ks_args(alternative, method, nan_policy, axis)
    t1, t2 = _pair(data1, data2)
    job = Job("ks_2samp", client)
    job.read(t1.parts + t2.parts)
    return _ks(job, t1, t2, alternative, method, nan_policy)


def _ks(job: Job, t1: Table, t2: Table, alternative: str, method: str, nan_policy: str
        ) -> KsResult:
    return _ks_with_nans(job, t1, t2, alternative, method, nan_policy)[0]


def _ks_with_nans(job: Job, t1: Table, t2: Table, alternative: str, method: str,
                  nan_policy: str, psi_edges2: np.ndarray | None = None,
                  names: tuple[str, str] = ("data1", "data2")
                  ) -> tuple[KsResult, np.ndarray, np.ndarray | None]:
    """The KS result, the NaN count of each feature of the second sample and, with
    ``psi_edges2``, its PSI bin counts (taken by the first KS count pass)."""
    ext = ks_extremes(job, t1.parts, t2.parts, t1.n_features, nan_policy, psi_edges2, names)
    out = KsArrays(*_core.drift_ks_from_stats(
        ext.dplus, ext.dminus, ext.loc_plus, ext.loc_minus, ext.n1, ext.n2, ext.status,
        ALTERNATIVES.index(alternative), METHODS.index(method)))
    result = package_result(out, () if t1.one_d else (t1.n_features,), t1.dtype)
    return result, ext.nan2, ext.psi_counts2


class KsArrays(NamedTuple):
    """drift_ks_2samp's per-feature arrays, by name and in order."""

    statistic: np.ndarray
    pvalue: np.ndarray
    location: np.ndarray
    sign: np.ndarray
    n1: np.ndarray
    n2: np.ndarray
    status: np.ndarray


def _check_ks_args(alternative: str, method: str, nan_policy: str, axis: int) -> None:
    check_options(alternative, method, nan_policy)
    if axis != 0:
        raise ValueError(f"pipeward.dask takes samples along axis 0 (rows of partitions), got "
                         f"axis={axis}")


def _pair(data1: Any, data2: Any, names: tuple[str, str] = ("data1", "data2")
          ) -> tuple[Table, Table]:
    t1, t2 = table(data1, names[0]), table(data2, names[1])
    if t1.dtype != t2.dtype:
        raise TypeError(f"{names[0]} and {names[1]} must share a dtype (no silent casts), got "
                        f"{t1.dtype} and {t2.dtype}")
    if t1.n_features != t2.n_features or t1.one_d != t2.one_d:
        raise ValueError(f"{names[0]} and {names[1]} must have the same features, got "
                         f"{t1.n_features} and {t2.n_features}")
    return t1, t2


# --- PSI -----------------------------------------------------------------------------------

def psi(reference: Any, current: Any, *, bins: Any = 10, binning: str = "quantile",
        eps: float = DEFAULT_EPS, axis: int = 0, client: Any = None) -> Any:
    """``pw.psi`` on Dask arrays or DataFrames: the reference's edges (its exact quantiles,
    NumPy's linear rule, for ``binning="quantile"``; its finite range for ``"uniform"``; or
    the given edges), then bin counts merged over partitions. ``binning="evidently"`` depends
    on both samples' Sturges bins and is not offered here."""
    if axis != 0:
        raise ValueError(f"pipeward.dask takes samples along axis 0, got axis={axis}")
    eps = check_eps(eps)
    ref, cur = _pair(reference, current, ("reference", "current"))
    job = Job("psi", client)
    job.read(ref.parts + cur.parts)
    edges = fit_edges(job, ref, bins, binning)
    ref_counts, cur_counts = bin_counts(job, [ref.parts, cur.parts], edges)
    value = psi_from_counts(ref_counts, cur_counts, eps)
    return float(value[0]) if ref.one_d else value


def fit_edges(job: Job, ref: Table, bins: Any, binning: str) -> np.ndarray:
    """The interior edges (F, k) ``pw.psi`` would use for the concatenated reference."""
    F = ref.n_features
    if not isinstance(bins, (int, np.integer)) or isinstance(bins, bool):
        return reference_edges(np.empty((F, 0)), bins, binning)  # checks explicit edges
    if bins < 1:
        raise ValueError(f"bins must be a positive integer or an array of edges, got {bins}")
    if binning not in ("quantile", "uniform"):
        raise ValueError(f"binning must be 'quantile' or 'uniform' on Dask (or pass edges), "
                         f"got {binning!r}")
    (stats,) = job.compute(tree([delayed(_finite_stats, pure=True)(p) for p in ref.parts],
                                _merge_finite))
    n_finite, n_neg_inf, lo, hi = stats
    out = np.zeros((F, int(bins) - 1))
    if binning == "uniform":
        for f in range(F):
            if n_finite[f]:
                out[f] = np.linspace(float(lo[f]), float(hi[f]), int(bins) + 1)[1:-1]
        return out
    q = np.arange(1, bins) / bins
    ranks, plans = [], []
    for f in range(F):
        nf = int(n_finite[f])
        if nf == 0:
            ranks.append(np.zeros(0, np.int64))
            plans.append(None)
            continue
        virtual = (nf - 1) * q                           # NumPy's linear rule, op for op
        prev = np.floor(virtual)
        above = virtual >= nf - 1
        prev_i = np.where(above, nf - 1, prev).astype(np.int64)
        next_i = np.where(above, nf - 1, prev + 1).astype(np.int64)
        gamma = virtual - np.where(above, -1.0, prev)
        # Ranks among the non-NaN values: the -inf values come first.
        ranks.append(np.concatenate([prev_i, next_i]) + int(n_neg_inf[f]))
        plans.append(gamma)
    values = order_statistics(job, ref.parts, ranks) if any(r.size for r in ranks) else []
    for f, gamma in enumerate(plans):
        if gamma is None:
            continue
        k = gamma.size
        a, b = values[f][:k].astype(np.float64), values[f][k:].astype(np.float64)
        out[f] = _lerp(a, b, gamma)
    return out


def _lerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """NumPy's quantile interpolation, the same operations in the same order."""
    diff = b - a
    out = a + diff * t
    np.subtract(b, diff * (1 - t), out=out, where=t >= 0.5)
    return out


def _finite_stats(block: np.ndarray) -> tuple[np.ndarray, ...]:
    finite = np.isfinite(block)
    big = np.where(finite, block, -np.inf).max(axis=0, initial=-np.inf)
    small = np.where(finite, block, np.inf).min(axis=0, initial=np.inf)
    return (finite.sum(axis=0).astype(np.int64), (block == -np.inf).sum(axis=0).astype(np.int64),
            small.astype(np.float64), big.astype(np.float64))


def _merge_finite(parts: list[tuple[np.ndarray, ...]]) -> tuple[np.ndarray, ...]:
    return (sum(p[0] for p in parts), sum(p[1] for p in parts),
            np.min([p[2] for p in parts], axis=0), np.max([p[3] for p in parts], axis=0))


def _psi_counts(block: np.ndarray, edges: np.ndarray) -> np.ndarray:
    return _core.drift_psi_counts(block.T, edges, 1)


def _sum(parts: list[np.ndarray]) -> np.ndarray:
    return np.sum(parts, axis=0)


def bin_counts(job: Job, samples: Sequence[Sequence[Delayed]], edges: np.ndarray
               ) -> tuple[np.ndarray, ...]:
    """PSI bin counts (features, k + 2) of each sample with the given edges, in one pass."""
    e = shared(edges)
    return job.compute(*(tree([delayed(_psi_counts, pure=True)(p, e) for p in parts], _sum)
                         for parts in samples))


# --- the monitor ---------------------------------------------------------------------------

class DriftMonitor:
    """``pw.DriftMonitor`` with a Dask reference: ``check(current)`` on Dask data returns the
    same :class:`pw.DriftReport` as the one-machine monitor on the concatenated data.

    Fitting computes the PSI edges and reference counts (one job); the reference itself stays
    where it is (a Dask collection: persist it for repeated checks) and every check merges
    its cells with the window's. Numeric columns only: a DataFrame with string or categorical
    columns is a ``TypeError`` (encode them first).
    """

    def __init__(self, reference: Any, *, feature_names: list[str] | None = None,
                 tests: tuple[str, ...] = TESTS, alpha: float = 0.05, correction: str = "holm",
                 psi_threshold: float = 0.2, bins: Any = 10, binning: str = "quantile",
                 eps: float = DEFAULT_EPS, method: str = "auto", client: Any = None):
        if binning == "evidently":
            raise ValueError("binning='evidently' depends on the current data; a monitor fixes "
                             "its edges on the reference: use 'quantile', 'uniform' or edges")
        (self.tests, self.alpha, self.correction, self.psi_threshold, self.eps,
         self.method) = check_decision(tests, alpha, correction, psi_threshold, eps, method)
        self.client = client
        self._ref = table(reference, "reference")
        F = self._ref.n_features
        names = self._ref.names or (list(feature_names) if feature_names is not None
                                    else [f"f{i}" for i in range(F)])
        if len(names) != F:
            raise ValueError(f"reference: {F} features but {len(names)} feature names")
        self.feature_names = [str(n) for n in names]
        job = Job("drift.fit", client)
        job.read(self._ref.parts)
        self._edges = fit_edges(job, self._ref, bins, binning)
        (self._ref_counts,) = bin_counts(job, [self._ref.parts], self._edges)
        self.n_reference = int(self._ref_counts[0].sum())
        if self.n_reference < 1:
            raise ValueError("reference: expected at least one row")
        empty = self._ref_counts[:, :-1].sum(axis=1) == 0
        if empty.any():
            bad = [self.feature_names[i] for i in np.flatnonzero(empty)]
            raise ValueError(f"reference: numeric features with no non-NaN value: {bad}")

    def check(self, current: Any, *, audit: Any = None) -> DriftReport:
        """Test ``current`` (same columns and dtype as the reference) against it; with
        ``audit=`` one ``monitor.drift`` record for the whole job (its partitions included)."""
        cur = table(current, "current")
        if cur.n_features != self._ref.n_features or (
                cur.names is not None and cur.names != self.feature_names):
            raise ValueError(f"current has {cur.names or cur.n_features} features; the "
                             f"reference has {self.feature_names}")
        if cur.dtype != self._ref.dtype:
            raise TypeError(f"current is {cur.dtype}, the reference {self._ref.dtype}: pass "
                            "the same dtype (no silent casts)")
        job = Job("drift.check", self.client)
        job.read(self._ref.parts + cur.parts)
        F = cur.n_features
        ks_stat = ks_p = psi_values = np.full(F, np.nan)
        nan_cur = np.zeros(F, dtype=np.int64)
        cur_counts = None
        if "ks" in self.tests:
            # The first KS count pass over the window takes its PSI bins too: one read fewer.
            res, nan_cur, cur_counts = _ks_with_nans(
                job, self._ref, cur, "two-sided", self.method, "omit",
                self._edges if "psi" in self.tests else None, ("reference", "current"))
            ks_stat, ks_p = np.asarray(res.statistic), np.asarray(res.pvalue)
        if "psi" in self.tests:
            if cur_counts is None:
                (cur_counts,) = bin_counts(job, [cur.parts], self._edges)
            if cur_counts[0].sum() < 1:
                raise ValueError("current: expected at least one row")
            psi_values = psi_from_counts(self._ref_counts, cur_counts, self.eps)
            nan_cur = cur_counts[:, -1].astype(np.int64)
        adjusted, drifted = verdicts(self, ks_p, psi_values)
        report = DriftReport(feature_names=list(self.feature_names), kind=["numeric"] * F,
                             ks_statistic=ks_stat, ks_pvalue=ks_p, ks_pvalue_adjusted=adjusted,
                             psi=psi_values, nan_reference=self._ref_counts[:, -1].copy(),
                             nan_current=nan_cur, drifted=drifted, alpha=self.alpha,
                             correction=self.correction, psi_threshold=self.psi_threshold,
                             tests=self.tests)
        if audit is not None:
            _record(audit, report, job=job.stats.as_record())
        return report
