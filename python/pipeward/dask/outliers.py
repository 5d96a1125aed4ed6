"""Outliers on Dask: ``MahalanobisDetector`` fitted from covariance statistics merged over
partitions (empirical, Ledoit-Wolf and OAS equal to the one-machine fit to 1e-12), a FastMCD
that scales, scoring with ``map_blocks`` / ``map_partitions``, and the outlier part of
``screen``.

The robust fit: starts and their first C-steps run on a random sample of rows (as
``pw.MahalanobisDetector(method="mcd")`` does on one machine), then C-steps on all the data:
each computes every row's distance on its partition, finds the h-th smallest distance
exactly (a distributed order statistic, _exact.order_statistics), and merges the covariance
statistics of the h rows below it; then the usual consistency correction and reweighting.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from dask.delayed import Delayed, delayed

from .. import _core
from ..outliers.detector import (CovarianceWarning, MahalanobisDetector as _OneMachine,
                                 _oas, _ledoit_wolf_from_norms)
from ..outliers.kernel import CovarianceStats, native_float, squared_distances_factored
from ..outliers.mcd import (MAX_C_STEPS, REFINE_SAMPLE, _Estimate, _single_threaded_blas,
                            consistency_factor, raw_mcd, support_size)
from ..outliers.screen import ScreenReport, tail_pvalues
from ..outliers.thresholds import chi2_isf
from ..reference.mahalanobis import merge_comoments
from . import _cells
from ._exact import order_statistics
from ._inputs import is_dask_frame, table
from ._job import Job, shared, tree

__all__ = ["MahalanobisDetector", "screen"]

METHODS = ("empirical", "ledoit_wolf", "oas", "mcd")


# --- tasks --------------------------------------------------------------------------------

def _rows(block: np.ndarray, columns: np.ndarray | None) -> np.ndarray:
    """The block as the detector sees it: the chosen columns, float64 when columns are
    chosen (as pw.screen's float64 copy of its varying columns)."""
    if columns is None:
        return native_float(np.asarray(block))
    return np.ascontiguousarray(block[:, columns], dtype=np.float64)


def _comoment(block: np.ndarray, columns: Any, keep: Any) -> tuple:
    """(count, mean, M2) of the block's rows (all, or where the mask ``keep`` is set)."""
    X = _rows(block, columns)
    if keep is not None:
        X = X[keep]
    if X.shape[0] == 0:
        return 0, np.zeros(X.shape[1]), np.zeros((X.shape[1], X.shape[1]))
    count, mean, m2 = _core.mahalanobis_comoment(X, None, 1)
    return int(count), mean, m2


def _merge_comoments(parts: list[tuple]) -> tuple:
    out = parts[0]
    for p in parts[1:]:
        out = merge_comoments(out, p)
    return out


def _fourth_moment(block: np.ndarray, columns: Any, keep: Any, mean: np.ndarray) -> float:
    """sum ||x - mean||^4 over the rows: Ledoit-Wolf's other statistic."""
    X = _rows(block, columns)
    if keep is not None:
        X = X[keep]
    if X.shape[0] == 0:
        return 0.0
    norms = squared_distances_factored(X, mean, np.eye(X.shape[1]), True, workers=1)
    return float((norms.astype(np.float64) ** 2).sum())


def _distances(block: np.ndarray, columns: Any, est: Any) -> np.ndarray:
    """Squared distances under an estimate (a fitted detector or an _Estimate), float64."""
    X = _rows(block, columns)
    if isinstance(est, _OneMachine):
        d2 = est._distances(X)
    else:
        d2 = squared_distances_factored(X, est.location, est.factor, est.lower, workers=1)
    return d2.astype(np.float64).reshape(-1, 1)


def _column_stats(block: np.ndarray) -> tuple:
    n = block.shape[0]
    if n == 0:
        F = block.shape[1]
        return 0, np.full(F, np.inf), np.full(F, -np.inf), True
    finite = bool(np.isfinite(block).all())
    return n, block.min(axis=0).astype(np.float64), block.max(axis=0).astype(np.float64), finite


def _merge_column_stats(parts: list[tuple]) -> tuple:
    return (sum(p[0] for p in parts), np.min([p[1] for p in parts], axis=0),
            np.max([p[2] for p in parts], axis=0), all(p[3] for p in parts))


def _split(block: np.ndarray, columns: Any, est: Any, t: float) -> tuple:
    """Statistics of the rows whose distance is below t, and the rows exactly at t."""
    X = _rows(block, columns)
    d2 = _distances(block, columns, est)[:, 0]
    below = _comoment(X, None, d2 < t) if X.shape[0] else _comoment(X, None, None)
    return below, X[d2 == t]


def _comoment_rows(block: np.ndarray, columns: Any, keep: Any, rows: int) -> tuple:
    """_comoment of the block and ``rows`` evenly spaced rows of it (the kept ones)."""
    X = _rows(block, columns)
    X = X if keep is None else X[keep]
    return _comoment(X, None, None), _cells._strided_rows(X, rows)


def _sample_rows(block: np.ndarray, columns: Any, k: int, seed: int) -> np.ndarray:
    X = _rows(block, columns)
    take = np.random.default_rng(seed).choice(X.shape[0], size=min(k, X.shape[0]), replace=False)
    return np.asarray(X[np.sort(take)], dtype=np.float64)


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts, axis=0)


