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
from .._backend import array_module, cupy, is_gpu_array, resolve_backend
from .._validate import FLOAT_DTYPES, describe, float_array, workers_arg
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


def native_float(X: np.ndarray) -> np.ndarray:
    """X viewed with NumPy's own float32/float64 dtype object (no copy), which is what the
    native kernels check for; byte-swapped data is converted (the one copy this makes)."""
    if not X.dtype.isnative:
        X = X.astype(X.dtype.newbyteorder("="))
    canonical = np.dtype(np.float64 if X.dtype.itemsize == 8 else np.float32)
    return X if X.dtype is canonical else X.view(canonical)


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
    backend = resolve_backend(backend, X, location, precision)
    if backend == "cuda":
        cupy()  # explains a missing CuPy / device first
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
    if backend == "reference":
        with np.errstate(over="ignore"):  # a float32 overflow is reported below
            d2 = reference.squared_distances(X, location, precision).astype(X.dtype, copy=False)
    elif backend == "cuda":  # CuPy arrays in, CuPy arrays out: cuda/mahalanobis.cu + cuBLAS
        from .._gpu import mahalanobis as gpu  # noqa: PLC0415 - GPU path only

        d2 = gpu.mahalanobis(X, location, precision)
    else:
        factor, lower = precision_factor(precision)
        d2 = squared_distances_factored(X, location, factor, lower, workers=workers_arg(workers))
    return require_finite_rows(d2, "X", X)


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
    count, mean, m2 = _core.mahalanobis_comoment(native_float(X), idx, workers)
    return int(count), mean, m2


def as_matrix(X: Any, name: str = "X", *, check_finite: bool = True,
              allow_gpu: bool = False) -> tuple[np.ndarray, np.ndarray | None]:
    """(float array, column names or None) for an estimator input.

    pandas DataFrames give their column names and must be all-numeric; integer and boolean
    data become float64 (as in scikit-learn); float32/float64 arrays are used as they are.
    Rejects non-numeric data, NaN/inf, non-2-d shapes and empty data with a message (scoring
    paths pass ``check_finite=False`` and check the distances instead: one pass fewer).
    With ``allow_gpu``, CuPy arrays (and ``__cuda_array_interface__`` objects, viewed in
    place) are checked the same way on their device and come back as CuPy arrays.
    """
    names = None
    if allow_gpu and is_gpu_array(X):
        return _device_matrix(X, name, check_finite), None
    if hasattr(X, "nnz") and hasattr(X, "toarray"):
        raise TypeError(f"{name}: sparse input is not supported; pass a dense array "
                        "(X.toarray()) if it fits in memory")
    if hasattr(X, "columns") and hasattr(X, "dtypes"):  # a pandas DataFrame
        names = np.asarray([str(c) for c in X.columns], dtype=object)
        bad = [str(c) for c, t in zip(X.columns, X.dtypes) if not _numeric_kind(t)]
        if bad:
            raise TypeError(f"{name}: expected numeric columns, got non-numeric column(s) "
                            f"{', '.join(bad[:5])}")
        dtypes = {np.dtype(t) for t in X.dtypes}
        target = dtypes.pop() if len(dtypes) == 1 and dtypes <= set(FLOAT_DTYPES) else np.float64
        X = X.to_numpy(dtype=target)
    elif hasattr(X, "__cuda_array_interface__"):
        raise TypeError(f"{name}: the detector runs on host arrays, got a {describe(X)}")
    else:
        if hasattr(X, "dtype") and np.dtype(X.dtype).kind == "O" or not hasattr(X, "dtype"):
            try:
                X = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name}: expected numeric data, got values that are not "
                                f"numbers ({exc})") from None
        X = np.asarray(X)
        if X.dtype.kind in "biu":
            X = X.astype(np.float64)
        elif X.dtype.kind == "c":
            raise ValueError(f"{name}: Complex data not supported, got a {describe(X)}")
        elif X.dtype.kind != "f" or X.dtype.itemsize not in (4, 8):
            raise TypeError(f"{name}: expected real numeric data, got a {describe(X)}")
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d array (n_samples, n_features), got a "
                         f"{describe(X)}. Reshape your data with X.reshape(-1, 1) for one "
                         "feature or X.reshape(1, -1) for one sample")
    if X.shape[0] == 0:
        raise ValueError(f"{name}: Found array with 0 sample(s) (shape={X.shape}) while a "
                         "minimum of 1 is required.")
    if X.shape[1] == 0:
        raise ValueError(f"{name}: Found array with 0 feature(s) (shape={X.shape}) while a "
                         "minimum of 1 is required.")
    X = native_float(X)
    bad_rows = ~np.isfinite(X).all(axis=1) if check_finite else np.zeros(1, dtype=bool)
    if bad_rows.any():
        first = int(np.flatnonzero(bad_rows)[0])
        raise ValueError(f"{name}: contains NaN or infinity in {int(bad_rows.sum())} row(s) "
                         f"(first: row {first})")
    return X, names


def _device_matrix(X: Any, name: str, check_finite: bool) -> Any:
    """:func:`as_matrix` for GPU arrays: the same rules and messages, checked on the device."""
    cp = cupy()
    X = cp.asarray(X)  # a view for __cuda_array_interface__ objects; CuPy arrays as they are
    kind = X.dtype.kind
    if kind in "biu":
        X = X.astype(cp.float64)  # as on the host (scikit-learn's rule), on the device
    elif kind == "c":
        raise ValueError(f"{name}: Complex data not supported, got a {describe(X)}")
    elif kind != "f" or X.dtype.itemsize not in (4, 8):
        raise TypeError(f"{name}: expected real numeric data, got a {describe(X)}")
    if X.ndim != 2:
        raise ValueError(f"{name}: expected a 2-d array (n_samples, n_features), got a "
                         f"{describe(X)}")
    if X.shape[0] == 0 or X.shape[1] == 0:
        raise ValueError(f"{name}: Found array with shape={X.shape} while at least one sample "
                         "and one feature are required.")
    if check_finite:
        bad_rows = ~cp.isfinite(X).all(axis=1)
        if bool(bad_rows.any()):  # one flag read; the row numbers only on failure
            first = int(cp.flatnonzero(bad_rows)[0])
            raise ValueError(f"{name}: contains NaN or infinity in {int(bad_rows.sum())} "
                             f"row(s) (first: row {first})")
    return X


def _numeric_kind(dtype: Any) -> bool:
    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:  # pandas extension dtypes
        return str(dtype).lower().startswith(("int", "uint", "float", "boolean"))
