"""Shared input handling for the drift functions: feature-major views without copies."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from .. import _core
from .._validate import describe, float_array


def sample_array(x: Any, name: str) -> np.ndarray:
    """A float32/float64 array of at least one dimension, with a message for anything else."""
    if hasattr(x, "dtype") and np.dtype(x.dtype).kind in "OUS":
        raise TypeError(f"{name}: expected a float32 or float64 array, got a {describe(x)}; "
                        "encode categorical columns first or use DriftMonitor, which does")
    x = float_array(x, name, allow_empty=True)
    if x.ndim == 0:
        raise ValueError(f"{name}: expected an array of samples, got a scalar")
    return x


def feature_major(x: np.ndarray, axis: int, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """View ``x`` as (features, samples) with samples along ``axis``; returns the view and the
    shape of the feature axes. 2-d and 1-d inputs are never copied."""
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"axis {axis} is out of range for {name}, a {describe(x)}")
    moved = np.moveaxis(x, axis, -1)
    feature_shape = moved.shape[:-1]
    if moved.shape[-1] == 0:
        raise ValueError(f"{name}: expected at least one sample along axis {axis}, got a "
                         f"{describe(x)} (scipy returns NaN here; an empty sample is an error)")
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
