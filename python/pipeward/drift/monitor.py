"""``DriftMonitor``: fit a reference once, then check many current windows against it."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .. import _core
from .._backend import array_module, is_gpu_array
from .._validate import describe, workers_arg
from ._inputs import array_backend, sorted_rows
from .corrections import CORRECTIONS, adjust_pvalues
from .ks import ALTERNATIVES, METHODS, package_result, warn_fallbacks
from .psi import (DEFAULT_EPS, as_categories, bin_counts, category_counts, psi_from_counts,
                  reference_edges)
from .report import DriftReport

TESTS = ("ks", "psi")
_FORMAT = "pipeward-drift-profile/1"


class DriftMonitor:
    """A fitted reference profile and the drift checks against it.

    Fitting sorts every numeric reference column once (for KS), fixes the PSI bin edges and
    the reference bin counts, and dictionary-encodes categorical columns (strings, pandas
    categoricals): each ``check(current)`` then costs one sort and a linear merge per numeric
    feature plus one histogram pass. Numeric features get KS (``nan_policy="omit"``, scipy's
    numbers) and PSI; categorical ones PSI only, with every category unseen in the reference
    given its own bin. A feature drifted when its ``correction``-adjusted KS p-value is below
    ``alpha`` or its PSI is at least ``psi_threshold``.

    Accepts a 2-d NumPy array (rows, features), a 1-d array (one feature) or a pandas
    DataFrame (its column names become the feature names; integer and boolean columns are
    tested as float64). The profile saves to a ``.npz`` file without pickle (``save``/``load``).

    Fitted on a CuPy array, the profile (sorted reference, bin edges and counts) stays on the
    GPU and ``check`` takes CuPy windows: sorting, KS, bin counting and PSI run on the device
    and only the per-feature results (a few numbers per feature) come back, so the
    :class:`DriftReport` is host data as always. ``save`` reads a GPU profile back to write
    it; ``load`` gives a host monitor.
    """

    def __init__(self, reference: Any, *, feature_names: list[str] | None = None,
                 tests: tuple[str, ...] = TESTS, alpha: float = 0.05, correction: str = "holm",
                 psi_threshold: float = 0.2, bins: Any = 10, binning: str = "quantile",
                 eps: float = DEFAULT_EPS, method: str = "auto", workers: int | None = None):
        tests = check_settings(tests, alpha, correction, psi_threshold, binning, method)
        self.tests, self.alpha, self.correction = tests, float(alpha), correction
        self.psi_threshold, self.eps, self.method = float(psi_threshold), float(eps), method
        self.workers = workers_arg(workers)
        self._bucket_cache: dict[int, tuple] = {}  # see _reference_buckets
        names, kinds, numeric, categorical = _split_columns(reference, feature_names, "reference")
        self.feature_names, self.kind = names, kinds
        self.n_reference = _n_rows(numeric, categorical)
        if self.n_reference < 1:
            raise ValueError("reference: expected at least one row")
        if numeric is not None and is_gpu_array(numeric):
            self._fit_gpu(numeric, bins, binning)
        elif numeric is not None:
            view = np.ascontiguousarray(numeric.T)
            self._sorted = sorted_rows(view, self.workers)
            self._sorted_counts = np.count_nonzero(~np.isnan(self._sorted), axis=1).astype(np.int64)
            self._check_counts()
            self._edges = reference_edges(view, bins, binning)
            self._ref_counts = bin_counts(view, self._edges, workers=self.workers)
        else:
            self._sorted = np.empty((0, 0))
            self._sorted_counts = np.empty(0, dtype=np.int64)
            self._edges = np.empty((0, 0))
            self._ref_counts = np.empty((0, 2), dtype=np.int64)
        self._categories: list[np.ndarray] = []
        self._cat_counts: list[np.ndarray] = []
        for col in categorical or []:
            values, missing = as_categories(col, "reference")
            cats, counts = np.unique(values[~missing], return_counts=True)
            self._categories.append(cats)
            self._cat_counts.append(np.append(counts, missing.sum()).astype(np.int64))

    def _fit_gpu(self, numeric: Any, bins: Any, binning: str) -> None:
        """The reference profile on the device: sorted rows, edges and bin counts stay there;
        the per-feature non-NaN counts (one number per feature) come back."""
        from .._gpu import drift as gpu  # noqa: PLC0415 - GPU path only

        view = numeric.T
        self._sorted = gpu.sort_features(view)  # C-contiguous (F, n), NaNs last
        not_nan = ~array_module(numeric).isnan(self._sorted)
        self._sorted_counts = not_nan.sum(axis=1).get().astype(np.int64)
        self._check_counts()
        self._edges = gpu.edges(view, bins, binning, sorted_ref=self._sorted)
        self._ref_counts = gpu.psi_counts(view, self._edges)

    def _check_counts(self) -> None:
        if np.any(self._sorted_counts == 0):
            bad = [self.feature_names[i] for i in self._numeric_index()[self._sorted_counts == 0]]
            raise ValueError(f"reference: numeric features with no non-NaN value: {bad}")

    @property
    def _on_gpu(self) -> bool:
        return is_gpu_array(self._sorted)

    def _reference_buckets(self, n2: int) -> tuple:
        """The sorted reference's bucket maps and run ends for windows of ``n2`` rows: computed
        on the first such window and kept, so later checks read only the window."""
        cache = self._bucket_cache
        if n2 not in cache:
            if len(cache) >= 4:  # windows of many sizes: keep the latest few
                cache.pop(next(iter(cache)))
            cache[n2] = _core.drift_ks_reference_buckets(self._sorted, n2, self.workers)
        return cache[n2]

    # -- checking ------------------------------------------------------------------------

    def check(self, current: Any, *, audit: Any = None) -> DriftReport:
        """Test ``current`` (same columns as the reference) against the fitted reference.

        With ``audit=`` (a :class:`pipeward.AuditLog`) the verdict per feature is recorded
        (``monitor.drift``), with the KS p-values and PSI values where every feature has one.
        """
        if is_gpu_array(current) != self._on_gpu:
            raise TypeError(f"this monitor was fitted on {'CuPy' if self._on_gpu else 'host'} "
                            f"data, got current as a {describe(current)}; pass the same kind "
                            "(pipeward never copies between host and GPU silently)")
        names, kinds, numeric, categorical = _split_columns(
            current, self.feature_names if not _is_frame(current) else None, "current")
        if kinds != self.kind or (_is_frame(current) and names != self.feature_names):
            raise ValueError(f"current has features {names} ({kinds}); the reference has "
                             f"{self.feature_names} ({self.kind})")
        if _n_rows(numeric, categorical) < 1:
            raise ValueError("current: expected at least one row")
        F = len(names)
        ks_stat = np.full(F, np.nan)
        ks_p = np.full(F, np.nan)
        psi = np.full(F, np.nan)
        nan_ref = np.zeros(F, dtype=np.int64)
        nan_cur = np.zeros(F, dtype=np.int64)
        num_idx, cat_idx = self._numeric_index(), self._categorical_index()
        if numeric is not None:
            if numeric.dtype != self._sorted.dtype:
                if not _is_frame(current):
                    raise TypeError(f"current is {numeric.dtype}, the reference "
                                    f"{self._sorted.dtype}: pass the same dtype (no silent casts)")
                numeric = numeric.astype(self._sorted.dtype)  # frame columns: documented rule
            view = numeric.T
            nan_ref[num_idx] = self._sorted.shape[1] - self._sorted_counts
            if self._on_gpu:
                ks_stat[num_idx], ks_p[num_idx], psi[num_idx], nan_cur[num_idx] = \
                    self._check_gpu(view)
            elif "ks" in self.tests:
                # The sorted reference is merged with the window as it is when it is large
                # (the bucketed statistic), or with a sorted copy of it.
                presort = not _core.drift_ks_bucketed(self._sorted.shape[1], view.shape[1])
                out = _core.drift_ks_2samp(self._sorted,
                                           sorted_rows(view, self.workers) if presort else view,
                                           ALTERNATIVES.index("two-sided"),
                                           METHODS.index(self.method), True, self.workers,
                                           x1_sorted=True, x2_sorted=presort,
                                           x1_buckets=None if presort else
                                           self._reference_buckets(view.shape[1]))
                res = package_result(out, (len(num_idx),))
                ks_stat[num_idx], ks_p[num_idx] = res.statistic, res.pvalue
                nan_cur[num_idx] = view.shape[1] - res.n2
            if "psi" in self.tests and not self._on_gpu:
                cur_counts = bin_counts(view, self._edges, workers=self.workers)
                psi[num_idx] = psi_from_counts(self._ref_counts, cur_counts, self.eps)
                nan_cur[num_idx] = cur_counts[:, -1]
        for j, col in enumerate(categorical or []):
            i = cat_idx[j]
            ref_counts, cur_counts = self._categorical_counts(j, col)
            nan_ref[i], nan_cur[i] = ref_counts[-1], cur_counts[-1]
            if "psi" in self.tests:
                psi[i] = psi_from_counts(ref_counts, cur_counts, self.eps)
        adjusted, drifted = verdicts(self, ks_p, psi)
        report = DriftReport(feature_names=list(names), kind=list(kinds), ks_statistic=ks_stat,
                             ks_pvalue=ks_p, ks_pvalue_adjusted=adjusted, psi=psi,
                             nan_reference=nan_ref, nan_current=nan_cur, drifted=drifted,
                             alpha=self.alpha, correction=self.correction,
                             psi_threshold=self.psi_threshold, tests=self.tests)
        if audit is not None:
            _record(audit, report)
        return report

    def _check_gpu(self, view: Any) -> tuple[np.ndarray, ...]:
        """KS and PSI of the (F, n) CuPy view on the device; only the per-feature results
        (statistic, p-value, PSI, NaN count: a few numbers per feature) come back, at once."""
        from .._gpu import drift as gpu  # noqa: PLC0415 - GPU path only

        cp = array_module(view)
        F, n = view.shape
        wanted = []
        if "ks" in self.tests:
            out = gpu.ks_2samp_sorted(self._sorted, gpu.sort_features(view),
                                      ALTERNATIVES.index("two-sided"), METHODS.index(self.method),
                                      True)
            wanted += [out[0], out[1], out[5], out[6]]  # statistic, pvalue, n2, status
        if "psi" in self.tests:
            cur_counts = gpu.psi_counts(view, self._edges)
            wanted += [gpu.psi_from_counts(self._ref_counts, cur_counts, self.eps),
                       cur_counts[:, -1]]
        host = cp.stack([w.astype(cp.float64) for w in wanted]).get()  # one small transfer
        stat = p = value = np.full(F, np.nan)
        nan_cur = np.zeros(F, dtype=np.int64)
        if "ks" in self.tests:
            stat, p, n2, status = host[0], host[1], host[2].astype(np.int64), host[3]
            warn_fallbacks(status.astype(np.int32), self._sorted_counts, n2)
            nan_cur = n - n2
        if "psi" in self.tests:
            value, nan_cur = host[-2], host[-1].astype(np.int64)
        return stat, p, value, nan_cur

    def _categorical_counts(self, j: int, col: Any) -> tuple[np.ndarray, np.ndarray]:
        """Reference and current counts over the reference categories, then one bin per
        unseen category, then missing values."""
        ref = self._cat_counts[j]
        values, missing = as_categories(col, self.feature_names[self._categorical_index()[j]])
        cur, unseen = category_counts(self._categories[j], values, missing)
        return np.concatenate([ref[:-1], np.zeros(unseen, np.int64), ref[-1:]]), cur

    def _numeric_index(self) -> np.ndarray:
        return np.array([i for i, k in enumerate(self.kind) if k == "numeric"], dtype=np.intp)

    def _categorical_index(self) -> np.ndarray:
        return np.array([i for i, k in enumerate(self.kind) if k == "categorical"], dtype=np.intp)

    # -- persistence ---------------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write the fitted profile to a ``.npz`` file (plain arrays and JSON; no pickle)."""
        settings = {"format": _FORMAT, "tests": list(self.tests), "alpha": self.alpha,
                    "correction": self.correction, "psi_threshold": self.psi_threshold,
                    "eps": self.eps, "method": self.method, "n_reference": self.n_reference}
        def host(a: Any) -> np.ndarray:  # a file is host data: a GPU profile is read back here
            return a.get() if is_gpu_array(a) else a

        arrays = {
            "settings": np.array(json.dumps(settings)),
            "feature_names": np.array(self.feature_names, dtype=str),
            "kind": np.array(self.kind, dtype=str),
            "sorted": host(self._sorted), "sorted_counts": self._sorted_counts,
            "edges": host(self._edges), "ref_counts": host(self._ref_counts),
        }
        for j, (cats, counts) in enumerate(zip(self._categories, self._cat_counts)):
            arrays[f"categories_{j}"] = cats.astype(str)
            arrays[f"category_counts_{j}"] = counts
        with open(path, "wb") as fh:
            np.savez_compressed(fh, **arrays)

    @classmethod
    def load(cls, path: str | os.PathLike, *, workers: int | None = None) -> DriftMonitor:
        """Read a profile written by :meth:`save` (``allow_pickle=False``)."""
        with np.load(path, allow_pickle=False) as z:
            settings = json.loads(str(z["settings"]))
            if settings.get("format") != _FORMAT:
                raise ValueError(f"{path}: not a pipeward drift profile ({settings.get('format')!r})")
            self = cls.__new__(cls)
            self.tests = tuple(settings["tests"])
            self.alpha, self.correction = settings["alpha"], settings["correction"]
            self.psi_threshold, self.eps = settings["psi_threshold"], settings["eps"]
            self.method, self.n_reference = settings["method"], settings["n_reference"]
            self.workers = workers_arg(workers)
            self._bucket_cache = {}
            self.feature_names = [str(s) for s in z["feature_names"]]
            self.kind = [str(s) for s in z["kind"]]
            self._sorted = np.ascontiguousarray(z["sorted"])
            self._sorted_counts = np.ascontiguousarray(z["sorted_counts"])
            self._edges = np.ascontiguousarray(z["edges"])
            self._ref_counts = z["ref_counts"]
            n_cat = self.kind.count("categorical")
            self._categories = [z[f"categories_{j}"] for j in range(n_cat)]
            self._cat_counts = [z[f"category_counts_{j}"] for j in range(n_cat)]
        return self


