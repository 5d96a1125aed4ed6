"""The Mahalanobis kernel: batched squared distances and mergeable covariance statistics.

``mahalanobis(X, location, precision)`` returns ``(x - mu)^T P (x - mu)`` for every row (the
*squared* distance, as scikit-learn's ``EmpiricalCovariance.mahalanobis``). P is factored once
as ``P = W W^T`` (Cholesky; an eigen-square-root when P is singular) and the native kernel
evaluates ``||(x - mu)^T W||^2`` block by block, so there is no n x d temporary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from .._backend import Backends, array_module, cupy, is_gpu_array
from .._validate import describe, float_array, native_float, workers_arg
from ..reference import mahalanobis as reference


def precision_factor(precision: np.ndarray) -> tuple[np.ndarray, bool]:
    """(W, lower) with W W^T = precision: the lower Cholesky factor, else V sqrt(max(w, 0)).

    Raises ValueError when the precision has clearly negative eigenvalues (not a precision).
    """
    P = np.asarray(precision, dtype=np.float64)
    P = 0.5 * (P + P.T)  # x^T P x only sees the symmetric part
    try:
        return np.linalg.cholesky(P), True
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(P)
        scale = max(float(np.abs(w).max(initial=0.0)), np.finfo(np.float64).tiny)
        if w.min(initial=0.0) < -1e-8 * scale:
            raise ValueError(
                "precision: expected a symmetric positive semi-definite matrix, got one with "
                f"eigenvalue {w.min():.3g}") from None
        return np.ascontiguousarray(V * np.sqrt(np.clip(w, 0.0, None))), False


def squared_distances_factored(X: np.ndarray, location: np.ndarray, factor: np.ndarray,
                               lower: bool, *, workers: int | None = None) -> np.ndarray:
    """The native kernel on a validated float array X (any strides) and a ready factor."""
    X = native_float(X)
    dtype = X.dtype
    out = np.empty(X.shape[0], dtype=dtype)
    _core.mahalanobis_sq_distances(
        X, native_float(np.ascontiguousarray(location, dtype=dtype)),
        native_float(np.ascontiguousarray(factor, dtype=dtype)), bool(lower), out, workers)
    return out


def mahalanobis(X: Any, location: Any, precision: Any, *, backend: str = "auto",
                workers: int | None = None) -> Any:
    """Squared Mahalanobis distances ``d2_i = (x_i - mu)^T P (x_i - mu)`` of every row.

    X is float32 or float64 (n, d) and is read in place whatever its strides; the result has
    X's dtype (float32 arithmetic for float32 X). ``location`` (d,) and ``precision`` (d, d)
    are small and are converted to X's dtype. Matches sklearn's
    ``EmpiricalCovariance(...).mahalanobis(X)`` given the same location and precision.
    """
    run = MAHALANOBIS_BACKENDS.choose(backend, X, location, precision)
    # X's finiteness is checked on the result: a NaN or infinity in a row always makes that
    # row's distance non-finite, and this saves a pass over X.
    X = float_array(X, "X", ndim=2)
    location = float_array(location, "location", ndim=1, finite=True)
    precision = float_array(precision, "precision", ndim=2, finite=True)
    d = X.shape[1]
    if location.shape != (d,):
        raise ValueError(f"location: expected shape ({d},) for X with {d} features, "
                         f"got a {describe(location)}")
    if precision.shape != (d, d):
        raise ValueError(f"precision: expected shape ({d}, {d}) for X with {d} features, "
                         f"got a {describe(precision)}")
    return require_finite_rows(run(X, location, precision, workers), "X", X)


# ---- the three implementations: validated X (n, d), location (d,), precision (d, d) ---------

def _mahalanobis_cpu(X: np.ndarray, location: np.ndarray, precision: np.ndarray,
                     workers: int | None) -> np.ndarray:
    factor, lower = precision_factor(precision)
    return squared_distances_factored(X, location, factor, lower, workers=workers_arg(workers))


def _mahalanobis_cuda(X: Any, location: Any, precision: Any, workers: int | None) -> Any:
    from .._gpu import mahalanobis as gpu  # noqa: PLC0415 - GPU path: cuda/mahalanobis.cu + cuBLAS

    return gpu.mahalanobis(X, location, precision)


def _mahalanobis_reference(X: np.ndarray, location: np.ndarray, precision: np.ndarray,
                           workers: int | None) -> np.ndarray:
    with np.errstate(over="ignore"):  # a float32 overflow is reported by require_finite_rows
        return reference.squared_distances(X, location, precision).astype(X.dtype, copy=False)


MAHALANOBIS_BACKENDS = Backends(cpu=_mahalanobis_cpu, cuda=_mahalanobis_cuda,
                                reference=_mahalanobis_reference)


def require_finite_rows(d2: Any, name: str, X: Any) -> Any:
    """d2 unchanged, or a ValueError naming the rows of ``X`` that held NaN/infinity, or, when
    those rows are finite, saying that their distances overflow ``d2``'s dtype."""
    xp = array_module(d2)
    if bool(xp.isfinite(d2).all()):
        return d2
    bad = xp.flatnonzero(~xp.isfinite(d2))
    nonfinite = bad[~xp.isfinite(X[bad]).all(axis=1)]
    if nonfinite.size:
        raise ValueError(f"{name}: contains NaN or infinity in {int(nonfinite.size)} row(s) "
                         f"(first: row {int(nonfinite[0])})")
    raise ValueError(f"overflow: the squared distance of {int(bad.size)} finite row(s) of {name} "
                     f"(first: row {int(bad[0])}) exceeds the largest {np.dtype(d2.dtype).name} "
                     f"({float(np.finfo(d2.dtype).max):.3g}); rescale the data")


