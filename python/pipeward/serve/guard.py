"""The service's out-of-distribution guard: a fitted Mahalanobis detector, saved without pickle.

At packaging a :class:`~pipeward.MahalanobisDetector` with conformal calibration is fitted on
the numeric training columns (the fit ``InputGuard`` uses); its location, precision and sorted
calibration distances go into ``guard.npz``. The service scores a row as its squared
distance through the native Mahalanobis kernel and a conformal p-value, ``(1 + #{calibration
>= d2}) / (n_cal + 1)`` (as ``pipeward.outliers.thresholds.conformal_pvalues``): a row is out of distribution when ``p <= alpha``.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from ..outliers import MahalanobisDetector
from ..outliers.kernel import precision_factor, squared_distances_factored

__all__ = ["ServeGuard"]

_FORMAT = "pipeward-serve-guard"
_SMALL_BATCH = 16


class ServeGuard:
    """Score rows against the training distribution: ``score(X) -> (d2, pvalues)``."""

    def __init__(self, location: np.ndarray, precision: np.ndarray, calibration: np.ndarray):
        self.location = np.ascontiguousarray(location, dtype=np.float64)
        self.precision = np.ascontiguousarray(precision, dtype=np.float64)
        self.calibration = np.sort(np.asarray(calibration, dtype=np.float64))
        d = self.location.shape[0]
        if self.precision.shape != (d, d) or self.calibration.ndim != 1 or not self.calibration.size:
            raise ValueError(f"guard: expected location (d,), precision (d, d) and a non-empty "
                             f"calibration, got {self.location.shape}, {self.precision.shape}, "
                             f"{self.calibration.shape}")
        self._factor, self._lower = precision_factor(self.precision)

    @property
    def n_features(self) -> int:
        return int(self.location.shape[0])

    @classmethod
    def fit(cls, X: np.ndarray, *, method: str = "mcd", random_state: int = 0) -> ServeGuard:
        """Fit on clean training rows (location/covariance by ``method``, MCD by default;
        conformal calibration)."""
        X = np.asarray(X, dtype=np.float64)
        # Fitted on standardised columns: features in different units (areas in the thousands,
        # ratios below one) would otherwise make a well-conditioned shape look near-singular.
        # Mahalanobis distances do not change under the rescaling, so it is undone exactly.
        mu = X.mean(axis=0)
        sd = X.std(axis=0)
        sd[sd == 0] = 1.0
        detector = MahalanobisDetector(method=method, threshold="conformal", alpha=0.01,
                                       random_state=random_state).fit((X - mu) / sd)
        return cls(mu + sd * detector.location_, detector.precision_ / np.outer(sd, sd),
                   detector.calibration_scores_)

    def score(self, X: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Squared distances and conformal p-values of the rows of a float64 matrix."""
        if X.shape[0] <= _SMALL_BATCH:
            # A request's few rows: one small matmul beats the native call's fixed cost.
            z = (X - self.location) @ self._factor
            d2 = np.einsum("ij,ij->i", z, z)
        else:
            d2 = squared_distances_factored(X, self.location, self._factor, self._lower, workers=1)
        at_least = self.calibration.size - np.searchsorted(self.calibration, d2, side="left")
        return d2, (1.0 + at_least) / (self.calibration.size + 1.0)

    def save(self, path: str | os.PathLike[str]) -> None:
        with open(path, "wb") as fh:
            np.savez(fh, settings=np.array(json.dumps({"format": _FORMAT})),
                     location=self.location, precision=self.precision,
                     calibration=self.calibration)

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> ServeGuard:
        with np.load(path, allow_pickle=False) as z:
            settings: Any = json.loads(str(z["settings"]))
            if settings.get("format") != _FORMAT:
                raise ValueError(f"{path}: not a pipeward serve guard")
            return cls(z["location"], z["precision"], z["calibration"])