# --- the detector -------------------------------------------------------------------------

class MahalanobisDetector:
    """``pw.MahalanobisDetector`` fitted on a Dask array or DataFrame.

    ``method``: "empirical", "ledoit_wolf", "oas" (one covariance pass, plus one for
    Ledoit-Wolf's fourth moments) or "mcd" (FastMCD with C-steps on all partitions). The
    threshold: ``contamination`` (the exact quantile of the training distances, as on one
    machine) or ``alpha`` with ``threshold`` "chi2", "hotelling" (empirical) or "beta";
    conformal calibration is not offered on Dask. ``fit(X, y)`` ignores ``y``.

    After ``fit``, ``detector_`` is the equivalent one-machine detector (score NumPy data
    with it) and ``location_``, ``covariance_``, ``precision_``, ``threshold_``, ``offset_``
    are its attributes. ``mahalanobis``, ``score_samples``, ``decision_function`` and
    ``predict`` return lazy Dask arrays (Dask Series for a DataFrame), one task per partition.
    """

    def __init__(self, method: str = "mcd", *, contamination: float = 0.1,
                 alpha: float | None = None, threshold: str = "auto",
                 support_fraction: float | None = None, random_state: Any = None,
                 client: Any = None):
        self.method, self.contamination, self.alpha = method, contamination, alpha
        self.threshold, self.support_fraction = threshold, support_fraction
        self.random_state, self.client = random_state, client

    def fit(self, X: Any, y: Any = None) -> MahalanobisDetector:
        """Fit on the partitions of X; ``y`` is ignored, as by scikit-learn's outlier detectors."""
        det = _OneMachine(self.method, contamination=self.contamination, alpha=self.alpha,
                          threshold=self.threshold, support_fraction=self.support_fraction,
                          random_state=self.random_state)
        det._check_params()
        rule = det._rule()
        if rule == "conformal":
            raise ValueError("threshold='conformal' (the default with alpha for robust "
                             "methods) holds rows out on one machine; on Dask pass "
                             "threshold='chi2' or 'beta', or use contamination")
        t = table(X, "X")
        job = Job(f"outliers.fit:{self.method}", self.client)
        job.read(t.parts)
        rows = fit_detector(job, det, t.parts, t.n_features, self.method, None, None,
                            self.support_fraction, self.random_state,
                            sample=rule == "contamination")
        if t.names is not None:
            det.feature_names_in_ = np.asarray(t.names, dtype=object)
        threshold_rule(job, det, t.parts, None, rule, rows)
        self.detector_ = det
        self._dtype = t.dtype
        return self

    def __getattr__(self, name: str) -> Any:
        # Fitted attributes (location_, covariance_, precision_, threshold_, ...) are the
        # one-machine detector's.
        if name.endswith("_") and not name.startswith("__") and "detector_" in self.__dict__:
            return getattr(self.__dict__["detector_"], name)
        raise AttributeError(name)

    # scoring: one task per block
    def mahalanobis(self, X: Any) -> Any:
        return self._map(X, "mahalanobis", np.dtype(self._dtype))

    def score_samples(self, X: Any) -> Any:
        return self._map(X, "score_samples", np.dtype(self._dtype))

    def decision_function(self, X: Any) -> Any:
        return self._map(X, "decision_function", np.dtype(np.float64))

    def predict(self, X: Any) -> Any:
        return self._map(X, "predict", np.dtype(np.int64))

    def _map(self, X: Any, what: str, dtype: np.dtype) -> Any:
        if "detector_" not in self.__dict__:
            _OneMachine()._check_fitted()  # the one-machine NotFittedError
        det = self.detector_
        if is_dask_frame(X):
            import pandas as pd  # noqa: PLC0415

            t = table(X, "X")
            return X.map_partitions(_score_frame, det, what, t.dtype,
                                    meta=pd.Series(dtype=dtype))
        t = table(X, "X")
        if t.one_d:
            raise ValueError("X: expected a 2-d (rows, features) Dask array")
        return t.collection.map_blocks(_score_block, det, what, dtype, drop_axis=1, dtype=dtype)


