"""Drift benchmarks: pipeward vs scipy.stats.ks_2samp per feature (what alibi-detect, Evidently,
NannyML and frouros do) and vs an Evidently-style NumPy histogram loop for PSI.

    pytest bench/bench_drift.py --benchmark-min-rounds=3         # pytest-benchmark groups
    python bench/bench_drift.py [--scale 0.2] [--cases ks_asymp_100k] [--no-psi]  # RESULTS table
    python bench/bench_drift.py --large 1e6,8e6,33.5e6   # large samples: time, working memory

Sizes follow the issue: 200 features x 100k rows (asymptotic p), 200 x 5k vs 5k and 5k vs 4k
(exact p), PSI on 200 x 1M float32 values. PIPEWARD_BENCH_SCALE (or --scale) shrinks the
feature count for a quick run.
"""

from __future__ import annotations

import os
import sys
import time
import warnings

import numpy as np
import pytest
import scipy
import scipy.stats

import pipeward as pw

SCALE = float(os.environ.get("PIPEWARD_BENCH_SCALE", "1"))


def n_features(base: int = 200) -> int:
    return max(2, int(base * SCALE))


def make(n1: int, n2: int, features: int, seed: int = 0, dtype=np.float64, shift: float = 0.0):
    rng = np.random.default_rng(seed)
    return (rng.normal(size=(n1, features)).astype(dtype),
            rng.normal(shift, 1.0, size=(n2, features)).astype(dtype))


def scipy_loop(a, b, **kw):
    """The peers' way: one scipy call per feature."""
    out = [scipy.stats.ks_2samp(a[:, f], b[:, f], **kw) for f in range(a.shape[1])]
    return np.array([r.statistic for r in out]), np.array([r.pvalue for r in out])


def evidently_psi_loop(ref, cur, bins=10):
    """Evidently-style PSI: a NumPy histogram per feature on fixed reference-quantile edges."""
    out = np.empty(ref.shape[1])
    for f in range(ref.shape[1]):
        edges = np.quantile(ref[:, f], np.linspace(0, 1, bins + 1))
        edges[0], edges[-1] = -np.inf, np.inf
        e = np.histogram(ref[:, f], edges)[0] / ref.shape[0]
        a = np.histogram(cur[:, f], edges)[0] / cur.shape[0]
        e, a = np.where(e == 0, 1e-4, e), np.where(a == 0, 1e-4, a)
        out[f] = np.sum((a - e) * np.log(a / e))
    return out


# (n1, n2, method, shift of the current sample): the null cases, and a window with
# subtle drift (0.01 sd), where most p-values come from the Smirnov tail sum.
CASES = {
    "ks_asymp_100k": (100_000, 100_000, "asymp", 0.0),
    "ks_asymp_100k_shift": (100_000, 100_000, "asymp", 0.01),
    "ks_exact_5k_5k": (5_000, 5_000, "exact", 0.0),
    "ks_exact_5k_4k": (5_000, 4_000, "exact", 0.0),
}


@pytest.fixture(scope="module", params=list(CASES))
def ks_case(request):
    n1, n2, method, shift = CASES[request.param]
    a, b = make(n1, n2, n_features(), shift=shift)
    return request.param, a, b, method


def test_ks_scipy(benchmark, ks_case):
    name, a, b, method = ks_case
    benchmark.group = name
    benchmark.pedantic(scipy_loop, args=(a, b), kwargs={"method": method}, rounds=1, iterations=1)


def test_ks_pipeward(benchmark, ks_case):
    name, a, b, method = ks_case
    benchmark.group = name
    res = benchmark(pw.ks_2samp, a, b, method=method)
    _, p = scipy_loop(a[:, :5], b[:, :5], method=method)
    np.testing.assert_allclose(res.pvalue[:5], p, rtol=1e-12)


def test_ks_pipeward_one_thread(benchmark, ks_case):
    name, a, b, method = ks_case
    benchmark.group = name
    benchmark(pw.ks_2samp, a, b, method=method, workers=1)


def test_ks_pipeward_fitted_reference(benchmark, ks_case):
    name, a, b, method = ks_case
    benchmark.group = name
    monitor = pw.DriftMonitor(a, tests=("ks",), method=method)
    benchmark(monitor.check, b)


def test_ks_reference_backend(benchmark):
    a, b = make(2_000, 2_000, 4)
    benchmark.group = "ks_reference_2k_x4"
    benchmark.pedantic(pw.ks_2samp, args=(a, b), kwargs={"backend": "reference"}, rounds=1)


@pytest.fixture(scope="module")
def psi_data():
    return make(1_000_000, 1_000_000, n_features(), seed=1, dtype=np.float32)


def test_psi_evidently_loop(benchmark, psi_data):
    benchmark.group = "psi_1M"
    ref, cur = psi_data
    benchmark.pedantic(evidently_psi_loop, args=(ref, cur), rounds=1, iterations=1)


def test_psi_pipeward_fitted_edges(benchmark, psi_data):
    benchmark.group = "psi_1M"
    ref, cur = psi_data
    profile = pw.PsiProfile.fit(ref)
    benchmark(profile.psi, cur)


# ---- the RESULTS table ------------------------------------------------------------------------

def _best(fn, rounds):
    """(best wall s, best CPU s of this process, output) over ``rounds`` runs."""
    walls, cpus = [], []
    for _ in range(rounds):
        t, c = time.perf_counter(), time.process_time()
        out = fn()
        walls.append(time.perf_counter() - t)
        cpus.append(time.process_time() - c)
    return min(walls), min(cpus), out


