"""Mahalanobis benchmarks: pipeward vs scikit-learn (the peer) and the NumPy reference.

Run: pytest bench/bench_mahalanobis.py --benchmark-min-rounds=3
Sizes are modest for a shared 2-core machine; PIPEWARD_BENCH_ROWS scales the scoring sizes.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import pipeward as pw
from pipeward.reference import mahalanobis as ref

sk = pytest.importorskip("sklearn.covariance")

ROWS = int(os.environ.get("PIPEWARD_BENCH_ROWS", "200000"))


@pytest.fixture(scope="module")
def scoring():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, 100))
    est = sk.EmpiricalCovariance().fit(X[:20000])
    return X, est


@pytest.mark.benchmark(group=f"score-{ROWS}x100-f64")
def test_score_pipeward_f64(benchmark, scoring):
    X, est = scoring
    det = pw.MahalanobisDetector("empirical").fit(X[:20000])
    out = benchmark(det.mahalanobis, X)
    np.testing.assert_allclose(out[:1000], est.mahalanobis(X[:1000]), rtol=1e-9)


@pytest.mark.benchmark(group=f"score-{ROWS}x100-f64")
def test_score_sklearn(benchmark, scoring):
    X, est = scoring
    benchmark(est.mahalanobis, X)


@pytest.mark.benchmark(group=f"score-{ROWS}x100-f64")
def test_score_reference(benchmark, scoring):
    X, est = scoring
    benchmark(ref.squared_distances, X, est.location_, est.precision_)


@pytest.mark.benchmark(group=f"score-{ROWS}x100-f32")
def test_score_pipeward_f32(benchmark, scoring):
    X, _ = scoring
    X32 = X.astype(np.float32)
    det = pw.MahalanobisDetector("empirical").fit(X32[:20000])
    benchmark(det.mahalanobis, X32)


@pytest.mark.benchmark(group=f"empirical-fit-{ROWS}x100")
def test_fit_empirical_pipeward(benchmark, scoring):
    X, _ = scoring
    benchmark(pw.CovarianceStats.from_data, X)


@pytest.mark.benchmark(group=f"empirical-fit-{ROWS}x100")
def test_fit_empirical_sklearn(benchmark, scoring):
    X, _ = scoring
    benchmark(sk.empirical_covariance, X)


@pytest.fixture(scope="module")
def mcd_data():
    rng = np.random.default_rng(1)
    X = rng.normal(size=(50_000, 20))
    X[:2500] += 5
    return X


@pytest.mark.benchmark(group="mcd-fit-50000x20")
def test_mcd_pipeward(benchmark, mcd_data):
    det = benchmark.pedantic(lambda: pw.MahalanobisDetector("mcd", random_state=0)
                             .fit(mcd_data), rounds=3)
    assert not det.support_[:2500].any()


@pytest.mark.benchmark(group="mcd-fit-50000x20")
def test_mcd_sklearn(benchmark, mcd_data):
    benchmark.pedantic(lambda: sk.MinCovDet(random_state=0).fit(mcd_data), rounds=1)


@pytest.fixture(scope="module")
def mcd_sklearn_case():
    """The largest case of sklearn's own MinCovDet tests: 1700 x 5, 800 shifted rows."""
    r = np.random.RandomState(0)
    X = r.randn(1700, 5)
    idx = r.permutation(1700)[:800]
    X[idx] += 10.0 * (r.randint(2, size=(800, 5)) - 0.5)
    return X


@pytest.mark.benchmark(group="mcd-fit-1700x5")
def test_mcd_small_pipeward(benchmark, mcd_sklearn_case):
    benchmark.pedantic(lambda: pw.MahalanobisDetector("mcd", random_state=0)
                       .fit(mcd_sklearn_case), rounds=5)


@pytest.mark.benchmark(group="mcd-fit-1700x5")
def test_mcd_small_sklearn(benchmark, mcd_sklearn_case):
    benchmark.pedantic(lambda: sk.MinCovDet(random_state=0).fit(mcd_sklearn_case), rounds=5)
