"""pipeward.dask against the one-process call on the same data, and an out-of-core run.

    pytest bench/bench_dask.py --benchmark-only          # pytest-benchmark groups (small)
    python bench/bench_dask.py --gb 1                    # in memory: 2 workers vs one process
    python bench/bench_dask.py --gb 4 --jobs ks_2samp    # above 2 GB: the one process first
    nice python bench/bench_dask.py --out-of-core DIR --gb 8   # Parquet written chunk by chunk

In memory: a float32 table (16 features; reference and current halves of ``--gb``) lives in
the workers of a LocalCluster with 2 worker processes of 1 thread, and the same table in this
process for the one-process call (2 OpenMP threads), the two called alternately. Above 2 GB
(or with --separate) the one-process side runs first in a child process that generates the
same data from the same seeds and exits before the cluster starts, so the data is never held
twice. Reported per job: time, CPU seconds (one process; client + scheduler + workers),
passes over the data, and the bytes that reached the client. Out of core: Parquet files of 1M rows are
written one at a time, then the drift check (DriftMonitor fit + check) and the empirical
covariance fit read them through dask.dataframe with workers limited to 2 GiB each; the
peak RSS of every process and the time per partition per pass are reported, and the data
is deleted at the end.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import pipeward as pw

F = 16
ROWS_PER_FILE = 1_000_000


def cluster(memory_limit: str | None = None):
    import distributed  # noqa: PLC0415

    c = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                 dashboard_address=":0", silence_logs=logging.ERROR,
                                 memory_limit=memory_limit or "auto")
    return c, distributed.Client(c)


def tables(rows: int, chunk: int):
    import dask.array as da  # noqa: PLC0415

    g = da.random.default_rng(0)
    ref = g.standard_normal((rows, F), chunks=(chunk, F), dtype=np.float32)
    cur = g.standard_normal((rows, F), chunks=(chunk, F), dtype=np.float32)
    cur = cur + np.concatenate([np.zeros(F - 1), [0.05]]).astype(np.float32)
    return ref, cur


JOBS = ["ks_2samp", "psi", "DriftMonitor fit+check", "covariance (empirical)",
        "covariance (ledoit_wolf)"]


def jobs(A, B, a, b):
    """(name, one-process call, distributed call) for each stage."""
    import pipeward.dask as pwd  # noqa: PLC0415

    return [
        ("ks_2samp", lambda: pw.ks_2samp(a, b), lambda: pwd.ks_2samp(A, B)),
        ("psi", lambda: pw.psi(a, b), lambda: pwd.psi(A, B)),
        ("DriftMonitor fit+check", lambda: pw.DriftMonitor(a).check(b),
         lambda: pwd.DriftMonitor(A).check(B)),
        ("covariance (empirical)", lambda: pw.MahalanobisDetector("empirical").fit(a),
         lambda: pwd.MahalanobisDetector("empirical").fit(A)),
        ("covariance (ledoit_wolf)", lambda: pw.MahalanobisDetector("ledoit_wolf").fit(a),
         lambda: pwd.MahalanobisDetector("ledoit_wolf").fit(A)),
    ]


def workers_cpu(client) -> float:
    """CPU seconds the worker processes have used so far (user + system), all together."""
    def used() -> float:
        r = resource.getrusage(resource.RUSAGE_SELF)
        return r.ru_utime + r.ru_stime
    return float(sum(client.run(used).values()))


def timed(run, client=None) -> tuple[float, float]:
    """Wall and CPU seconds of one call; with a client, the workers' CPU is counted too."""
    cpu0 = time.process_time() + (workers_cpu(client) if client is not None else 0.0)
    t = time.perf_counter()
    run()
    wall = time.perf_counter() - t
    return wall, time.process_time() + (workers_cpu(client) if client is not None else 0.0) - cpu0