def _score_block(block: np.ndarray, det: _OneMachine, what: str, dtype: np.dtype) -> np.ndarray:
    if block.shape[0] == 0:  # an empty partition scores to nothing (one machine refuses it)
        return np.empty(0, dtype=dtype)
    return np.asarray(getattr(det, what)(block))


def _score_frame(frame: Any, det: _OneMachine, what: str, dtype: np.dtype) -> Any:
    import pandas as pd  # noqa: PLC0415

    values = frame.to_numpy(dtype=dtype, na_value=np.nan)
    if values.shape[0] == 0:
        return pd.Series(np.empty(0), index=frame.index)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # column names were checked at fit
        out = getattr(det, what)(values)
    return pd.Series(out, index=frame.index)


def fit_detector(job: Job, det: _OneMachine, parts: Sequence[Delayed], d: int, method: str,
                 columns: np.ndarray | None, keep: list | None, support_fraction: Any,
                 random_state: Any, sample: bool = False) -> np.ndarray | None:
    """Fit ``det``'s location and covariance from the partitions (rows where ``keep``).
    With ``sample``, the first pass also reads a strided sample of the rows and returns it
    (it places the first cells of the threshold's order statistic at no extra pass)."""
    cols, masks = shared(columns), keep or [None] * len(parts)
    leaves = [delayed(_comoment, pure=True)(p, cols, m) for p, m in zip(parts, masks)]
    todo, picks = [], []
    if sample:  # in the same task as the statistics: a second task would keep the block waiting
        idx, k = _cells.sampled_partitions(len(parts))
        for i in idx:
            both = delayed(_comoment_rows, pure=True, nout=2)(parts[i], cols, masks[i], k)
            leaves[i] = both[0]
            picks.append(both[1])
        todo.append(delayed(_stack, pure=True)(picks))
    stats, *rows = job.compute(tree(leaves, _merge_comoments), *todo)
    n, mean, m2 = stats
    width = m2.shape[0]
    if n < 2:
        raise ValueError(f"MahalanobisDetector needs at least 2 samples, got n_samples = {n}")
    if not np.isfinite(mean).all():
        raise ValueError("X: contains NaN or infinity")
    det.n_features_in_ = width
    det.classes_ = None
    det.support_ = None
    det.n_samples_fit_ = int(n)
    if method == "mcd":
        _fit_mcd(job, det, parts, columns, masks, int(n), width, support_fraction, random_state)
        return rows[0] if rows else None
    stats = CovarianceStats(int(n), mean, m2)
    S = stats.covariance()
    if method == "ledoit_wolf" and width > 1:
        m = shared(mean)
        (beta_,) = job.compute(tree([delayed(_fourth_moment, pure=True)(p, cols, k, m)
                                     for p, k in zip(parts, masks)], sum))
        S = _ledoit_wolf_from_norms(S, float(beta_), int(n))
    elif method == "oas":
        S = _oas(S, int(n))
    det.stats_ = stats
    det._set_covariance(stats.mean, S)
    return rows[0] if rows else None


