"""pw.psi and PsiProfile: binning conventions, empty bins, NaN bin, mergeable counts."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core
from pipeward.reference import drift as ref

pytestmark = pytest.mark.native
ISAS = list(_core.enabled_isas())


def psi_by_hand(e_counts, a_counts, eps=1e-4):
    e = e_counts / e_counts.sum()
    a = a_counts / a_counts.sum()
    e = np.where(e == 0, eps, e)
    a = np.where(a == 0, eps, a)
    return float(np.sum((a - e) * np.log(a / e)))


@settings(max_examples=30)
@given(st.integers(1, 300), st.integers(1, 300), st.integers(1, 12), st.integers(0, 2**32 - 1),
       st.sampled_from([np.float32, np.float64]), st.booleans())
def test_counts_match_reference(n_ref, n_cur, k, seed, dtype, with_nan):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3, n_cur)).astype(dtype)
    if with_nan:
        x[rng.random(x.shape) < 0.1] = np.nan
    x[0, : min(3, n_cur)] = 0.0  # values exactly on an edge go right: [e_i, e_{i+1})
    edges = rng.normal(size=(3, k))
    edges[0, 0] = 0.0
    edges = np.sort(edges, axis=1)
    np.testing.assert_array_equal(_core.drift_psi_counts(x, edges), ref.psi_counts(x, edges))


def test_every_isa_counts_the_same(isa, rng):
    rows = rng.normal(size=(20000, 13)).astype(np.float32)  # (rows, features): the row kernel
    rows[::17, 5] = np.nan
    edges = np.sort(rng.normal(size=(13, 9)), axis=1)
    expected = ref.psi_counts(np.ascontiguousarray(rows.T), edges)
    np.testing.assert_array_equal(_core.drift_psi_counts(rows.T, edges), expected)
    np.testing.assert_array_equal(_core.drift_psi_counts(rows.T, edges, 1), expected)
    many = np.sort(rng.normal(size=(13, 70)), axis=1)  # > 64 edges: binary search per value
    np.testing.assert_array_equal(_core.drift_psi_counts(rows.T, many),
                                  ref.psi_counts(np.ascontiguousarray(rows.T), many))
    one_feature = _core.drift_psi_counts(rows[:, :1].T, edges[:1], 2)  # split rows, 1 feature
    np.testing.assert_array_equal(one_feature, expected[:1])


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 9000), F=st.integers(1, 40), k=st.integers(0, 20), extra=st.integers(0, 3),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_row_kernel_matches_reference_on_every_isa(n, F, k, extra, dtype, seed):
    """The (rows, features) kernel: every vector width vs F (lanes, overlapping last chunk),
    edge counts with and without register counters, strided rows, more rows than one block,
    NaN and infinities, values on an edge and repeated edges."""
    rng = np.random.default_rng(seed)
    table = rng.normal(size=(n, F + extra)).astype(dtype)
    table[rng.random(table.shape) < 0.05] = np.nan
    table[rng.random(table.shape) < 0.01] = np.inf
    table[rng.random(table.shape) < 0.01] = -np.inf
    edges = np.sort(rng.normal(size=(F, k)), axis=1)
    if k >= 2:
        edges[:, 1] = edges[:, 0]  # a repeated edge: an empty bin between them
    if k:
        table[: n // 3, :F] = edges[:, 0].astype(dtype)  # values exactly on an edge
    rows = table[:, :F]  # sample stride F + extra
    want = ref.psi_counts(np.ascontiguousarray(rows.T), edges)
    before = _core.isa_limit()
    try:
        for isa in ISAS:
            _core.set_isa_limit(isa)
            np.testing.assert_array_equal(_core.drift_psi_counts(rows.T, edges, 1), want, err_msg=isa)
    finally:
        _core.set_isa_limit(before)


def test_quantile_binning_by_hand(rng):
    r = rng.normal(size=2000)
    c = rng.normal(0.3, size=1500)
    edges = np.quantile(r, np.arange(1, 10) / 10)
    e = np.bincount(np.searchsorted(edges, r, side="right"), minlength=10)
    a = np.bincount(np.searchsorted(edges, c, side="right"), minlength=10)
    assert pw.psi(r, c) == pytest.approx(psi_by_hand(np.append(e, 0), np.append(a, 0)), rel=1e-12)
    assert pw.psi(r, c, backend="reference") == pytest.approx(pw.psi(r, c), rel=1e-12)


def test_uniform_and_explicit_edges(rng):
    r = rng.uniform(0, 1, size=(1000, 2))
    c = rng.uniform(0.2, 1.4, size=(800, 2))  # values beyond the reference range hit the tail bin
    u = pw.psi(r, c, binning="uniform", bins=5)
    for f in range(2):
        edges = np.linspace(r[:, f].min(), r[:, f].max(), 6)[1:-1]
        assert u[f] == pytest.approx(pw.psi(r[:, f], c[:, f], bins=edges), rel=1e-12)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_uniform_bins_over_a_range_wider_than_dbl_max(rng, backend):
    """Every edge was +inf once (hi - lo overflowed), so every PSI was 0 whatever the data.
    Scaling by a power of two scales the edges exactly, so the PSI cannot change."""
    big = np.finfo(np.float64).max
    r = rng.uniform(-0.9, 0.9, size=(2000, 2)) * big
    c = rng.uniform(0.4, 0.9, size=(1000, 2)) * big  # piled into the top half: clear drift
    got = pw.psi(r, c, binning="uniform", backend=backend)
    np.testing.assert_array_equal(got, pw.psi(r / 4, c / 4, binning="uniform", backend=backend))
    assert np.all(got > 1)
    mon = pw.DriftMonitor(r, binning="uniform", tests=("psi",)).check(c)
    np.testing.assert_allclose(mon.psi, got, rtol=1e-12)
    assert mon.any_drift


def test_evidently_binning_replicates_its_rules(rng):
    """Evidently: Sturges edges over both samples, np.histogram proportions, zeros -> 1e-4."""
    r = rng.normal(size=700)
    c = rng.normal(1.0, size=500)
    edges = np.histogram_bin_edges(np.concatenate([r, c]), bins="sturges")
    rp = np.histogram(r, edges)[0] / len(r)
    cp = np.histogram(c, edges)[0] / len(c)
    rp[rp == 0] = 0.0001
    cp[cp == 0] = 0.0001
    evidently = float(np.sum((rp - cp) * np.log(rp / cp)))
    assert pw.psi(r, c, binning="evidently") == pytest.approx(evidently, rel=1e-12)


def test_empty_bins_never_give_inf(rng):
    r = rng.normal(size=500)
    c = np.full(300, 100.0)  # everything in the top tail bin
    value = pw.psi(r, c)
    assert np.isfinite(value) and value > 1
    assert pw.psi(r, r) == 0.0


def test_nan_bin_counts_and_contributes(rng):
    r = rng.normal(size=(1000, 1))
    c = r.copy()
    c[:200] = np.nan
    prof = pw.PsiProfile.fit(r)
    assert prof.nan_counts[0] == 0
    assert prof.count(c)[0, -1] == 200
    assert prof.psi(c)[0] > 0.1


def test_profiles_merge_exactly(rng):
    data = rng.normal(size=(3000, 4))
    whole = pw.PsiProfile.fit(data)
    parts = [pw.PsiProfile.fit(p, edges=whole.edges) for p in np.array_split(data, 5)]
    merged = parts[0]
    for p in parts[1:]:
        merged = merged.merge(p)
    np.testing.assert_array_equal(merged.counts, whole.counts)
    other = pw.PsiProfile.fit(data[:10])
    with pytest.raises(ValueError, match="different bin edges"):
        whole.merge(other)


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 400), st.integers(1, 400), st.integers(1, 12), st.integers(0, 2**32 - 1),
       st.sampled_from(["quantile", "uniform"]), st.booleans())
def test_profile_backends_agree(n_ref, n_cur, bins, seed, binning, with_nan):
    """PsiProfile.fit/count/psi on the C++ kernels equal the NumPy reference backend."""
    rng = np.random.default_rng(seed)
    r = rng.normal(size=(n_ref, 3))
    c = rng.normal(0.3, 1.2, size=(n_cur, 3))
    if with_nan:
        c[rng.random(c.shape) < 0.1] = np.nan
    cpu = pw.PsiProfile.fit(r, bins=bins, binning=binning, backend="cpu")
    want = pw.PsiProfile.fit(r, bins=bins, binning=binning, backend="reference")
    np.testing.assert_array_equal(cpu.edges, want.edges)
    np.testing.assert_array_equal(cpu.counts, want.counts)
    np.testing.assert_array_equal(cpu.count(c), want.count(c, backend="reference"))
    np.testing.assert_array_equal(cpu.psi(c), want.psi(c, backend="reference"))
    np.testing.assert_array_equal(cpu.psi(c), pw.psi(r, c, bins=bins, binning=binning))
    given_edges = pw.PsiProfile.fit(r, edges=cpu.edges, backend="reference")
    np.testing.assert_array_equal(given_edges.counts, cpu.counts)


def test_profile_backend_errors(rng):
    r = rng.normal(size=(50, 2))
    prof = pw.PsiProfile.fit(r)
    with pytest.raises(ValueError, match="backend must be one of"):
        pw.PsiProfile.fit(r, backend="gpu")
    with pytest.raises(ValueError, match="backend must be one of"):
        prof.count(r, backend="fast")
    with pytest.raises(TypeError, match="needs CuPy arrays"):
        prof.count(r, backend="cuda")
    with pytest.raises(ValueError, match="needs the current data"):
        pw.PsiProfile.fit(r, binning="evidently", backend="reference")


def test_psi_bad_input(rng):
    r = rng.normal(size=(100, 2))
    with pytest.raises(ValueError, match="same features"):
        pw.psi(r, rng.normal(size=(100, 3)))
    with pytest.raises(ValueError, match="at least one sample"):
        pw.psi(np.empty((0, 2)), r)
    with pytest.raises(ValueError, match="binning"):
        pw.psi(r, r, binning="sturges")
    with pytest.raises(ValueError, match="eps"):
        pw.psi(r, r, eps=0)
    with pytest.raises(ValueError, match="non-decreasing"):
        pw.psi(r, r, bins=[1.0, 0.0])
    with pytest.raises(TypeError, match="real numbers"):
        pw.psi(r.astype(np.complex128), r)
    with pytest.raises(ValueError, match="non-decreasing"):
        _core.drift_psi_counts(r.T.copy(), np.array([[1.0, 0.0], [0.0, 1.0]]))
    all_nan = np.full((50, 1), np.nan)
    assert np.isfinite(pw.psi(all_nan, rng.normal(size=(50, 1))))  # documented: NaN bin vs data


def test_categorical_psi(rng):
    import pandas as pd

    ref = rng.choice(["a", "b", "c"], size=1000, p=[0.5, 0.3, 0.2])
    cur = rng.choice(["a", "b", "d", "e"], size=800, p=[0.4, 0.3, 0.2, 0.1])
    rp = np.array([np.mean(ref == k) for k in ["a", "b", "c", "d", "e"]] + [0.0])
    cp = np.array([np.mean(cur == k) for k in ["a", "b", "c", "d", "e"]] + [0.0])
    rp, cp = np.where(rp == 0, 1e-4, rp), np.where(cp == 0, 1e-4, cp)
    expected = float(np.sum((cp - rp) * np.log(cp / rp)))
    assert pw.psi(ref, cur) == pytest.approx(expected, rel=1e-12)  # unseen d, e: own bins
    assert pw.psi(pd.Series(ref, dtype="category"), pd.Series(cur)) == pytest.approx(expected, rel=1e-12)
    with_none = np.array(list(cur[:-1]) + [None], dtype=object)
    assert np.isfinite(pw.psi(ref.astype(object), with_none))
    with pytest.raises(TypeError, match="strings"):
        pw.psi(np.array(["a", 1.5], dtype=object), np.array(["a"], dtype=object))


def test_float32_rows_against_double_edges(isa):
    """float data is compared with float edges rounded up: the same bins as in double."""
    edges = np.array([[0.1, 1 / 3, 0.5 + 1e-12, 1e39, np.inf]])  # not floats; beyond float range
    values = np.array([0.1, np.float32(0.1), np.nextafter(np.float32(1 / 3), 1), np.float32(1 / 3),
                       0.5, np.nextafter(np.float32(0.5), 1), 3e38, np.inf, -np.inf, np.nan])
    rows = values.astype(np.float32)[:, None].repeat(3, axis=1)  # (rows, features)
    e3 = np.ascontiguousarray(edges.repeat(3, axis=0))
    expected = ref.psi_counts(np.ascontiguousarray(rows.T), e3)
    np.testing.assert_array_equal(_core.drift_psi_counts(rows.T, e3), expected)
