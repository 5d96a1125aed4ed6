"""``DriftMonitor``: fit a reference once, then check many current windows against it."""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from .. import _core
from .._backend import array_module, choose_backend, is_gpu_array
from .._logging import logged
from .._npfile import load_npz
from .._validate import describe, frame_columns, is_table, workers_arg
from ._inputs import sorted_rows
from .columns import ColumnRules, match_columns
from .corrections import CORRECTIONS, adjust_pvalues
from .ks import METHODS, kernel_alternative, kernel_method, package_result, warn_fallbacks
from .psi import (DEFAULT_EPS, as_categories, bin_counts, category_counts, check_eps,
                  psi_from_counts, reference_edges)
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

    Accepts a 2-d NumPy array (rows, features), a 1-d array (one feature), a pandas
    DataFrame or a mapping of column name -> 1-d column (the names become the feature
    names; integer and boolean columns are tested as float64). The profile saves to a
    ``.npz`` file without pickle (``save``/``load``).

    Tables are matched by column name, whatever the order of the columns in ``check``.
    ``columns`` chooses the columns to test (default: all); ``exclude``, ``target`` and
    ``timestamp`` keep columns out by name; datetime columns are kept out with a note, or
    tested as seconds since the epoch with ``datetimes="numbers"``. What was kept out, and
    why, is in ``excluded`` and in every report. A current table missing a tested column,
    or (without ``columns``) holding one the reference did not, is a ``ValueError`` that
    names those columns.

    Fitted on a CuPy array, the profile (sorted reference, bin edges and counts) stays on the
    GPU and ``check`` takes CuPy windows: sorting, KS, bin counting and PSI run on the device
    and only the per-feature results (a few numbers per feature) come back, so the
    :class:`DriftReport` is host data as always. ``save`` reads a GPU profile back to write
    it; ``load`` gives a host monitor.
    """

    def __init__(self, reference: Any, *, feature_names: list[str] | None = None,
                 columns: list[str] | None = None, exclude: list[str] | None = None,
                 target: str | None = None, timestamp: str | None = None,
                 datetimes: str = "exclude", tests: tuple[str, ...] = TESTS, alpha: float = 0.05, correction: str = "holm",
                 psi_threshold: float = 0.2, bins: Any = 10, binning: str = "quantile",
                 eps: float = DEFAULT_EPS, method: str = "auto", workers: int | None = None):
        if binning == "evidently":
            raise ValueError("binning='evidently' depends on the current data; a monitor fixes "
                             "its edges on the reference: use 'quantile', 'uniform' or edges")
        self._set_decision(tests=tests, alpha=alpha, correction=correction,
                           psi_threshold=psi_threshold, eps=eps, method=method)
        self.workers = workers_arg(workers)
        self._bucket_cache: dict[int, tuple] = {}  # see _reference_buckets
        self.columns = ColumnRules.make(columns, exclude, target, timestamp, datetimes)
        self.excluded: dict[str, str] = {}
        if is_table(reference):
            reference, self.excluded = self.columns.select(reference, "reference")
        elif not self.columns.is_default():
            raise ValueError("columns=, exclude=, target=, timestamp= and datetimes= choose "
                             "columns of a table by name: pass a DataFrame or a mapping of "
                             f"columns, got a {describe(reference)}")
        names, kinds, numeric, categorical = _split_columns(reference, feature_names, "reference")
        self.feature_names, self.kind = names, kinds
        self._check_coverage()
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

    def _set_decision(self, *, tests: Any, alpha: Any, correction: Any, psi_threshold: Any,
                      eps: Any, method: Any) -> None:
        """Check and set what turns statistics into a verdict: the one place these are checked,
        whether they come from the caller, a saved profile or both (a value that is not
        checked could make the gate say "no drift" whatever the data)."""
        (self.tests, self.alpha, self.correction, self.psi_threshold, self.eps,
         self.method) = check_decision(tests, alpha, correction, psi_threshold, eps, method)

    def _check_coverage(self) -> None:
        """Every feature must be tested by one of ``tests``: KS does not apply to categorical
        features, and an untested feature would always read "no drift"."""
        if "psi" not in self.tests and "categorical" in self.kind:
            cats = [n for n, k in zip(self.feature_names, self.kind) if k == "categorical"]
            raise ValueError(f"tests={self.tests!r} cannot test the categorical features {cats} "
                             "(KS needs numbers): add 'psi'")

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

    @logged("pipeward.drift", "drift check",
            lambda r: f"{int(r.drifted.sum())} of {r.drifted.size} features drifted")
    def check(self, current: Any, *, audit: Any = None) -> DriftReport:
        """Test ``current`` (same columns as the reference) against the fitted reference.

        With ``audit=`` (a :class:`pipeward.AuditLog`) the verdict per feature is recorded
        (``monitor.drift``), with the KS p-values and PSI values where every feature has one.
        """
        if is_gpu_array(current) != self._on_gpu:
            raise TypeError(f"this monitor was fitted on {'CuPy' if self._on_gpu else 'host'} "
                            f"data, got current as a {describe(current)}; pass the same kind "
                            "(pipeward never copies between host and GPU silently)")
        table = is_table(current)
        if table:
            chosen, _ = self.columns.select(current, "current")
            current = match_columns(chosen, self.feature_names, "current",
                                    exact=self.columns.columns is None)
        names, kinds, numeric, categorical = _split_columns(
            current, self.feature_names if not table else None, "current")
        if kinds != self.kind or (table and names != self.feature_names):
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
                if not table:
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
                                           kernel_alternative("two-sided"),
                                           kernel_method(self.method), True, self.workers,
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
                             psi_threshold=self.psi_threshold, tests=self.tests,
                             excluded=dict(self.excluded))
        if audit is not None:
            _record(audit, report)
        return report

    def watch_fairness(self, limits: dict[str, float], *, window: int = 10) -> Any:
        """Also watch fairness as labels arrive: the group disparities of
        :func:`pipeward.fairness.assess` over the last ``window`` labelled batches, against
        ``limits``; feed batches with :meth:`check_fairness`. Returns the
        :class:`pipeward.accountability.FairnessMonitor` (kept as ``fairness_monitor``; not
        saved with the profile)."""
        from ..accountability.fairness_monitor import FairnessMonitor  # noqa: PLC0415

        self.fairness_monitor = FairnessMonitor(limits, window=window)
        return self.fairness_monitor

    def check_fairness(self, y_true: Any, y_pred: Any, sensitive_features: Any, *,
                       audit: Any = None) -> Any:
        """One labelled batch into the fairness window (see :meth:`watch_fairness`); returns the
        window's assessment with its alerts (``.alerts``, ``.crossed``)."""
        monitor = getattr(self, "fairness_monitor", None)
        if monitor is None:
            raise ValueError("call watch_fairness(limits) before check_fairness")
        return monitor.update(y_true, y_pred, sensitive_features, audit=audit)

    def _check_gpu(self, view: Any) -> tuple[np.ndarray, ...]:
        """KS and PSI of the (F, n) CuPy view on the device; only the per-feature results
        (statistic, p-value, PSI, NaN count: a few numbers per feature) come back, at once."""
        from .._gpu import drift as gpu  # noqa: PLC0415 - GPU path only

        cp = array_module(view)
        F, n = view.shape
        wanted = []
        if "ks" in self.tests:
            out = gpu.ks_2samp_sorted(self._sorted, gpu.sort_features(view),
                                      kernel_alternative("two-sided"), kernel_method(self.method),
                                      True)
            wanted += [out.statistic, out.pvalue, out.n2, out.status]
        if "psi" in self.tests:
            cur_counts = gpu.psi_counts(view, self._edges)
            wanted += [psi_from_counts(self._ref_counts, cur_counts, self.eps),
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
                    "eps": self.eps, "method": self.method, "n_reference": self.n_reference,
                    "columns": self.columns.to_json(), "excluded": self.excluded}
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
    def load(cls, path: str | os.PathLike, *, workers: int | None = None,
             tests: tuple[str, ...] | None = None, alpha: float | None = None,
             correction: str | None = None, psi_threshold: float | None = None) -> DriftMonitor:
        """Read a profile written by :meth:`save` (``allow_pickle=False``). ``tests``,
        ``alpha``, ``correction`` and ``psi_threshold`` replace the saved ones when given; every
        setting is checked as the constructor checks it, and the arrays are checked against one
        another (a malformed or hand-edited profile is a ``ValueError``, never a wrong verdict)."""
        arrays = load_npz(path)
        self = cls.__new__(cls)
        try:
            self._restore(arrays)
        except (KeyError, TypeError, ValueError, RecursionError) as exc:
            what = f"missing array {exc.args[0]!r}" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{os.fspath(path)}: not a valid pipeward drift profile: {what}") from None
        saved = {"tests": self.tests, "alpha": self.alpha, "correction": self.correction,
                 "psi_threshold": self.psi_threshold}
        given = {"tests": tests, "alpha": alpha, "correction": correction,
                 "psi_threshold": psi_threshold}
        self._set_decision(**{k: saved[k] if v is None else v for k, v in given.items()},
                           eps=self.eps, method=self.method)
        self._check_coverage()
        self.workers = workers_arg(workers)
        return self

    def _restore(self, z: dict[str, np.ndarray]) -> None:
        """Set the fitted state from a saved profile's arrays, checking that they fit together."""
        settings = json.loads(str(z["settings"][()]))
        if not isinstance(settings, dict) or settings.get("format") != _FORMAT:
            raise ValueError(f"format is {settings.get('format') if isinstance(settings, dict) else settings!r:.60}, "
                             f"expected {_FORMAT!r}")
        self._set_decision(tests=settings["tests"], alpha=settings["alpha"],
                           correction=settings["correction"],
                           psi_threshold=settings["psi_threshold"], eps=settings["eps"],
                           method=settings["method"])
        self.columns = ColumnRules.from_json(settings.get("columns", {}))
        self.excluded = settings.get("excluded", {})
        if not (isinstance(self.excluded, dict) and all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.excluded.items())):
            raise ValueError("'excluded' must map column names to reasons")
        self.n_reference = settings["n_reference"]
        if not (isinstance(self.n_reference, int) and self.n_reference >= 1):
            raise ValueError(f"n_reference must be a positive integer, got {self.n_reference!r}")
        self._bucket_cache = {}
        self.feature_names = [str(s) for s in _saved(z, "feature_names", "U", 1)]
        self.kind = [str(s) for s in _saved(z, "kind", "U", 1)]
        if len(self.kind) != len(self.feature_names) or not self.kind or \
                set(self.kind) - {"numeric", "categorical"}:
            raise ValueError("'kind' must give 'numeric' or 'categorical' for each feature name")
        n_num, n_cat = self.kind.count("numeric"), self.kind.count("categorical")
        sorted_ref = np.ascontiguousarray(_saved(z, "sorted", "f", 2))
        counts = np.ascontiguousarray(_saved(z, "sorted_counts", "i", 1)).astype(np.int64)
        edges = np.ascontiguousarray(_saved(z, "edges", "f", 2)).astype(np.float64, copy=False)
        ref_counts = np.ascontiguousarray(_saved(z, "ref_counts", "i", 2)).astype(np.int64)
        if n_num:
            _check_sorted_reference(sorted_ref, counts, n_num)
            if sorted_ref.shape[1] != self.n_reference:
                raise ValueError(f"'sorted' has {sorted_ref.shape[1]} rows per feature, "
                                 f"n_reference is {self.n_reference}")
            if edges.shape[0] != n_num or np.isnan(edges).any() or np.any(np.diff(edges, axis=1) < 0):
                raise ValueError("'edges' must hold one non-decreasing row without NaN per "
                                 "numeric feature")
            if ref_counts.shape != (n_num, edges.shape[1] + 2) or np.any(ref_counts < 0) or \
                    np.any(ref_counts.sum(axis=1) != sorted_ref.shape[1]):
                raise ValueError("'ref_counts' must hold one row of bin counts per numeric "
                                 "feature, each summing to the reference's rows")
        self._sorted, self._sorted_counts = sorted_ref, counts
        self._edges, self._ref_counts = edges, ref_counts
        self._categories, self._cat_counts = [], []
        for j in range(n_cat):
            cats = _saved(z, f"categories_{j}", "U", 1)
            cat_counts = _saved(z, f"category_counts_{j}", "i", 1).astype(np.int64)
            if cat_counts.shape != (cats.size + 1,) or np.any(cat_counts < 0) or \
                    cat_counts.sum() != self.n_reference or np.any(cats[1:] <= cats[:-1]):
                raise ValueError(f"categorical feature {j}: expected sorted distinct categories "
                                 "and one count each plus a missing-value count")
            self._categories.append(cats)
            self._cat_counts.append(cat_counts)


