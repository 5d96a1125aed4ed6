"""Every family's headline benchmark on each CPU path this machine has, the peer in the same
run: the AVX-512 path and the ``PIPEWARD_ISA=avx2`` path (what AVX2-only machines such as AMD
EPYC cloud VMs run) side by side, for bench/RESULTS.md.

    python bench/isa_paths.py [--rounds 7] [--isas avx512,avx2] [--scale 1] [--only aggregate]

The paths are switched in-process (``_core.set_isa_limit``, what PIPEWARD_ISA sets at start-up),
alternating with the peer so that both see the same machine load. Each figure is the median of
``rounds`` runs on one thread (pipeward ``workers=1``, torch and BLAS limited to one thread):
the CPU time of the process (robust on a shared machine) and the wall time. The noise row also
gives two threads, where its target is set (``torch.normal`` does not use a second thread).
"""

from __future__ import annotations

import argparse
import hashlib
import time
import warnings

import numpy as np
import scipy.stats
import torch
from sklearn.covariance import EmpiricalCovariance
from threadpoolctl import threadpool_limits

import pipeward as pw
from pipeward import _core

from bench_drift import evidently_psi_loop  # the peers the targets were set against


def measure(fn, rounds: int) -> tuple[float, float]:
    """(median CPU seconds, median wall seconds) of fn()."""
    cpu, wall = [], []
    fn()  # warm-up: caches, page faults of first use
    for _ in range(rounds):
        c, w = time.process_time(), time.perf_counter()
        fn()
        cpu.append(time.process_time() - c)
        wall.append(time.perf_counter() - w)
    return float(np.median(cpu)), float(np.median(wall))


