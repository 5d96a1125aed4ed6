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
from .._estimator import OutlierDetectorBase
from .._validate import describe, estimator_matrix, workers_arg
from . import norm_moments
from . import thresholds as th
from .kernel import (CovarianceStats, precision_factor, require_finite_rows,
                     squared_distances_factored)
from .mcd import consistency_factor, min_cov_det
from .norm_moments import NormMoments

METHODS = ("empirical", "ledoit_wolf", "oas", "mcd")
THRESHOLDS = ("auto", "chi2", "hotelling", "beta", "conformal")


class CovarianceWarning(UserWarning):
    """The covariance is singular or nearly so; the detector used a stable substitute."""


class MahalanobisDetector(OutlierDetectorBase):
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

    Unsupervised, as scikit-learn's outlier detectors: ``fit(X, y)`` ignores ``y`` (so the
    detector means the same inside a ``Pipeline`` under ``GridSearchCV``, where ``y`` always
    arrives). The class-conditional model is :class:`ClassConditionalDetector`.
    """

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

    # --- fitting ---------------------------------------------------------------------------

    def fit(self, X: Any, y: Any = None) -> MahalanobisDetector:
        """Fit location and covariance to the rows of X; ``y`` is ignored (unsupervised).

        One row gives a zero covariance with a warning, as scikit-learn's covariance
        estimators do (MCD needs two rows, as ``MinCovDet``). A CuPy X (methods "empirical",
        "ledoit_wolf", "oas") is fitted on its GPU: the covariance statistics,
        eigendecomposition, factor and training distances are computed there, and
        ``location_``, ``covariance_``, ``precision_``, ``dist_`` are CuPy arrays; the
        threshold is a float. Score CuPy data with such a detector.
        """
        return self._fit(X, None)

    def _fit(self, X: Any, y: Any) -> MahalanobisDetector:
        self._check_params()
        X, names = estimator_matrix(X, allow_gpu=True)
        if is_gpu_array(X):
            self._check_gpu_fit(y)
        n = X.shape[0]
        if n < 2 and self.method == "mcd":
            raise ValueError(f"method='mcd' needs at least 2 samples, got n_samples = {n} "
                             "(1 sample), as sklearn's MinCovDet")
        self._remember_features(X, names)
        for name in ("stats_", "norm_moments_", "calibration_scores_"):
            self.__dict__.pop(name, None)  # a new fit starts a new stream
        rule = self._rule() if n > 1 else self._one_sample_rule()
        fit_rows, cal_rows = np.arange(n), None
        if rule == "conformal":
            fit_rows, cal_rows = self._calibration_split(n)
        xp = array_module(X)
        Xf = X if cal_rows is None else X[xp.asarray(fit_rows)]  # GPU: the indices go up
        yf = None if y is None else self._labels(y, n)[fit_rows]
        self._fit_covariance(Xf, yf)
        self.n_samples_fit_ = Xf.shape[0]
        self.dist_ = self._distances(Xf).astype(np.float64)
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
        """Add a batch to a streaming fit (continuing from ``fit`` when it ran; y ignored).

        "empirical", "oas" and "ledoit_wolf" merge exact statistics: after any number of
        batches the estimate equals ``fit`` on their concatenation (Ledoit-Wolf through the
        mergeable fourth moments of :mod:`pipeward.outliers.norm_moments`). "mcd" cannot be
        updated exactly (its support is a combinatorial choice), so the first batch gets
        FastMCD and each later batch adds, exactly, the statistics of its rows inside the
        current estimate's 97.5% chi2 ellipsoid: the reweighting step of ``MinCovDet`` applied
        batch by batch (one-step reweighted streaming; outlying rows never enter).

        Thresholds come from ``alpha`` (chi2 / hotelling; conformal is not streamed) or, with
        ``contamination``, from the quantile of the current batch's distances.
        """
        self._check_params()
        X, names = estimator_matrix(X, allow_gpu=True)
        if hasattr(self, "stats_"):
            self._check_features(X, names)
            self._check_same_device(X)
        else:
            if is_gpu_array(X):
                self._check_gpu_fit(None)
            self._remember_features(X, names)
        workers = workers_arg(self.workers)
        if self.method == "mcd":
            self._partial_fit_mcd(X, workers)
        else:
            batch = CovarianceStats.from_data(X, workers=workers)
            moments = None
            if self.method == "ledoit_wolf":
                moments = NormMoments.from_data(X, batch.mean, workers)
            if hasattr(self, "stats_") and moments is None:
                batch = self.stats_ + batch
            elif hasattr(self, "stats_"):
                batch, moments = norm_moments.merge((self.stats_, self.norm_moments_),
                                                    (batch, moments))
            self._set_from_stats(batch, moments)
        self.n_samples_fit_ = self.stats_.count
        rule = self._rule() if self.stats_.count > 1 else self._one_sample_rule()
        if rule == "conformal":
            rule = self._default_law()
        self.threshold_rule_ = rule
        if rule == "contamination":
            dist = self._distances(X).astype(np.float64)
            self.threshold_ = float(array_module(dist).percentile(
                dist, 100.0 * (1 - self.contamination)))
        else:
            self.threshold_ = self._law_threshold(rule, self.alpha)
        self.offset_ = -self.threshold_
        return self

    def _partial_fit_mcd(self, X: np.ndarray, workers: int | None) -> None:
        d = X.shape[1]
        if not hasattr(self, "stats_"):
            if X.shape[0] < 2:
                raise ValueError("method='mcd': the first partial_fit batch needs at least 2 "
                                 f"samples, got n_samples = {X.shape[0]} (1 sample)")
            self._fit_covariance(X, None)
            return
        inside = self._distances(X).astype(np.float64) < th.chi2_isf(0.025, d)
        stats = self.stats_
        if inside.any():
            stats = stats.update(X[inside], workers=workers)
        self.stats_ = stats
        self.support_ = None  # the rows of earlier batches are gone
        self._set_covariance(stats.mean, stats.covariance() * consistency_factor(d, 0.975))

    def _fit_covariance(self, X: np.ndarray, y: np.ndarray | None) -> None:
        """location_, covariance_, precision_ from the rows of X (``y``: see subclasses)."""
        workers = workers_arg(self.workers)
        self.support_ = None
        if self.method == "mcd":
            fit = min_cov_det(X, support_fraction=self.support_fraction,
                              random_state=self.random_state, workers=workers)
            self.raw_location_, self.raw_covariance_ = fit.raw_location, fit.raw_covariance
            self.raw_support_, self.support_ = fit.raw_support, fit.support
            # The reweighted support's statistics: partial_fit continues from them.
            self.stats_ = CovarianceStats.from_data(X[fit.support], workers=workers)
            self._set_covariance(fit.location, fit.covariance)
            return
        stats = CovarianceStats.from_data(X, workers=workers)
        moments = None
        if self.method == "ledoit_wolf":
            moments = NormMoments.from_data(X, stats.mean, workers)
        self._set_from_stats(stats, moments)

    def _set_from_stats(self, stats: CovarianceStats, moments: NormMoments | None) -> None:
        self.stats_ = stats
        if moments is not None:
            self.norm_moments_ = moments
        if stats.count == 1:
            warnings.warn("Only one sample available: the covariance is zero (as "
                          "scikit-learn's covariance estimators give)", UserWarning,
                          stacklevel=4)
            self._set_covariance(stats.mean, stats.comoment, warn=False)
            return
        S = stats.covariance()
        if self.method == "ledoit_wolf":
            S = _ledoit_wolf_from_norms(S, moments.fourth, stats.count)
        elif self.method == "oas":
            S = _oas(S, stats.count)
        self._set_covariance(stats.mean, S)

    def _set_covariance(self, location: np.ndarray, covariance: np.ndarray, *,
                        warn: bool = True) -> None:
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
        if not warn:
            pass
        elif rank < d:
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
        """Squared Mahalanobis distances of the rows of X to the fitted location.

        CuPy X, for a detector fitted on CuPy data, is scored on its GPU (CuPy result)."""
        self._check_fitted()
        X, names = estimator_matrix(X, check_finite=False, allow_gpu=True)
        self._check_features(X, names)
        self._check_same_device(X)
        return require_finite_rows(self._distances(X), "X", X)

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

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy of ``predict(X)`` against ``y`` (+1 inlier / -1 outlier), weighted by
        ``sample_weight``: ``EllipticEnvelope.score``."""
        predicted = self.predict(X)
        if is_gpu_array(predicted):
            raise TypeError("score runs on host arrays; pass X.get()")
        y = self._labels(y, predicted.shape[0])
        hits = (predicted == y).astype(np.float64)
        if sample_weight is None:
            return float(hits.mean())
        w = np.asarray(sample_weight, dtype=np.float64)
        if w.shape != hits.shape:
            raise ValueError(f"sample_weight: expected shape {hits.shape}, got {w.shape}")
        return float(np.average(hits, weights=w))

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
        if is_gpu_array(X):
            from .._gpu import mahalanobis as gpu  # noqa: PLC0415 - GPU path only

            return gpu.squared_distances(X, self.location_, self._factor, self._lower)
        return squared_distances_factored(X, self.location_, self._factor, self._lower,
                                          workers=workers_arg(self.workers))

    def _check_gpu_fit(self, y: Any) -> None:
        if self.method == "mcd":
            raise ValueError(
                "MahalanobisDetector.fit on CuPy arrays supports method='empirical', "
                "'ledoit_wolf' or 'oas' (got method='mcd'); FastMCD runs on host arrays")

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

    def _one_sample_rule(self) -> str:
        """With one row only the chi2 law (which needs no n) or the training quantile apply."""
        return "contamination" if self.alpha is None else "chi2"

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


def _ledoit_wolf_from_norms(S: np.ndarray, fourth: float, n: int) -> np.ndarray:
    """sklearn's ``ledoit_wolf`` from the covariance S of n rows and ``fourth``, the sum of
    their squared centred squared norms ``sum_i ||x_i - mean||^4``."""
    d = S.shape[0]
    if d == 1:
        return S
    beta_ = fourth
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


