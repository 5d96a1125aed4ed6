"""pw.ks_2samp takes what scipy.stats.ks_2samp takes, with scipy's results (the oracle), and
pw.psi reads the same inputs.

The first part walks the ground of scipy's own two-sample tests (small samples, shifted
lattices, repeated integer values, equal sizes, large unequal sizes, the exact/asymptotic
switch, location and sign), the rest every kind of input scipy accepts.
"""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest
import scipy.stats
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward.drift import SmallSampleWarning
from pipeward.drift._inputs import as_sample, kernel_data, scipy_views

pytestmark = pytest.mark.native

FIELDS = ("statistic", "pvalue", "statistic_location", "statistic_sign")


def both(*args, **kw):
    """(ours, scipy's, our warning class names, scipy's) with every warning recorded."""
    with warnings.catch_warnings(record=True) as mine:
        warnings.simplefilter("always")
        ours = pw.ks_2samp(*args, **kw)
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always")
        theirs = scipy.stats.ks_2samp(*args, **kw)
    small = "SmallSampleWarning"
    return (ours, theirs, {w.category.__name__ for w in mine} & {small},
            {w.category.__name__ for w in theirs_w} & {small})


def assert_same(ours, theirs, rtol=1e-12):
    for field in FIELDS:
        a, b = np.asarray(getattr(ours, field)), np.asarray(getattr(theirs, field))
        assert a.shape == b.shape, (field, a.shape, b.shape)
        # scipy's n-d float32 results come back float32 when the first feature is NaN (the
        # dtype of its first slice's NaN); pipeward's stay float64: equal to float32 rounding
        tol = max(rtol, 2e-7) if b.dtype == np.float32 and a.ndim else rtol
        np.testing.assert_allclose(a.astype(np.float64), b.astype(np.float64), rtol=tol,
                                   atol=1e-300, equal_nan=True, err_msg=field)
    if np.ndim(theirs.statistic) == 0 and not np.isnan(theirs.statistic):
        for field in ("statistic_location", "statistic_sign"):  # scipy's scalar types
            assert type(getattr(ours, field)) is type(getattr(theirs, field)), field


# ---- scipy's scenarios ------------------------------------------------------------------------

def _scenarios():
    x100 = np.linspace(1, 100, 100)
    x110 = np.linspace(1, 100, 110)
    ties = np.array([2] * 3 + [3] * 4 + [5] * 5 + [6] * 4)
    n1, n2 = 10000, 110
    delta = 1.0 / n1 / n2 / 4
    rng = np.random.default_rng(11184)
    yield "one vs one", [0], [1]
    yield "one vs one reversed", [1], [0]
    yield "two vs three, up", np.array([1.0, 2.0]) + 0.01, np.array([1.0, 2.0, 3.0])
    yield "two vs three, down", np.array([1.0, 2.0]) - 0.01, np.array([1.0, 2.0, 3.0])
    yield "two vs four", np.array([1.0, 2.0]) + 0.01, np.array([1.0, 2.0, 3.0, 4.0])
    yield "100 vs shifted 100", x100, x100 + 2.1
    yield "100 vs 110 shifted", x100, x110 + 19.9
    yield "repeated ints", ties, ties + 1
    yield ("repeated ints, unequal", np.array([2] * 3 + [3] * 4 + [5] * 10 + [6] * 4),
           np.array([3] * 10 + [4] * 2 + [6] * 10 + [7] * 4))
    yield "equal sizes", np.array([1.0, 2.0, 3.0]), np.array([1.5, 2.5, 3.5])
    yield "large unequal", np.linspace(1, 200, n1) - delta, np.linspace(2, 100, n2)
    yield "3000 vs 3001", rng.normal(size=3000), rng.normal(size=3001) * 1.5
    yield "exact fails (gh-14019)", rng.random(881) + 0.5, rng.random(369)


SCENARIOS = list(_scenarios())


@pytest.mark.parametrize("name,x,y", SCENARIOS, ids=[s[0] for s in SCENARIOS])
@pytest.mark.parametrize("alternative", ["two-sided", "greater", "less"])
@pytest.mark.parametrize("mode", ["auto", "exact", "asymp"])
def test_scipy_scenarios_through_mode_alias(name, x, y, alternative, mode):
    with warnings.catch_warnings(record=True) as mine:
        warnings.simplefilter("always")
        ours = pw.ks_2samp(x, y, alternative, mode=mode)
    with warnings.catch_warnings(record=True) as theirs_w:
        warnings.simplefilter("always")
        theirs = scipy.stats.ks_2samp(x, y, alternative, mode=mode)
    assert_same(ours, theirs, rtol=1e-9)
    fallback = lambda ws: any("Exact" in str(w.message) for w in ws)  # noqa: E731
    assert fallback(mine) == fallback(theirs_w)


