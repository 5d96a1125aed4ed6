"""GPU kernels against the issue's speed goals, the CPU path and a plain-CuPy peer.

Run on a GPU host either as benchmarks (``pytest bench/bench_gpu.py``; skips without CuPy or
a GPU) or as one script that prints the goal table for the GPU section of bench/RESULTS.md
(``python bench/bench_gpu.py [--quick]``), then a second table for the fitted objects on the
GPU (DriftMonitor, PsiProfile, evidently PSI, CovarianceStats, MahalanobisDetector.fit), which
have no goal in the issue: their GPU time against the CPU path on the same data. GPU times are CUDA-event times from
``cupyx.profiler.benchmark`` (median); bandwidths are bytes the kernel must move divided by
that time, compared with a measured device-to-device copy (the achievable bandwidth).
"""

from __future__ import annotations

import argparse
import hashlib
import sys
import time
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from conftest import GPU_SKIP_REASON  # noqa: E402

pytestmark = pytest.mark.skipif(GPU_SKIP_REASON is not None, reason=GPU_SKIP_REASON or "")


def _gpu_time(fn, *, repeat=10, warmup=2) -> float:
    """Median GPU seconds of fn() (CUDA events on the current stream)."""
    from cupyx.profiler import benchmark

    return float(np.median(benchmark(fn, n_repeat=repeat, n_warmup=warmup).gpu_times))


