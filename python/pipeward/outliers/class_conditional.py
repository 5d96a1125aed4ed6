"""``ClassConditionalDetector``: one location per class and a tied covariance (Lee et al. 2018).

Kept apart from :class:`MahalanobisDetector` because it *uses* ``y``: scikit-learn's outlier
detectors ignore ``y`` in ``fit``, and a ``Pipeline`` passes it whether asked or not, so the
class-conditional model is chosen by naming this class, never by the arrival of labels.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from .._validate import estimator_matrix, workers_arg
from .detector import CovarianceWarning, MahalanobisDetector
from .kernel import require_finite_rows, squared_distances_factored


class ClassConditionalDetector(MahalanobisDetector):
    """Distances to the nearest class location under a shared (tied) covariance.

    ``fit(X, y)`` fits one location per class (the mean; the median for ``method="mcd"``,
    plus the robust location of the residuals) and the chosen covariance estimator on the
    within-class residuals; a row's score is its squared distance to the nearest class.
    Without ``y`` every row is one class: the plain :class:`MahalanobisDetector`. Parameters,
    thresholds and scoring are :class:`MahalanobisDetector`'s; ``partial_fit`` is not offered.
    """

    def fit(self, X: Any, y: Any = None) -> ClassConditionalDetector:
        """Fit the class locations and the tied covariance; ``y`` gives the classes."""
        return self._fit(X, y)

    def fit_predict(self, X: Any, y: Any = None) -> np.ndarray:
        return self.fit(X, y).predict(X)

    @property
    def partial_fit(self) -> Any:  # hasattr() is False: scikit-learn then skips its checks
        raise AttributeError("ClassConditionalDetector has no partial_fit: the class "
                             "locations move with every batch; use MahalanobisDetector")

    def class_distances(self, X: Any) -> np.ndarray:
        """(n, n_classes) squared distances to each class location, columns in ``classes_``."""
        self._check_fitted()
        X, names = estimator_matrix(X, check_finite=False)
        self._check_features(X, names)
        D = self._class_distances(X)
        require_finite_rows(D.sum(axis=1), "X", X)
        return D

    def _fit_covariance(self, X: np.ndarray, y: np.ndarray | None) -> None:
        if y is None:
            y = np.zeros(X.shape[0], dtype=np.int64)
        self.classes_, codes = np.unique(y, return_inverse=True)
        codes = codes.ravel()
        if self.method == "mcd":
            centres = np.stack([np.median(X[codes == k], axis=0)
                                for k in range(self.classes_.size)])
        else:
            centres = np.stack([X[codes == k].mean(axis=0) for k in range(self.classes_.size)])
        residuals = X - centres[codes]
        inner = MahalanobisDetector(self.method, support_fraction=self.support_fraction,
                                    random_state=self.random_state, workers=self.workers)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", CovarianceWarning)
            inner._fit_covariance(residuals, None)
        self.support_ = inner.support_
        self.class_locations_ = centres + inner.location_
        self._set_covariance(self.class_locations_.mean(axis=0), inner.covariance_)

    def _distances(self, X: np.ndarray) -> np.ndarray:
        return self._class_distances(X).min(axis=1)

    def _class_distances(self, X: np.ndarray) -> np.ndarray:
        workers = workers_arg(self.workers)
        return np.stack([squared_distances_factored(X, loc, self._factor, self._lower,
                                                    workers=workers)
                         for loc in self.class_locations_], axis=1)

    def _check_gpu_fit(self, y: Any) -> None:
        raise ValueError("ClassConditionalDetector runs on host arrays; the GPU fit is "
                         "MahalanobisDetector's (method 'empirical', 'ledoit_wolf' or 'oas')")
