"""Shared input handling for the drift functions: what scipy accepts, read without surprises,
and feature-major views without copies."""

from __future__ import annotations

import math
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import _core
from .._validate import FLOAT_DTYPES, describe, float_array

EXACT_IN_FLOAT64 = 2**53  # every integer of at most this magnitude is a float64 exactly


def sample_array(x: Any, name: str) -> np.ndarray:
    """A float32/float64 array of at least one dimension, with a message for anything else."""
    if hasattr(x, "dtype") and np.dtype(x.dtype).kind in "OUS":
        raise TypeError(f"{name}: expected a float32 or float64 array, got a {describe(x)}; "
                        "encode categorical columns first or use DriftMonitor, which does")
    x = float_array(x, name, allow_empty=True)
    if x.ndim == 0:
        raise ValueError(f"{name}: expected an array of samples, got a scalar")
    return x


# ---- scipy's input rules ---------------------------------------------------------------------

@dataclass
class Sample:
    """One sample as scipy.stats reads it: the values (any real dtype) and, for a NumPy masked
    array with masked entries, the mask (True where an entry is left out)."""

    values: np.ndarray
    mask: np.ndarray | None


def is_pandas(x: Any) -> bool:
    """A pandas Series or DataFrame (duck-typed: pandas stays optional)."""
    return hasattr(x, "iloc") and hasattr(x, "to_numpy")


def pandas_values(x: Any) -> np.ndarray:
    """The array scipy sees for a Series or DataFrame, with nullable missing values (pd.NA)
    as NaN: ``Int64``/``boolean`` columns holding NA become float64, ``Float32`` float32."""
    columns = [x[c] for c in x.columns] if hasattr(x, "columns") else [x]
    if all(isinstance(c.dtype, np.dtype) for c in columns):
        return np.asarray(x)
    converted = []
    for c in columns:
        if not isinstance(c.dtype, np.dtype) and getattr(c.dtype, "kind", "") in "biuf" \
                and bool(c.isna().any()):
            as_float = c.dtype.numpy_dtype if c.dtype.kind == "f" else np.float64
            converted.append(c.to_numpy(dtype=as_float, na_value=np.nan))
        else:
            converted.append(np.asarray(c))
    if hasattr(x, "columns"):
        dtype = np.result_type(*(a.dtype for a in converted)) if converted else np.float64
        return np.stack([a.astype(dtype, copy=False) for a in converted], axis=1) \
            if converted else np.empty((len(x), 0))
    return converted[0]


def as_sample(x: Any, name: str) -> Sample:
    """``x`` read as scipy.stats reads a sample: NumPy arrays as they are, masked arrays with
    their mask, pandas objects (nullable NA as NaN), lists and scalars (at least 1-d).
    Integer, boolean and float data pass; strings, datetimes and complex numbers are a
    ``TypeError`` (scipy sorts complex numbers, which gives no meaningful test)."""
    mask = None
    if isinstance(x, np.ma.MaskedArray):
        mask = np.ma.getmaskarray(x) if np.ma.is_masked(x) else None
        x = np.ma.getdata(x)
    elif is_pandas(x):
        x = pandas_values(x)
    elif isinstance(x, (str, bytes)):
        raise TypeError(f"{name}: expected numbers, got {type(x).__name__}")
    x = np.asarray(x)
    if x.dtype.kind == "O":  # numbers held as Python objects: float64, or a clear error
        try:
            x = x.astype(np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected numbers, got an object array holding values "
                            f"that are not ({exc})") from None
    if x.dtype.kind not in "biuf":
        hint = {"M": "; convert datetimes with .astype('int64') to test them as numbers",
                "m": "; convert durations with .astype('int64')",
                "c": "; complex numbers have no order",
                "U": "; strings are categorical: use pw.psi or DriftMonitor"}.get(x.dtype.kind, "")
        raise TypeError(f"{name}: expected real numbers (float, int or bool), got a "
                        f"{describe(x)}{hint}")
    if x.ndim == 0:
        x = x.reshape(1)
        mask = None if mask is None else mask.reshape(1)
    return Sample(x, mask)


