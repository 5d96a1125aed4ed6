"""The bucketed KS statistic (samples of >= 2048 values go in unsorted) against scipy.

It counts values into buckets and merges only the buckets that can hold the extremes, so the
adversaries here are data that defeat bucketing: heavy ties, ties across the two samples,
heavy tails, point masses that force refinement down to the deepest level, infinities,
signed zeros, subnormals and values near the float range, NaNs, and every memory layout and
block width the kernel special-cases.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core

pytestmark = pytest.mark.native

FIELDS = ("statistic", "pvalue", "statistic_location", "statistic_sign")


def draw_values(rng, kind, n, features, shift):
    if kind == "normal":
        return rng.normal(shift, 1.0, size=(n, features))
    if kind == "integers":  # every value tied many times, in both samples
        return rng.integers(0, 7, size=(n, features)) + (shift > 0)
    if kind == "rounded":  # ties across samples inside otherwise continuous data
        return np.round(rng.normal(shift, 1.0, size=(n, features)), 2)
    if kind == "cauchy":  # one bucket would hold almost everything: refinement recurses
        return rng.standard_cauchy(size=(n, features)) * 10.0 ** rng.integers(-3, 4) + shift
    if kind == "lognormal":  # positive, many magnitudes: buckets equal in log |v|
        return rng.lognormal(shift, 3.0, size=(n, features))
    if kind == "clusters":  # point masses and needles far apart: the deepest levels
        centres = np.array([-1e6, -1.0, 0.0, 1e-9, 2e-9, 3.0, 1e12])
        x = centres[rng.integers(0, len(centres), size=(n, features))]
        needle = rng.random(size=(n, features)) < 0.3
        return x + needle * rng.normal(0, 1e-7, size=(n, features)) + shift * 1e-7
    if kind == "extremes":  # infinities, signed zeros, subnormals, the ends of the range
        pool = np.array([-np.inf, -1.7e308, -1.0, -0.0, 0.0, 5e-324, 1e-310, 1.0, 1.7e308,
                         np.inf])
        x = pool[rng.integers(0, len(pool), size=(n, features))]
        return np.where(rng.random(size=(n, features)) < 0.5, x,
                        rng.normal(shift, 1.0, size=(n, features)))
    if kind == "constant":
        return np.full((n, features), 2.5 + shift)
    raise AssertionError(kind)


KINDS = ("normal", "integers", "rounded", "cauchy", "lognormal", "clusters", "extremes",
         "constant")


@st.composite
def large_pairs(draw):
    n1 = draw(st.integers(2048, 6000))
    n2 = draw(st.sampled_from([n1, draw(st.integers(2048, 6000))]))
    features = draw(st.sampled_from([1, 3, 8, 9, 17, 33]))  # remainders of the 8-wide groups
    kind = draw(st.sampled_from(KINDS))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    layout = draw(st.sampled_from(["rows", "columns", "strided"]))
    shift = draw(st.sampled_from([0.0, 0.05, 3.0]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    with np.errstate(over="ignore"):
        a = draw_values(rng, kind, n1, features, 0.0).astype(dtype)
        b = draw_values(rng, kind, n2, features, shift).astype(dtype)
    if layout == "columns":
        a, b = np.asfortranarray(a), np.asfortranarray(b)
    elif layout == "strided":  # every other feature of a wider table
        a = np.repeat(a, 2, axis=1)[:, ::2]
        b = np.repeat(b, 2, axis=1)[:, ::2]
    return a, b


def scipy_ks(a, b, **kw):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy's own divide-by-zero noise from kstwo
        return scipy.stats.ks_2samp(a, b, **kw)


def assert_scipy_bits(ours, theirs, pvalue_rtol=1e-12):
    """Statistic, location and sign to the bit; p-values as the drift tests require."""
    for field in ("statistic", "statistic_location", "statistic_sign"):
        np.testing.assert_array_equal(np.asarray(getattr(ours, field), dtype=np.float64),
                                      np.asarray(getattr(theirs, field), dtype=np.float64),
                                      err_msg=field)
    np.testing.assert_allclose(ours.pvalue, theirs.pvalue, rtol=pvalue_rtol, atol=1e-300,
                               equal_nan=True)


@settings(max_examples=60)
@given(large_pairs(), st.sampled_from(["two-sided", "less", "greater"]))
def test_bucketed_statistic_is_scipys(pair, alternative):
    a, b = pair
    assert _core.drift_ks_bucketed(a.shape[0], b.shape[0])
    ours = pw.ks_2samp(a, b, alternative, "asymp")
    assert_scipy_bits(ours, scipy_ks(a, b, alternative=alternative, method="asymp"))


@settings(max_examples=15)
@given(large_pairs())
def test_bucketed_with_exact_pvalues(pair):
    a, b = pair
    a, b = a[:, :3], b[:, :3]
    ours = pw.ks_2samp(a, b, "two-sided", "auto")
    assert_scipy_bits(ours, scipy_ks(a, b, method="auto"))


@settings(max_examples=25)
@given(large_pairs(), st.booleans(), st.booleans())
def test_sorted_reference_against_unsorted_window(pair, omit, precomputed):
    """A fitted reference: sample 1 arrives as sorted rows with NaNs last, sample 2 as it is;
    its bucket maps and run ends computed in the call or beforehand (DriftMonitor's cache)."""
    a, b = pair
    a, b = a.copy(), b.copy()
    a[::331, 0] = np.nan
    b[::257, -1] = np.nan
    reference = np.sort(np.ascontiguousarray(a.T), axis=1)
    buckets = _core.drift_ks_reference_buckets(reference, b.shape[0]) if precomputed else None
    stat, p, loc, sign, n1, n2, status = _core.drift_ks_2samp(
        reference, b.T, 0, 2, omit, None, True, False, x1_buckets=buckets)
    # (scipy in float64: for float32 input holding NaNs it rounds its results to float32)
    theirs = scipy_ks(a.astype(np.float64), b.astype(np.float64), method="asymp",
                      nan_policy="omit" if omit else "propagate")
    np.testing.assert_array_equal(stat, theirs.statistic)
    np.testing.assert_array_equal(loc, theirs.statistic_location)
    np.testing.assert_array_equal(sign, theirs.statistic_sign)
    np.testing.assert_allclose(p, theirs.pvalue, rtol=1e-12, atol=1e-300, equal_nan=True)
    assert n1[0] == a.shape[0] - len(range(0, a.shape[0], 331))  # the values that are not NaN


def test_reference_buckets_are_checked(rng):
    a = rng.normal(size=(3000, 4))
    reference = np.sort(np.ascontiguousarray(a.T), axis=1)
    window = rng.normal(size=(2500, 4))
    buckets = _core.drift_ks_reference_buckets(reference, 2500)
    lo, scale, eps, ends = buckets
    assert lo.shape == scale.shape == eps.shape == (4,) and ends.shape[0] == 4
    assert (np.diff(ends, axis=1)[ends[:, 1:] > 0] >= 0).all()  # run ends only grow
    with pytest.raises(ValueError, match="other sizes"):  # made for another window size
        _core.drift_ks_2samp(reference, rng.normal(size=(4, 9000)), 0, 2, True, None, True,
                             False, x1_buckets=buckets)
    with pytest.raises(ValueError, match="sorted x1"):
        _core.drift_ks_2samp(a.T, window.T, 0, 2, True, None, False, False, x1_buckets=buckets)
    with pytest.raises(TypeError, match="int64"):
        _core.drift_ks_2samp(reference, window.T, 0, 2, True, None, True, False,
                             x1_buckets=(lo, scale, eps.astype(np.int32), ends))
    with pytest.raises(ValueError, match="4-tuple"):
        _core.drift_ks_2samp(reference, window.T, 0, 2, True, None, True, False,
                             x1_buckets=(lo, scale))
    with pytest.raises(ValueError, match="not bucketed"):
        _core.drift_ks_reference_buckets(reference, 100)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.drift_ks_reference_buckets(reference[:, ::2], 2500)


def test_drift_monitor_caches_reference_buckets_per_window_size(rng):
    a = rng.lognormal(size=(6000, 5))
    monitor = pw.DriftMonitor(a, tests=("ks",), method="asymp")
    for rows in (3000, 5000, 3000):
        b = rng.lognormal(0.02, size=(rows, 5))
        report = monitor.check(b)
        np.testing.assert_array_equal(report.ks_statistic,
                                      scipy_ks(a, b, method="asymp").statistic)
    assert sorted(monitor._bucket_cache) == [3000, 5000]


def test_drift_monitor_uses_the_sorted_reference(rng):
    a = rng.standard_cauchy(size=(5000, 10))
    b = rng.standard_cauchy(size=(4000, 10)) + np.linspace(0, 0.5, 10)
    report = pw.DriftMonitor(a, tests=("ks",), method="asymp").check(b)
    theirs = scipy_ks(a, b, method="asymp")
    np.testing.assert_array_equal(report.ks_statistic, theirs.statistic)
    np.testing.assert_allclose(report.ks_pvalue, theirs.pvalue, rtol=1e-12)


def test_every_isa_and_thread_count_agree(isa, rng):
    """Both bucket maps (equal width in v, in symlog v) in the vector and the scalar sweep."""
    a = np.round(rng.normal(size=(9000, 40)), 1)
    b = np.round(rng.normal(0.02, size=(7000, 40)), 1)
    a[:, 20:] = rng.lognormal(0, 4, size=(9000, 20)) * rng.choice([-1, 1], size=(9000, 20))
    b[:, 20:] = rng.lognormal(0.1, 4, size=(7000, 20)) * rng.choice([-1, 1], size=(7000, 20))
    a[::50, 5] = np.inf
    ours = pw.ks_2samp(a, b, method="asymp", workers=1)
    assert_scipy_bits(ours, scipy_ks(a, b, method="asymp"))
    two = pw.ks_2samp(a, b, method="asymp", workers=2)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(two, field), getattr(ours, field))