@pytest.mark.parametrize("alternative,x6,location,sign", [
    ("greater", 5.9, 5.9, 1), ("less", 6.1, 6.0, -1),
    ("two-sided", 5.9, 5.9, 1), ("two-sided", 6.1, 6.0, -1)])
def test_location_and_sign(alternative, x6, location, sign):
    x = np.arange(10.0)
    y = x.copy()
    x[6] = x6
    res = pw.ks_2samp(x, y, alternative=alternative)
    assert (res.statistic, res.statistic_location, res.statistic_sign) == (0.1, location, sign)


def test_alternative_by_first_letter_and_mode_clash():
    x, y = [1.0, 2.0, 3.0], [1.5, 4.0]
    for spelling, full in (("G", "greater"), ("less-than", "less"), ("TWO", "two-sided")):
        assert_same(pw.ks_2samp(x, y, spelling), scipy.stats.ks_2samp(x, y, full))
    with pytest.raises(TypeError, match="mode"):
        pw.ks_2samp(x, y, method="exact", mode="asymp")
    with pytest.raises(ValueError, match="alternative"):
        pw.ks_2samp(x, y, "sideways")


# ---- the inputs of the issue: each used to raise or answer wrongly -----------------------------

def test_masked_array_mask_is_honoured():
    x = np.ma.array([0.1, 0.5, 0.9, 1e16], mask=[0, 0, 0, 1])
    y = [0.2, 0.3, 0.4]
    res = pw.ks_2samp(x, y)
    assert res.statistic == pytest.approx(2 / 3)  # the old code counted 1e16: D = 0.75
    assert_same(res, scipy.stats.ks_2samp(x, y))
    assert (res.n1, res.n2) == (3, 3)


def test_pandas_series_and_frames():
    rng = np.random.default_rng(1)
    df = pd.DataFrame({"a": rng.normal(size=30), "b": rng.integers(0, 5, 30)})
    df2 = pd.DataFrame({"a": rng.normal(0.5, size=25), "b": rng.integers(0, 6, 25)})
    for x, y in ((df["a"], df2["a"]), (df["b"], df2["b"]), (df, df2)):
        ours, theirs, _, _ = both(x, y)
        assert_same(ours, theirs)
    assert isinstance(pw.psi(df["a"], df2["a"]), float)
    np.testing.assert_array_equal(pw.psi(df, df2), pw.psi(df.to_numpy(float), df2.to_numpy(float)))


@pytest.mark.parametrize("dtype", ["Float64", "Int64", "Float32"])
@pytest.mark.parametrize("nan_policy", ["propagate", "omit"])
def test_nullable_columns_read_na_as_nan(dtype, nan_policy):
    x = pd.Series([1, None, 3, 7, 2], dtype=dtype)
    y = pd.Series([2, 5, 4, 8], dtype=dtype)
    ours, theirs, _, _ = both(x, y, nan_policy=nan_policy)
    assert_same(ours, theirs)
    with pytest.raises(ValueError, match="NaN"):
        pw.ks_2samp(x, y, nan_policy="raise")
    # PSI counts a missing value in the NaN bin, as it does a float NaN
    as_float = x.to_numpy(dtype=np.float64, na_value=np.nan)
    assert pw.psi(x, y) == pw.psi(as_float, y.to_numpy(dtype=np.float64))


def test_integer_bool_and_mixed_precision():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=40), rng.normal(0.3, size=35)
    cases = [(a.astype(np.float32), b), (a, b.astype(np.float32)),
             (rng.integers(-3, 4, 40), rng.integers(-2, 5, 35)),
             (rng.integers(0, 2, 40).astype(bool), rng.integers(0, 2, 35).astype(bool)),
             (rng.integers(0, 9, 40).astype(np.uint8), rng.integers(0, 9, 35).astype(np.int16)),
             (a.astype(np.float16), b.astype(np.float16)), (list(a), list(b))]
    for x, y in cases:
        ours, theirs, _, _ = both(x, y)
        assert_same(ours, theirs)