def float_sample(x: Any, name: str, axis: int) -> tuple[np.ndarray, tuple[int, ...],
                                                      np.ndarray | None]:
    """For functions binning one sample at a time (PSI): ``x`` read as :func:`as_sample` reads
    it, as a (features, samples) float view, the feature shape, and per feature the number of
    masked entries (they are counted as NaN, which the caller takes back out), or None.
    Integers, booleans and long doubles are binned as float64, float16 as float32."""
    sample = as_sample(x, name)
    values = sample.values
    if values.dtype not in FLOAT_DTYPES:
        values = values.astype(np.float32 if values.dtype.itemsize < 4 and
                               values.dtype.kind == "f" else np.float64)
    hidden = None
    if sample.mask is not None:
        values = np.where(sample.mask, np.nan, values)
        hidden, _ = feature_major(sample.mask, axis, name)
        hidden = hidden.sum(axis=1)
    view, feature_shape = feature_major(values, axis, name)
    return view, feature_shape, hidden


@dataclass
class KernelData:
    """Two samples in one float dtype the kernels take, and the way back to the data's values
    (a statistic location is a value of the data, in the dtype scipy reports it in)."""

    x1: np.ndarray
    x2: np.ndarray
    dtype: np.dtype                                  # np.result_type of the two samples
    restore: Callable[[np.ndarray], np.ndarray]      # kernel locations -> the data's values


def kernel_data(s1: Sample, s2: Sample) -> KernelData:
    """Promote both samples as scipy does (``np.result_type``), then give the kernels floats
    that keep every comparison the data makes: float32/float64 as they are (mixed precision:
    the float32 sample widened, exactly), float16 as float32, integers and booleans as float64
    when every value is exact there, and otherwise (int64 beyond 2**53, long double) their
    ranks among all values, which keep the order and the ties and so every KS statistic."""
    dtype = np.result_type(s1.values.dtype, s2.values.dtype)
    a, b = s1.values, s2.values
    as_is = dtype if dtype in FLOAT_DTYPES else None
    if dtype.kind == "f" and dtype.itemsize < 4:
        as_is = np.dtype(np.float32)
    elif dtype.kind in "biu" and _exact_in_float64(a, b):
        as_is = np.dtype(np.float64)
    if as_is is not None:
        return KernelData(a.astype(as_is, copy=False), b.astype(as_is, copy=False), dtype,
                          lambda loc: loc)
    both = np.concatenate([a.ravel().astype(dtype), b.ravel().astype(dtype)])
    values, ranks = np.unique(both, return_inverse=True)
    ranks = ranks.astype(np.float64)
    if dtype.kind == "f":
        ranks[np.isnan(both)] = np.nan  # NaN stays missing, whatever rank unique gave it

    def restore(loc: np.ndarray) -> np.ndarray:
        loc = np.asarray(loc)
        found = ~np.isnan(loc)
        if found.all():
            return values[loc.astype(np.int64)]
        out = np.full(loc.shape, np.nan)
        out[found] = values[loc[found].astype(np.int64)]
        return out

    return KernelData(ranks[:a.size].reshape(a.shape), ranks[a.size:].reshape(b.shape), dtype,
                      restore)


def _exact_in_float64(*arrays: np.ndarray) -> bool:
    for x in arrays:
        if x.size and x.dtype.kind != "b" and x.dtype.itemsize >= 8 and (
                int(x.max()) > EXACT_IN_FLOAT64 or int(x.min()) < -EXACT_IN_FLOAT64):
            return False
    return True


@dataclass
class SampleViews:
    """Both samples as (features, samples) views, with what the result needs to be shaped."""

    v1: np.ndarray
    v2: np.ndarray
    mask1: np.ndarray | None
    mask2: np.ndarray | None
    feature_shape: tuple[int, ...]
    reduced_axes: tuple[int, ...] | int   # where keepdims puts the tested axes back