def threshold_rule(job: Job, det: _OneMachine, parts: Sequence[Delayed],
                   columns: np.ndarray | None, rule: str, rows: np.ndarray | None = None
                   ) -> None:
    """The fitted detector's threshold, as ``fit`` sets it on one machine. ``rows``: a
    sample of the training rows (fit_detector's), whose distances guess where the
    contamination quantile lies, so one pass usually counts and fetches it."""
    det.threshold_rule_ = rule
    if rule != "contamination":
        det.threshold_ = det._law_threshold(rule, det.alpha)
        det.offset_ = -det.threshold_
        return
    # np.percentile(-dist, 100 c): NumPy's linear rule on the exact order statistics.
    n = det.n_samples_fit_
    q = np.true_divide(100.0 * det.contamination, 100)
    virtual = (n - 1) * q
    prev = min(math.floor(virtual), n - 1)
    nxt = min(prev + 1, n - 1)
    gamma = virtual - (prev if virtual < n - 1 else -1)
    # the k-th smallest of -dist is minus the (n - 1 - k)-th smallest of dist
    est = shared(det)
    blocks = [delayed(_distances, pure=True)(p, shared(columns), est) for p in parts]
    ranks = [np.array([n - 1 - prev, n - 1 - nxt])]
    if rows is not None and rows.shape[0]:
        guess = _distances(rows, None, det)  # the rows are already the chosen columns
        (values,) = order_statistics(job, blocks, ranks, guess, sizes=[n])
    else:
        (values,) = order_statistics(job, blocks, ranks, chi2_guess(det.n_features_in_))
    a, b = -values[0], -values[1]
    diff = b - a
    offset = a + diff * gamma if gamma < 0.5 else b - diff * (1 - gamma)
    det.offset_ = float(offset)
    det.threshold_ = -det.offset_


def chi2_guess(d: int) -> np.ndarray:
    """Stand-in sample of squared distances, chi-square(d) quantiles by Wilson-Hilferty, to
    place the first cells of their order statistic: a real sample would cost a pass that
    computes the distances once more, and the cells only set the speed (a poor guess costs
    a refinement pass, never a different answer)."""
    z = np.sort(np.random.default_rng(0).standard_normal(_cells.SAMPLE_ROWS))
    c = 2.0 / (9.0 * d)
    return (d * np.maximum(1.0 - c + z * np.sqrt(c), 0.0) ** 3).reshape(-1, 1)


def _fit_mcd(job: Job, det: _OneMachine, parts: Sequence[Delayed], columns: Any,
             masks: list, n: int, d: int, support_fraction: Any, random_state: Any) -> None:
    h = support_size(n, d, support_fraction)
    rng = np.random.default_rng(random_state)
    cols = shared(columns)
    # A random sample of rows from every partition, in proportion to its size.
    counts = np.array(job.compute(*(delayed(_n_rows, pure=True)(p, m)
                                    for p, m in zip(parts, masks))))
    m = min(n, REFINE_SAMPLE)
    share = np.floor(m * counts / n).astype(int)
    seeds = rng.integers(0, 2**63, size=len(parts))
    (S,) = job.compute(delayed(_stack, pure=True)(
        [delayed(_sample_rows, pure=True)(_kept(p, m_), cols, int(k), int(s))
         for p, m_, k, s in zip(parts, masks, share, seeds) if k > 0]))
    max_cond = 50.0 if h <= d else 1e10
    with _single_threaded_blas():
        loc, cov, _, regularised = raw_mcd(S, max(d + 1, math.ceil(S.shape[0] * h / n)), rng)
    est = _Estimate(loc, cov, max_cond)
    kept = [_kept(p, m_) for p, m_ in zip(parts, masks)]
    if h < n:
        est = _c_steps(job, kept, cols, est, h, S, max_cond)
    raw_loc, raw_cov = est.location, est.covariance
    if h < n and np.allclose(raw_cov, 0):
        raise ValueError("the covariance of the support data is 0: more than h rows are "
                         "identical; increase support_fraction")
    raw_est = _Estimate(raw_loc, raw_cov * consistency_factor(d, h / n), 1e14)
    cut = chi2_isf(0.025, d)
    (stats,) = job.compute(tree([delayed(_below, pure=True)(p, cols, shared(raw_est), cut)
                                 for p in kept], _merge_comoments))
    count, loc, m2 = stats
    cov = m2 / count * consistency_factor(d, 0.975)
    det.raw_location_, det.raw_covariance_ = raw_loc, raw_cov
    det.raw_support_ = None
    with warnings.catch_warnings():
        warnings.simplefilter("default", CovarianceWarning)
        det._set_covariance(loc, cov)