def test_integers_beyond_float64_are_tested_exactly():
    """2**60 + k are distinct integers but one float64: ranks keep them apart, as scipy does."""
    x = np.array([2**60, 2**60 + 1, 2**60 + 2, 2**60 + 5], dtype=np.int64)
    y = np.array([2**60 + 1, 2**60 + 3, 2**60 + 4], dtype=np.int64)
    for alternative in ("two-sided", "less", "greater"):
        ours, theirs, _, _ = both(x, y, alternative)
        assert_same(ours, theirs)
        assert ours.statistic_location == theirs.statistic_location  # exact, not via float
    ours, theirs, _, _ = both(np.stack([x[:3], x[1:]], axis=1), np.stack([y, y], axis=1))
    assert_same(ours, theirs)


def test_long_double_is_tested_by_rank():
    x = np.array([1.0, 1.0 + 2**-60, 2.0], dtype=np.longdouble)
    y = np.array([1.0 + 2**-60, 3.0], dtype=np.longdouble)
    ours, theirs, _, _ = both(x, y, "greater")
    assert_same(ours, theirs)


def test_empty_samples_are_nan_with_small_sample_warning():
    for x, y in (([], [1.0, 2.0]), ([1.0], []), (np.zeros((0, 3)), np.ones((4, 3)))):
        ours, theirs, mine, scipys = both(x, y)
        assert_same(ours, theirs)
        assert mine == scipys == {"SmallSampleWarning"}
    with pytest.warns(SmallSampleWarning):
        res = pw.ks_2samp([], [1.0])
    assert np.isnan(res.pvalue)
    ours, theirs, mine, scipys = both(np.zeros((2, 0)), np.ones((4, 0)))  # no features
    assert_same(ours, theirs)
    assert mine == scipys == set()


def test_axis_none_tuple_keepdims_and_broadcasting():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(6, 3, 4)), rng.normal(0.2, size=(5, 3, 4))
    for kw in ({"axis": None}, {"axis": None, "keepdims": True}, {"keepdims": True},
               {"axis": 1, "keepdims": True}, {"axis": -1}, {"axis": (0, 2)},
               {"axis": (0, 1), "keepdims": True}):
        x, y = (a, b) if kw.get("axis", 0) in (0, None, (0, 2), (0, 1)) else \
            (a, rng.normal(size=(6, 3, 5)) if kw["axis"] == -1 else rng.normal(size=(6, 7, 4)))
        ours, theirs, _, _ = both(x, y, **kw)
        assert_same(ours, theirs)
    ours, theirs, _, _ = both(rng.normal(size=(8, 1)), rng.normal(size=(9, 4)))  # broadcast
    assert_same(ours, theirs)
    ours, theirs, _, _ = both(rng.normal(size=8), rng.normal(size=(4, 9)), axis=-1)
    assert_same(ours, theirs)
    with pytest.raises(ValueError, match="broadcast"):
        pw.ks_2samp(rng.normal(size=(8, 2)), rng.normal(size=(9, 3)))
    with pytest.raises(ValueError, match="twice"):
        pw.ks_2samp(a, b, axis=(0, -3))


def test_refused_kinds_say_what_to_do():
    with pytest.raises(TypeError, match="complex"):
        pw.ks_2samp(np.array([1 + 1j, 2]), [1.0])
    with pytest.raises(TypeError, match="astype"):
        pw.ks_2samp(np.array(["2020-01-01"], dtype="datetime64[D]"), [1.0])
    with pytest.raises(TypeError, match="expected numbers"):
        pw.ks_2samp("abc", [1.0])
    with pytest.raises(TypeError, match="expected numbers"):
        pw.ks_2samp(pd.Series([1.0, "x"], dtype=object), [1.0])


def test_float64_inputs_are_not_copied():
    """The fast path: float64 (and float32) arrays reach the kernel as views."""
    x = np.random.default_rng(4).normal(size=(200, 5))
    y = x[:150]
    s1, s2 = as_sample(x, "data1"), as_sample(y, "data2")
    data = kernel_data(s1, s2)
    assert data.x1 is x and data.x2 is y
    views = scipy_views(data.x1, data.x2, None, None, 0)
    assert views.v1.base is not None and np.shares_memory(views.v1, x)
    assert np.shares_memory(views.v2, y)


# ---- masks and NaN policies together ----------------------------------------------------------