def scipy_views(x1: np.ndarray, x2: np.ndarray, m1: np.ndarray | None, m2: np.ndarray | None,
                axis: Any) -> SampleViews:
    """scipy's axis rules: ``axis=None`` tests all values of each sample at once; an int or a
    tuple of ints names the sample axes, and every other axis indexes features, broadcast
    between the two samples (a (n, 1) sample against (m, 4) tests one column against four).
    Views, not copies, wherever NumPy allows (always for 1-d and same-shape 2-d samples)."""
    if axis is None:
        reduced = tuple(range(max(x1.ndim, x2.ndim)))
        return SampleViews(x1.reshape(1, -1), x2.reshape(1, -1),
                           None if m1 is None else m1.reshape(1, -1),
                           None if m2 is None else m2.reshape(1, -1), (), reduced)
    ndim = max(x1.ndim, x2.ndim)
    axes = _axes(axis, ndim, x1, x2)
    if x1.ndim != x2.ndim:
        x1, x2 = _pad(x1, ndim), _pad(x2, ndim)
        m1 = None if m1 is None else _pad(m1, ndim)
        m2 = None if m2 is None else _pad(m2, ndim)
    if _without(x1.shape, axes) != _without(x2.shape, axes):
        x1, x2, m1, m2 = _broadcast(x1, x2, m1, m2, axes)
    # The tested axes go last (in the order given), the feature axes keep theirs: a
    # transpose and a reshape, which for 1-d and 2-d data are views.
    order = tuple(i for i in range(ndim) if i not in axes) + axes
    feature_shape = _without(x1.shape, axes)
    features = math.prod(feature_shape)
    views = [None if x is None else
             x.transpose(order).reshape(features, math.prod(x.shape[i] for i in axes))
             for x in (x1, x2, m1, m2)]
    return SampleViews(*views, feature_shape, axis)


def _axes(axis: Any, ndim: int, x1: np.ndarray, x2: np.ndarray) -> tuple[int, ...]:
    items = axis if isinstance(axis, tuple) else (axis,)
    out = []
    for a in items:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)):
            raise TypeError(f"axis must be None, an int or a tuple of ints, got {axis!r}")
        if not -ndim <= a < ndim:
            raise ValueError(f"axis {a} is out of range for the samples, a {describe(x1)} and "
                             f"a {describe(x2)}")
        out.append(int(a) % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"axis {axis!r} names the same axis twice")
    return tuple(out)


def _pad(x: np.ndarray, ndim: int) -> np.ndarray:
    return x.reshape((1,) * (ndim - x.ndim) + x.shape)


def _without(shape: tuple[int, ...], axes: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(s for i, s in enumerate(shape) if i not in axes)


def _broadcast(x1, x2, m1, m2, axes):
    try:
        common = np.broadcast_shapes(*(tuple(1 if i in axes else s for i, s in enumerate(x.shape))
                                       for x in (x1, x2)))
    except ValueError:
        raise ValueError(f"data1 and data2 must have the same features (all axes but axis="
                         f"{axes if len(axes) > 1 else axes[0]}) or features that broadcast, "
                         f"got a {describe(x1)} and a {describe(x2)}") from None

    def to(x: np.ndarray | None, like: np.ndarray) -> np.ndarray | None:
        if x is None:
            return None
        shape = tuple(like.shape[i] if i in axes else c for i, c in enumerate(common))
        return np.broadcast_to(x, shape)

    return to(x1, x1), to(x2, x2), to(m1, x1), to(m2, x2)


# ---- feature-major views and sorting -----------------------------------------------------------

def feature_major(x: np.ndarray, axis: int, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """View ``x`` as (features, samples) with samples along ``axis``; returns the view and the
    shape of the feature axes. 2-d and 1-d inputs are never copied."""
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for {name}, a {describe(x)}")
    moved = np.moveaxis(x, axis, -1)
    feature_shape = moved.shape[:-1]
    if moved.shape[-1] == 0:
        raise ValueError(f"{name}: expected at least one sample along axis {axis}, got a "
                         f"{describe(x)}")
    return moved.reshape(-1, moved.shape[-1]), feature_shape


def sorted_rows(view: np.ndarray, workers: int | None) -> np.ndarray:
    """A C-ordered copy of (features, samples) ``view`` with every row ascending and NaNs last.

    Sorting is NumPy's (its SIMD quicksort beats a hand radix sort on AVX-512 machines); rows
    are split across ``workers`` threads, which run in parallel because NumPy releases the GIL
    while it sorts. The KS merge and p-values then run in C++ on these rows.
    """
    threads = workers or _core.omp_max_threads()
    if view.flags.c_contiguous:
        out = view.copy()
    else:  # a (rows, features) table seen feature-major: a tiled transposing copy
        out = _core.drift_gather_rows(view, threads)
    threads = min(threads, out.shape[0])
    if threads <= 1:
        out.sort(axis=1)
        return out
    bounds = np.linspace(0, out.shape[0], threads + 1).astype(int)
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(lambda i: out[bounds[i]:bounds[i + 1]].sort(axis=1), range(threads)))
    return out
