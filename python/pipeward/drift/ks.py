"""``ks_2samp``: scipy.stats.ks_2samp over many features at once, with scipy's numbers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .. import _core
from .._validate import describe, workers_arg
from .._backend import is_gpu_array
from ._inputs import array_backend, feature_major, sample_array, sorted_rows

Alternative = Literal["two-sided", "less", "greater"]
Method = Literal["auto", "exact", "asymp"]
NanPolicy = Literal["propagate", "omit", "raise"]

ALTERNATIVES = ("two-sided", "less", "greater")
METHODS = ("auto", "exact", "asymp")
NAN_POLICIES = ("propagate", "omit", "raise")

# KsStatus codes from the C++ kernel (cpp/include/pipeward/drift.hpp).
STATUS_LCM_TOO_LARGE, STATUS_EXACT_FAILED, STATUS_NAN, STATUS_EMPTY = 1, 2, 3, 4


@dataclass(frozen=True)
class KsResult:
    """Result of :func:`ks_2samp`, field for field as ``scipy.stats.ks_2samp`` (one value per
    feature; NumPy scalars for 1-d input). Unpacks as ``statistic, pvalue`` like scipy's.

    ``n1`` and ``n2`` are the sample sizes each feature was tested with (after
    ``nan_policy="omit"`` they can differ between features).
    """

    statistic: Any
    pvalue: Any
    statistic_location: Any
    statistic_sign: Any
    n1: Any
    n2: Any

    def __iter__(self):
        return iter((self.statistic, self.pvalue))

    def __len__(self) -> int:
        return 2

    def __getitem__(self, i: int) -> Any:
        return (self.statistic, self.pvalue)[i]


def ks_2samp(data1: Any, data2: Any, alternative: Alternative = "two-sided",
             method: Method = "auto", *, axis: int = 0, nan_policy: NanPolicy = "propagate",
             backend: str = "auto", workers: int | None = None) -> KsResult:
    """Two-sample Kolmogorov-Smirnov test for every feature, as ``scipy.stats.ks_2samp``.

    Samples lie along ``axis``; every other axis indexes features (a 2-d ``(rows, features)``
    array tests each column). With F1, F2 the empirical CDFs, the statistic is
    ``D+ = max(F1 - F2)``, ``D- = max(F2 - F1)`` or, two-sided, ``max(D+, D-)`` (D- only when it
    is strictly larger), evaluated after each run of tied values; ``statistic_location`` is the
    first value attaining it and ``statistic_sign`` is +1 for D+, -1 for D-.

    ``method="auto"`` is exact when ``max(n1, n2) <= 10000``. Exact p-values count lattice
    paths (Hodges 1958; two-sided unequal sizes with Viehmann's 1 - p recursion); the asymptotic
    two-sided p-value is ``kstwo.sf(D, round(n1 n2 / (n1 + n2)))`` (Simard & L'Ecuyer 2011) and
    the one-sided one Hodges' eq. 5.3. Where scipy gives up on the exact p-value it warns
    (``RuntimeWarning``) and uses the asymptotic one; so does this.

    ``nan_policy``: "propagate" gives NaN results for features holding a NaN, "omit" drops NaNs
    per feature (``n1``/``n2`` report the sizes used; a feature left empty is NaN with a
    ``RuntimeWarning``), "raise" raises ``ValueError``.
    """
    check_options(alternative, method, nan_policy)
    chosen = array_backend(backend, data1, data2)
    workers = workers_arg(workers)
    x1 = sample_array(data1, "data1")
    x2 = sample_array(data2, "data2")
    if x1.dtype != x2.dtype:
        raise TypeError(f"data1 and data2 must share a dtype (no silent casts), got a "
                        f"{describe(x1)} and a {describe(x2)}")
    v1, shape1 = _features(x1, axis, "data1")
    v2, shape2 = _features(x2, axis, "data2")
    if shape1 != shape2:
        raise ValueError(f"data1 and data2 must have the same features (all axes but axis={axis}), "
                         f"got a {describe(x1)} and a {describe(x2)}")
    if nan_policy == "raise":
        for name, v in (("data1", v1), ("data2", v2)):
            if np.isnan(v).any():
                raise ValueError(f"{name} contains NaN (nan_policy='raise')")
    if chosen == "reference":
        from ..reference.drift import ks_2samp_features  # noqa: PLC0415

        out = ks_2samp_features(v1, v2, alternative, method, omit_nan=nan_policy == "omit")
    elif chosen == "cuda":  # CuPy arrays in, CuPy arrays out: cuda/drift.cu
        from .._gpu import drift as gpu  # noqa: PLC0415 - GPU path only

        out = gpu.ks_2samp(v1, v2, ALTERNATIVES.index(alternative), METHODS.index(method),
                           nan_policy == "omit")
    else:
        # Large samples go in as they are (the kernel's bucketed statistic never sorts them
        # whole); small ones are sorted by NumPy first, which beats the kernel's own sort.
        presort = not _core.drift_ks_bucketed(v1.shape[1], v2.shape[1])
        out = _core.drift_ks_2samp(sorted_rows(v1, workers) if presort else v1,
                                   sorted_rows(v2, workers) if presort else v2,
                                   ALTERNATIVES.index(alternative), METHODS.index(method),
                                   nan_policy == "omit", workers, x1_sorted=presort,
                                   x2_sorted=presort)
    return package_result(out, shape1, x1.dtype)


def check_options(alternative: str, method: str, nan_policy: str) -> None:
    """ValueError unless the three options are ones scipy's ks_2samp takes."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {', '.join(NAN_POLICIES)}, got {nan_policy!r}")


def _features(x: np.ndarray, axis: int, name: str) -> tuple[np.ndarray, tuple[int, ...]]:
    view, shape = feature_major(x, axis, name)
    if view.shape[1] == 0:
        raise ValueError(f"{name}: expected at least one sample along axis {axis}, got a "
                         f"{describe(x)} (scipy returns NaN here; an empty sample is an error)")
    return view, shape


def package_result(out: tuple, feature_shape: tuple[int, ...],
                   dtype: np.dtype | None = None) -> KsResult:
    """Warn as scipy does for fallbacks, then shape the per-feature arrays (for 1-d input,
    NumPy scalars as scipy's: the location in the data's ``dtype``, the sign an int8)."""
    stat, p, loc, sign, n1, n2, status = out
    warn_fallbacks(status, n1, n2)
    fields = [stat, p, loc, sign, n1, n2]
    if is_gpu_array(stat):  # stays on the device; 0-d CuPy arrays for 1-d input
        return KsResult(*(a.reshape(feature_shape) for a in fields))
    if feature_shape == ():
        scalars = [np.float64(a[0]) for a in fields[:4]] + [int(n1[0]), int(n2[0])]
        if dtype is not None:
            scalars[2] = np.dtype(dtype).type(loc[0])
        if not np.isnan(sign[0]):
            scalars[3] = np.int8(sign[0])
        return KsResult(*scalars)
    return KsResult(*(np.asarray(a).reshape(feature_shape) for a in fields))


def warn_fallbacks(status: np.ndarray, n1: np.ndarray, n2: np.ndarray) -> None:
    for code in (STATUS_LCM_TOO_LARGE, STATUS_EXACT_FAILED, STATUS_EMPTY):
        hit = np.flatnonzero(status == code)
        if hit.size == 0:
            continue
        f = hit[0]
        if code == STATUS_LCM_TOO_LARGE:
            msg = (f"Exact ks_2samp calculation not possible with samples sizes {n1[f]} and "
                   f"{n2[f]}. Switching to 'asymp'.")
        elif code == STATUS_EXACT_FAILED:
            msg = "ks_2samp: Exact calculation unsuccessful. Switching to method=asymp."
        else:
            msg = "ks_2samp: a sample is empty after omitting NaNs; its results are NaN."
        if hit.size > 1:
            msg += f" ({hit.size} features)"
        warnings.warn(msg, RuntimeWarning, stacklevel=4)  # the caller of ks_2samp / check
