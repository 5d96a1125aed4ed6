"""Federated aggregation against Flower's own aggregate functions, same updates, one run.

Run:
    python -m pytest bench/bench_aggregate.py --benchmark-only --benchmark-columns=median,min,rounds
    PIPEWARD_ISA=avx2 python -m pytest bench/bench_aggregate.py --benchmark-only ...

K = 100 clients of P float32 parameters (PIPEWARD_BENCH_AGG_P, default 1,000,000: 400 MB).
Each benchmark checks its result against Flower's (median to the bit, the others to float32
rounding). The list-of-layers group feeds the same values as 10 layers per client.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

import pipeward as pw

fl = pytest.importorskip("flwr.server.strategy.aggregate")

K = 100
P = int(os.environ.get("PIPEWARD_BENCH_AGG_P", "1000000"))
F = 10  # malicious clients assumed by Krum


@pytest.fixture(scope="module")
def updates():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((K, P), dtype=np.float32)
    return x, [([row], 1) for row in x]


@pytest.fixture(scope="module")
def layered(updates):
    x, _ = updates
    cut = np.linspace(0, P, 11).astype(int)
    return [[row[a:b] for a, b in zip(cut[:-1], cut[1:])] for row in x]


@pytest.fixture(scope="module")
def flower_results(updates):
    _, results = updates
    return {"median": fl.aggregate_median(results)[0],
            "trimmed": fl.aggregate_trimmed_avg(results, 0.1)[0],
            "mean": fl.aggregate(results)[0]}


def _run(benchmark, fn, rounds):
    return benchmark.pedantic(fn, rounds=rounds, iterations=1, warmup_rounds=0)


@pytest.mark.benchmark(group="median K=100")
def test_median_pipeward(benchmark, updates, flower_results):
    got = _run(benchmark, lambda: pw.aggregate.median(updates[0]), 3)
    assert np.array_equal(got, flower_results["median"])


@pytest.mark.benchmark(group="median K=100")
def test_median_pipeward_layers(benchmark, layered, flower_results):
    got = _run(benchmark, lambda: pw.aggregate.median(layered), 3)
    assert np.array_equal(np.concatenate(got), flower_results["median"])


@pytest.mark.benchmark(group="median K=100")
def test_median_flower(benchmark, updates):
    _run(benchmark, lambda: fl.aggregate_median(updates[1]), 1)


@pytest.mark.benchmark(group="trimmed mean 0.1 K=100")
def test_trimmed_pipeward(benchmark, updates, flower_results):
    got = _run(benchmark, lambda: pw.aggregate.trimmed_mean(updates[0], 0.1), 3)
    np.testing.assert_allclose(got, flower_results["trimmed"], rtol=1e-5, atol=1e-6)


@pytest.mark.benchmark(group="trimmed mean 0.1 K=100")
def test_trimmed_flower(benchmark, updates):
    _run(benchmark, lambda: fl.aggregate_trimmed_avg(updates[1], 0.1), 1)


@pytest.mark.benchmark(group="weighted mean K=100")
def test_mean_pipeward(benchmark, updates, flower_results):
    got = _run(benchmark, lambda: pw.aggregate.mean(updates[0], np.ones(K)), 3)
    np.testing.assert_allclose(got, flower_results["mean"], rtol=1e-5, atol=1e-6)


@pytest.mark.benchmark(group="weighted mean K=100")
def test_mean_flower(benchmark, updates):
    _run(benchmark, lambda: fl.aggregate(updates[1]), 1)


@pytest.mark.benchmark(group="krum K=100 f=10")
def test_krum_pipeward(benchmark, updates):
    got, idx = _run(benchmark, lambda: pw.aggregate.krum(updates[0], F, return_indices=True), 3)
    assert np.array_equal(got, updates[0][idx[0]])


@pytest.mark.benchmark(group="krum K=100 f=10")
def test_krum_flower(benchmark, updates):
    got = _run(benchmark, lambda: fl.aggregate_krum(updates[1], F, 0), 1)
    assert np.array_equal(got[0], pw.aggregate.krum(updates[0], F))
