"""``MahalanobisDetector``: a scikit-learn compatible outlier detector on the native kernel.

Conventions follow scikit-learn's ``EllipticEnvelope`` / ``EmpiricalCovariance``:
``mahalanobis`` gives *squared* distances, ``score_samples = -mahalanobis``,
``decision_function = score_samples - offset_`` (``offset_ = -threshold_``) and ``predict``
gives +1 for inliers (decision >= 0) and -1 for outliers. scikit-learn itself is not imported.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._backend import array_module, is_gpu_array
from .._validate import describe, workers_arg
from . import thresholds as th
from .kernel import (CovarianceStats, as_matrix, precision_factor, require_finite_rows,
                     squared_distances_factored)
from .mcd import min_cov_det

METHODS = ("empirical", "ledoit_wolf", "oas", "mcd")
THRESHOLDS = ("auto", "chi2", "hotelling", "beta", "conformal")


class CovarianceWarning(UserWarning):
    """The covariance is singular or nearly so; the detector used a stable substitute."""


class MahalanobisDetector:
    """Outlier detector on squared Mahalanobis distances to a (robust) Gaussian fit.

    Parameters
    ----------
    method : "empirical", "ledoit_wolf", "oas" or "mcd"
        The covariance estimator: sklearn's ``EmpiricalCovariance``, ``LedoitWolf``, ``OAS``
        or ``MinCovDet`` (FastMCD, scalable; see ``pipeward.outliers.mcd``).
    contamination : float in (0, 0.5]
        Used when ``alpha`` is None: the threshold is the training distances'
        ``1 - contamination`` quantile (``EllipticEnvelope``).
    alpha : float or None
        A target false-positive rate instead: the threshold is the ``1 - alpha`` quantile of
        the clean-data law given by ``threshold``.
    threshold : "auto", "chi2", "hotelling", "beta" or "conformal"
        ``hotelling``: exact F law of a new Gaussian point (empirical covariance only);
        ``beta``: the exact law of a training row; ``chi2``: asymptotic; ``conformal``: split
        off ``calibration_fraction`` of the rows and use conformal p-values. ``auto`` is
        ``hotelling`` for the empirical covariance and ``conformal`` otherwise.
    support_fraction, random_state : as ``MinCovDet``.
    calibration_fraction : float
        Share of the rows held out for conformal calibration.
    workers : int or None
        Threads for the native kernels (None: OpenMP's default, honouring threadpoolctl).

    Fitting with labels ``fit(X, y)`` gives the class-conditional model of Lee et al. (2018):
    one location per class and a shared (tied) covariance of the within-class residuals; the
    score of a row is its distance to the nearest class.
    """

    _estimator_type = "outlier_detector"

    def __init__(self, method: str = "mcd", *, contamination: float = 0.1,
                 alpha: float | None = None, threshold: str = "auto",
                 support_fraction: float | None = None, random_state: Any = None,
                 calibration_fraction: float = 0.25, workers: int | None = None):
        self.method = method
        self.contamination = contamination
        self.alpha = alpha
        self.threshold = threshold
        self.support_fraction = support_fraction
        self.random_state = random_state
        self.calibration_fraction = calibration_fraction
        self.workers = workers

    # --- scikit-learn estimator protocol (without importing scikit-learn) -----------------

    _PARAMS = ("method", "contamination", "alpha", "threshold", "support_fraction",
               "random_state", "calibration_fraction", "workers")

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._PARAMS}

    def set_params(self, **params: Any) -> MahalanobisDetector:
        for name, value in params.items():
            if name not in self._PARAMS:
                raise ValueError(f"invalid parameter {name!r} for MahalanobisDetector; valid "
                                 f"parameters: {', '.join(self._PARAMS)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = MahalanobisDetector()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if v is not getattr(defaults, k) and v != getattr(defaults, k)]
        return f"MahalanobisDetector({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, Tags, TargetTags  # noqa: PLC0415 - sklearn asks

        return Tags(estimator_type="outlier_detector",
                    target_tags=TargetTags(required=False),
                    input_tags=InputTags(two_d_array=True, allow_nan=False))

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> MahalanobisDetector:
        """Fit location and covariance (per-class locations when y is given).

        A CuPy X (methods "empirical", "ledoit_wolf", "oas"; no labels) is fitted on its GPU:
        the covariance statistics, eigendecomposition, factor and training distances are
        computed there, and ``location_``, ``covariance_``, ``precision_``, ``dist_`` are CuPy
        arrays; the threshold is a float. Score CuPy data with such a detector.
        """
        self._check_params()
        X, names = as_matrix(X, allow_gpu=True)
        if is_gpu_array(X):
            self._check_gpu_fit(y)
        n, d = X.shape
        if n < 2:
            raise ValueError(f"MahalanobisDetector needs at least 2 samples, got n_samples = "
                             f"{n} (1 sample)")
        self._remember_features(X, names)
        rule = self._rule()
        fit_rows, cal_rows = np.arange(n), None
        if rule == "conformal":
            fit_rows, cal_rows = self._calibration_split(n)
        xp = array_module(X)
        Xf = X if cal_rows is None else X[xp.asarray(fit_rows)]  # GPU: the indices go up
        yf = None if y is None else self._labels(y, n)[fit_rows]
        self._fit_covariance(Xf, yf)
        self.n_samples_fit_ = Xf.shape[0]
        train = self._distances(Xf)
        self.dist_ = train.astype(np.float64)
        self.threshold_rule_ = rule
        if rule == "contamination":
            self.offset_ = float(xp.percentile(-self.dist_, 100.0 * self.contamination))
            self.threshold_ = -self.offset_
        elif rule == "conformal":
            cal = self._distances(X[xp.asarray(cal_rows)]).astype(np.float64)
            self.calibration_scores_ = xp.sort(cal)
            self.threshold_ = th.conformal_threshold(self.calibration_scores_, self.alpha)
            self.offset_ = -self.threshold_
        else:
            self.threshold_ = self._law_threshold(rule, self.alpha)
            self.offset_ = -self.threshold_
        return self

    def partial_fit(self, X: Any, y: Any = None) -> MahalanobisDetector:
        """Add a batch to a streaming fit (method "empirical" or "oas"; exact merge; y ignored).

        Thresholds come from ``alpha`` (chi2 / hotelling) or, with ``contamination``, from
        the quantile of the current batch's distances.
        """
        self._check_params()
        if self.method not in ("empirical", "oas"):
            raise ValueError(f"partial_fit needs method='empirical' or 'oas' (mergeable "
                             f"statistics), got method={self.method!r}")
        X, names = as_matrix(X, allow_gpu=True)
        if hasattr(self, "stats_"):
            self._check_features(X, names)
            self._check_same_device(X)
            stats = self.stats_.update(X, workers=workers_arg(self.workers))
        else:
            self._remember_features(X, names)
            stats = CovarianceStats.from_data(X, workers=workers_arg(self.workers))
        if stats.count < 2:
            raise ValueError("partial_fit needs at least 2 samples in total")
        self.classes_ = None
        self._set_from_stats(stats)
        self.n_samples_fit_ = stats.count
        rule = self._rule()
        if rule == "conformal":
            rule = "hotelling" if self.method == "empirical" and stats.count > X.shape[1] else "chi2"
        self.threshold_rule_ = rule
        if rule == "contamination":
            dist = self._distances(X).astype(np.float64)
            self.threshold_ = float(array_module(dist).percentile(
                dist, 100.0 * (1 - self.contamination)))
        else:
            self.threshold_ = self._law_threshold(rule, self.alpha)
        self.offset_ = -self.threshold_
        return self

    def _fit_covariance(self, X: np.ndarray, y: np.ndarray | None) -> None:
        workers = workers_arg(self.workers)
        self.support_ = None
        if y is None:
            self.classes_ = None
            if self.method == "mcd":
                fit = min_cov_det(X, support_fraction=self.support_fraction,
                                  random_state=self.random_state, workers=workers)
                self.raw_location_, self.raw_covariance_ = fit.raw_location, fit.raw_covariance
                self.raw_support_, self.support_ = fit.raw_support, fit.support
                self._set_covariance(fit.location, fit.covariance)
            else:
                stats = CovarianceStats.from_data(X, workers=workers)
                self._set_from_stats(stats, X)
            return
        # Class-conditional: per-class locations, a tied covariance of the residuals.
        self.classes_, codes = np.unique(y, return_inverse=True)
        if self.classes_.size < 1:
            raise ValueError("y: expected at least one class")
        counts = np.bincount(codes)
        if self.method == "mcd":
            centres = np.stack([np.median(X[codes == k], axis=0) for k in range(counts.size)])
        else:
            centres = np.stack([X[codes == k].mean(axis=0) for k in range(counts.size)])
        residuals = X - centres[codes]
        inner = MahalanobisDetector(self.method, support_fraction=self.support_fraction,
                                    random_state=self.random_state, workers=self.workers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CovarianceWarning)
            inner._fit_covariance(residuals, None)
        self.support_ = inner.support_
        self.class_locations_ = centres + inner.location_
        self._set_covariance(self.class_locations_.mean(axis=0), inner.covariance_)

    def _set_from_stats(self, stats: CovarianceStats, X: np.ndarray | None = None) -> None:
        self.stats_ = stats
        S = stats.covariance()
        if self.method == "ledoit_wolf":
            S = _ledoit_wolf(S, X, stats.mean, workers_arg(self.workers))
        elif self.method == "oas":
            S = _oas(S, stats.count)
        self._set_covariance(stats.mean, S)

    def _set_covariance(self, location: np.ndarray, covariance: np.ndarray) -> None:
        """Store location_, covariance_, precision_ (= pinvh(covariance_)) and the factor
        (on the GPU for CuPy statistics: only the extreme eigenvalues and the rank are read)."""
        xp = array_module(covariance)
        d = covariance.shape[0]
        covariance = 0.5 * (covariance + covariance.T)
        w, V = xp.linalg.eigh(covariance)
        w_min, w_max = float(w.min()), float(w.max())
        cutoff = max(w_max, 0.0) * d * np.finfo(np.float64).eps
        keep = w > cutoff
        rank = int(keep.sum())
        if rank < d:
            warnings.warn(
                f"the covariance matrix is singular (rank {rank} of {d}: constant or "
                "duplicated features, or fewer samples than features); using its pseudo-"
                "inverse, which ignores deviations along the missing directions. "
                "method='ledoit_wolf' or 'oas' gives a full-rank estimate.",
                CovarianceWarning, stacklevel=3)
        elif w_min < w_max * 1e-12:
            warnings.warn(f"the covariance matrix is nearly singular (condition number "
                          f"{w_max / w_min:.3g}); distances may be unstable",
                          CovarianceWarning, stacklevel=3)
        inv = xp.where(keep, 1.0 / xp.where(keep, w, 1.0), 0.0)
        self.location_ = xp.asarray(location, dtype=xp.float64)
        self.covariance_ = covariance
        self.precision_ = (V * inv) @ V.T
        if rank == d and xp is not np:
            from .._gpu import mahalanobis as gpu  # noqa: PLC0415 - GPU path only

            self._factor, self._lower = gpu.precision_factor(self.precision_)
        elif rank == d:
            self._factor, self._lower = precision_factor(self.precision_)
        else:
            self._factor, self._lower = xp.ascontiguousarray(V * xp.sqrt(inv)), False

    # --- scoring ---------------------------------------------------------------------------

    def mahalanobis(self, X: Any) -> np.ndarray:
        """Squared Mahalanobis distances (to the nearest class in the class-conditional mode).

        CuPy X, for a detector fitted on CuPy data, is scored on its GPU (CuPy result)."""
        self._check_fitted()
        X, names = as_matrix(X, check_finite=False, allow_gpu=True)
        self._check_features(X, names)
        self._check_same_device(X)
        return require_finite_rows(self._distances(X), "X")

    def class_distances(self, X: Any) -> np.ndarray:
        """(n, n_classes) squared distances to each class location (class-conditional mode)."""
        self._check_fitted()
        if self.classes_ is None:
            raise ValueError("class_distances needs a detector fitted with labels y")
        X, names = as_matrix(X, check_finite=False)
        self._check_features(X, names)
        D = self._class_distances(X)
        require_finite_rows(D.sum(axis=1), "X")
        return D

    def score_samples(self, X: Any) -> np.ndarray:
        """Negative squared Mahalanobis distances (higher is more normal)."""
        return -self.mahalanobis(X)

    def decision_function(self, X: Any) -> np.ndarray:
        """``score_samples - offset_``: negative for outliers."""
        return self.score_samples(X) - self.offset_

    def predict(self, X: Any) -> np.ndarray:
        """+1 for inliers, -1 for outliers."""
        decision = self.decision_function(X)
        return array_module(decision).where(decision >= 0, 1, -1)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).predict(X)

    def pvalues(self, X: Any) -> np.ndarray:
        """P-values of the rows under the clean-data law of ``threshold`` (small: outlying).

        Conformal after a conformal fit; otherwise hotelling (empirical covariance with
        n > d) or chi2.
        """
        if is_gpu_array(X):
            raise TypeError(f"pvalues runs on host arrays, got a {describe(X)}; score on the "
                            "GPU with mahalanobis(X) / predict(X), or pass X.get()")
        return self._pvalues_of(self.mahalanobis(X).astype(np.float64))

    def _pvalues_of(self, d2: np.ndarray) -> np.ndarray:
        rule = self.threshold_rule_
        if rule == "conformal":
            return th.conformal_pvalues(d2, self.calibration_scores_)
        if rule not in ("hotelling", "beta", "chi2"):
            rule = self._default_law()
        n, d = self.n_samples_fit_, self.n_features_in_
        if rule == "hotelling":
            return th.hotelling_pvalues(d2, n, d)
        if rule == "beta":
            return th.beta_pvalues(d2, n, d)
        return th.chi2_pvalues(d2, d)

    # --- helpers ---------------------------------------------------------------------------

    def _distances(self, X: np.ndarray) -> np.ndarray:
        if getattr(self, "classes_", None) is not None:
            return self._class_distances(X).min(axis=1)
        if is_gpu_array(X):
            from .._gpu import mahalanobis as gpu  # noqa: PLC0415 - GPU path only

            return gpu.squared_distances(X, self.location_, self._factor, self._lower)
        return squared_distances_factored(X, self.location_, self._factor, self._lower,
                                          workers=workers_arg(self.workers))

    def _class_distances(self, X: np.ndarray) -> np.ndarray:
        workers = workers_arg(self.workers)
        return np.stack([squared_distances_factored(X, loc, self._factor, self._lower,
                                                    workers=workers)
                         for loc in self.class_locations_], axis=1)

    def _check_gpu_fit(self, y: Any) -> None:
        if self.method == "mcd" or y is not None:
            raise ValueError(
                "MahalanobisDetector.fit on CuPy arrays supports method='empirical', "
                "'ledoit_wolf' or 'oas' without labels (got method="
                f"{self.method!r}{', with labels y' if y is not None else ''}); "
                "FastMCD and the class-conditional fit run on host arrays")

    def _check_same_device(self, X: Any) -> None:
        fitted_on_gpu = is_gpu_array(getattr(self, "location_", None))
        if is_gpu_array(X) != fitted_on_gpu:
            raise TypeError(f"this detector was fitted on {'CuPy' if fitted_on_gpu else 'host'} "
                            f"data, got X as a {describe(X)}; pass the same kind (pipeward "
                            "never copies between host and GPU silently)")

    def _rule(self) -> str:
        if self.alpha is None:
            return "contamination"
        if self.threshold == "auto":
            return "hotelling" if self.method == "empirical" else "conformal"
        return self.threshold

    def _default_law(self) -> str:
        n, d = self.n_samples_fit_, self.n_features_in_
        return "hotelling" if self.method == "empirical" and n > d else "chi2"

    def _law_threshold(self, rule: str, alpha: float) -> float:
        n, d = self.n_samples_fit_, self.n_features_in_
        if rule == "hotelling":
            if self.method != "empirical":
                raise ValueError("threshold='hotelling' is exact only for method='empirical'; "
                                 "use 'conformal' or 'chi2'")
            return th.hotelling_threshold(alpha, n, d)
        if rule == "beta":
            return th.beta_threshold(alpha, n, d)
        return th.chi2_threshold(alpha, d)

    def _calibration_split(self, n: int) -> tuple[np.ndarray, np.ndarray]:
        n_cal = int(round(self.calibration_fraction * n))
        if n_cal < 1 or n - n_cal < 2:
            raise ValueError(f"threshold='conformal' needs calibration rows: "
                             f"calibration_fraction={self.calibration_fraction} of {n} rows")
        order = np.random.default_rng(self.random_state).permutation(n)
        return np.sort(order[n_cal:]), np.sort(order[:n_cal])

    def _labels(self, y: Any, n: int) -> np.ndarray:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y: expected {n} labels (1-d), got shape {y.shape}")
        return y

    def _check_params(self) -> None:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {', '.join(METHODS)}, got {self.method!r}")
        if self.threshold not in THRESHOLDS:
            raise ValueError(f"threshold must be one of {', '.join(THRESHOLDS)}, "
                             f"got {self.threshold!r}")
        c = self.contamination
        if isinstance(c, bool) or not isinstance(c, (int, float)) or not 0 < c <= 0.5:
            raise ValueError(f"contamination must be in (0, 0.5], got {c!r}")
        if self.alpha is not None and not (isinstance(self.alpha, (int, float))
                                           and 0 < self.alpha < 1):
            raise ValueError(f"alpha must be None or in (0, 1), got {self.alpha!r}")
        if not 0 < self.calibration_fraction < 1:
            raise ValueError(f"calibration_fraction must be in (0, 1), got "
                             f"{self.calibration_fraction!r}")

    def _remember_features(self, X: np.ndarray, names: np.ndarray | None) -> None:
        self.n_features_in_ = X.shape[1]
        if names is not None:
            self.feature_names_in_ = names
        elif hasattr(self, "feature_names_in_"):
            del self.feature_names_in_

    def _check_features(self, X: np.ndarray, names: np.ndarray | None) -> None:
        if X.shape[1] != self.n_features_in_:
            raise ValueError(f"X has {X.shape[1]} features, but MahalanobisDetector is "
                             f"expecting {self.n_features_in_} features as input")
        fitted = getattr(self, "feature_names_in_", None)
        if fitted is not None and names is not None and not np.array_equal(fitted, names):
            raise ValueError(f"X's columns {list(names)[:5]} do not match the columns seen "
                             f"in fit {list(fitted)[:5]}")
        if fitted is not None and names is None:
            warnings.warn("X does not have valid feature names, but MahalanobisDetector was "
                          "fitted with feature names", UserWarning, stacklevel=3)
        if fitted is None and names is not None and hasattr(self, "n_features_in_"):
            warnings.warn("X has feature names, but MahalanobisDetector was fitted without "
                          "feature names", UserWarning, stacklevel=3)

    def _check_fitted(self) -> None:
        if not hasattr(self, "location_"):
            try:
                from sklearn.exceptions import NotFittedError  # noqa: PLC0415
            except ImportError:
                NotFittedError = ValueError  # noqa: N806
            raise NotFittedError("This MahalanobisDetector instance is not fitted yet; call "
                                 "'fit' with appropriate arguments before using it")


def _ledoit_wolf(S: np.ndarray, X: np.ndarray | None, mean: np.ndarray,
                 workers: int | None) -> np.ndarray:
    """sklearn's ``ledoit_wolf`` from the empirical covariance and the rows' centred norms."""
    d = S.shape[0]
    if d == 1 or X is None:
        return S
    n = X.shape[0]
    xp = array_module(S)
    # sum_i ||x_i - mean||^4: squared norms from the kernel with the identity factor.
    if xp is np:
        norms = squared_distances_factored(X, mean, np.eye(d), True, workers=workers)
    else:
        from .._gpu import mahalanobis as gpu  # noqa: PLC0415 - GPU path only

        norms = gpu.squared_distances(X, mean, xp.eye(d), True)
    return ledoit_wolf_shrunk(S, n, float((norms.astype(np.float64) ** 2).sum()))


def ledoit_wolf_shrunk(S: np.ndarray, n: int, beta_: float) -> np.ndarray:
    """sklearn's Ledoit-Wolf shrinkage of S from n rows whose centred squared norms' squares
    sum to ``beta_`` (mergeable over partitions, so pipeward.dask fits it too)."""
    d = S.shape[0]
    delta_ = float((S**2).sum())
    trace = float(S.trace())
    mu = trace / d
    beta = (beta_ / n - delta_) / (d * n)
    delta = (delta_ - 2.0 * mu * trace + d * mu**2) / d
    beta = min(beta, delta)
    shrinkage = 0.0 if beta == 0 else beta / delta
    return _shrunk(S, shrinkage, mu)


def _oas(S: np.ndarray, n: int) -> np.ndarray:
    """sklearn's ``oas``: shrink towards tr(S)/d I by min((a + mu^2)/((n+1)(a - mu^2/d)), 1)."""
    d = S.shape[0]
    if d == 1:
        return S
    alpha = float((S**2).mean())
    mu = float(S.trace()) / d
    num = alpha + mu**2
    den = (n + 1) * (alpha - mu**2 / d)
    shrinkage = 1.0 if den == 0 else min(num / den, 1.0)
    return _shrunk(S, shrinkage, mu)


def _shrunk(S: np.ndarray, shrinkage: float, mu: float) -> np.ndarray:
    """(1 - shrinkage) S + shrinkage mu I, on S's device."""
    diagonal = array_module(S).arange(S.shape[0])
    out = (1.0 - shrinkage) * S
    out[diagonal, diagonal] += shrinkage * mu
    return out


