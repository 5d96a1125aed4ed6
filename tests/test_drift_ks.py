"""pw.ks_2samp against scipy.stats.ks_2samp (the peer) and the NumPy reference."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import scipy.special
import scipy.stats
from hypothesis import example, given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core
from pipeward.reference import drift as ref

pytestmark = pytest.mark.native

ALTS = ("two-sided", "less", "greater")
FIELDS = ("statistic", "pvalue", "statistic_location", "statistic_sign")


def scipy_ks(a, b, alternative, method, **kw):
    """scipy's result, with its fallback warnings caught (pytest turns warnings into errors)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = scipy.stats.ks_2samp(a, b, alternative, method, **kw)
    # Only the exact-method fallbacks: scipy also leaks divide-by-zero warnings from kstwo.
    return res, [w for w in caught if "Exact" in str(w.message)]


def ours_ks(a, b, alternative, method, **kw):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        res = pw.ks_2samp(a, b, alternative, method, **kw)
    return res, [w for w in caught if issubclass(w.category, RuntimeWarning)]


def assert_same(ours, theirs, rtol=1e-12):
    for field in FIELDS:
        np.testing.assert_allclose(np.asarray(getattr(ours, field), dtype=np.float64),
                                   np.asarray(getattr(theirs, field), dtype=np.float64),
                                   rtol=rtol, atol=1e-300, equal_nan=True, err_msg=field)


@st.composite
def sample_pairs(draw):
    """Continuous data, integer data with heavy ties, unequal sizes, tiny samples."""
    n1 = draw(st.integers(1, 40))
    n2 = draw(st.integers(1, 40))
    features = draw(st.integers(1, 4))
    seed = draw(st.integers(0, 2**32 - 1))
    kind = draw(st.sampled_from(["continuous", "ties", "shifted"]))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    rng = np.random.default_rng(seed)
    if kind == "ties":
        a = rng.integers(0, 4, size=(n1, features))
        b = rng.integers(0, 5, size=(n2, features))
    elif kind == "shifted":
        a = rng.normal(size=(n1, features))
        b = rng.normal(0.7, 1.3, size=(n2, features))
    else:
        a = rng.standard_cauchy(size=(n1, features))
        b = rng.standard_cauchy(size=(n2, features))
    return a.astype(dtype), b.astype(dtype)


@settings(max_examples=40)
@given(sample_pairs(), st.sampled_from(ALTS), st.sampled_from(["auto", "exact", "asymp"]))
@example((np.array([[1.0]]), np.array([[2.0]])), "two-sided", "asymp")
@example((np.array([[1.0, 1.0]]).T, np.array([[1.0, 1.0, 1.0]]).T), "less", "exact")
def test_matches_scipy_every_field(pair, alternative, method):
    a, b = pair
    theirs, w_theirs = scipy_ks(a, b, alternative, method)
    ours, w_ours = ours_ks(a, b, alternative, method)
    assert_same(ours, theirs)
    assert bool(w_theirs) == bool(w_ours)


@settings(max_examples=15)
@given(sample_pairs(), st.sampled_from(ALTS))
def test_lattice_height_matches_scipy(pair, alternative):
    """The same h = round(D * lcm(n1, n2)) as scipy, feature by feature."""
    a, b = pair
    n1, n2 = a.shape[0], b.shape[0]
    lcm = math.lcm(n1, n2)
    ours = pw.ks_2samp(a, b, alternative, "exact")
    theirs, _ = scipy_ks(a, b, alternative, "exact")
    np.testing.assert_array_equal(np.round(ours.statistic * lcm), np.round(theirs.statistic * lcm))


@pytest.mark.parametrize("alternative", ALTS)
def test_reference_matches_scipy(alternative, rng):
    a = rng.normal(size=(30, 3))
    b = rng.normal(0.4, size=(23, 3))
    b[:5] = a[:5]  # shared values: ties across the samples
    for method in ("exact", "asymp"):
        theirs, _ = scipy_ks(a, b, alternative, method)
        res = pw.ks_2samp(a, b, alternative, method, backend="reference")
        assert_same(res, theirs, rtol=1e-9)


