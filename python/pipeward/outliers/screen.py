"""``screen``: find rows to quarantine before training (outliers, flipped labels, backdoors).

Three signals, each with its own rule:

* **outliers**: robust squared distances (with labels, to the nearest class location under
  a tied covariance). Real data is rarely Gaussian, so the chi2 law would flag its tails:
  instead the cube roots of the distances (near-normal by Wilson & Hilferty) get robust
  z-scores ``(u - median) / (1.4826 MAD)``, normal p-values, and Benjamini-Hochberg at
  level ``alpha`` over the whole set;
* **label-flip suspects** (labels given): rows whose own class is far less likely than
  another under the class-conditional Gaussian model (log-likelihood ratio
  ``(d2_own - d2_other) / 2 > flip_margin``), confirmed by their k nearest neighbours
  (Euclidean on the columns scaled to unit standard deviation) mostly carrying another
  label;
* **spectral signatures** (labels given; Tran, Li & Madry 2018): per class, the squared
  projection of the whitened, centred rows on the top singular direction; within each
  class, rows whose projection has a robust z-score beyond ``spectral_z`` (default 12).

The model is fitted twice: the second fit leaves out the first round's suspects, so a large
poisoned share does not bend the class locations towards itself.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import workers_arg
from .detector import CovarianceWarning, MahalanobisDetector
from .kernel import as_matrix
from .mcd import _single_threaded_blas
from .thresholds import benjamini_hochberg, chi2_sf


@dataclass
class ScreenReport:
    """What ``screen`` found. Index arrays refer to rows of the screened data."""

    distances: np.ndarray  # robust squared distance of every row
    pvalues: np.ndarray  # outlier p-value of every row
    outliers: np.ndarray
    label_suspects: np.ndarray
    spectral_scores: np.ndarray  # squared projection on the class's top direction (0: no labels)
    backdoor_suspects: np.ndarray
    quarantine: np.ndarray  # union of the three, sorted
    n_rows: int
    counts: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.quarantine.size == 0

    def split(self, X: Any, y: Any = None) -> tuple[Any, ...]:
        """(X_clean, X_quarantined) or, with y, (X_clean, y_clean, X_quarantined, y_quarantined).

        Works on NumPy arrays and pandas objects (rows taken by position).
        """
        n = _length(X)
        if n != self.n_rows:
            raise ValueError(f"X has {n} rows, but the screened data had {self.n_rows}")
        keep = np.ones(n, dtype=bool)
        keep[self.quarantine] = False
        take = _rows
        if y is None:
            return take(X, keep), take(X, ~keep)
        if _length(y) != n:
            raise ValueError(f"y has {_length(y)} rows, but X has {n}")
        return take(X, keep), take(y, keep), take(X, ~keep), take(y, ~keep)

    def summary(self) -> str:
        c = self.counts
        return (f"{c['rows']} rows screened: {c['outliers']} outliers, {c['label_suspects']} "
                f"label-flip suspects, {c['backdoor_suspects']} backdoor suspects; "
                f"{c['quarantine']} to quarantine")

    def to_dict(self) -> dict[str, Any]:
        return {"counts": dict(self.counts), "outliers": self.outliers.tolist(),
                "label_suspects": self.label_suspects.tolist(),
                "backdoor_suspects": self.backdoor_suspects.tolist(),
                "quarantine": self.quarantine.tolist()}


def screen(X: Any, y: Any = None, *, alpha: float = 1e-4, method: str = "ledoit_wolf",
           n_neighbors: int = 10, flip_margin: float = 4.0, spectral_z: float = 12.0,
           random_state: Any = 0,
           workers: int | None = None, audit: Any = None) -> ScreenReport:
    """Screen training data for poisoned rows; see the module docstring for the rules.

    ``alpha``: false discovery rate of the outlier test; ``method``: the covariance
    estimator. The default, Ledoit-Wolf shrinkage refitted without the first round's suspects
    (a one-step reweighted estimate), measured better than MCD on real data whose columns
    are nearly constant (digits: MCD's regularised supports over-flag); ``n_neighbors`` and ``flip_margin``: the
    label-flip confirmation (k nearest neighbours, log-likelihood-ratio margin);
    ``spectral_z``: robust z-score above which a spectral-signature projection is flagged;
    ``audit``: a :class:`pipeward.AuditLog` that receives the run's counts and a digest of the
    quarantined indices (``data.screen``).
    """
    X, _ = as_matrix(X)
    n = X.shape[0]
    if y is not None:
        y = np.asarray(y)
        if y.ndim != 1 or y.shape[0] != n:
            raise ValueError(f"y: expected {n} labels (1-d), got shape {y.shape}")
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}")
    # Constant columns carry nothing to model; they would only make the covariance singular.
    varying = np.ptp(X, axis=0) > 0
    if not varying.any():
        raise ValueError("X: every column is constant; there is nothing to screen")
    Z = np.ascontiguousarray(X[:, varying], dtype=np.float64)
    kw = dict(method=method, random_state=random_state, workers=workers_arg(workers))

    with _single_threaded_blas():
        report = _screen(Z, y, n, alpha, kw, n_neighbors, flip_margin, spectral_z)
    if audit is not None:
        from ..audit.records import record_screen  # noqa: PLC0415 - audit is optional here

        record_screen(audit, n_samples=n, n_outliers=int(report.outliers.size),
                      n_label_suspects=int(report.label_suspects.size),
                      quarantined=report.quarantine.tolist(), method=method)
    return report


def _screen(Z: np.ndarray, y: np.ndarray | None, n: int, alpha: float,
            kw: dict[str, Any], n_neighbors: int, flip_margin: float,
            spectral_z: float) -> ScreenReport:
    suspects = np.zeros(n, dtype=bool)
    scaled = Z / Z.std(axis=0)
    for _round in range(2):
        keep = ~suspects
        det = _fit(Z[keep], None if y is None else y[keep], kw)
        if y is None:
            d2 = det.mahalanobis(Z).astype(np.float64)
            own = d2
        else:
            D = det.class_distances(Z).astype(np.float64)
            codes = np.searchsorted(det.classes_, y)
            known = (codes < det.classes_.size) & (det.classes_[np.minimum(
                codes, det.classes_.size - 1)] == y)
            d2 = D.min(axis=1)
            own = np.where(known, D[np.arange(n), np.minimum(codes, D.shape[1] - 1)], np.inf)
        p = robust_tail_pvalues(np.cbrt(d2))
        outliers = benjamini_hochberg(p, alpha)
        flips = np.zeros(n, dtype=bool)
        spectral = np.zeros(n)
        backdoor = np.zeros(n, dtype=bool)
        if y is not None:
            D_other = np.where(np.arange(D.shape[1])[None, :] == codes[:, None], np.inf, D)
            ratio = (own - D_other.min(axis=1)) / 2.0
            # Only rows the model already doubts need their neighbours counted.
            doubted = np.flatnonzero(ratio > flip_margin)
            agree = _neighbour_agreement(scaled, y, n_neighbors, doubted)
            flips[doubted] = agree < 0.5
            spectral, backdoor = _spectral_signatures(_whiten(Z, det), y, spectral_z)
        suspects = outliers | flips | backdoor
    quarantine = np.flatnonzero(suspects)
    counts = {"rows": n, "outliers": int(outliers.sum()), "label_suspects": int(flips.sum()),
              "backdoor_suspects": int(backdoor.sum()), "quarantine": int(quarantine.size)}
    return ScreenReport(d2, p, np.flatnonzero(outliers), np.flatnonzero(flips), spectral,
                        np.flatnonzero(backdoor), quarantine, n, counts)


def _fit(Z: np.ndarray, y: np.ndarray | None, kw: dict[str, Any]) -> MahalanobisDetector:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CovarianceWarning)
        return MahalanobisDetector(**kw).fit(Z, y)


def robust_z(u: np.ndarray) -> np.ndarray:
    """(u - median) / (1.4826 MAD), the standard deviation standing in when MAD is 0."""
    med = float(np.median(u))
    mad = 1.4826 * float(np.median(np.abs(u - med)))
    if mad <= 0:
        mad = float(np.std(u)) or 1.0
    return (u - med) / mad


def robust_tail_pvalues(u: np.ndarray) -> np.ndarray:
    """Upper-tail normal p-values of the robust z-scores of u."""
    return tail_pvalues(robust_z(u))


def tail_pvalues(z: np.ndarray) -> np.ndarray:
    """P(N(0,1) > z) for every z."""
    tail = 0.5 * chi2_sf(z * z, 1)  # P(N(0,1) > |z|)
    return np.where(z > 0, tail, 1.0 - tail)


def _whiten(Z: np.ndarray, det: MahalanobisDetector) -> np.ndarray:
    """Rows in the detector's whitened coordinates: (x - mean) W with W W^T = precision."""
    return (Z - det.location_) @ det._factor


def _neighbour_agreement(points: np.ndarray, y: np.ndarray, k: int,
                         rows: np.ndarray) -> np.ndarray:
    """Share of the k nearest neighbours (Euclidean) of each of `rows` carrying its label."""
    n = points.shape[0]
    k = max(1, min(k, n - 1))
    sq = np.einsum("ij,ij->i", points, points)
    agree = np.empty(rows.size)
    block = max(1, 4_000_000 // max(n, 1))
    for s in range(0, rows.size, block):
        r = rows[s:s + block]
        dist = sq[r, None] - 2.0 * points[r] @ points.T + sq[None, :]
        dist[np.arange(r.size), r] = np.inf  # not its own neighbour
        nn = np.argpartition(dist, k - 1, axis=1)[:, :k]
        agree[s:s + block] = (y[nn] == y[r, None]).mean(axis=1)
    return agree


def _spectral_signatures(white: np.ndarray, y: np.ndarray, z_min: float) -> tuple[np.ndarray, np.ndarray]:
    scores = np.zeros(white.shape[0])
    flagged = np.zeros(white.shape[0], dtype=bool)
    for label in np.unique(y):
        rows = np.flatnonzero(y == label)
        if rows.size < 3:
            continue
        R = white[rows] - np.median(white[rows], axis=0)
        _, _, vt = np.linalg.svd(R, full_matrices=False)
        proj = R @ vt[0]
        scores[rows] = proj**2
        # The direction's sign is arbitrary; a poisoned cluster sits at one end of it.
        flagged[rows] = np.abs(robust_z(proj)) > z_min
    return scores, flagged


def _length(a: Any) -> int:
    return int(a.shape[0]) if hasattr(a, "shape") else len(a)


def _rows(a: Any, mask: np.ndarray) -> Any:
    if hasattr(a, "iloc"):
        return a.iloc[np.flatnonzero(mask)]
    return np.asarray(a)[mask] if not hasattr(a, "shape") else a[mask]