def copy_bandwidth(nbytes: int = 1 << 31) -> float:
    """Achievable bandwidth (bytes/s): a device-to-device copy reads and writes nbytes."""
    import cupy as cp

    src = cp.empty(nbytes // 4, dtype=cp.float32)
    dst = cp.empty_like(src)
    return 2 * src.nbytes / _gpu_time(lambda: dst.__setitem__(Ellipsis, src))


def goal_clip_sum_noise(B=256, P=10_000_000):
    import cupy as cp

    from pipeward._gpu import privacy

    g = cp.random.standard_normal((B, P), dtype=cp.float32)

    def run():
        sq = privacy.sq_norms(g)
        factor = cp.minimum(1.0, 1.0 / (cp.sqrt(sq) + 1e-6))
        return privacy.clip_sum_noise(g, factor, noise_std=1.1, seed=1)

    def peer():  # plain CuPy: norms, clip-scale, sum, noise as separate steps
        f = cp.minimum(1.0, 1.0 / (cp.linalg.norm(g, axis=1) + 1e-6))
        return f @ g + 1.1 * cp.random.standard_normal(P, dtype=cp.float32)

    t, t_peer = _gpu_time(run), _gpu_time(peer)
    bound = 2 * g.nbytes / copy_bandwidth()  # two reads of the gradients at copy speed
    return {"goal": "clip+sum+noise B=256 P=10M fp32 >= 80% of two-pass bound",
            "time_s": t, "peer_s": t_peer, "fraction": bound / t, "target": 0.8}


def goal_ks(F=1000, n=100_000):
    import cupy as cp

    from pipeward._gpu import drift

    a = cp.random.standard_normal((F, n))
    b = cp.random.standard_normal((F, n))
    t = _gpu_time(lambda: drift.ks_2samp(a, b, 0, 2, False), repeat=5, warmup=1)
    return {"goal": "KS 1000 features x 100k rows, asymptotic p", "time_s": t,
            "fraction": 0.2 / t, "target": 1.0}


def goal_psi(F=1000, n=1_000_000, bins=10):
    import cupy as cp

    from pipeward._gpu import drift

    x = cp.random.standard_normal((n, F), dtype=cp.float32)  # (rows, features) table
    edges = cp.sort(cp.random.standard_normal((F, bins - 1)), axis=1)
    t = _gpu_time(lambda: drift.psi_counts(x.T, edges))
    return {"goal": "PSI counting >= 50% of memory bandwidth", "time_s": t,
            "fraction": (x.nbytes / t) / copy_bandwidth(), "target": 0.5}


def goal_mahalanobis(n=1_000_000, d=256, dtype="float32"):
    import cupy as cp

    from pipeward._gpu import mahalanobis

    X = cp.random.standard_normal((n, d), dtype=dtype)
    loc = cp.zeros(d, dtype=dtype)
    A = cp.random.standard_normal((d, d))
    W, lower = mahalanobis.precision_factor(A @ A.T + d * cp.eye(d))
    t = _gpu_time(lambda: mahalanobis.squared_distances(X, loc, W, lower))
    Wd = W.astype(dtype)
    t_gemm = _gpu_time(lambda: X @ Wd)
    return {"goal": f"Mahalanobis n=1M d=256 {dtype} >= 50% of GEMM rate", "time_s": t,
            "peer_s": t_gemm, "fraction": t_gemm / t, "target": 0.5}


def goal_sha256(n=100_000, chunk=65536):
    import cupy as cp

    from pipeward._gpu import sha256

    buf = cp.random.randint(0, 256, size=(n, chunk), dtype=cp.uint8)
    t = _gpu_time(lambda: sha256.chunks(buf), repeat=5, warmup=1)
    return {"goal": "SHA-256 of 1e5 x 64 KiB chunks >= 200 GB/s", "time_s": t,
            "gbps": buf.nbytes / t / 1e9, "fraction": buf.nbytes / t / 200e9, "target": 1.0}


def check_sha256_against_hashlib(n=256, chunk=65536):
    import cupy as cp

    import pipeward as pw

    host = np.random.default_rng(0).integers(0, 256, size=(n, chunk), dtype=np.uint8)
    got = pw.sha256_batch(cp.asarray(host)).get()
    t0 = time.perf_counter()
    want = [hashlib.sha256(r.tobytes()).digest() for r in host]
    cpu_gbps = host.nbytes / (time.perf_counter() - t0) / 1e9
    assert [bytes(r) for r in got] == want
    return cpu_gbps


GOALS = [goal_clip_sum_noise, goal_ks, goal_psi, goal_mahalanobis, goal_sha256]


# ---- the fitted objects on the GPU: no speed goal in the issue, GPU time vs the CPU path ----

def _cpu_time(fn, *, repeat=3) -> float:
    """Median wall seconds of fn() on the host."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def path_drift_monitor(F=200, n=100_000):
    import cupy as cp

    import pipeward as pw

    rng = np.random.default_rng(0)
    ref = rng.standard_normal((n, F), dtype=np.float32)
    cur = rng.standard_normal((n, F), dtype=np.float32)
    ref_d, cur_d = cp.asarray(ref), cp.asarray(cur)
    monitor, monitor_d = pw.DriftMonitor(ref, method="asymp"), pw.DriftMonitor(ref_d, method="asymp")
    np.testing.assert_allclose(monitor_d.check(cur_d).psi, monitor.check(cur).psi, rtol=1e-12)
    return {"path": f"DriftMonitor.check, {F} features x {n // 1000}k rows, fp32 (KS asymp + PSI)",
            "time_s": _gpu_time(lambda: monitor_d.check(cur_d), repeat=5, warmup=1),
            "cpu_s": _cpu_time(lambda: monitor.check(cur)),
            "fit_s": _gpu_time(lambda: pw.DriftMonitor(ref_d, method="asymp"), repeat=3, warmup=1),
            "cpu_fit_s": _cpu_time(lambda: pw.DriftMonitor(ref, method="asymp"))}


def path_psi_profile(F=1000, n=1_000_000):
    import cupy as cp

    import pipeward as pw

    rng = np.random.default_rng(1)
    ref = rng.standard_normal((n, F), dtype=np.float32)
    cur = rng.standard_normal((n, F), dtype=np.float32)
    ref_d, cur_d = cp.asarray(ref), cp.asarray(cur)
    profile, profile_d = pw.PsiProfile.fit(ref), pw.PsiProfile.fit(ref_d)
    np.testing.assert_allclose(profile_d.psi(cur_d).get(), profile.psi(cur), rtol=1e-12)
    return {"path": f"PsiProfile.psi (fitted quantile edges), {F} features x {n // 1000}k rows, fp32",
            "time_s": _gpu_time(lambda: profile_d.psi(cur_d)),
            "cpu_s": _cpu_time(lambda: profile.psi(cur)),
            "fit_s": _gpu_time(lambda: pw.PsiProfile.fit(ref_d), repeat=3, warmup=1),
            "cpu_fit_s": _cpu_time(lambda: pw.PsiProfile.fit(ref), repeat=1)}


def path_psi_evidently(F=1000, n=1_000_000):
    import cupy as cp

    import pipeward as pw

    rng = np.random.default_rng(2)
    ref = rng.standard_normal((n, F), dtype=np.float32)
    cur = rng.standard_normal((n // 2, F), dtype=np.float32) + 0.1
    ref_d, cur_d = cp.asarray(ref), cp.asarray(cur)
    np.testing.assert_allclose(pw.psi(ref_d, cur_d, binning="evidently").get(),
                               pw.psi(ref, cur, binning="evidently"), rtol=1e-12)
    return {"path": f"psi(binning='evidently'), {F} features x {n // 1000}k + {n // 2000}k rows, fp32",
            "time_s": _gpu_time(lambda: pw.psi(ref_d, cur_d, binning="evidently"), repeat=5),
            "cpu_s": _cpu_time(lambda: pw.psi(ref, cur, binning="evidently"), repeat=1)}


def path_covariance_stats(n=1_000_000, d=256, dtype="float32"):
    import cupy as cp

    import pipeward as pw

    X = cp.random.standard_normal((n, d), dtype=dtype)
    t = _gpu_time(lambda: pw.CovarianceStats.from_data(X), repeat=5)
    X64 = X.astype(cp.float64)
    t_gemm = _gpu_time(lambda: X64.T @ X64, repeat=5)  # the float64 SYRK-sized GEMM alone
    host = X.get()
    return {"path": f"CovarianceStats.from_data n={n:,} d={d} {dtype} (float64 comoment)",
            "time_s": t, "peer_s": t_gemm,
            "cpu_s": _cpu_time(lambda: pw.CovarianceStats.from_data(host), repeat=1)}


def path_detector_fit(n=1_000_000, d=64, method="ledoit_wolf"):
    import cupy as cp

    import pipeward as pw

    X = cp.random.standard_normal((n, d), dtype=cp.float32)
    host = X.get()
    return {"path": f"MahalanobisDetector({method!r}).fit n={n:,} d={d} fp32 (stats, eigh, distances, threshold)",
            "time_s": _gpu_time(lambda: pw.MahalanobisDetector(method).fit(X), repeat=3, warmup=1),
            "cpu_s": _cpu_time(lambda: pw.MahalanobisDetector(method).fit(host), repeat=1)}


PATHS = [path_drift_monitor, path_psi_profile, path_psi_evidently, path_covariance_stats,
         path_detector_fit]


@pytest.mark.parametrize("goal", GOALS, ids=lambda g: g.__name__)
def test_goal(benchmark, goal):
    result = benchmark.pedantic(goal, rounds=1, iterations=1)
    benchmark.extra_info.update(result)


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.__name__)
def test_path(benchmark, path):
    result = benchmark.pedantic(path, rounds=1, iterations=1)
    benchmark.extra_info.update(result)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller sizes (smoke run)")
    args = parser.parse_args()
    if GPU_SKIP_REASON is not None:
        print(f"skipped: {GPU_SKIP_REASON}")
        return 0
    import cupy as cp

    props = cp.cuda.runtime.getDeviceProperties(0)
    name = props["name"].decode() if isinstance(props["name"], bytes) else props["name"]
    print(f"device: {name}, CuPy {cp.__version__}, copy bandwidth "
          f"{copy_bandwidth() / 1e9:.0f} GB/s")
    print(f"hashlib (1 CPU thread) for comparison: {check_sha256_against_hashlib():.2f} GB/s")
    quick = {goal_clip_sum_noise: {"P": 1_000_000}, goal_ks: {"F": 100},
             goal_psi: {"n": 100_000}, goal_mahalanobis: {"n": 100_000},
             goal_sha256: {"n": 10_000}} if args.quick else {}
    print("| goal | GPU time (s) | peer time (s) | achieved / goal | met |")
    print("|---|---|---|---|---|")
    for goal in GOALS:
        r = goal(**quick.get(goal, {}))
        peer = f"{r['peer_s']:.4g}" if "peer_s" in r else "-"
        met = "yes" if r["fraction"] >= r["target"] else "NO"
        print(f"| {r['goal']} | {r['time_s']:.4g} | {peer} | {r['fraction'] / r['target']:.2f} | {met} |")
    quick_paths = {path_drift_monitor: {"F": 20}, path_psi_profile: {"n": 100_000},
                   path_psi_evidently: {"n": 100_000}, path_covariance_stats: {"n": 100_000},
                   path_detector_fit: {"n": 100_000}} if args.quick else {}
    print()
    print("| GPU path | GPU time (s) | CPU path (s) | CPU / GPU | fit: GPU / CPU (s) |")
    print("|---|---|---|---|---|")
    for path in PATHS:
        r = path(**quick_paths.get(path, {}))
        fit = f"{r['fit_s']:.4g} / {r['cpu_fit_s']:.4g}" if "fit_s" in r else "-"
        extra = f" (bare GEMM {r['peer_s']:.4g} s)" if "peer_s" in r else ""
        print(f"| {r['path']}{extra} | {r['time_s']:.4g} | {r['cpu_s']:.4g} | "
              f"{r['cpu_s'] / r['time_s']:.1f}x | {fit} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