def test_every_isa_gives_identical_results(isa, rng):
    a = rng.normal(size=(2000, 3))
    b = rng.normal(0.05, size=(1500, 3))
    ours = pw.ks_2samp(a, b)
    theirs = scipy.stats.ks_2samp(a, b)
    assert_same(ours, theirs)


@pytest.mark.parametrize("n1,n2", [(12000, 11000), (20000, 20000)])
def test_large_asymptotic_case(n1, n2, rng):
    a = rng.normal(size=(n1, 2))
    b = rng.normal(0.02, size=(n2, 2))
    for alternative in ALTS:
        theirs, _ = scipy_ks(a, b, alternative, "auto")
        assert_same(pw.ks_2samp(a, b, alternative), theirs)


@pytest.mark.parametrize("n1,n2", [(3000, 3000), (3000, 2400)])
def test_large_exact_case(n1, n2, rng):
    a = rng.normal(size=(n1, 2))
    b = rng.normal(0.03, size=(n2, 2))
    theirs, _ = scipy_ks(a, b, "two-sided", "exact")
    assert_same(pw.ks_2samp(a, b, "two-sided", "exact"), theirs)


def test_exact_fallback_warns_like_scipy():
    """One-sided exact with unequal n whose binomial overflows: scipy warns and goes asymptotic."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=700), rng.normal(0.1, size=650)
    theirs, w_theirs = scipy_ks(a, b, "greater", "exact")
    with pytest.warns(RuntimeWarning, match="Exact calculation unsuccessful"):
        ours = pw.ks_2samp(a, b, "greater", "exact")
    assert w_theirs
    assert_same(ours, theirs)


def test_lcm_too_large_warns_like_scipy():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=46349), rng.normal(size=46351)  # coprime, lcm > 2^31
    theirs, w_theirs = scipy_ks(a, b, "two-sided", "exact")
    with pytest.warns(RuntimeWarning, match="Switching to 'asymp'"):
        ours = pw.ks_2samp(a, b, "two-sided", "exact")
    assert w_theirs
    assert_same(ours, theirs)


@pytest.mark.parametrize("n1,n2", [(1, 1), (1, 2), (2, 3), (5, 5), (7, 13), (40, 60), (90, 90), (300, 200)])
@pytest.mark.parametrize("alternative", [0, 2])
def test_exact_pvalue_against_scipy_internals(n1, n2, alternative):
    from scipy.stats import _stats_py

    g = math.gcd(n1, n2)
    lcm = n1 * n2 // g
    for h in sorted({1, 2, lcm // 7, lcm // 3, lcm // 2, lcm - 1, lcm} - {0}):
        ok, p = _core.drift_ks_exact_pvalue(n1, n2, h, alternative)
        with np.errstate(all="ignore"):
            ok2, _, q = _stats_py._attempt_exact_2kssamp(n1, n2, g, h / lcm, ALTS[alternative])
        assert ok == ok2
        if ok:
            np.testing.assert_allclose(p, q, rtol=1e-12, atol=1e-300)
            ok3, r = ref.exact_pvalue(n1, n2, h, ALTS[alternative])
            np.testing.assert_allclose(r, q, rtol=1e-9, atol=1e-300)


@settings(max_examples=60)
@given(st.integers(1, 200000), st.floats(0.0, 1.0))
@example(140, 0.05)
@example(141, 0.05)
@example(5000, 0.025)
@example(100000, 0.0025)
@example(100001, 0.0025)
@example(71, 0.23474411009946122)  # Pomeranz region, sf = 1 - cdf = 6.3e-4
def test_kolmogn_sf_matches_kstwo(n, x):
    # Where the survival function is 1 - cdf (the Durbin, Pomeranz and Pelz-Good regions, as in
    # scipy), each side carries an absolute error of a few ulps of 1 from the subtraction, which
    # is more than 1e-12 relative once sf < ~1e-3: at n=71, x=0.23474 the exact sf (60-digit
    # Durbin matrix) is 6.33555553550711e-4, scipy gives 6.33555553552156e-4 (2.3e-12 off) and
    # pipeward 6.33555553552934e-4 (3.5e-12 off). Hence an absolute floor of 10 ulps of 1.
    np.testing.assert_allclose(_core.drift_kolmogn_sf(float(n), x), scipy.stats.kstwo.sf(x, n),
                               rtol=1e-12, atol=10 * np.finfo(np.float64).eps)


@settings(max_examples=40)
@given(st.integers(2, 20000), st.floats(0.0, 1.0))
def test_smirnov_matches_scipy_special(n, x):
    np.testing.assert_allclose(_core.drift_smirnov_sf(n, x), scipy.special.smirnov(n, x),
                               rtol=1e-12, atol=1e-300)


def test_reference_kolmogn(rng):
    for n, x in [(10, 0.2), (100, 0.1), (100, 0.6), (5000, 0.01), (50000, 0.004), (300, 0.02)]:
        np.testing.assert_allclose(ref.kstwo_sf(n, x), scipy.stats.kstwo.sf(x, n), rtol=1e-9)


# ---- NaN policies, axes, shapes ------------------------------------------------------------

def test_nan_policies(rng):
    a = rng.normal(size=(20, 3))
    b = rng.normal(size=(25, 3))
    a[3, 1] = np.nan
    b[[0, 4], 2] = np.nan
    prop = pw.ks_2samp(a, b)
    assert np.isnan(prop.statistic[1:]).all() and not np.isnan(prop.statistic[0])
    omit = pw.ks_2samp(a, b, nan_policy="omit")
    theirs = scipy.stats.ks_2samp(a, b, nan_policy="omit")
    assert_same(omit, theirs)
    np.testing.assert_array_equal(omit.n1, [20, 19, 20])
    np.testing.assert_array_equal(omit.n2, [25, 25, 23])
    with pytest.raises(ValueError, match="NaN"):
        pw.ks_2samp(a, b, nan_policy="raise")


def test_all_nan_column_omit_is_nan_with_warning(rng):
    a = rng.normal(size=(10, 2))
    a[:, 1] = np.nan
    with pytest.warns(pw.drift.SmallSampleWarning, match="empty after omitting"):
        res = pw.ks_2samp(a, rng.normal(size=(8, 2)), nan_policy="omit")
    assert np.isnan(res.pvalue[1]) and not np.isnan(res.pvalue[0])


def test_axis_and_one_d(rng):
    a = rng.normal(size=(3, 50))
    b = rng.normal(size=(3, 40))
    assert_same(pw.ks_2samp(a, b, axis=1), scipy.stats.ks_2samp(a, b, axis=1))
    r = pw.ks_2samp(a[0], b[0])
    s = scipy.stats.ks_2samp(a[0], b[0])
    assert np.ndim(r.statistic) == 0 and r.statistic_sign in (-1, 1)
    d, p = r
    assert d == s.statistic and p == pytest.approx(s.pvalue, rel=1e-12)
    three = rng.normal(size=(30, 2, 3))
    three2 = rng.normal(size=(20, 2, 3))
    assert pw.ks_2samp(three, three2).statistic.shape == (2, 3)
    assert_same(pw.ks_2samp(three, three2), scipy.stats.ks_2samp(three, three2))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_d_result_scalar_types_are_scipys(dtype, rng):
    a = rng.normal(size=60).astype(dtype)
    b = rng.normal(size=45).astype(dtype)
    ours, theirs = pw.ks_2samp(a, b), scipy.stats.ks_2samp(a, b)
    for field in FIELDS:
        assert type(getattr(ours, field)) is type(getattr(theirs, field)), field


def test_infinities_are_values_like_scipy():
    a = np.array([-np.inf, 0.0, 1.0, np.inf])
    b = np.array([0.5, np.inf, 2.0])
    assert_same(pw.ks_2samp(a, b), scipy.stats.ks_2samp(a, b))


# ---- bad input -------------------------------------------------------------------------------

def test_bad_input_messages(rng):
    a = rng.normal(size=(10, 2))
    with pytest.raises(ValueError, match="same features"):
        pw.ks_2samp(a, rng.normal(size=(10, 3)))
    with pytest.raises(TypeError, match="expected numbers"):
        pw.ks_2samp(np.array(["a", "b"], dtype=object), np.array([1.0]))
    with pytest.raises(ValueError, match="alternative"):
        pw.ks_2samp(a, a, "sideways")
    with pytest.raises(ValueError, match="method"):
        pw.ks_2samp(a, a, method="approx")
    with pytest.raises(ValueError, match="nan_policy"):
        pw.ks_2samp(a, a, nan_policy="ignore")
    with pytest.raises(ValueError, match="axis"):
        pw.ks_2samp(a, a, axis=2)


def test_core_rejects_bad_arrays():
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.drift_ks_2samp(np.zeros((2, 3), np.int32), np.zeros((2, 3), np.int32), 0, 0, False)
    with pytest.raises(ValueError, match="2-d"):
        _core.drift_ks_2samp(np.zeros(3), np.zeros(3), 0, 0, False)


def test_one_row_samples():
    res = pw.ks_2samp(np.array([[1.0, 2.0]]), np.array([[1.5, 2.0]]))
    theirs = scipy.stats.ks_2samp(np.array([[1.0, 2.0]]), np.array([[1.5, 2.0]]))
    assert_same(res, theirs)


def test_workers_argument(rng):
    a, b = rng.normal(size=(500, 8)), rng.normal(size=(400, 8))
    one = pw.ks_2samp(a, b, workers=1)
    two = pw.ks_2samp(a, b, workers=2)
    assert_same(one, two, rtol=0)
    with pytest.raises(ValueError, match="positive"):
        pw.ks_2samp(a, b, workers=0)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("presorted", [False, True])
def test_core_kernel_sorts_or_takes_sorted_rows(dtype, presorted, rng):
    """The C++ path that gathers and radix-sorts strided columns itself, and the presorted one."""
    a = rng.normal(size=(3000, 11)).astype(dtype)  # > 512 rows: the radix sort, not std::sort
    b = np.round(rng.normal(0.05, size=(2500, 11)), 2).astype(dtype)  # heavy ties
    a[::97, 3] = np.nan
    a[5, 4] = -0.0
    b[7, 4] = 0.0
    x1, x2 = ((np.sort(np.ascontiguousarray(a.T), axis=1), np.sort(np.ascontiguousarray(b.T), axis=1))
              if presorted else (a.T, b.T))
    stat, p, loc, sign, n1, n2, status = _core.drift_ks_2samp(x1, x2, 0, 0, True, None,
                                                             presorted, presorted)
    theirs = scipy.stats.ks_2samp(a, b, nan_policy="omit")
    np.testing.assert_array_equal(stat, theirs.statistic)
    np.testing.assert_allclose(p, theirs.pvalue, rtol=1e-12)
    np.testing.assert_array_equal(loc, theirs.statistic_location)
    np.testing.assert_array_equal(sign, theirs.statistic_sign)
    assert n1[3] == 3000 - len(range(0, 3000, 97)) and (status == 0).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gather_rows_is_a_transposing_copy(dtype, rng):
    table = rng.normal(size=(1037, 21)).astype(dtype)  # not a multiple of the tile sizes
    for view in (table.T, table[::2, 3:].T, np.ascontiguousarray(table.T)):
        out = _core.drift_gather_rows(view)
        assert out.flags.c_contiguous and out.dtype == dtype
        np.testing.assert_array_equal(out, view)


@pytest.mark.parametrize("n1", [1, 2, 3, 4, 5])
@pytest.mark.parametrize("n2", [1, 2, 3, 4, 5])
def test_tiny_samples_every_alternative_and_method(n1, n2):
    rng = np.random.default_rng(100 * n1 + n2)
    a = rng.integers(0, 3, size=(n1, 6)).astype(np.float64)  # ties within and across samples
    b = rng.integers(0, 3, size=(n2, 6)).astype(np.float64)
    for alternative in ALTS:
        for method in ("auto", "exact", "asymp"):
            theirs, w_theirs = scipy_ks(a, b, alternative, method)
            ours, w_ours = ours_ks(a, b, alternative, method)
            assert_same(ours, theirs)
            assert bool(w_theirs) == bool(w_ours)