def _is_real(x: Any) -> bool:
    return isinstance(x, (int, float, np.integer, np.floating)) and not isinstance(x, bool)


def _saved(z: dict[str, np.ndarray], name: str, kinds: str, ndim: int) -> np.ndarray:
    a = z[name]
    if a.dtype.kind not in kinds or a.ndim != ndim:
        raise ValueError(f"{name!r} is a {describe(a)}")
    return a


def _check_sorted_reference(sorted_ref: np.ndarray, counts: np.ndarray, n_num: int) -> None:
    """Each row: ``counts[i]`` ascending non-NaN values, then NaN (what the KS kernels rely on)."""
    if sorted_ref.dtype not in (np.float32, np.float64) or sorted_ref.shape[0] != n_num or \
            counts.shape != (n_num,) or sorted_ref.shape[1] < 1:
        raise ValueError(f"'sorted' must be float32/float64 with one row per numeric feature "
                         f"and 'sorted_counts' one count per row, got {describe(sorted_ref)} "
                         f"and {describe(counts)}")
    n = sorted_ref.shape[1]
    if np.any(counts < 1) or np.any(counts > n):
        raise ValueError(f"'sorted_counts' must be in [1, {n}]")
    nan = np.isnan(sorted_ref)
    if not np.array_equal(nan, np.arange(n)[None, :] >= counts[:, None]):
        raise ValueError("'sorted' rows must hold their 'sorted_counts' values, then only NaN")
    with np.errstate(invalid="ignore"):
        ascending = np.diff(sorted_ref, axis=1) >= 0
    if not np.all(ascending | nan[:, 1:]):
        raise ValueError("'sorted' rows must be in ascending order")