def test_nan_propagates_and_empty_features_warn(rng):
    a = rng.normal(size=(3000, 4))
    b = rng.normal(size=(3000, 4))
    a[10, 1] = np.nan
    b[:, 2] = np.nan
    res = pw.ks_2samp(a, b, method="asymp")
    assert np.isnan(res.statistic[[1, 2]]).all() and not np.isnan(res.statistic[[0, 3]]).any()
    with pytest.warns(RuntimeWarning, match="empty"):
        omitted = pw.ks_2samp(a, b, method="asymp", nan_policy="omit")
    assert omitted.n1[1] == 2999 and omitted.n2[2] == 0 and np.isnan(omitted.statistic[2])
    np.testing.assert_array_equal(omitted.statistic[[0, 1, 3]],
                                  scipy_ks(a[:, [0, 1, 3]], b[:, [0, 1, 3]], method="asymp",
                                           nan_policy="omit").statistic)


def test_below_the_threshold_the_kernel_sorts_itself(rng):
    """Unsorted input under 2048 values: the kernel's own gather and radix sort."""
    assert not _core.drift_ks_bucketed(2047, 5000)
    a = np.round(rng.normal(size=(2047, 5)), 2)
    b = rng.normal(size=(5000, 5))
    out = _core.drift_ks_2samp(a.T, b.T, 0, 2, False, None, False, False)
    theirs = scipy_ks(a, b, method="asymp")
    np.testing.assert_array_equal(out[0], theirs.statistic)
    np.testing.assert_array_equal(out[2], theirs.statistic_location)