@dataclass(frozen=True)
class CovarianceStats:
    """Covariance sufficient statistics ``(count, mean, M2)``, mergeable exactly.

    ``M2 = sum_i (x_i - mean)(x_i - mean)^T`` in float64. Build one per partition (a batch, a
    Dask chunk) and combine them with ``a.merge(b)`` or ``a + b`` (Chan, Golub & LeVeque):
    the result equals the statistics of the concatenated data up to rounding. The covariance is
    ``M2 / (count - ddof)``; ``ddof=0`` is sklearn's ``empirical_covariance``.
    """

    count: int
    mean: np.ndarray
    comoment: np.ndarray

    @classmethod
    def from_data(cls, X: Any, *, workers: int | None = None) -> CovarianceStats:
        """The statistics of the rows of X (float32/float64, any strides). A CuPy X is reduced
        on its GPU (cuda/mahalanobis.cu centring + cuBLAS ``Xc^T Xc``) and gives CuPy
        ``mean``/``comoment``; statistics merge with others of the same kind."""
        X = float_array(X, "X", ndim=2)
        if is_gpu_array(X):
            from .._gpu import mahalanobis as gpu  # noqa: PLC0415 - GPU path only

            cupy()  # a clear error without CuPy or a device
            count, mean, m2 = gpu.comoment(X)
        else:
            X = native_float(X)
            count, mean, m2 = _core.mahalanobis_comoment(X, None, workers_arg(workers))
        # One pass over X: a NaN or infinity anywhere shows up in the mean (one flag read).
        if not bool(array_module(mean).isfinite(mean).all()):
            raise ValueError(f"X: contains NaN or infinity ({describe(X)})")
        return cls(int(count), mean, m2)

    @classmethod
    def empty(cls, n_features: int) -> CovarianceStats:
        return cls(0, np.zeros(n_features), np.zeros((n_features, n_features)))

    @property
    def n_features(self) -> int:
        return int(self.mean.shape[0])

    def merge(self, other: CovarianceStats) -> CovarianceStats:
        if not isinstance(other, CovarianceStats):
            raise TypeError(f"can only merge CovarianceStats, got {type(other).__name__}")
        if other.n_features != self.n_features:
            raise ValueError(f"cannot merge statistics of {self.n_features} and "
                             f"{other.n_features} features")
        if self.count and other.count and is_gpu_array(self.mean) != is_gpu_array(other.mean):
            raise TypeError("cannot merge GPU (CuPy) statistics with host (NumPy) ones; move "
                            "one of them explicitly (pipeward never copies between host and "
                            "GPU silently)")
        n, mean, m2 = reference.merge_comoments((self.count, self.mean, self.comoment),
                                                (other.count, other.mean, other.comoment))
        return CovarianceStats(int(n), mean, m2)

    __add__ = merge

    def update(self, X: Any, *, workers: int | None = None) -> CovarianceStats:
        """These statistics merged with those of the rows of X."""
        return self.merge(CovarianceStats.from_data(X, workers=workers))

    def covariance(self, ddof: int = 0) -> np.ndarray:
        if self.count - ddof <= 0:
            raise ValueError(f"covariance needs more than {ddof} rows, have {self.count}")
        return self.comoment / (self.count - ddof)


def comoment_of_rows(X: np.ndarray, rows: np.ndarray | None,
                     workers: int | None = None) -> tuple[int, np.ndarray, np.ndarray]:
    """(count, mean, M2) of X[rows] without gathering the rows into a copy."""
    idx = None if rows is None else np.ascontiguousarray(rows, dtype=np.int64)
    stats = _core.mahalanobis_comoment(native_float(X), idx, workers)
    return int(stats.count), stats.mean, stats.m2
