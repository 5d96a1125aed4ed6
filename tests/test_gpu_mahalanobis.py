"""GPU Mahalanobis scoring (cuda/mahalanobis.cu + cuBLAS) against the reference and NumPy."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_gpu
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeward as pw

pytestmark = [pytest.mark.gpu, requires_gpu]

TOL = {np.float32: 2e-4, np.float64: 1e-10}


@pytest.fixture(scope="module")
def gpu():
    from pipeward._gpu import mahalanobis

    return mahalanobis


def _problem(rng, n, d):
    A = rng.standard_normal((d, d))
    cov = A @ A.T + d * np.eye(d)
    X = rng.multivariate_normal(np.arange(d, dtype=float), cov, size=n)
    return X, X.mean(axis=0), np.linalg.inv(cov)


def _reference(X, loc, prec):
    c = X.astype(np.float64) - loc
    return np.einsum("ij,jk,ik->i", c, prec, c)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("d", [1, 3, 16, 17, 64, 200])
@pytest.mark.parametrize("order", ["C", "F"])
def test_squared_distances_match_the_reference(cp, gpu, rng, dtype, d, order):
    X, loc, prec = _problem(rng, 2000, d)
    Xd = cp.asarray(np.asarray(X, dtype=dtype, order=order))
    got = gpu.mahalanobis(Xd, cp.asarray(loc), cp.asarray(prec))
    assert got.dtype == dtype and got.shape == (2000,)
    np.testing.assert_allclose(got.get(), _reference(X.astype(dtype), loc, prec), rtol=TOL[dtype])


def test_strided_rows_are_read_in_place(cp, gpu, rng):
    X, loc, prec = _problem(rng, 3000, 40)
    Xd = cp.asarray(X)[::3, :]
    np.testing.assert_allclose(gpu.mahalanobis(Xd, cp.asarray(loc), cp.asarray(prec)).get(),
                               _reference(X[::3], loc, prec), rtol=1e-10)


def test_singular_precision_uses_the_eigen_factor(cp, gpu, rng):
    v = rng.standard_normal((30, 5))
    prec = v @ v.T  # rank 5
    X = rng.standard_normal((500, 30))
    loc = np.zeros(30)
    got = gpu.mahalanobis(cp.asarray(X), cp.asarray(loc), cp.asarray(prec))
    np.testing.assert_allclose(got.get(), _reference(X, loc, prec), rtol=1e-8, atol=1e-8)


def test_not_a_precision_is_refused(cp, gpu):
    with pytest.raises(ValueError, match="positive semi-definite"):
        gpu.mahalanobis(cp.ones((3, 2)), cp.zeros(2), cp.asarray([[1.0, 0.0], [0.0, -1.0]]))


@settings(max_examples=20)
@given(n=st.integers(1, 300), d=st.integers(1, 40), dtype=st.sampled_from([np.float32, np.float64]))
def test_comoment_matches_numpy(cp, gpu, n, d, dtype):
    rng = np.random.default_rng(n * 100 + d)
    X = (rng.standard_normal((n, d)) * 3 + 10).astype(dtype)
    count, mean, m2 = gpu.comoment(cp.asarray(X))
    c = X.astype(np.float64) - X.astype(np.float64).mean(axis=0)
    assert count == n
    np.testing.assert_allclose(mean.get(), X.astype(np.float64).mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(m2.get(), c.T @ c, rtol=1e-9, atol=1e-9)


def test_public_mahalanobis_on_cupy_matches_numpy(cp, rng):
    X, loc, prec = _problem(rng, 1000, 12)
    want = pw.mahalanobis(X, loc, prec)
    got = pw.mahalanobis(cp.asarray(X), cp.asarray(loc), cp.asarray(prec))
    assert isinstance(got, cp.ndarray)
    np.testing.assert_allclose(got.get(), want, rtol=1e-10)


@settings(max_examples=15)
@given(n=st.integers(2, 400), d=st.integers(1, 30), dtype=st.sampled_from([np.float32, np.float64]),
       order=st.sampled_from(["C", "F"]))
def test_covariance_stats_on_cupy_match_numpy(cp, n, d, dtype, order):
    rng = np.random.default_rng(n * 100 + d)
    X = np.asarray(rng.standard_normal((n, d)) * 3 + 50, dtype=dtype, order=order)
    want = pw.CovarianceStats.from_data(X)
    got = pw.CovarianceStats.from_data(cp.asarray(X))
    assert isinstance(got.mean, cp.ndarray) and isinstance(got.comoment, cp.ndarray)
    assert got.count == want.count
    np.testing.assert_allclose(got.mean.get(), want.mean, rtol=1e-12)
    np.testing.assert_allclose(got.comoment.get(), want.comoment, rtol=1e-9, atol=1e-9)
    half = n // 2
    if half:
        merged = (pw.CovarianceStats.from_data(cp.asarray(X[:half]))
                  + pw.CovarianceStats.from_data(cp.asarray(X[half:])))
        np.testing.assert_allclose(merged.comoment.get(), want.comoment, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("method", ["empirical", "ledoit_wolf", "oas"])
@pytest.mark.parametrize("kwargs", [{}, {"alpha": 0.05, "threshold": "chi2"},
                                    {"alpha": 0.1, "threshold": "conformal", "random_state": 0}])
def test_detector_fit_on_cupy_matches_numpy(cp, rng, dtype, method, kwargs):
    X, _, _ = _problem(rng, 3000, 24)
    X[:30] += 8.0  # some outliers
    X = X.astype(dtype)
    new = _problem(rng, 500, 24)[0].astype(dtype)
    want = pw.MahalanobisDetector(method, **kwargs).fit(X)
    det = pw.MahalanobisDetector(method, **kwargs).fit(cp.asarray(X))
    tol = TOL[dtype] * (10 if dtype == np.float32 else 1)
    for name in ("location_", "covariance_", "precision_"):
        value = getattr(det, name)
        assert isinstance(value, cp.ndarray), name
        np.testing.assert_allclose(value.get(), getattr(want, name), rtol=tol, atol=tol,
                                   err_msg=name)
    np.testing.assert_allclose(det.dist_.get(), want.dist_, rtol=tol)
    assert det.threshold_ == pytest.approx(want.threshold_, rel=tol)
    got = det.mahalanobis(cp.asarray(new))
    assert isinstance(got, cp.ndarray) and got.dtype == dtype
    np.testing.assert_allclose(got.get(), want.mahalanobis(new), rtol=tol)
    # Labels agree except for rows within rounding of the threshold.
    labels, want_labels = det.predict(cp.asarray(new)).get(), want.predict(new)
    near = np.isclose(want.mahalanobis(new), want.threshold_, rtol=10 * tol)
    np.testing.assert_array_equal(labels[~near], want_labels[~near])


def test_detector_partial_fit_on_cupy_matches_numpy(cp, rng):
    X, _, _ = _problem(rng, 4000, 10)
    want, got = pw.MahalanobisDetector("empirical"), pw.MahalanobisDetector("empirical")
    for part in np.array_split(X, 4):
        want.partial_fit(part)
        got.partial_fit(cp.asarray(part))
    assert isinstance(got.precision_, cp.ndarray)
    np.testing.assert_allclose(got.precision_.get(), want.precision_, rtol=1e-9)
    assert got.threshold_ == pytest.approx(want.threshold_, rel=1e-9)
