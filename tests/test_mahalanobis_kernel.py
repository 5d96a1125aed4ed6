"""The native Mahalanobis kernels against the NumPy reference and scikit-learn, every ISA."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core
from pipeward.outliers.kernel import CovarianceStats, precision_factor
from pipeward.reference import mahalanobis as ref

pytestmark = pytest.mark.native

RTOL = {np.float64: 1e-10, np.float32: 2e-4}


def _spd(rng, d, dtype=np.float64):
    A = rng.normal(size=(d, d))
    return (A @ A.T / d + np.eye(d)).astype(dtype)


@st.composite
def problems(draw):
    n = draw(st.integers(1, 300))
    d = draw(st.integers(1, 40))
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    layout = draw(st.sampled_from(["C", "F", "sliced", "reversed"]))
    seed = draw(st.integers(0, 2**32 - 1))
    return n, d, dtype, layout, seed


def _layout(X, layout):
    if layout == "F":
        return np.asfortranarray(X)
    if layout == "sliced":
        big = np.zeros((X.shape[0] * 2, X.shape[1] * 3), dtype=X.dtype)
        big[::2, ::3] = X
        return big[::2, ::3]
    if layout == "reversed":
        return np.ascontiguousarray(X[::-1])[::-1]
    return X


@given(problems())
@example((1, 1, np.float64, "C", 0))
@example((17, 25, np.float32, "F", 1))  # a row block shorter than a register tile
def test_distances_match_reference_for_every_isa(problem):
    n, d, dtype, layout, seed = problem
    rng = np.random.default_rng(seed)
    X = _layout((rng.normal(size=(n, d)) * 3 + 1).astype(dtype), layout)
    mu = rng.normal(size=d).astype(dtype)
    P = np.linalg.inv(_spd(rng, d))
    expected = ref.squared_distances(X, mu, P)
    before = _core.isa_limit()
    try:
        for isa in _core.enabled_isas():
            _core.set_isa_limit(isa)
            got = pw.mahalanobis(X, mu, P.astype(dtype))
            assert got.dtype == dtype and got.shape == (n,)
            np.testing.assert_allclose(got, expected, rtol=RTOL[dtype], atol=0)
    finally:
        _core.set_isa_limit(before)


def test_singular_precision_uses_a_square_root(isa, rng):
    d = 6
    B = rng.normal(size=(d, 3))
    P = B @ B.T  # rank 3: no Cholesky factor
    X = rng.normal(size=(257, d))
    mu = rng.normal(size=d)
    W, lower = precision_factor(P)
    assert not lower
    np.testing.assert_allclose(pw.mahalanobis(X, mu, P), ref.squared_distances(X, mu, P),
                               rtol=1e-9, atol=1e-9)


def test_matches_sklearn_empirical_covariance(isa, rng):
    from sklearn.covariance import EmpiricalCovariance

    X = rng.normal(size=(3000, 37)) @ rng.normal(size=(37, 37))
    est = EmpiricalCovariance().fit(X[:2000])
    got = pw.mahalanobis(X, est.location_, est.precision_)
    np.testing.assert_allclose(got, est.mahalanobis(X), rtol=1e-9)


def test_reference_backend_and_errors(rng):
    X = rng.normal(size=(10, 3))
    mu, P = np.zeros(3), np.eye(3)
    np.testing.assert_allclose(pw.mahalanobis(X, mu, P, backend="reference"), (X**2).sum(1))
    with pytest.raises(TypeError, match="float32 or float64"):
        pw.mahalanobis(X.astype(np.int64), mu, P)
    with pytest.raises(ValueError, match=r"location: expected shape \(3,\)"):
        pw.mahalanobis(X, np.zeros(4), P)
    with pytest.raises(ValueError, match=r"precision: expected shape \(3, 3\)"):
        pw.mahalanobis(X, mu, np.eye(2))
    bad = X.copy()
    bad[2, 1] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pw.mahalanobis(bad, mu, P)
    with pytest.raises(ValueError, match="non-empty"):
        pw.mahalanobis(np.zeros((0, 3)), mu, P)
    with pytest.raises(ValueError, match="positive semi-definite"):
        pw.mahalanobis(X, mu, -np.eye(3))
    with pytest.raises(TypeError, match="float64 array"):
        _core.mahalanobis_sq_distances(X, mu.astype(np.float32), np.eye(3), True, np.empty(10))


def test_gpu_array_is_a_clear_error():
    class FakeCuPy:
        __cuda_array_interface__ = {}
        dtype = np.dtype(np.float64)
        shape = (2, 2)

    with pytest.raises((pw.GPUUnavailableError, TypeError)):
        pw.mahalanobis(FakeCuPy(), FakeCuPy(), FakeCuPy())


@given(st.integers(1, 400), st.integers(1, 30), st.sampled_from([np.float64, np.float32]),
       st.integers(0, 2**32 - 1))
def test_comoment_matches_two_pass_reference(n, d, dtype, seed):
    rng = np.random.default_rng(seed)
    X = (rng.normal(size=(n, d)) * 5 + 1e3).astype(dtype)  # a large offset tests stability
    count, mean, m2 = ref.comoment(X)
    before = _core.isa_limit()
    try:
        for isa in _core.enabled_isas():
            _core.set_isa_limit(isa)
            s = CovarianceStats.from_data(X)
            assert s.count == count
            np.testing.assert_allclose(s.mean, mean, rtol=1e-12)
            np.testing.assert_allclose(s.comoment, m2, rtol=1e-9, atol=1e-9 * n)
            assert np.array_equal(s.comoment, s.comoment.T)
    finally:
        _core.set_isa_limit(before)


def test_comoment_of_selected_rows(rng):
    X = rng.normal(size=(500, 7))
    rows = rng.choice(500, size=123, replace=False)
    count, mean, m2 = _core.mahalanobis_comoment(X, rows.astype(np.int64))
    _, mean_ref, m2_ref = ref.comoment(X[rows])
    assert count == 123
    np.testing.assert_allclose(m2, m2_ref, rtol=1e-10, atol=1e-10)
    with pytest.raises(ValueError, match="out of range"):
        _core.mahalanobis_comoment(X, np.array([0, 500], dtype=np.int64))


def test_merged_partitions_equal_the_whole(rng):
    X = rng.normal(size=(1001, 9)) * [1, 10, 100, 1e3, 1, 1, 1, 1, 1e-3] + 50
    parts = np.array_split(X, [1, 100, 101, 640])
    merged = CovarianceStats.empty(9)
    for part in parts:
        merged = merged + CovarianceStats.from_data(part)
    whole = CovarianceStats.from_data(X)
    assert merged.count == whole.count
    np.testing.assert_allclose(merged.mean, whole.mean, rtol=1e-13)
    np.testing.assert_allclose(merged.comoment, whole.comoment, rtol=1e-10)
    np.testing.assert_allclose(merged.covariance(), np.cov(X.T, bias=True), rtol=1e-10)
    with pytest.raises(ValueError, match="features"):
        whole.merge(CovarianceStats.empty(3))


def test_threads_give_the_same_answer(rng):
    X = rng.normal(size=(20_000, 24))
    mu, P = X.mean(0), np.linalg.inv(np.cov(X.T))
    one = pw.mahalanobis(X, mu, P, workers=1)
    two = pw.mahalanobis(X, mu, P, workers=2)
    np.testing.assert_array_equal(one, two)
    a = CovarianceStats.from_data(X, workers=1)
    b = CovarianceStats.from_data(X, workers=2)
    np.testing.assert_allclose(a.comoment, b.comoment, rtol=1e-12)


def test_statistics_reject_non_finite_data(rng):
    X = rng.normal(size=(100, 4))
    X[50, 3] = np.inf
    with pytest.raises(ValueError, match="NaN or infinity"):
        CovarianceStats.from_data(X)
    X[50, 3] = np.nan
    with pytest.raises(ValueError, match="NaN or infinity"):
        CovarianceStats.from_data(X)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_finite_huge_rows_get_their_distance_or_an_overflow_error(backend):
    """Finite 1e200 rows were rejected as "NaN or infinity": their distance is given when it
    fits (a small precision), and called an overflow when it does not."""
    X = np.full((3, 2), 1e200)
    X[0] = 0.0
    small_precision = np.eye(2) * 1e-300
    np.testing.assert_allclose(pw.mahalanobis(X, np.zeros(2), small_precision, backend=backend),
                               [0.0, 2e100, 2e100], rtol=1e-12)
    with pytest.raises(ValueError, match=r"overflow: .* 2 finite row\(s\) .* row 1.* float64"):
        pw.mahalanobis(X, np.zeros(2), np.eye(2), backend=backend)
    with pytest.raises(ValueError, match="overflow: .* float32"):
        pw.mahalanobis(np.full((2, 2), 1e30, np.float32), np.zeros(2), np.eye(2), backend=backend)
    X[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"NaN or infinity in 1 row\(s\) \(first: row 2\)"):
        pw.mahalanobis(X, np.zeros(2), np.eye(2), backend=backend)
