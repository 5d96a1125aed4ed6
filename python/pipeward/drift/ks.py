"""``ks_2samp``: scipy.stats.ks_2samp over many features at once, with scipy's numbers."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .. import _core
from .._backend import Backends, array_module, is_gpu_array
from .._validate import describe, workers_arg
from ._inputs import (KernelData, SampleViews, as_sample, feature_major, kernel_data,
                      sample_array, scipy_views, sorted_rows)

Alternative = Literal["two-sided", "less", "greater"]
Method = Literal["auto", "exact", "asymp"]
NanPolicy = Literal["propagate", "omit", "raise"]

ALTERNATIVES = ("two-sided", "less", "greater")
METHODS = ("auto", "exact", "asymp")
NAN_POLICIES = ("propagate", "omit", "raise")
# The warning (scipy's SmallSampleWarning) when nan_policy="omit" or a mask leaves a sample empty;
# one text, whether the one-machine check or a merged (Dask) result finds it.
EMPTY_AFTER_OMIT = "ks_2samp: a sample is empty after omitting NaNs or masked values; its results are NaN"


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


class SmallSampleWarning(RuntimeWarning):
    """A sample is empty, or empty once NaNs or masked values are left out: its results are
    NaN. Where ``scipy.stats.ks_2samp`` warns with its ``SmallSampleWarning``, this warns with
    this class of the same name (a ``RuntimeWarning`` as scipy's is)."""


def ks_2samp(data1: Any, data2: Any, alternative: Alternative = "two-sided",
             method: Method = "auto", *, axis: int | tuple[int, ...] | None = 0,
             nan_policy: NanPolicy = "propagate", keepdims: bool = False,
             mode: Method | None = None, backend: str = "auto",
             workers: int | None = None) -> KsResult:
    """Two-sample Kolmogorov-Smirnov test for every feature, as ``scipy.stats.ks_2samp``.

    Samples lie along ``axis``; every other axis indexes features (a 2-d ``(rows, features)``
    array tests each column). With F1, F2 the empirical CDFs, the statistic is
    ``D+ = max(F1 - F2)``, ``D- = max(F2 - F1)`` or, two-sided, ``max(D+, D-)`` (D- only when it
    is strictly larger), evaluated after each run of tied values; ``statistic_location`` is the
    first value attaining it and ``statistic_sign`` is +1 for D+, -1 for D-.

    Takes what scipy takes, with scipy's results: NumPy arrays, lists, pandas Series and
    DataFrames (nullable ``Float64``/``Int64`` NA read as NaN), masked arrays (masked entries
    left out), integer and boolean data (tested exactly: as float64 where every value is exact
    there, else by rank), float32 against float64 (the float32 sample widened), ``axis=None``
    (all values of each sample), a tuple of axes, features that broadcast, ``keepdims``,
    ``mode`` (scipy's older name for ``method``) and ``alternative`` abbreviated to its first
    letter. An empty sample gives NaN with a :class:`SmallSampleWarning`. Float32/float64
    arrays reach the kernels as they are (views, no conversion copy).

    ``method="auto"`` is exact when ``max(n1, n2) <= 10000`` (``_core.drift_ks_max_auto_n``). Exact p-values count lattice
    paths (Hodges 1958; two-sided unequal sizes with Viehmann's 1 - p recursion); the asymptotic
    two-sided p-value is ``kstwo.sf(D, round(n1 n2 / (n1 + n2)))`` (Simard & L'Ecuyer 2011) and
    the one-sided one Hodges' eq. 5.3. Where scipy gives up on the exact p-value it warns
    (``RuntimeWarning``) and uses the asymptotic one; so does this.

    ``nan_policy``: "propagate" gives NaN results for features holding a NaN, "omit" drops NaNs
    per feature (``n1``/``n2`` report the sizes used; a feature left empty is NaN with a
    :class:`SmallSampleWarning`), "raise" raises ``ValueError``. CuPy arrays run on the GPU
    and must be float32/float64 of one dtype.
    """
    if mode is not None:
        if method != "auto":
            raise TypeError("ks_2samp() got both method= and mode= (mode is scipy's older name "
                            "for method): pass one")
        method = mode
    alternative = scipy_alternative(alternative)
    check_options(alternative, method, nan_policy)
    run = KS_BACKENDS.choose(backend, data1, data2)
    workers = workers_arg(workers)
    if is_gpu_array(data1) or is_gpu_array(data2):
        res = _device_test(run, data1, data2, alternative, method, axis, nan_policy, workers)
        return with_kept_dims(res, axis) if keepdims else res
    s1, s2 = as_sample(data1, "data1"), as_sample(data2, "data2")
    data = kernel_data(s1, s2)
    views = scipy_views(data.x1, data.x2, s1.mask, s2.mask, axis)
    res = _host_test(run, views, data, alternative, method, nan_policy, workers)
    return with_kept_dims(res, views.reduced_axes) if keepdims else res


def scipy_alternative(alternative: Any) -> Any:
    """scipy's reading of ``alternative``: any spelling starting with t, g or l (any case)."""
    if isinstance(alternative, str) and alternative:
        return {"t": "two-sided", "g": "greater", "l": "less"}.get(alternative.lower()[0],
                                                                   alternative)
    return alternative


def _host_test(run: Any, views: SampleViews, data: KernelData, alternative: str, method: str,
               nan_policy: str, workers: int | None) -> KsResult:
    """The test on (features, samples) views, with scipy's NaN, mask and empty-sample rules."""
    v1, v2 = views.v1, views.v2
    one_d = views.feature_shape == ()
    masked = views.mask1 is not None or views.mask2 is not None
    if v1.shape[0] == 0:  # no features: empty results, as scipy's
        return package_result(_nan_arrays(0, v1.shape[1], v2.shape[1]), views.feature_shape)
    nan1 = _unmasked_nan(v1, views.mask1) if masked or nan_policy == "raise" else None
    nan2 = _unmasked_nan(v2, views.mask2) if masked or nan_policy == "raise" else None
    if v1.shape[1] == 0 or v2.shape[1] == 0:
        nan_first = one_d and nan_policy == "propagate" and (
            bool(np.isnan(v1).any()) or bool(np.isnan(v2).any()))
        if not nan_first:  # scipy: a 1-d NaN under "propagate" answers NaN before this
            warnings.warn("ks_2samp: a sample is empty; the results are NaN",
                          SmallSampleWarning, stacklevel=3)
        return package_result(_nan_arrays(v1.shape[0], v1.shape[1], v2.shape[1]),
                              views.feature_shape)
    if nan_policy == "raise":
        for name, has_nan in (("data1", nan1), ("data2", nan2)):
            if has_nan.any():
                raise ValueError(f"{name} contains NaN (nan_policy='raise')")
    if masked:  # masked entries become NaN, which the kernel leaves out
        v1 = v1 if views.mask1 is None else np.where(views.mask1, np.nan, v1)
        v2 = v2 if views.mask2 is None else np.where(views.mask2, np.nan, v2)
    out = run(v1, v2, kernel_alternative(alternative), kernel_method(method),
              nan_policy == "omit" or masked, workers)
    fields = list(out)
    empty = fields[6] == int(_core.KsStatus.empty)
    if masked and nan_policy == "propagate":  # a NaN the mask did not hide makes NaN
        hit = nan1 | nan2
        fields[:4] = [np.where(hit, np.nan, a) for a in fields[:4]]
        empty &= ~hit
    if empty.any():
        omitted = nan_policy == "omit" and (
            bool((nan1 if nan1 is not None else np.isnan(v1)).any())
            or bool((nan2 if nan2 is not None else np.isnan(v2)).any()))
        if one_d or omitted:  # as scipy: silent for n-d slices emptied by a mask alone
            warnings.warn(EMPTY_AFTER_OMIT, SmallSampleWarning, stacklevel=3)
        fields[6] = np.where(empty, int(_core.KsStatus.ok), fields[6])  # warned, or not
    return package_result(_core.KsArrays(*fields), views.feature_shape, data.dtype,
                          restore=data.restore, stacklevel=5)


def _unmasked_nan(v: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """Per feature: does a value the mask does not hide hold NaN?"""
    nan = np.isnan(v)
    return (nan if mask is None else nan & ~mask).any(axis=1)


def _nan_arrays(features: int, n1: int, n2: int) -> _core.KsArrays:
    nan = np.full(features, np.nan)
    return _core.KsArrays(nan, nan.copy(), nan.copy(), nan.copy(),
                          np.full(features, n1, dtype=np.int64),
                          np.full(features, n2, dtype=np.int64),
                          np.full(features, int(_core.KsStatus.ok), dtype=np.int64))


def _device_test(run: Any, data1: Any, data2: Any, alternative: str, method: str, axis: Any,
                 nan_policy: str, workers: int | None) -> KsResult:
    """CuPy samples: float32/float64 of one dtype, one int axis, tested on the device."""
    if not isinstance(axis, (int, np.integer)) or isinstance(axis, bool):
        raise TypeError(f"on the GPU, axis must be an int, got {axis!r}")
    x1 = sample_array(data1, "data1")
    x2 = sample_array(data2, "data2")
    if x1.dtype != x2.dtype:
        raise TypeError(f"data1 and data2 must share a dtype on the GPU, got a "
                        f"{describe(x1)} and a {describe(x2)}")
    v1, shape1 = feature_major(x1, axis, "data1")
    v2, shape2 = feature_major(x2, axis, "data2")
    if shape1 != shape2:
        raise ValueError(f"data1 and data2 must have the same features (all axes but axis={axis}), "
                         f"got a {describe(x1)} and a {describe(x2)}")
    if nan_policy == "raise":
        for name, v in (("data1", v1), ("data2", v2)):
            if bool(array_module(v).isnan(v).any()):
                raise ValueError(f"{name} contains NaN (nan_policy='raise')")
    out = run(v1, v2, kernel_alternative(alternative), kernel_method(method),
              nan_policy == "omit", workers)
    return package_result(out, shape1, x1.dtype, stacklevel=5)


def with_kept_dims(res: KsResult, axes: Any) -> KsResult:
    """``keepdims=True``: the tested axes put back with length 1, as scipy's."""
    xp = array_module(res.statistic)
    return KsResult(*(xp.expand_dims(xp.asarray(f), axes) for f in
                      (res.statistic, res.pvalue, res.statistic_location, res.statistic_sign,
                       res.n1, res.n2)))


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
                   dtype: np.dtype | None = None, *,
                   restore: Callable[[np.ndarray], np.ndarray] | None = None,
                   stacklevel: int = 4) -> KsResult:
    """Warn as scipy does for fallbacks, then shape the per-feature arrays (for 1-d input,
    NumPy scalars as scipy's: the location in the data's ``dtype``, the sign an int8).
    ``restore`` maps kernel locations back to the data's values (see ``kernel_data``)."""
    stat, p, loc, sign, n1, n2 = (out.statistic, out.pvalue, out.location, out.sign, out.n1,
                                  out.n2)
    warn_fallbacks(out.status, n1, n2, stacklevel=stacklevel)
    if is_gpu_array(stat):  # stays on the device; 0-d CuPy arrays for 1-d input
        return KsResult(*(a.reshape(feature_shape) for a in (stat, p, loc, sign, n1, n2)))
    if restore is not None:
        loc = restore(loc)
    if feature_shape == ():
        scalars = [np.float64(stat[0]), np.float64(p[0]), np.float64(np.nan), np.float64(np.nan),
                   int(n1[0]), int(n2[0])]
        if not np.isnan(sign[0]):  # a result (not NaN): scipy's scalar types
            scalars[2] = np.dtype(dtype if dtype is not None else loc.dtype).type(loc[0])
            scalars[3] = np.int8(sign[0])
        return KsResult(*scalars)
    fields = [stat, p, np.asarray(loc, dtype=np.float64), sign, n1, n2]
    return KsResult(*(np.asarray(a).reshape(feature_shape) for a in fields))


def warn_fallbacks(status: np.ndarray, n1: np.ndarray, n2: np.ndarray, *,
                   stacklevel: int = 4) -> None:
    if status.size == 0 or status.max() == 0:  # all ok: the common case, one pass
        return
    status_codes = _core.KsStatus
    for code in (status_codes.lcm_too_large, status_codes.exact_failed, status_codes.empty):
        hit = np.flatnonzero(status == int(code))
        if hit.size == 0:
            continue
        f = hit[0]
        category: type[Warning] = RuntimeWarning
        if code == status_codes.lcm_too_large:
            msg = (f"Exact ks_2samp calculation not possible with samples sizes {n1[f]} and "
                   f"{n2[f]}. Switching to 'asymp'.")
        elif code == status_codes.exact_failed:
            msg = "ks_2samp: Exact calculation unsuccessful. Switching to method=asymp."
        else:
            msg = EMPTY_AFTER_OMIT
            category = SmallSampleWarning
        if hit.size > 1:
            msg += f" ({hit.size} features)"
        warnings.warn(msg, category, stacklevel=stacklevel)  # the caller of ks_2samp / check