def _n_rows(block: np.ndarray, mask: Any) -> int:
    return int(block.shape[0] if mask is None else np.count_nonzero(mask))


def _kept(part: Delayed, mask: Any) -> Delayed:
    return part if mask is None else delayed(_take, pure=True)(part, mask)


def _take(block: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return block[mask]


def _below(block: np.ndarray, columns: Any, est: Any, cut: float) -> tuple:
    X = _rows(block, columns)
    d2 = _distances(block, columns, est)[:, 0]
    return _comoment(X, None, d2 < cut)


def _c_steps(job: Job, parts: list[Delayed], cols: Delayed, est: _Estimate, h: int,
             sample: np.ndarray, max_cond: float) -> _Estimate:
    """C-steps on all rows until the determinant stops falling: the h rows nearest under the
    current estimate (the h-th smallest distance found exactly over all partitions; ties at
    it taken in partition order) give the next."""
    best = None
    for _ in range(MAX_C_STEPS):
        e = shared(est)
        blocks = [delayed(_distances, pure=True)(p, cols, e) for p in parts]
        sample_d2 = squared_distances_factored(sample, est.location, est.factor, est.lower,
                                               workers=1).reshape(-1, 1)
        (t,) = order_statistics(job, blocks, [np.array([h - 1])], sample_d2)
        threshold = float(t[0])
        pieces = job.compute(*(delayed(_split, pure=True)(p, cols, e, threshold) for p in parts))
        stats = _merge_comoments([p[0] for p in pieces])
        ties = np.concatenate([p[1] for p in pieces], axis=0)[: h - stats[0]]
        if ties.shape[0]:
            c, mu, m2 = _core.mahalanobis_comoment(np.ascontiguousarray(ties), None, 1)
            stats = merge_comoments(stats, (int(c), mu, m2))
        count, mean, m2 = stats
        nxt = _Estimate(mean, m2 / count, max_cond)
        if best is not None and nxt.logdet >= best.logdet - 1e-12 * max(1.0, abs(best.logdet)):
            break
        best = est = nxt
    return best if best is not None else est


# --- screen -------------------------------------------------------------------------------

def screen(X: Any, y: Any = None, *, alpha: float = 1e-4, method: str = "ledoit_wolf",
           random_state: Any = 0, client: Any = None, audit: Any = None) -> ScreenReport:
    """The outlier part of ``pw.screen`` on a Dask array or DataFrame: constant columns
    dropped, a robust fit, robust z-scores of the cube-root distances (exact medians over all
    partitions), Benjamini-Hochberg at ``alpha``, a second fit without the first round's
    outliers. Label checks (flips, spectral signatures) need neighbours across partitions and
    stay on one machine: ``y`` must be None. ``distances`` and ``pvalues`` in the report are
    lazy Dask arrays; ``outliers`` and ``quarantine`` hold global row indices. With
    ``audit``, one ``data.screen`` record for the job."""
    if y is not None:
        raise ValueError("pipeward.dask.screen runs the outlier part only (y must be None); "
                         "label-flip and backdoor checks run in pw.screen on one machine")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    t = table(X, "X")
    job = Job("screen", client)
    job.read(t.parts)
    (col,) = job.compute(tree([delayed(_column_stats, pure=True)(p) for p in t.parts],
                              _merge_column_stats))
    n, lo, hi, finite = col
    if n == 0:
        raise ValueError("X: Found array with 0 sample(s)")
    if not finite:
        raise ValueError("X: contains NaN or infinity")
    columns = np.flatnonzero(hi - lo > 0)
    if columns.size == 0:
        raise ValueError("X: every column is constant; there is nothing to screen")
    sizes = job.compute(*(delayed(len, pure=True)(p) for p in t.parts))
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    suspects = np.zeros(0, dtype=np.int64)
    with _single_threaded_blas():
        for _round in range(2):
            keep = None
            if suspects.size:
                keep = [_local_keep(suspects, offsets[i], sizes[i]) for i in range(len(t.parts))]
            det = _OneMachine(method, random_state=random_state)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", CovarianceWarning)
                fit_detector(job, det, t.parts, columns.size, method, columns, keep, None,
                             random_state)
            suspects, p_parts, d2_parts = _outliers(job, det, t.parts, columns, alpha, int(n))
    import dask.array as da  # noqa: PLC0415

    distances = da.concatenate([da.from_delayed(b, shape=(s,), dtype=np.float64)
                                for b, s in zip(d2_parts, sizes)])
    pvalues = da.concatenate([da.from_delayed(b, shape=(s,), dtype=np.float64)
                              for b, s in zip(p_parts, sizes)])
    outliers = np.sort(suspects)
    counts = {"rows": int(n), "outliers": int(outliers.size), "label_suspects": 0,
              "backdoor_suspects": 0, "quarantine": int(outliers.size)}
    empty = np.zeros(0, dtype=np.int64)
    report = ScreenReport(distances, pvalues, outliers, empty, da.zeros(int(n), chunks=sizes),
                          empty, outliers, int(n), counts)
    if audit is not None:
        from ..audit.records import record_screen  # noqa: PLC0415 - audit is optional here

        record_screen(audit, n_samples=int(n), n_outliers=int(outliers.size), n_label_suspects=0,
                      quarantined=outliers.tolist(), method=method, job=job.stats.as_record())
    return report


def _local_keep(suspects: np.ndarray, start: int, size: int) -> np.ndarray:
    keep = np.ones(size, dtype=bool)
    inside = suspects[(suspects >= start) & (suspects < start + size)] - start
    keep[inside] = False
    return keep


def _outliers(job: Job, det: _OneMachine, parts: Sequence[Delayed], columns: np.ndarray,
              alpha: float, n: int) -> tuple[np.ndarray, list[Delayed], list[Delayed]]:
    """Global indices of the Benjamini-Hochberg discoveries of the robust tail p-values, and
    the lazy per-partition p-values and distances."""
    est, cols = shared(det), shared(columns)
    d2 = [delayed(_distances, pure=True)(p, cols, est) for p in parts]
    # median of u = cbrt(d2): cbrt is monotone, so u's order statistics are d2's, rooted
    mid = [(n - 1) // 2, n // 2]
    (m,) = order_statistics(job, d2, [np.array(mid)], sizes=[n])
    med = float(_median_of(np.cbrt(m)))
    dev = [delayed(_abs_dev, pure=True)(b, med) for b in d2]
    (v,) = order_statistics(job, dev, [np.array(mid)], sizes=[n])
    mad = 1.4826 * float(_median_of(v))
    if mad <= 0:
        (s,) = job.compute(tree([delayed(_u_stats, pure=True)(b) for b in d2], _merge_comoments))
        mad = float(np.sqrt(s[2][0, 0] / s[0])) or 1.0
    p = [delayed(_pvalues, pure=True)(b, med, mad) for b in d2]
    found = job.compute(*(delayed(_candidates, pure=True)(b, alpha) for b in p))
    sizes = [int(x) for x in job.compute(*(delayed(len, pure=True)(b) for b in d2))]
    offsets = np.concatenate([[0], np.cumsum(sizes)])
    idx = np.concatenate([f[0] + offsets[i] for i, f in enumerate(found)])
    pv = np.concatenate([f[1] for f in found])
    order = np.argsort(pv, kind="stable")  # idx ascends, so ties stay in row order
    passed = pv[order] <= alpha * np.arange(1, pv.size + 1) / n
    chosen = idx[order[: np.flatnonzero(passed)[-1] + 1]] if passed.any() else idx[:0]
    return np.sort(chosen), p, [delayed(_ravel, pure=True)(b) for b in d2]


def _median_of(pair: np.ndarray) -> float:
    """np.median's result from its two middle order statistics (equal for odd sizes)."""
    return pair[0] if pair[0] == pair[1] else np.mean(pair)


def _abs_dev(d2: np.ndarray, med: float) -> np.ndarray:
    return np.abs(np.cbrt(d2) - med)


def _u_stats(d2: np.ndarray) -> tuple:
    return _comoment(np.cbrt(d2), None, None)


def _pvalues(d2: np.ndarray, med: float, mad: float) -> np.ndarray:
    return tail_pvalues((np.cbrt(d2[:, 0]) - med) / mad)


def _candidates(p: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Rows that Benjamini-Hochberg could reject (p <= alpha) and their p-values."""
    rows = np.flatnonzero(p <= alpha)
    return rows, p[rows]


def _ravel(d2: np.ndarray) -> np.ndarray:
    return d2[:, 0]
