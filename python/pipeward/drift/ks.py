"""``ks_2samp``: scipy.stats.ks_2samp over many features at once, with scipy's numbers."""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .. import _core
from .._backend import Backends, is_gpu_array
from .._validate import describe, workers_arg
from ._inputs import feature_major, sample_array, sorted_rows

Alternative = Literal["two-sided", "less", "greater"]
Method = Literal["auto", "exact", "asymp"]
NanPolicy = Literal["propagate", "omit", "raise"]

ALTERNATIVES = ("two-sided", "less", "greater")
METHODS = ("auto", "exact", "asymp")
NAN_POLICIES = ("propagate", "omit", "raise")


def kernel_alternative(alternative: str) -> _core.KsAlternative:
    """The kernel's enum for scipy's spelling ("two-sided" -> KsAlternative.two_sided)."""
    return _core.KsAlternative.__members__[alternative.replace("-", "_")]


def kernel_method(method: str) -> _core.KsMethod:
    return _core.KsMethod.__members__[method]


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

    ``method="auto"`` is exact when ``max(n1, n2) <= 10000`` (``_core.drift_ks_max_auto_n``). Exact p-values count lattice
    paths (Hodges 1958; two-sided unequal sizes with Viehmann's 1 - p recursion); the asymptotic
    two-sided p-value is ``kstwo.sf(D, round(n1 n2 / (n1 + n2)))`` (Simard & L'Ecuyer 2011) and
    the one-sided one Hodges' eq. 5.3. Where scipy gives up on the exact p-value it warns
    (``RuntimeWarning``) and uses the asymptotic one; so does this.

    ``nan_policy``: "propagate" gives NaN results for features holding a NaN, "omit" drops NaNs
    per feature (``n1``/``n2`` report the sizes used; a feature left empty is NaN with a
    ``RuntimeWarning``), "raise" raises ``ValueError``.
    """
    check_options(alternative, method, nan_policy)
    run = KS_BACKENDS.choose(backend, data1, data2)
    workers = workers_arg(workers)
    x1 = sample_array(data1, "data1")
    x2 = sample_array(data2, "data2")
    if x1.dtype != x2.dtype:
        raise TypeError(f"data1 and data2 must share a dtype (no silent casts), got a "
                        f"{describe(x1)} and a {describe(x2)}")
    v1, shape1 = feature_major(x1, axis, "data1")  # an empty sample is an error there
    v2, shape2 = feature_major(x2, axis, "data2")
    if shape1 != shape2:
        raise ValueError(f"data1 and data2 must have the same features (all axes but axis={axis}), "
                         f"got a {describe(x1)} and a {describe(x2)}")
    if nan_policy == "raise":
        for name, v in (("data1", v1), ("data2", v2)):
            if np.isnan(v).any():
                raise ValueError(f"{name} contains NaN (nan_policy='raise')")
    out = run(v1, v2, kernel_alternative(alternative), kernel_method(method),
              nan_policy == "omit", workers)
    return package_result(out, shape1, x1.dtype)


def check_options(alternative: str, method: str, nan_policy: str) -> None:
    """ValueError unless the three options are ones scipy's ks_2samp takes."""
    if alternative not in ALTERNATIVES:
        raise ValueError(f"alternative must be one of {', '.join(ALTERNATIVES)}, got {alternative!r}")
    if method not in METHODS:
        raise ValueError(f"method must be one of {', '.join(METHODS)}, got {method!r}")
    if nan_policy not in NAN_POLICIES:
        raise ValueError(f"nan_policy must be one of {', '.join(NAN_POLICIES)}, got {nan_policy!r}")


# ---- the three implementations: feature-major (F, n) views in, _core.KsArrays out ----------

def _ks_cpu(v1: np.ndarray, v2: np.ndarray, alternative: _core.KsAlternative,
            method: _core.KsMethod, omit_nan: bool, workers: int | None) -> _core.KsArrays:
    # Large samples go in as they are (the kernel's bucketed statistic never sorts them
    # whole); small ones are sorted by NumPy first, which beats the kernel's own sort.
    presort = not _core.drift_ks_bucketed(v1.shape[1], v2.shape[1])
    return _core.drift_ks_2samp(sorted_rows(v1, workers) if presort else v1,
                                sorted_rows(v2, workers) if presort else v2,
                                alternative, method, omit_nan, workers, x1_sorted=presort,
                                x2_sorted=presort)


def _ks_cuda(v1: Any, v2: Any, alternative: _core.KsAlternative, method: _core.KsMethod,
             omit_nan: bool, workers: int | None) -> _core.KsArrays:
    from .._gpu import drift as gpu  # noqa: PLC0415 - GPU path only: cuda/drift.cu

    return gpu.ks_2samp(v1, v2, alternative, method, omit_nan)


def _ks_reference(v1: np.ndarray, v2: np.ndarray, alternative: _core.KsAlternative,
                  method: _core.KsMethod, omit_nan: bool, workers: int | None) -> _core.KsArrays:
    from ..reference.drift import ks_2samp_features  # noqa: PLC0415

    return _core.KsArrays(*ks_2samp_features(v1, v2, alternative.name.replace("_", "-"),
                                             method.name, omit_nan=omit_nan))


KS_BACKENDS = Backends(cpu=_ks_cpu, cuda=_ks_cuda, reference=_ks_reference)


def package_result(out: _core.KsArrays, feature_shape: tuple[int, ...],
                   dtype: np.dtype | None = None) -> KsResult:
    """Warn as scipy does for fallbacks, then shape the per-feature arrays (for 1-d input,
    NumPy scalars as scipy's: the location in the data's ``dtype``, the sign an int8)."""
    stat, p, loc, sign, n1, n2 = (out.statistic, out.pvalue, out.location, out.sign, out.n1,
                                  out.n2)
    warn_fallbacks(out.status, n1, n2)
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
    status_codes = _core.KsStatus
    for code in (status_codes.lcm_too_large, status_codes.exact_failed, status_codes.empty):
        hit = np.flatnonzero(status == int(code))
        if hit.size == 0:
            continue
        f = hit[0]
        if code == status_codes.lcm_too_large:
            msg = (f"Exact ks_2samp calculation not possible with samples sizes {n1[f]} and "
                   f"{n2[f]}. Switching to 'asymp'.")
        elif code == status_codes.exact_failed:
            msg = "ks_2samp: Exact calculation unsuccessful. Switching to method=asymp."
        else:
            msg = "ks_2samp: a sample is empty after omitting NaNs; its results are NaN."
        if hit.size > 1:
            msg += f" ({hit.size} features)"
        warnings.warn(msg, RuntimeWarning, stacklevel=4)  # the caller of ks_2samp / check
