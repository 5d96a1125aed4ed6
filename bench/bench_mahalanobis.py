"""Mahalanobis benchmarks: pipeward vs scikit-learn (the peer) and the NumPy reference.

Run: pytest bench/bench_mahalanobis.py --benchmark-min-rounds=3
Sizes are modest for a shared 2-core machine; PIPEWARD_BENCH_ROWS scales the scoring sizes.
"""

from __future__ import annotations

import os
import warnings

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


# scikit-learn's own MinCovDet test cases (test_robust_covariance.py), seed 0: the sizes where
# the seed-for-seed search (bench/mcd_quality.py) costs most against MinCovDet.
SKLEARN_CASES = [(100, 5, 20), (1000, 5, 450), (1700, 5, 800), (500, 1, 100), (20, 20, 0)]


@pytest.mark.parametrize("case", SKLEARN_CASES, ids=lambda c: "{}x{}-{}".format(*c))
@pytest.mark.parametrize("side", ["pipeward", "sklearn"])
def test_mcd_sklearn_test_cases(benchmark, case, side):
    from mcd_quality import data  # noqa: PLC0415 - bench/ is on the path under pytest

    X = data(*case, 0)
    benchmark.group = "mcd-fit-{}x{}-{}".format(*case)
    def fit() -> None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # MinCovDet warns on the h = n case
            if side == "pipeward":
                pw.MahalanobisDetector("mcd", random_state=0).fit(X)
            else:
                sk.MinCovDet(random_state=0).fit(X)

    benchmark.pedantic(fit, rounds=15 if case[0] < 1000 else 5, warmup_rounds=1)
