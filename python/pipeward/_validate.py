"""Input checks shared by the public functions: no silent casts, messages that say what
arrived and what was expected.

The dtype policy, in one place:

* kernel functions (``mahalanobis``, ``clip_and_noise``, CuPy input everywhere): float32 and
  float64 arrays are used as they are, in place; Python sequences (no dtype to keep) become
  float64; an array of any other dtype is a ``TypeError``, never a silent cast
  (:func:`float_array`).
* the scipy drop-ins (``ks_2samp``, ``psi``) read what ``scipy.stats.ks_2samp`` reads and
  convert it as scipy documents (pandas objects, masked arrays, integer and boolean data;
  ``drift/_inputs.py``); float32/float64 arrays still pass without a copy.
* estimator inputs (``MahalanobisDetector``, ``screen``; scikit-learn drop-ins) follow
  scikit-learn: integer and boolean data become float64, float32/float64 stay as they are,
  anything else is refused (:func:`estimator_matrix`).
* pandas DataFrames (and mappings of columns), wherever a table is accepted, go through one
  adapter (:func:`frame_columns`): column names become feature names, numeric columns (float, int,
  bool, nullable NA -> NaN) become one float32 array if every one is float32 and float64
  otherwise, and string/categorical columns are categorical features where a function takes
  them (``DriftMonitor``) and an error elsewhere.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._backend import cupy, is_gpu_array

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def describe(x: Any) -> str:
    """``'float16 array of shape (3,)'`` or the type name for non-arrays."""
    dtype = getattr(x, "dtype", None)
    shape = getattr(x, "shape", None)
    if dtype is not None and shape is not None:
        kind = "CuPy array" if hasattr(x, "__cuda_array_interface__") else "array"
        return f"{dtype} {kind} of shape {tuple(shape)}"
    return type(x).__name__


def float_array(x: Any, name: str, *, ndim: int | tuple[int, ...] | None = None,
                allow_empty: bool = False, finite: bool = False) -> Any:
    """Return ``x`` as a float32/float64 array without copying or casting.

    Lists and other sequences become float64 arrays (there is no dtype to preserve); an
    existing array of any other dtype is a ``TypeError`` rather than a silent cast.
    """
    if not hasattr(x, "dtype"):
        if isinstance(x, (str, bytes)):
            raise TypeError(f"{name}: expected a float32 or float64 array, got {type(x).__name__}")
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected a float32 or float64 array, got "
                            f"{type(x).__name__} that is not numeric ({exc})") from None
    if np.dtype(x.dtype) not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a float32 or float64 array, got a {describe(x)}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-d" for d in allowed)
            raise ValueError(f"{name}: expected a {want} array, got a {describe(x)}")
    if not allow_empty and x.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got a {describe(x)}")
    if finite:
        xp = _module_of(x)
        if not bool(xp.isfinite(x).all()):
            raise ValueError(f"{name}: contains NaN or infinity ({describe(x)})")
    return x


def _module_of(x: Any) -> Any:
    return cupy() if is_gpu_array(x) else np


def positive_int(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def workers_arg(workers: Any) -> int | None:
    """``None`` (the OpenMP default, honouring threadpoolctl) or a positive thread count."""
    return positive_int(workers, "workers", allow_none=True)


# -- DataFrames -------------------------------------------------------------------------------

def is_frame(x: Any) -> bool:
    """A pandas DataFrame (duck-typed: pandas stays optional)."""
    return hasattr(x, "columns") and hasattr(x, "dtypes") and hasattr(x, "iloc")


def is_table(x: Any) -> bool:
    """A pandas DataFrame or a mapping of column name -> 1-d column (e.g. a CSV file read
    without pandas by ``pipeward._csvfile.read_csv``)."""
    return is_frame(x) or isinstance(x, Mapping)


@dataclass
class FrameColumns:
    """A DataFrame split by :func:`frame_columns`."""

    names: list[str]              # every column, in order
    kinds: list[str]              # "numeric" or "categorical", per column
    numeric: np.ndarray | None    # (rows, n_numeric) float32/float64, or None
    categorical: list[Any]        # the categorical columns (pandas Series)


def _is_numeric_column(dtype: Any) -> bool:
    try:
        return np.dtype(dtype).kind in "biuf"
    except TypeError:  # pandas extension dtypes (Int64, Float32, boolean, ...)
        return getattr(dtype, "kind", "") in "biuf" or \
            str(dtype).lower().startswith(("int", "uint", "float", "boolean"))


def frame_columns(df: Any, name: str, *, categorical: bool) -> FrameColumns:
    """The one DataFrame adapter (see the module docstring for the rules), for a mapping of
    columns too (:func:`is_table`). Without ``categorical``, a non-numeric column is a
    ``TypeError``."""
    columns = list(df.keys())
    names = [str(c) for c in columns]
    if not categorical:
        bad = [str(c) for c in columns if not _is_numeric_column(df[c].dtype)]
        if bad:
            raise TypeError(f"{name}: expected numeric columns, got non-numeric column(s) "
                            f"{', '.join(bad[:5])}")
    kinds: list[str] = []
    numeric_cols: list[np.ndarray] = []
    categorical_cols: list[Any] = []
    for c in columns:
        col = df[c]
        if _is_numeric_column(col.dtype):
            kinds.append("numeric")
            as_f32 = col.dtype.kind == "f" and col.dtype.itemsize == 4
            numeric_cols.append(_floats(col, np.float32 if as_f32 else np.float64))
        elif str(col.dtype) in ("category", "string", "str") or col.dtype.kind in "OUS":
            kinds.append("categorical")
            categorical_cols.append(col)
        else:
            raise TypeError(f"{name}: column {c!r} has dtype {col.dtype}; expected numeric, "
                            "string or categorical")
    if len({len(a) for a in numeric_cols} | {len(c) for c in categorical_cols}) > 1:
        raise ValueError(f"{name}: the columns have different lengths")
    numeric = None
    if numeric_cols:
        dtype = np.float32 if all(a.dtype == np.float32 for a in numeric_cols) else np.float64
        numeric = np.stack([a.astype(dtype, copy=False) for a in numeric_cols], axis=1)
    return FrameColumns(names, kinds, numeric, categorical_cols)


def _floats(col: Any, dtype: Any) -> np.ndarray:
    """A numeric column as ``dtype``: pandas nullable NA -> NaN; NumPy arrays as they are."""
    if hasattr(col, "to_numpy"):
        return col.to_numpy(dtype=dtype, na_value=np.nan)
    col = np.asarray(col)
    if col.ndim != 1:
        raise ValueError(f"a table column must be 1-d, got a {describe(col)}")
    return col.astype(dtype, copy=False)


# -- estimator inputs -------------------------------------------------------------------------

def estimator_matrix(X: Any, name: str = "X", *, check_finite: bool = True,
                     allow_gpu: bool = False) -> tuple[Any, np.ndarray | None]:
    """(float array, column names or None) for an estimator input, scikit-learn's rules.

    pandas DataFrames (and mappings of columns, as ``_csvfile.read_csv`` gives) give their
    column names and must be all-numeric; integer and boolean
    data become float64; float32/float64 arrays are used as they are. Rejects non-numeric
    data, NaN/inf, non-2-d shapes and empty data with a message (scoring paths pass
    ``check_finite=False`` and check the distances instead: one pass fewer). With
    ``allow_gpu``, CuPy arrays (and ``__cuda_array_interface__`` objects, viewed in place) are
    checked by the same code on their device and come back as CuPy arrays.
    """
    names = None
    if is_gpu_array(X):
        if not allow_gpu:
            raise TypeError(f"{name}: the detector runs on host arrays, got a {describe(X)}")
        xp = cupy()
        X = xp.asarray(X)  # a view for __cuda_array_interface__ objects
    else:
        xp = np
        if hasattr(X, "nnz") and hasattr(X, "toarray"):
            raise TypeError(f"{name}: sparse input is not supported; pass a dense array "
                            "(X.toarray()) if it fits in memory")
        if is_table(X):
            frame = frame_columns(X, name, categorical=False)
            names = np.asarray(frame.names, dtype=object)
            X = frame.numeric
        elif not hasattr(X, "dtype") or np.dtype(X.dtype).kind == "O":
            try:
                X = np.asarray(X, dtype=np.float64)
            except (TypeError, ValueError) as exc:
                raise TypeError(f"{name}: expected numeric data, got values that are not "
                                f"numbers ({exc})") from None
        X = np.asarray(X)
    kind = X.dtype.kind
    if kind in "biu":
        X = X.astype(xp.float64)
    elif kind == "c":
        raise ValueError(f"{name}: Complex data not supported, got a {describe(X)}")
    elif kind != "f" or X.dtype.itemsize not in (4, 8):
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
    if xp is np:
        X = native_float(X)
    if check_finite:
        bad_rows = ~xp.isfinite(X).all(axis=1)
        if bool(bad_rows.any()):  # on a GPU: one flag read; the row numbers only on failure
            first = int(xp.flatnonzero(bad_rows)[0])
            raise ValueError(f"{name}: contains NaN or infinity in {int(bad_rows.sum())} "
                             f"row(s) (first: row {first})")
    return X, names


def native_float(X: np.ndarray) -> np.ndarray:
    """X viewed with NumPy's own float32/float64 dtype object (no copy), which is what the
    native kernels check for; byte-swapped data is converted (the one copy this makes)."""
    if not X.dtype.isnative:
        X = X.astype(X.dtype.newbyteorder("="))
    canonical = np.dtype(np.float64 if X.dtype.itemsize == 8 else np.float32)
    return X if X.dtype is canonical else X.view(canonical)
