"""Seed for seed: the MCD objective (log det of the raw support covariance) of pipeward
against sklearn's MinCovDet on sklearn's own MinCovDet test data (test_robust_covariance.py,
launch_mcd_on_dataset), with the total fit time of each side.

Run: python bench/mcd_quality.py [SEEDS]   (default 100; prints worse/better counts per case)
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np
from sklearn.covariance import MinCovDet

import pipeward as pw

CASES = [(100, 5, 0), (100, 5, 20), (100, 5, 40), (1000, 5, 450), (1700, 5, 800),
         (500, 1, 100), (20, 20, 0)]


def data(n: int, d: int, n_outliers: int, seed: int) -> np.ndarray:
    r = np.random.RandomState(seed)
    X = r.randn(n, d)
    idx = r.permutation(n)[:n_outliers]
    X[idx] += 10.0 * (r.randint(2, size=(n_outliers, d)) - 0.5)
    return X


def support_logdet(X: np.ndarray, support: np.ndarray) -> float:
    S = np.atleast_2d(np.cov(X[support].T, bias=True))
    sign, logdet = np.linalg.slogdet(S)
    return logdet if sign > 0 else -np.inf


def main(n_seeds: int) -> None:
    seconds = {"pipeward": 0.0, "sklearn": 0.0}
    for case in CASES:
        worse = better = 0
        before = dict(seconds)
        for seed in range(n_seeds):
            X = data(*case, seed)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                t = time.perf_counter()
                peer = MinCovDet(random_state=seed).fit(X)
                seconds["sklearn"] += time.perf_counter() - t
                t = time.perf_counter()
                ours = pw.MahalanobisDetector("mcd", random_state=seed).fit(X)
                seconds["pipeward"] += time.perf_counter() - t
            a, b = support_logdet(X, ours.raw_support_), support_logdet(X, peer.raw_support_)
            tol = 1e-9 * max(1.0, abs(b))
            worse += a > b + tol
            better += a < b - tol
        ours, peer = (seconds[k] - before[k] for k in ("pipeward", "sklearn"))
        print(f"{case}: worse {worse}, better {better} of {n_seeds}; fit time pipeward "
              f"{ours:.2f} s, sklearn {peer:.2f} s ({peer / ours:.1f}x)", flush=True)
    print(f"fit time: pipeward {seconds['pipeward']:.2f} s, sklearn {seconds['sklearn']:.2f} s "
          f"({seconds['sklearn'] / seconds['pipeward']:.1f}x)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100)