def cases(scale: float):
    rng = np.random.default_rng(0)
    buf = rng.integers(0, 256, int(256 * 2**20 * scale), dtype=np.uint8)
    rows = rng.integers(0, 256, (int(2048 * scale) or 16, 16384), dtype=np.uint8)
    F = max(2, int(20 * scale))
    a, b = rng.normal(size=(100_000, F)), rng.normal(size=(100_000, F))
    psi_ref = rng.normal(size=(1_000_000, F)).astype(np.float32)
    psi_cur = rng.normal(0.05, 1, size=(1_000_000, F)).astype(np.float32)
    profile = pw.PsiProfile.fit(psi_ref)
    X = rng.normal(size=(int(200_000 * scale) or 1000, 100))
    est = EmpiricalCovariance().fit(X[:20000])
    loc, prec = est.location_, est.precision_
    grads = rng.normal(size=(256, int(2**20 * scale))).astype(np.float32)
    norms = np.sqrt((grads.astype(np.float64) ** 2).sum(axis=1))
    tg = torch.from_numpy(grads)
    empty = np.zeros((0, 4 * 2**20), np.float32)

    def torch_clip_sum():  # bench_privacy's torch formula: norms, factors, weighted sum
        f = (1.0 / (tg.norm(dim=1) + 1e-6)).clamp(max=1.0)
        return torch.einsum("i,ij->j", f, tg)

    # Federated aggregation against Flower's own functions (K = 100 clients, P = 1M float32).
    from flwr.server.strategy import aggregate as flower  # noqa: PLC0415 - the fl extra

    updates = rng.standard_normal((100, int(1_000_000 * scale) or 1000), dtype=np.float32)
    results = [([row], 1) for row in updates]

    def hashlib_rows():
        for r in rows:
            hashlib.sha256(r).digest()

    from flwr.supercore.differential_privacy import (  # noqa: PLC0415 - the fl extra
        add_gaussian_noise_inplace, clip_inputs_inplace)

    clip = 0.5 * np.sqrt(updates.shape[1])  # every client is clipped

    def flower_clip():  # as its DP strategies: a new array per update, clipped in place
        clients = [[row.copy()] for row in updates]
        for client in clients:
            clip_inputs_inplace(client, clip)
        return clients

    def flower_dp_fedavg():  # clip each, FedAvg's aggregate, noise of std sigma C / K
        out = flower.aggregate([(c, 1) for c in flower_clip()])
        add_gaussian_noise_inplace(out, clip / len(updates))
        return out

    # (family, case, target, pipeward, peer, peer name)
    return [
        ("sha256", f"{buf.nbytes >> 20} MiB buffer", ">= 0.95x hashlib",
         lambda: pw.sha256(buf), lambda: hashlib.sha256(buf).digest(), "hashlib"),
        ("sha256", f"sha256_batch {rows.shape[0]} x 16 KiB", "(new: native core)",
         lambda: _core.sha256_batch(rows, workers=1), hashlib_rows, "hashlib loop"),
        ("drift", f"KS asymptotic {F} x 100k vs 100k", ">= 20x scipy (1 thread)",
         lambda: pw.ks_2samp(a, b, workers=1),
         lambda: [scipy.stats.ks_2samp(a[:, f], b[:, f]) for f in range(F)], "scipy loop"),
        ("drift", f"PSI {F} x 1M float32, fitted edges", ">= 20x (2 threads)",
         lambda: profile.psi(psi_cur, workers=1), lambda: evidently_psi_loop(psi_ref, psi_cur),
         "Evidently-style NumPy loop"),
        ("outliers", f"Mahalanobis {X.shape[0] // 1000}k x 100 float64", ">= 6x scikit-learn",
         lambda: pw.mahalanobis(X, loc, prec, workers=1), lambda: est.mahalanobis(X),
         "EmpiricalCovariance"),
        ("privacy", f"clip+sum one pass B=256 P={grads.shape[1] >> 20}M f32", ">= 1.6x (2 threads)",
         lambda: pw.clip_and_noise(grads, 1.0, 0.0, per_sample_norms=norms, workers=1),
         torch_clip_sum, "torch formula"),
        ("privacy", "noise P=4M float32 (Philox)", ">= 5x (2 threads)",
         lambda: pw.clip_and_noise(empty, 1.0, 1.0, seed=1, workers=1),
         lambda: torch.normal(0.0, 1.0, size=(4 * 2**20,)), "torch.normal"),
        # peer / pipeward < 1 here: the ratio is plain / secure (target: >= 0.5).
        ("privacy", "noise P=4M float32, secure (ChaCha20)", "plain/secure >= 0.5",
         lambda: pw.clip_and_noise(empty, 1.0, 1.0, secure=True, workers=1),
         lambda: pw.clip_and_noise(empty, 1.0, 1.0, seed=1, workers=1), "pipeward Philox"),
        ("aggregate", "median K=100 P=1M f32", ">= 20x Flower",
         lambda: pw.aggregate.median(updates, workers=1),
         lambda: flower.aggregate_median(results), "aggregate_median"),
        ("aggregate", "trimmed mean 0.1 K=100 P=1M f32", ">= 20x Flower",
         lambda: pw.aggregate.trimmed_mean(updates, 0.1, workers=1),
         lambda: flower.aggregate_trimmed_avg(results, 0.1), "aggregate_trimmed_avg"),
        ("aggregate", "Krum f=10 K=100 P=1M f32", ">= 20x Flower",
         lambda: pw.aggregate.krum(updates, 10, workers=1),
         lambda: flower.aggregate_krum(results, 10, 0), "aggregate_krum"),
        ("aggregate", "weighted mean K=100 P=1M f32", ">= 5x Flower",
         lambda: pw.aggregate.mean(updates, np.ones(len(updates)), workers=1),
         lambda: flower.aggregate(results), "aggregate"),
        ("aggregate", "clip_updates K=100 P=1M f32", "(no target)",
         lambda: pw.aggregate.clip_updates(updates, clip, workers=1), flower_clip,
         "clip_inputs_inplace on copies"),
        ("aggregate", "DP-FedAvg sigma=1 K=100 P=1M f32", "(no target)",
         lambda: pw.aggregate.dp_mean(updates, clip, 1.0, expected_clients=len(updates), seed=0,
                                      workers=1), flower_dp_fedavg, "Flower DP fixed-clipping steps"),
    ], empty


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--isas", default="avx512,avx2")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--only", default=None, help="one family's rows (e.g. aggregate)")
    args = parser.parse_args()
    isas = [i for i in args.isas.split(",") if i in _core.enabled_isas()]
    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    rows, empty = cases(args.scale)
    before = _core.isa_limit()
    print("| family | case | target | " + " | ".join(
        f"{i}: pipeward / peer, CPU ms (ratio)" for i in isas) + " |")
    print("|---|---|---|" + "---|" * len(isas))
    with threadpool_limits(1):
        for family, case, target, ours, peer, peer_name in rows:
            if args.only and family != args.only:
                continue
            cells = []
            for isa in isas:
                _core.set_isa_limit(isa)
                (c_ours, _), (c_peer, _) = measure(ours, args.rounds), measure(peer, args.rounds)
                cells.append(f"{c_ours * 1e3:.1f} / {c_peer * 1e3:.1f} ({c_peer / c_ours:.2f}x)")
            print(f"| {family} | {case} (peer: {peer_name}) | {target} | " + " | ".join(cells) + " |")
        # Two threads: the noise target's setting (wall time, median).
        cells = []
        for isa in isas if args.only in (None, "privacy") else []:
            _core.set_isa_limit(isa)
            _, w_ours = measure(lambda: pw.clip_and_noise(empty, 1.0, 1.0, seed=1, workers=2),
                                args.rounds)
            _, w_peer = measure(lambda: torch.normal(0.0, 1.0, size=(4 * 2**20,)), args.rounds)
            cells.append(f"{w_ours * 1e3:.1f} / {w_peer * 1e3:.1f} wall ({w_peer / w_ours:.2f}x)")
        if cells:
            print("| privacy | noise P=4M, 2 threads (peer: torch.normal) | >= 5x | " +
                  " | ".join(cells) + " |")
    _core.set_isa_limit(before)


if __name__ == "__main__":
    main()