def one_process(gb: float, repeats: int, names: list[str]) -> None:
    """The one-process side alone, its data generated from the same seeds as the cluster's
    (no second copy lives while the cluster holds the data); one JSON line per job."""
    import dask.array as da  # noqa: PLC0415

    rows = int(gb * 1e9 / 2 / (4 * F))
    A, B = tables(rows, 500_000)
    a, b = np.empty(A.shape, np.float32), np.empty(B.shape, np.float32)
    da.store([A, B], [a, b], lock=False)  # chunk by chunk into place: no concatenated copy
    for name, one, _ in jobs(A, B, a, b):
        if name in names:
            times = [timed(one) for _ in range(repeats)]
            print(json.dumps({"job": name, "wall": [t[0] for t in times],
                              "cpu": [t[1] for t in times]}), flush=True)


def in_memory(gb: float, repeats: int, names: list[str], separate: bool) -> None:
    """2 workers vs one process. Side by side (alternating) unless ``separate``: then the
    one-process side runs first in a child process, which exits before the cluster starts."""
    import distributed  # noqa: PLC0415
    import pipeward.dask as pwd  # noqa: PLC0415

    rows = int(gb * 1e9 / 2 / (4 * F))
    alone = {}
    if separate:
        load = os.getloadavg()[0]
        child = subprocess.run([sys.executable, __file__, "--one-process", "--gb", str(gb),
                                "--repeats", str(repeats), "--jobs", ",".join(names)],
                               check=True, capture_output=True, text=True)
        for line in child.stdout.splitlines():
            row = json.loads(line)
            alone[row["job"]] = list(zip(row["wall"], row["cpu"]))
        print(f"one process first, in a child process (load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after)")
    c, client = cluster()
    A, B = tables(rows, 500_000)
    A, B = client.persist(A), client.persist(B)
    distributed.wait([A, B])
    a, b = (None, None) if separate else (A.compute(), B.compute())
    print(f"{2 * rows * F * 4 / 1e9:.2f} GB float32 ({rows:,} rows x {F} features, twice), "
          f"{A.numblocks[0]} partitions a table; load average {os.getloadavg()[0]:.1f}")
    print("| job | one process | 2 workers | ratio (one / dask) | CPU s one / dask | passes "
          "| bytes to client |")
    print("|---|---|---|---|---|---|---|")
    for name, one, dist in jobs(A, B, a, b):
        if name not in names:
            continue
        ones, dists = [], []
        for _ in range(repeats):  # side by side, alternating (unless separate)
            if not separate:
                ones.append(timed(one))
            dists.append(timed(dist, client))
        job = pwd.last_job()
        (m1, c1), (m2, c2) = (np.median(np.array(alone.get(name, ones)), axis=0),
                              np.median(np.array(dists), axis=0))
        print(f"| {name} | {m1:.2f} s | {m2:.2f} s | {m1 / m2:.2f}x | {c1:.1f} / {c2:.1f} | "
              f"{job.passes} | {job.bytes_to_client / 1e6:.2f} MB |", flush=True)
    print(f"load average at the end {os.getloadavg()[0]:.1f}")
    client.close()
    c.close()


def peak_rss(client) -> str:
    """The peak RSS so far of this process and of every worker (high-water marks)."""
    def peak() -> int:
        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    workers = client.run(peak).values()
    return (f"peak RSS so far: client {peak() / 1024:.0f} MiB, workers "
            + ", ".join(f"{v / 1024:.0f} MiB" for v in workers))