@pytest.mark.parametrize("nan_policy", ["propagate", "omit"])
def test_masks_and_nans_in_many_features(nan_policy):
    rng = np.random.default_rng(5)
    data = rng.normal(size=(12, 4))
    data[2, 1] = np.nan          # a real NaN
    data[3, 2] = np.nan          # a NaN under the mask: hidden, as any masked value
    mask = np.zeros_like(data, dtype=bool)
    mask[:, 3] = True            # a feature masked out whole
    mask[[3, 5], 2] = True
    x = np.ma.array(data, mask=mask)
    y = rng.normal(size=(10, 4))
    ours, theirs, mine, scipys = both(x, y, nan_policy=nan_policy)
    assert_same(ours, theirs)
    assert mine == scipys
    with pytest.raises(ValueError, match="NaN"):
        pw.ks_2samp(x, y, nan_policy="raise")
    one = np.ma.array([1.0, 2.0, 3.0], mask=[1, 1, 1])
    ours, theirs, mine, scipys = both(one, [1.0, 2.0], nan_policy=nan_policy)
    assert_same(ours, theirs)
    assert mine == scipys == {"SmallSampleWarning"}


def test_psi_masked_is_psi_of_the_kept_values():
    rng = np.random.default_rng(6)
    ref = rng.normal(size=(300, 2))
    cur = rng.normal(0.4, size=(250, 2))
    mask = rng.random(cur.shape) < 0.3
    masked = pw.psi(ref, np.ma.array(cur, mask=mask))
    for j in range(2):
        assert masked[j] == pytest.approx(pw.psi(ref[:, j], cur[~mask[:, j], j]), rel=1e-12)
    profile = pw.PsiProfile.fit(np.ma.array(ref, mask=rng.random(ref.shape) < 0.2))
    assert profile.counts[:, -1].tolist() == [0, 0]  # masked entries are not missing values


# ---- hypothesis over input kinds ----------------------------------------------------------------

KINDS_1D = ["list", "float64", "float32", "int64", "bool", "series", "nullable", "masked"]
KINDS_2D = ["float64", "float32", "int64", "masked", "frame"]


def as_kind(values: np.ndarray, kind: str, rng: np.random.Generator):
    """``values`` (float64, integral where the kind needs it) as the given input kind."""
    holes = rng.random(values.shape) < 0.25
    if kind == "list":
        return values.tolist()
    if kind in ("float64", "float32"):
        return values.astype(kind)
    if kind == "int64":
        return np.round(np.nan_to_num(values) * 3).astype(np.int64)
    if kind == "bool":
        return np.nan_to_num(values) > 0
    if kind == "series":
        return pd.Series(values)
    if kind == "nullable":
        return pd.Series(pd.array(np.where(holes, np.nan, values), dtype="Float64"))
    if kind == "masked":
        return np.ma.array(values, mask=holes)
    return pd.DataFrame(values, columns=[f"c{i}" for i in range(values.shape[1])])


@st.composite
def input_pairs(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    two_d = draw(st.booleans())
    kinds = KINDS_2D if two_d else KINDS_1D
    n1, n2 = draw(st.integers(0, 25)), draw(st.integers(1, 25))
    features = draw(st.integers(1, 3))
    shape1, shape2 = ((n1, features), (n2, features)) if two_d else ((n1,), (n2,))
    ties = draw(st.booleans())
    a = rng.normal(size=shape1)
    b = rng.normal(draw(st.sampled_from([0.0, 0.8])), size=shape2)
    if ties:
        a, b = np.round(a), np.round(b)
    if draw(st.booleans()):  # some NaNs
        a[rng.random(shape1) < 0.1] = np.nan
    x = as_kind(a, draw(st.sampled_from(kinds)), rng)
    y = as_kind(b, draw(st.sampled_from(kinds)), rng)
    kw = {"alternative": draw(st.sampled_from(["two-sided", "less", "greater"])),
          "nan_policy": draw(st.sampled_from(["propagate", "omit"])),
          "keepdims": draw(st.booleans())}
    if draw(st.booleans()):
        kw["axis"] = None
    return x, y, kw


@settings(max_examples=80)
@given(input_pairs())
def test_every_input_kind_matches_scipy(pair):
    x, y, kw = pair
    ours, theirs, mine, scipys = both(x, y, **kw)
    assert_same(ours, theirs, rtol=1e-9)
    assert mine == scipys


def test_float32_features_after_a_nan_feature_stay_float64():
    """scipy rounds every feature to float32 when the first one is NaN (its n-d loop takes the
    dtype of the first slice); pipeward keeps float64, equal to that rounding."""
    rng = np.random.default_rng(7)
    a = rng.normal(size=(1, 3)).astype(np.float32)
    a[0, 0] = np.nan
    b = rng.normal(size=(15, 3)).astype(np.float32)
    ours, theirs, _, _ = both(a, b)
    assert theirs.statistic.dtype == np.float32 and ours.statistic.dtype == np.float64
    assert_same(ours, theirs)
    assert ours.statistic[1] * 15 == round(ours.statistic[1] * 15)  # k / 15 exactly
