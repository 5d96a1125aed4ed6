"""The SciPy-free distribution functions against SciPy, and the threshold rules' false
positive rates measured on fresh clean data."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st

from pipeward.outliers import thresholds as th


@pytest.mark.parametrize("df", [1, 2, 3, 7.5, 20, 64, 100, 500])
def test_chi2_against_scipy(df):
    x = np.concatenate([st.chi2.rvs(df, size=500, random_state=1), [0.0, 1e-6, 5 * df, 20 * df]])
    expected = st.chi2.sf(x, df)
    keep = expected > 1e-280
    np.testing.assert_allclose(th.chi2_sf(x, df)[keep], expected[keep], rtol=1e-10)
    np.testing.assert_allclose(th.chi2_cdf(x, df), st.chi2.cdf(x, df), rtol=1e-10, atol=1e-15)
    for p in (0.5, 0.025, 1e-3, 1e-8):
        assert th.chi2_isf(p, df) == pytest.approx(st.chi2.isf(p, df), rel=1e-10)


@pytest.mark.parametrize("a,b", [(0.5, 0.5), (2, 3), (10, 200), (250, 749.5), (0.7, 50)])
def test_beta_against_scipy(a, b):
    x = np.concatenate([np.random.default_rng(2).uniform(size=500), [0, 1, 1e-9, 1 - 1e-9]])
    expected = st.beta.sf(x, a, b)
    keep = expected > 1e-250
    np.testing.assert_allclose(th.beta_sf(x, a, b)[keep], expected[keep], rtol=1e-9)
    for p in (0.5, 0.05, 1e-3, 1e-6):
        assert th.beta_isf(p, a, b) == pytest.approx(st.beta.isf(p, a, b), rel=1e-9)


@pytest.mark.parametrize("d1,d2", [(1, 1), (5, 10), (500, 1500), (20, 30000)])
def test_f_against_scipy(d1, d2):
    x = st.f.rvs(d1, d2, size=500, random_state=3)
    np.testing.assert_allclose(th.f_sf(x, d1, d2), st.f.sf(x, d1, d2), rtol=1e-9)
    for p in (0.1, 0.01, 1e-4):
        assert th.f_isf(p, d1, d2) == pytest.approx(st.f.isf(p, d1, d2), rel=1e-9)


def test_invalid_probability():
    with pytest.raises(ValueError, match="probability"):
        th.chi2_isf(0.0, 3)
    with pytest.raises(ValueError, match="more than 5 rows"):
        th.hotelling_threshold(0.01, 5, 5)


def test_conformal_pvalues_and_threshold():
    cal = np.arange(1.0, 100.0)  # 99 scores
    p = th.conformal_pvalues(np.array([0.0, 50.0, 99.0, 1000.0]), cal)
    np.testing.assert_allclose(p, [1.0, 51 / 100, 2 / 100, 1 / 100])
    t = th.conformal_threshold(cal, 0.05)  # at most 4 calibration scores may reach s
    assert t == 95.0
    assert th.conformal_pvalues(np.array([t + 1e-9]), cal)[0] <= 0.05
    assert th.conformal_pvalues(np.array([t]), cal)[0] > 0.05
    assert th.conformal_threshold(cal[:10], 0.05) == np.inf


def test_benjamini_hochberg_matches_scipy():
    rng = np.random.default_rng(4)
    p = np.concatenate([rng.uniform(size=900), rng.uniform(0, 1e-4, size=100)])
    adjusted = st.false_discovery_control(p, method="bh")
    np.testing.assert_array_equal(th.benjamini_hochberg(p, 0.05), adjusted <= 0.05)
    assert th.benjamini_hochberg(np.array([]), 0.05).size == 0


def test_exact_laws_hold_in_simulation():
    """Hotelling (new points) and Beta (training rows) laws against simulated distances."""
    rng = np.random.default_rng(5)
    n, d, reps = 40, 8, 400
    new, own = [], []
    for _ in range(reps):
        X = rng.normal(size=(n + 1, d))
        train, x = X[:n], X[n]
        mu, S = train.mean(0), np.cov(train.T, bias=True)
        P = np.linalg.inv(S)
        new.append((x - mu) @ P @ (x - mu))
        own.append((train[0] - mu) @ P @ (train[0] - mu))
    assert st.kstest(th.hotelling_pvalues(np.array(new), n, d), "uniform").pvalue > 1e-3
    assert st.kstest(th.beta_pvalues(np.array(own), n, d), "uniform").pvalue > 1e-3