def test_bucketed_predicate_limits():
    assert _core.drift_ks_bucketed(2048, 2048)
    assert not _core.drift_ks_bucketed(2048, 2047)
    assert not _core.drift_ks_bucketed(2**31, 4096)  # 32-bit bucket offsets
    assert not _core.drift_ks_bucketed(2**26, 2**25)  # n1 n2 >= 2^50: inexact gap keys


def assert_same_bits_as_portable(a, b):
    """ks_2samp (asymptotic, NaNs omitted, one thread) on the current variant, checked field by
    field against the portable build; returns the current variant's result."""
    ours = pw.ks_2samp(a, b, method="asymp", nan_policy="omit", workers=1)
    before = _core.isa_limit()
    _core.set_isa_limit("portable")
    try:
        portable = pw.ks_2samp(a, b, method="asymp", nan_policy="omit", workers=1)
    finally:
        _core.set_isa_limit(before)
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(ours, field), getattr(portable, field))
    return ours


def test_every_isa_buckets_nans_as_the_portable_sweep(isa, rng):
    """NaN lanes of the vector sweeps (AVX2, AVX-512) land in the NaN bucket, as in the scalar
    sweep: nan_policy="omit" gives the portable build's bits on every variant."""
    a = rng.normal(size=(6000, 24)).astype(np.float32)
    b = rng.normal(0.05, size=(5000, 24)).astype(np.float32)
    a[rng.random(a.shape) < 0.03] = np.nan
    b[rng.random(b.shape) < 0.03] = np.nan
    assert_same_bits_as_portable(a, b)