def verdicts(monitor: Any, ks_p: np.ndarray, psi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(adjusted KS p-values, drifted flags) under a monitor's tests, alpha, correction and
    PSI threshold. With KS alone, a feature with no value in the window is an error: nothing
    was tested there, and "no drift" would be a verdict without evidence."""
    if "psi" not in monitor.tests and np.isnan(ks_p).any():
        empty = [monitor.feature_names[i] for i in np.flatnonzero(np.isnan(ks_p))]
        raise ValueError(f"current: no non-NaN value in feature(s) {empty}, so KS cannot "
                         "test them (add 'psi' to tests to count missing values as drift)")
    adjusted = adjust_pvalues(ks_p, monitor.correction)
    drifted = np.zeros(ks_p.shape[0], dtype=bool)
    with np.errstate(invalid="ignore"):
        if "ks" in monitor.tests:
            drifted |= adjusted < monitor.alpha
        if "psi" in monitor.tests:
            drifted |= psi >= monitor.psi_threshold
    return adjusted, drifted


def check_decision(tests: Any, alpha: Any, correction: Any, psi_threshold: Any, eps: Any,
                   method: Any) -> tuple[tuple[str, ...], float, str, float, float, str]:
    """What turns statistics into a verdict, checked: the one place these are checked, for the
    caller's options, a saved profile's and pipeward.dask's alike (a value that is not checked
    could make the gate say "no drift" whatever the data). Returns them normalised."""
    tests = (tests,) if isinstance(tests, str) else tuple(tests)
    if not tests or any(t not in TESTS for t in tests) or len(set(tests)) != len(tests):
        raise ValueError(f"tests must be a non-empty subset of {TESTS}, got {tests!r}")
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
    if not (_is_real(alpha) and 0 < alpha < 1):
        raise ValueError(f"alpha must be a number in (0, 1), got {alpha!r}")
    if not (_is_real(psi_threshold) and 0 < psi_threshold < np.inf):
        raise ValueError(f"psi_threshold must be a positive finite number, got {psi_threshold!r}")
    if not (_is_real(eps) and 0 < eps < 1):
        raise ValueError(f"eps must be a number in (0, 1), got {eps!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    return tests, float(alpha), correction, float(psi_threshold), float(eps), method


# -- input splitting ------------------------------------------------------------------------

def _n_rows(numeric: np.ndarray | None, categorical: list | None) -> int:
    if numeric is not None:
        return numeric.shape[0]
    return len(categorical[0]) if categorical else 0


def _split_columns(data: Any, feature_names: list[str] | None, name: str):
    """(names, kinds, numeric (rows, n_numeric) or None, list of categorical columns)."""
    if is_table(data):
        frame = frame_columns(data, name, categorical=True)
        return frame.names, frame.kinds, frame.numeric, frame.categorical or None
    if is_gpu_array(data):
        choose_backend("auto", data)  # a clear error without CuPy or a device
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
                       ks_statistics=complete(report.ks_statistic) if "ks" in report.tests else None,
                       pvalues=complete(report.ks_pvalue_adjusted) if "ks" in report.tests else None,
                       test="+".join(report.tests), alpha=report.alpha, job=job)