def verdicts(monitor: Any, ks_p: np.ndarray, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(adjusted KS p-values, drifted flags) under a monitor's tests, alpha, correction and
    PSI threshold."""
    adjusted = adjust_pvalues(ks_p, monitor.correction)
    drifted = np.zeros(ks_p.shape[0], dtype=bool)
    with np.errstate(invalid="ignore"):
        if "ks" in monitor.tests:
            drifted |= adjusted < monitor.alpha
        if "psi" in monitor.tests:
            drifted |= psi >= monitor.psi_threshold
    return adjusted, drifted


def check_settings(tests: Any, alpha: float, correction: str, psi_threshold: float,
                   binning: str, method: str) -> tuple[str, ...]:
    """The monitor's settings checked (ValueError saying what is allowed); the tests as a tuple."""
    tests = tuple(tests)
    if not tests or any(t not in TESTS for t in tests):
        raise ValueError(f"tests must be a non-empty subset of {TESTS}, got {tests!r}")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if not psi_threshold > 0:
        raise ValueError(f"psi_threshold must be positive, got {psi_threshold!r}")
    if binning == "evidently":
        raise ValueError("binning='evidently' depends on the current data; a monitor fixes "
                         "its edges on the reference: use 'quantile', 'uniform' or edges")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return tests


# -- input splitting ------------------------------------------------------------------------

def _is_frame(x: Any) -> bool:
    return hasattr(x, "columns") and hasattr(x, "dtypes") and hasattr(x, "iloc")


def _n_rows(numeric: np.ndarray | None, categorical: list | None) -> int:
    if numeric is not None:
        return numeric.shape[0]
    return len(categorical[0]) if categorical else 0


def _split_columns(data: Any, feature_names: list[str] | None, name: str):
    """(names, kinds, numeric (rows, n_numeric) or None, list of categorical columns)."""
    if _is_frame(data):
        names = [str(c) for c in data.columns]
        kinds, numeric_cols, categorical = [], [], []
        for c in data.columns:
            col = data[c]
            kind = col.dtype.kind
            if kind in "fiub":
                kinds.append("numeric")
                as_f32 = kind == "f" and col.dtype.itemsize == 4
                numeric_cols.append(col.to_numpy(dtype=np.float32 if as_f32 else np.float64,
                                                 na_value=np.nan))  # nullable ints: NA -> NaN
            elif str(col.dtype) in ("category", "string", "str") or kind in "OUS":
                kinds.append("categorical")
                categorical.append(col)
            else:
                raise TypeError(f"{name}: column {c!r} has dtype {col.dtype}; expected numeric, "
                                "string or categorical")
        if numeric_cols:
            dtype = np.float32 if all(a.dtype == np.float32 for a in numeric_cols) else np.float64
            numeric = np.stack([a.astype(dtype, copy=False) for a in numeric_cols], axis=1)
        else:
            numeric = None
        return names, kinds, numeric, categorical or None
    if is_gpu_array(data):
        array_backend("auto", data)  # a clear error without CuPy or a device
    arr = data if hasattr(data, "dtype") else np.asarray(data)
    if arr.dtype.kind in "OUS":
        raise TypeError(f"{name}: got a {describe(arr)}; pass categorical columns in a pandas "
                        "DataFrame (strings or categoricals), numeric data as float32/float64")
    if arr.dtype not in (np.float32, np.float64):
        raise TypeError(f"{name}: expected a float32 or float64 array (or a DataFrame), got a "
                        f"{describe(arr)}")
    if arr.ndim == 1:
        arr = arr[:, None]
    if arr.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d (rows, features) array, got a {describe(arr)}")
    F = arr.shape[1]
    if F == 0:
        raise ValueError(f"{name}: expected at least one feature, got a {describe(arr)}")
    names = list(feature_names) if feature_names is not None else [f"f{i}" for i in range(F)]
    if len(names) != F:
        raise ValueError(f"{name}: {F} features but {len(names)} feature names")
    return [str(n) for n in names], ["numeric"] * F, arr, None


def _record(audit: Any, report: DriftReport, job: dict[str, Any] | None = None) -> None:
    """Write one ``monitor.drift`` record: per-feature verdicts, and the numbers that exist
    for every feature (categorical features have no KS p-value); ``job``: a distributed
    job's facts (pipeward.dask)."""
    from ..audit.records import record_drift_check  # noqa: PLC0415 - audit is optional here

    names = [str(n) for n in report.feature_names]

    def complete(values: np.ndarray) -> dict[str, float] | None:
        return dict(zip(names, map(float, values))) if np.isfinite(values).all() else None

    record_drift_check(audit, verdicts=dict(zip(names, map(bool, report.drifted))),
                       statistics=complete(report.psi) if "psi" in report.tests else None,
                       pvalues=complete(report.ks_pvalue_adjusted) if "ks" in report.tests else None,
                       test="+".join(report.tests), alpha=report.alpha, job=job)