def results(scale: float, cases: list[str] | None = None, with_psi: bool = True) -> str:
    """Markdown rows: wall-clock ratios, and CPU-time ratios for the one-thread runs (robust on
    a shared machine: another tenant's load stretches wall time, not our CPU time)."""
    global SCALE
    SCALE = scale
    rows = []
    for name, (n1, n2, method, shift) in CASES.items():
        if cases is not None and name not in cases:
            continue
        a, b = make(n1, n2, n_features(), shift=shift)
        t_sc, c_sc, (d_sc, p_sc) = _best(lambda: scipy_loop(a, b, method=method), 1)
        monitor = pw.DriftMonitor(a, tests=("ks",), method=method, correction="none", workers=1)
        monitor2 = pw.DriftMonitor(a, tests=("ks",), method=method, correction="none")
        variants = {
            "2 threads": lambda: pw.ks_2samp(a, b, method=method),
            "1 thread": lambda: pw.ks_2samp(a, b, method=method, workers=1),
            "fitted reference, 2 threads": lambda: monitor2.check(b),
            "fitted reference, 1 thread": lambda: monitor.check(b),
        }
        for label, fn in variants.items():
            t, c, res = _best(fn, 3)
            d = res.statistic if hasattr(res, "statistic") else res.ks_statistic
            p = res.pvalue if hasattr(res, "pvalue") else res.ks_pvalue
            dev_d = float(np.max(np.abs(d - d_sc)))
            dev_p = float(np.max(np.abs(p - p_sc) / np.maximum(np.abs(p_sc), 1e-300)))
            cpu = f"{c_sc / c:.1f}x" if "1 thread" in label else "-"
            rows.append(f"| {name} x{a.shape[1]} | {label} | {t_sc:.3f} | {t:.4f} | "
                        f"{t_sc / t:.1f}x | {cpu} | {dev_d:.1e} | {dev_p:.1e} |")
    head = ("| case | pipeward | peer wall s | pipeward wall s | wall ratio | CPU ratio | "
            "max abs dev D (PSI) | max rel dev p |\n|---|---|---|---|---|---|---|---|")
    if not with_psi:
        return head + "\n" + "\n".join(rows)
    ref, cur = make(1_000_000, 1_000_000, n_features(), seed=1, dtype=np.float32)
    t_ev, c_ev, v_ev = _best(lambda: evidently_psi_loop(ref, cur), 1)
    profile = pw.PsiProfile.fit(ref)
    for label, w in (("2 threads", None), ("1 thread", 1)):
        t, c, v = _best(lambda: profile.psi(cur, workers=w), 3)
        per_core = cur.size / c / 1e9
        cpu = f"{c_ev / c:.1f}x" if w == 1 else "-"
        rows.append(f"| psi_1M x{ref.shape[1]} float32 | {label} ({per_core:.2f} G values/s per "
                    f"core, CPU time) | {t_ev:.3f} | {t:.4f} | {t_ev / t:.1f}x | {cpu} | "
                    f"{np.max(np.abs(v - v_ev)):.1e} | - |")
    return head + "\n" + "\n".join(rows)


def large_sample(rows: int, features: int = 16) -> str:
    """One table row: pw.ks_2samp on two float32 (rows, features) N(0, 1) samples, best of 3,
    and its working memory (peak RSS above the resident input). Run in a fresh process per
    size (``--large``) so that the peak is this call's."""
    import resource  # noqa: PLC0415

    rng = np.random.default_rng(0)
    a = rng.standard_normal((rows, features), dtype=np.float32)
    b = rng.standard_normal((rows, features), dtype=np.float32)
    with open("/proc/self/status") as status:
        resident = int(status.read().split("VmRSS:")[1].split()[0]) / 1024
    times = []
    for _ in range(3):
        t = time.perf_counter()
        pw.ks_2samp(a, b)
        times.append(time.perf_counter() - t)
    extra = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024 - resident
    size = 2 * a.nbytes / 2**20
    return (f"| {rows:,} x {features} | {min(times):.2f} s | {extra:,.0f} MiB for {size:,.0f} MiB "
            f"({extra / size:.2f}x) |")


if __name__ == "__main__":
    if "--large-one" in sys.argv:  # the child of --large
        print(large_sample(int(float(sys.argv[sys.argv.index("--large-one") + 1]))))
        sys.exit()
    if "--large" in sys.argv:  # e.g. --large 1e6,8e6,33.5e6 (PIPEWARD_ISA picks the path)
        import subprocess  # noqa: PLC0415

        print("| rows a sample | pw.ks_2samp | working memory |\n|---|---|---|")
        for rows in sys.argv[sys.argv.index("--large") + 1].split(","):
            subprocess.run([sys.executable, __file__, "--large-one", rows], check=True)
        sys.exit()
    scale = float(sys.argv[sys.argv.index("--scale") + 1]) if "--scale" in sys.argv else SCALE
    warnings.simplefilter("error")
    print(f"numpy {np.__version__}, scipy {scipy.__version__}, pipeward {pw.__version__}")
    cases = sys.argv[sys.argv.index("--cases") + 1].split(",") if "--cases" in sys.argv else None
    print(results(scale, cases, with_psi="--no-psi" not in sys.argv))
