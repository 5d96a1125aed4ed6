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


# ---- client-level DP: clipping and DP-FedAvg against Flower's DP strategies' own steps ----
CLIP = 500.0  # every client's norm is about sqrt(P) = 1,000 at P = 1M: all are clipped
SIGMA = 1.0


def _flower_copies(updates):
    return ([[row.copy()] for row in updates[0]],), {}


@pytest.mark.benchmark(group="clip_updates K=100")
def test_clip_updates_pipeward(benchmark, updates):
    got = _run(benchmark, lambda: pw.aggregate.clip_updates(updates[0], CLIP * np.sqrt(P / 1e6)), 3)
    assert np.linalg.norm(got.astype(np.float64), axis=1).max() <= CLIP * np.sqrt(P / 1e6) * (1 + 1e-6)


@pytest.mark.benchmark(group="clip_updates K=100")
def test_clip_updates_pipeward_layers(benchmark, layered):
    _run(benchmark, lambda: pw.aggregate.clip_updates(layered, CLIP * np.sqrt(P / 1e6)), 3)


@pytest.mark.benchmark(group="clip_updates K=100")
def test_clip_updates_flower(benchmark, updates):
    """``clip_inputs_inplace`` per client as Flower's fixed-clipping DP strategies run it: on a
    new array per update (theirs is ``np.subtract(new, old)``; here a copy), clipped in place."""
    from flwr.supercore.differential_privacy import clip_inputs_inplace

    def clip_all():
        clients = [[row.copy()] for row in updates[0]]
        for client in clients:
            clip_inputs_inplace(client, CLIP * np.sqrt(P / 1e6))
        return clients

    _run(benchmark, clip_all, 1)


@pytest.mark.benchmark(group="clip_updates K=100")
def test_clip_updates_flower_in_place(benchmark, updates):
    """The same on copies made outside the timing: the in-place pass alone."""
    from flwr.supercore.differential_privacy import clip_inputs_inplace

    def clip_all(clients):
        for client in clients:
            clip_inputs_inplace(client, CLIP * np.sqrt(P / 1e6))

    benchmark.pedantic(clip_all, setup=lambda: _flower_copies(updates), rounds=1, iterations=1)


@pytest.mark.benchmark(group="DP-FedAvg K=100")
def test_dp_mean_pipeward(benchmark, updates):
    c = CLIP * np.sqrt(P / 1e6)
    got = _run(benchmark, lambda: pw.aggregate.dp_mean(updates[0], c, SIGMA,
                                                       expected_clients=K, seed=0), 3)
    assert got.shape == (P,) and np.isfinite(got).all()


@pytest.mark.benchmark(group="DP-FedAvg K=100")
def test_dp_mean_flower(benchmark, updates):
    """Flower's server-side fixed clipping: clip each update in place, FedAvg's ``aggregate``,
    then Gaussian noise of std sigma C / K (``add_gaussian_noise_inplace``)."""
    from flwr.supercore.differential_privacy import (add_gaussian_noise_inplace,
                                                      clip_inputs_inplace)

    c = CLIP * np.sqrt(P / 1e6)

    def dp_fedavg(clients):
        for client in clients:
            clip_inputs_inplace(client, c)
        out = fl.aggregate([(client, 1) for client in clients])
        add_gaussian_noise_inplace(out, SIGMA * c / K)
        return out

    benchmark.pedantic(dp_fedavg, setup=lambda: _flower_copies(updates), rounds=1, iterations=1)
