"""GPU KS and PSI (cuda/drift.cu) against the C++ kernel, scipy and the NumPy public path."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_gpu
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core as core

pytestmark = [pytest.mark.gpu, requires_gpu]


@pytest.fixture(scope="module")
def gpu():
    from pipeward._gpu import drift

    return drift


def _samples(rng, n, features, dtype, *, ties=False, nans=0.0):
    x = rng.standard_normal((features, n))
    if ties:
        x = np.round(x, 1)
    if nans:
        x[rng.random(x.shape) < nans] = np.nan
    return x.astype(dtype)


def _assert_same_ks(got, want, dtype):
    names = ("statistic", "pvalue", "location", "sign", "n1", "n2", "status")
    got = [g.get() for g in got]
    for name, g, w in zip(names, got, want, strict=True):
        if name in ("n1", "n2", "status"):
            np.testing.assert_array_equal(g, w, err_msg=name)
        elif name == "pvalue":
            np.testing.assert_allclose(g, w, rtol=1e-7, atol=1e-15, err_msg=name)
        else:
            np.testing.assert_allclose(g, w, rtol=1e-12, atol=0, err_msg=name)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("alternative", [0, 1, 2])
@pytest.mark.parametrize("method", [0, 1, 2])
def test_ks_matches_the_cpu_kernel(cp, gpu, rng, dtype, alternative, method):
    v1 = _samples(rng, 300, 20, dtype, ties=True)
    v2 = _samples(rng, 451, 20, dtype, ties=True) + dtype(0.1)
    want = core.drift_ks_2samp(v1, v2, alternative, method, False)
    got = gpu.ks_2samp(cp.asarray(v1), cp.asarray(v2), alternative, method, False)
    _assert_same_ks(got, want, dtype)


@pytest.mark.parametrize("omit", [False, True])
def test_ks_nan_policies_match_the_cpu_kernel(cp, gpu, rng, omit):
    v1 = _samples(rng, 200, 12, np.float64, nans=0.05)
    v2 = _samples(rng, 150, 12, np.float64, nans=0.05)
    v1[3] = np.nan  # a feature left empty under "omit"
    want = core.drift_ks_2samp(v1, v2, 0, 2, omit)
    got = gpu.ks_2samp(cp.asarray(v1), cp.asarray(v2), 0, 2, omit)
    _assert_same_ks(got, want, np.float64)


def test_large_asymptotic_case_matches_scipy(cp, rng):
    stats = pytest.importorskip("scipy.stats")
    a = rng.standard_normal((20_000, 8))
    b = rng.standard_normal((15_000, 8)) * 1.02
    got = pw.ks_2samp(cp.asarray(a), cp.asarray(b))
    assert isinstance(got.statistic, cp.ndarray)
    for f in range(8):
        want = stats.ks_2samp(a[:, f], b[:, f])
        assert float(got.statistic[f]) == pytest.approx(want.statistic, rel=1e-12)
        assert float(got.pvalue[f]) == pytest.approx(want.pvalue, rel=1e-7, abs=1e-300)
        assert float(got.statistic_location[f]) == want.statistic_location
        assert int(got.statistic_sign[f]) == want.statistic_sign


@settings(max_examples=20)
@given(n1=st.integers(1, 60), n2=st.integers(1, 60), alt=st.sampled_from(["two-sided", "less", "greater"]))
def test_public_ks_on_cupy_matches_numpy(cp, n1, n2, alt):
    rng = np.random.default_rng(n1 * 100 + n2)
    a = np.round(rng.standard_normal((n1, 3)), 1)
    b = np.round(rng.standard_normal((n2, 3)), 1)
    want = pw.ks_2samp(a, b, alternative=alt)
    got = pw.ks_2samp(cp.asarray(a), cp.asarray(b), alternative=alt)
    for field in ("statistic", "pvalue", "statistic_location", "statistic_sign"):
        np.testing.assert_allclose(cp.asnumpy(getattr(got, field)), getattr(want, field),
                                   rtol=1e-7, err_msg=field)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("layout", ["rows", "features"])
def test_psi_counts_match_the_cpu_kernel(cp, gpu, rng, dtype, layout):
    table = rng.standard_normal((50_000, 45)).astype(dtype)
    table[rng.random(table.shape) < 0.01] = np.nan
    table[0, 0], table[1, 1] = np.inf, -np.inf
    # (features, samples) views: of a (samples, features) table, or of its transpose copy.
    v = table.T if layout == "rows" else np.ascontiguousarray(table.T)
    edges = np.sort(rng.standard_normal((45, 9)), axis=1)
    edges[:, 4] = edges[:, 5]  # a repeated edge: an empty bin
    want = core.drift_psi_counts(v, edges)
    got = gpu.psi_counts(cp.asarray(v) if layout == "features" else cp.asarray(table).T, edges)
    assert got.dtype == cp.int64
    np.testing.assert_array_equal(got.get(), want)


def test_device_edges_match_numpy(cp, gpu, rng):
    x = rng.standard_normal((6, 1001))
    x[0, :10] = np.nan
    x[1, :5] = np.inf
    x[2, :5] = -np.inf
    x[3] = np.nan
    got_q = gpu.quantile_edges(cp.asarray(x), 10).get()
    got_u = gpu.uniform_edges(cp.asarray(x), 10).get()
    for f in range(6):
        finite = x[f][np.isfinite(x[f])]
        if finite.size == 0:
            assert (got_q[f] == 0).all() and (got_u[f] == 0).all()
            continue
        np.testing.assert_array_equal(got_q[f], np.quantile(finite, np.arange(1, 10) / 10))
        np.testing.assert_allclose(got_u[f], np.linspace(finite.min(), finite.max(), 11)[1:-1],
                                   rtol=1e-15)


def test_public_psi_on_cupy_matches_numpy(cp, rng):
    ref = rng.standard_normal((5000, 7))
    cur = rng.standard_normal((3000, 7)) + 0.2
    want = pw.psi(ref, cur)
    got = pw.psi(cp.asarray(ref), cp.asarray(cur))
    assert isinstance(got, cp.ndarray)
    np.testing.assert_allclose(got.get(), want, rtol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_public_psi_evidently_on_cupy_matches_numpy(cp, rng, dtype):
    ref = (rng.standard_normal((4000, 9)) * rng.uniform(1e-3, 1e3, 9)).astype(dtype)
    cur = (rng.standard_normal((2500, 9)) * 1.1 + 0.1).astype(dtype)
    ref[:, 8] = cur[:, 8] = 2.5  # constant: one Sturges bin
    ref[rng.random(ref.shape) < 0.01] = np.nan
    cur[0, 0], cur[1, 1] = np.inf, -np.inf
    want = pw.psi(ref, cur, binning="evidently")
    got = pw.psi(cp.asarray(ref), cp.asarray(cur), binning="evidently")
    assert isinstance(got, cp.ndarray)
    np.testing.assert_allclose(got.get(), want, rtol=1e-12)


@settings(max_examples=15)
@given(n_ref=st.integers(1, 400), n_cur=st.integers(1, 400), bins=st.integers(1, 20),
       binning=st.sampled_from(["quantile", "uniform"]), dtype=st.sampled_from([np.float32, np.float64]))
def test_psi_profile_on_cupy_matches_numpy(cp, n_ref, n_cur, bins, binning, dtype):
    rng = np.random.default_rng(n_ref * 1000 + n_cur)
    ref = np.round(rng.standard_normal((n_ref, 4)), 1).astype(dtype)
    cur = np.round(rng.standard_normal((n_cur, 4)) + 0.3, 1).astype(dtype)
    ref[rng.random(ref.shape) < 0.05] = np.nan
    want = pw.PsiProfile.fit(ref, bins=bins, binning=binning)
    got = pw.PsiProfile.fit(cp.asarray(ref), bins=bins, binning=binning)
    assert isinstance(got.edges, cp.ndarray) and isinstance(got.counts, cp.ndarray)
    np.testing.assert_allclose(got.edges.get(), want.edges, rtol=1e-15)
    np.testing.assert_array_equal(got.counts.get(), want.counts)
    np.testing.assert_array_equal(got.count(cp.asarray(cur)).get(), want.count(cur))
    value = got.psi(cp.asarray(cur))
    assert isinstance(value, cp.ndarray)
    np.testing.assert_allclose(value.get(), want.psi(cur), rtol=1e-12)
    halves = [pw.PsiProfile.fit(cp.asarray(p), edges=got.edges) for p in np.array_split(ref, 2)
              if len(p)]
    merged = halves[0] if len(halves) == 1 else halves[0].merge(halves[1])
    np.testing.assert_array_equal(merged.counts.get(), want.counts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["auto", "asymp"])
def test_drift_monitor_on_cupy_matches_numpy(cp, rng, dtype, method):
    ref = np.round(rng.standard_normal((3000, 12)), 2).astype(dtype)
    cur = (np.round(rng.standard_normal((2000, 12)), 2) * rng.uniform(0.9, 1.2, 12)).astype(dtype)
    ref[rng.random(ref.shape) < 0.01] = np.nan
    cur[rng.random(cur.shape) < 0.02] = np.nan
    want = pw.DriftMonitor(ref, method=method).check(cur)
    monitor = pw.DriftMonitor(cp.asarray(ref), method=method)
    got = monitor.check(cp.asarray(cur))
    for field in ("ks_statistic", "ks_pvalue", "ks_pvalue_adjusted", "psi"):
        np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=1e-7,
                                   atol=1e-15, err_msg=field)
    for field in ("nan_reference", "nan_current", "drifted"):
        np.testing.assert_array_equal(getattr(got, field), getattr(want, field), field)
    again = monitor.check(cp.asarray(cur[::2]))  # the fitted device profile is reused
    np.testing.assert_allclose(again.psi, pw.DriftMonitor(ref, method=method).check(cur[::2]).psi,
                               rtol=1e-12)