def write_parquet(root: str, gb: float, rows_per_file: int) -> tuple[str, str]:
    """Reference and current Parquet directories, one file at a time (bounded memory)."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    files = max(2, int(round(gb * 1e9 / (4 * F * rows_per_file))))
    dirs = (os.path.join(root, "reference"), os.path.join(root, "current"))
    names = [f"f{i}" for i in range(F)]
    t = time.perf_counter()
    for k in range(files):
        rng = np.random.default_rng(k)
        x = rng.standard_normal((rows_per_file, F), dtype=np.float32)
        target = dirs[k % 2]
        if target == dirs[1]:
            x[:, -1] += np.float32(0.05)
        os.makedirs(target, exist_ok=True)
        pq.write_table(pa.table({n: x[:, i] for i, n in enumerate(names)}),
                       os.path.join(target, f"part-{k:05d}.parquet"), compression=None)
    size = sum(os.path.getsize(os.path.join(d, f)) for d in dirs for f in os.listdir(d))
    print(f"wrote {files} files, {size / 1e9:.2f} GB of Parquet in {time.perf_counter() - t:.0f} s")
    return dirs


def out_of_core(root: str, gb: float, rows_per_file: int = ROWS_PER_FILE) -> None:
    import dask.dataframe as dd  # noqa: PLC0415
    import pipeward.dask as pwd  # noqa: PLC0415

    ref_dir, cur_dir = write_parquet(root, gb, rows_per_file)
    try:
        c, client = cluster(memory_limit="2GiB")
        ref, cur = dd.read_parquet(ref_dir), dd.read_parquet(cur_dir)
        parts = ref.npartitions + cur.npartitions
        print(f"{parts} partitions of {rows_per_file:,} rows x {F} float32 "
              f"({rows_per_file * F * 4 / 1e6:.0f} MB each)")
        for name, run in [
            ("DriftMonitor fit", lambda: pwd.DriftMonitor(ref)),
            ("covariance (empirical) fit on the reference",
             lambda: pwd.MahalanobisDetector("empirical").fit(ref)),
        ]:
            t = time.perf_counter()
            out = run()
            elapsed = time.perf_counter() - t
            job = pwd.last_job()
            per = elapsed / max(job.passes, 1) / job.n_partitions * 2  # 2 workers
            print(f"{name}: {elapsed:.1f} s, {job.passes} passes over {job.n_partitions} "
                  f"partitions ({per:.2f} s per partition per pass per worker), "
                  f"{job.bytes_to_client / 1e6:.2f} MB to the client; {peak_rss(client)}",
                  flush=True)
            if name.startswith("DriftMonitor"):
                monitor = out
        t = time.perf_counter()
        report = monitor.check(cur)
        elapsed = time.perf_counter() - t
        job = pwd.last_job()
        per = elapsed / max(job.passes, 1) / job.n_partitions * 2
        print(f"DriftMonitor check: {elapsed:.1f} s, {job.passes} passes over "
              f"{job.n_partitions} partitions ({per:.2f} s per partition per pass per worker), "
              f"{job.bytes_to_client / 1e6:.2f} MB to the client; drifted: "
              f"{report.drifted_features}; {peak_rss(client)}", flush=True)
        client.close()
        c.close()
    finally:
        shutil.rmtree(root, ignore_errors=True)
        print(f"deleted {root}")


# --- pytest-benchmark groups (a small table; the script above gives the numbers) ------------

@pytest.fixture(scope="module")
def small():
    pytest.importorskip("distributed")
    c, client = cluster()
    A, B = tables(1_000_000, 250_000)
    A, B = client.persist(A), client.persist(B)
    a, b = A.compute(), B.compute()
    yield A, B, a, b
    client.close()
    c.close()


@pytest.mark.parametrize("index", range(5))
@pytest.mark.parametrize("side", ["one process", "dask 2 workers"])
def test_dask_vs_one_process(benchmark, small, index, side):
    name, one, dist = jobs(*small)[index]
    benchmark.group = f"dask {name}, 2 x 1M x 16 float32"
    benchmark.pedantic(one if side == "one process" else dist, rounds=3, iterations=1)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--gb", type=float, default=1.0)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", default=",".join(JOBS),
                        help="comma-separated jobs to run in memory (default: all)")
    parser.add_argument("--separate", action="store_true",
                        help="run the one-process side first, in a child process (for data "
                             "too big to hold twice; default above 2 GB)")
    parser.add_argument("--one-process", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--out-of-core", metavar="DIR")
    parser.add_argument("--rows-per-file", type=int, default=ROWS_PER_FILE,
                        help="rows per Parquet file (= per partition) out of core")
    args = parser.parse_args()
    if args.out_of_core:
        out_of_core(os.path.join(args.out_of_core, "pipeward-dask-bench"), args.gb,
                    args.rows_per_file)
    elif args.one_process:
        one_process(args.gb, args.repeats, args.jobs.split(","))
    else:
        in_memory(args.gb, args.repeats, args.jobs.split(","), args.separate or args.gb > 2)
    sys.exit(0)
