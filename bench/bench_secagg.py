"""Secure aggregation mask expansion against OpenSSL's ChaCha20 (through ``cryptography``)
plus a NumPy add, same key, same words, one run; and one whole protocol round.

Run:
    python -m pytest bench/bench_secagg.py --benchmark-only --benchmark-columns=median,min,rounds
    PIPEWARD_ISA=avx2 python -m pytest bench/bench_secagg.py --benchmark-only ...

The mask groups run single-threaded (workers=1): the target is per core. N words are
PIPEWARD_BENCH_SECAGG_N (default 2^24: a 64 MB mask). GB/s is in each row's extra_info.
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from pipeward import _core, secagg
from pipeward.reference import secagg as ref

N = int(os.environ.get("PIPEWARD_BENCH_SECAGG_N", str(1 << 24)))
KEY, NONCE = bytes(range(32)), bytes(12)


@pytest.fixture(scope="module")
def expected():
    return ref.mask_words(KEY, NONCE, N)


def _rate(benchmark):
    benchmark.extra_info["GB/s"] = round(4 * N / benchmark.stats.stats.median / 1e9, 3)


@pytest.mark.benchmark(group=f"mask expansion, {N} uint32 words, 1 core")
def test_mask_pipeward(benchmark, expected):
    out = np.zeros(N, np.uint32)

    def run():
        out[:] = 0
        _core.secagg_mask_accumulate(out, KEY, NONCE, workers=1)

    benchmark.pedantic(run, rounds=7, iterations=1, warmup_rounds=1)
    _rate(benchmark)
    assert np.array_equal(out, expected)


@pytest.mark.benchmark(group=f"mask expansion, {N} uint32 words, 1 core")
def test_mask_openssl(benchmark, expected):
    out = np.zeros(N, np.uint32)

    def run():
        out[:] = 0
        np.add(out, ref.mask_words(KEY, NONCE, N), out=out)

    benchmark.pedantic(run, rounds=7, iterations=1, warmup_rounds=1)
    _rate(benchmark)
    assert np.array_equal(out, expected)


@pytest.mark.benchmark(group="one round, 20 clients x 100k parameters, 3 dropped")
def test_round(benchmark):
    n, p, t = 20, 100_000, 12
    updates = np.random.default_rng(0).uniform(-1, 1, (n, p))

    def run():
        q = secagg.Quantizer(1.0, n)
        clients = [secagg.Client(i, q, t) for i in range(n)]
        server = secagg.Server(q, t, p)
        roster = server.collect_keys({c.id: c.advertise_keys() for c in clients})
        inbox = server.route_shares({c.id: c.share_keys(roster) for c in clients})
        masked = {c.id: c.masked_input(updates[c.id], inbox[c.id]) for c in clients[3:]}
        survivors = server.collect_masked(masked)
        return server.unmask({c.id: c.unmask(survivors) for c in clients[3:]})

    total = benchmark.pedantic(run, rounds=3, iterations=1)
    np.testing.assert_allclose(total, updates[3:].sum(axis=0), atol=1e-6)