@pytest.mark.parametrize("features", [1, 3, 7, 12, 20, 29])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_every_isa_sweeps_a_partial_vector_of_features(isa, rng, features, dtype):
    """A block whose width is not a whole number of vectors: the last vector runs under a lane
    mask (AVX-512) or the scalar sweep; NaN, infinite and heavy-tailed (symlog map) values in
    those last lanes too. Bits equal to the portable sweep and to scipy."""
    a = rng.normal(size=(5000, features)).astype(dtype)
    b = rng.normal(0.03, size=(4500, features)).astype(dtype)
    a[:, -1] = (rng.lognormal(0, 4, size=5000) * rng.choice([-1, 1], size=5000)).astype(dtype)
    b[:, -1] = (rng.lognormal(0.1, 4, size=4500) * rng.choice([-1, 1], size=4500)).astype(dtype)
    a[rng.random(a.shape) < 0.02] = np.nan
    b[::97, -1] = np.inf
    ours = assert_same_bits_as_portable(a, b)
    finite = ~np.isnan(a).any(axis=0)
    theirs = scipy_ks(a[:, finite], b[:, finite], method="asymp")
    np.testing.assert_array_equal(ours.statistic[finite], theirs.statistic)


# Large samples take more buckets (2^15 from 2^19 values, 65535 from 2^24): with too few, most
# buckets can hold the extreme and nearly every value was copied out and refined.
@pytest.mark.parametrize("kind", ["normal", "integers", "rounded", "cauchy", "lognormal",
                                  "clusters", "extremes"])
def test_wide_bucket_tables_are_scipys(kind):
    rng = np.random.default_rng(7)
    n = 300_000
    with np.errstate(over="ignore"):
        a = draw_values(rng, kind, n, 2, 0.0).astype(np.float64)
        b = draw_values(rng, kind, n + 1234, 2, 0.01).astype(np.float64)
    with np.errstate(over="ignore"):  # "extremes": 1.7e308 becomes inf in float32
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
    for x, y in ((a, b), (a32, b32)):
        assert_scipy_bits(pw.ks_2samp(x, y), scipy_ks(x, y))
    # the fitted-reference path (sorted sample 1, its run ends computed beforehand)
    reference = np.sort(np.ascontiguousarray(a.T), axis=1)
    buckets = _core.drift_ks_reference_buckets(reference, b.shape[0])
    assert buckets[3].shape[1] == 2**15
    stat, _, loc, sign, *_ = _core.drift_ks_2samp(reference, np.ascontiguousarray(b.T), 0, 2,
                                                  False, None, True, False, x1_buckets=buckets)
    theirs = scipy_ks(a, b)
    np.testing.assert_array_equal(stat, theirs.statistic)
    np.testing.assert_array_equal(loc, theirs.statistic_location)
    np.testing.assert_array_equal(sign, theirs.statistic_sign)


def test_largest_bucket_tables_are_scipys():
    """2^24 values and more: 65535 buckets (16-bit ids, the NaN bucket included)."""
    rng = np.random.default_rng(11)
    n = 2**23 + 1000
    # ties within and across the samples, a shift, NaNs
    a = np.round(rng.standard_normal((n, 1), dtype=np.float32), 3)
    b = np.round(rng.standard_normal((n, 1), dtype=np.float32) + np.float32(0.001), 3)
    a[::1001] = np.nan
    assert _core.drift_ks_reference_buckets(np.sort(a.T), n)[3].shape[1] == 65535
    assert_scipy_bits(pw.ks_2samp(a, b, nan_policy="omit"),
                      scipy_ks(a.astype(np.float64), b.astype(np.float64), nan_policy="omit"))
