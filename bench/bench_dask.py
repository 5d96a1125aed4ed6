"""pipeward.dask against the one-process call on the same data, and an out-of-core run.

    pytest bench/bench_dask.py --benchmark-only          # pytest-benchmark groups (small)
    python bench/bench_dask.py --gb 1                    # in memory: 2 workers vs one process
    python bench/bench_dask.py --gb 4 --jobs ks_2samp    # above 2 GB: the one process first
    python bench/bench_dask.py --gb 4 --jobs ks_2samp --rows-per-partition 2000000  # 128 MB
    nice python bench/bench_dask.py --generate DIR --gb 50   # Parquet, one file at a time
    nice python bench/bench_dask.py --out-of-core DIR --rss-csv rss.csv  # the stages; deletes DIR's data

In memory: a float32 table (16 features; reference and current halves of ``--gb``) lives in
the workers of a LocalCluster with 2 worker processes of 1 thread, and the same table in this
process for the one-process call (2 OpenMP threads), the two called alternately. Above 2 GB
(or with --separate) the one-process side runs first in a child process that generates the
same data from the same seeds and exits before the cluster starts, so the data is never held
twice. Reported per job: time, CPU seconds (one process; client + scheduler + workers),
passes over the data, and the bytes that reached the client. Out of core: ``--generate``
writes Parquet files of ``--rows-per-file`` rows one at a time (the current half with one
shifted feature), so several runs can read the same data; ``--out-of-core`` runs the stages
over it through dask.dataframe with workers limited to 2 GiB each (the empirical covariance
fit on both halves, the DriftMonitor fit on the reference half, its check on the current
half), samples every process's RSS in the background (growth shows, not only the peak),
reports time, passes, the time per partition per pass and the peaks, and deletes the data at
the end unless ``--keep``.
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
import threading
import time

import numpy as np
import pytest

import pipeward as pw

F = 16
ROWS_PER_FILE = 1_000_000
ROWS_PER_PARTITION = 500_000  # in memory: 32 MB float32 partitions (--rows-per-partition)


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


def one_process(gb: float, repeats: int, names: list[str], chunk: int) -> None:
    """The one-process side alone, its data generated from the same seeds (and partitions)
    as the cluster's (no second copy lives while the cluster holds the data); one JSON line
    per job."""
    import dask.array as da  # noqa: PLC0415

    rows = int(gb * 1e9 / 2 / (4 * F))
    A, B = tables(rows, chunk)
    a, b = np.empty(A.shape, np.float32), np.empty(B.shape, np.float32)
    da.store([A, B], [a, b], lock=False)  # chunk by chunk into place: no concatenated copy
    for name, one, _ in jobs(A, B, a, b):
        if name in names:
            times = [timed(one) for _ in range(repeats)]
            print(json.dumps({"job": name, "wall": [t[0] for t in times],
                              "cpu": [t[1] for t in times]}), flush=True)


def in_memory(gb: float, repeats: int, names: list[str], separate: bool, chunk: int) -> None:
    """2 workers vs one process. Side by side (alternating) unless ``separate``: then the
    one-process side runs first in a child process, which exits before the cluster starts."""
    import distributed  # noqa: PLC0415
    import pipeward.dask as pwd  # noqa: PLC0415

    rows = int(gb * 1e9 / 2 / (4 * F))
    alone = {}
    if separate:
        load = os.getloadavg()[0]
        child = subprocess.run([sys.executable, __file__, "--one-process", "--gb", str(gb),
                                "--repeats", str(repeats), "--jobs", ",".join(names),
                                "--rows-per-partition", str(chunk)],
                               check=True, capture_output=True, text=True)
        for line in child.stdout.splitlines():
            row = json.loads(line)
            alone[row["job"]] = list(zip(row["wall"], row["cpu"]))
        print(f"one process first, in a child process (load average {load:.1f} before, "
              f"{os.getloadavg()[0]:.1f} after)")
    c, client = cluster()
    A, B = tables(rows, chunk)
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


def write_parquet(root: str, gb: float, rows_per_file: int) -> tuple[str, str]:
    """Reference and current Parquet directories, one file at a time (bounded memory).

    Files already there are kept, so an interrupted generation resumes where it stopped."""
    import pyarrow as pa  # noqa: PLC0415
    import pyarrow.parquet as pq  # noqa: PLC0415

    files = max(2, int(round(gb * 1e9 / (4 * F * rows_per_file))))
    dirs = (os.path.join(root, "reference"), os.path.join(root, "current"))
    names = [f"f{i}" for i in range(F)]
    t = time.perf_counter()
    for k in range(files):
        target = dirs[k % 2]
        path = os.path.join(target, f"part-{k:05d}.parquet")
        if os.path.exists(path):
            continue
        rng = np.random.default_rng(k)
        x = rng.standard_normal((rows_per_file, F), dtype=np.float32)
        if target == dirs[1]:
            x[:, -1] += np.float32(0.05)
        os.makedirs(target, exist_ok=True)
        pq.write_table(pa.table({n: x[:, i] for i, n in enumerate(names)}), path + ".tmp",
                       compression=None)
        os.replace(path + ".tmp", path)  # a killed run leaves no half-written file
        if k % 50 == 0:
            print(f"  {k}/{files} files, {time.perf_counter() - t:.0f} s", flush=True)
    size = sum(os.path.getsize(os.path.join(d, f)) for d in dirs for f in os.listdir(d))
    print(f"{files} files ({files * rows_per_file * F * 4 / 1e9:.2f} GB float32 decoded), "
          f"{size / 1e9:.2f} GB of Parquet on disk, {time.perf_counter() - t:.0f} s", flush=True)
    return dirs


class RssSampler:
    """Samples the resident memory of this process (client and, in a LocalCluster, the
    scheduler) and of every worker process every ``every`` seconds in a background thread,
    so growth over a run is visible, not only the peak."""

    def __init__(self, pids: dict[str, int], every: float = 3.0):
        self.pids, self.every = pids, every
        self.samples: list[tuple[float, str, dict[str, int]]] = []  # (time, stage, bytes)
        self.stage = ""
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.t0 = time.perf_counter()
        self._thread.start()

    @staticmethod
    def _field(pid: int, name: str) -> int:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(name + ":"):
                    return int(line.split()[1]) * 1024
        return 0

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.take()

    def take(self) -> None:
        rss = {}
        for who, pid in self.pids.items():
            try:
                rss[who] = self._field(pid, "VmRSS")
            except OSError:
                rss[who] = -1
        self.samples.append((time.perf_counter() - self.t0, self.stage, rss))

    def peaks(self) -> dict[str, int]:
        """Each process's high-water mark (VmHWM) since it started."""
        return {who: self._field(pid, "VmHWM") for who, pid in self.pids.items()}

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()

    def curve(self, stage: str, points: int = 8) -> str:
        """The stage's RSS per process in MiB at ``points`` evenly spaced samples."""
        rows = [(t, r) for t, s, r in self.samples if s == stage]
        if not rows:
            return "(no samples)"
        pick = np.unique(np.linspace(0, len(rows) - 1, points).astype(int))
        t0 = rows[0][0]
        return "; ".join(f"{rows[i][0] - t0:.0f} s: " + "/".join(
            f"{v / 2**20:.0f}" for v in rows[i][1].values()) for i in pick)

    def stage_peaks(self, stage: str) -> dict[str, int]:
        rows = [r for _, s, r in self.samples if s == stage]
        return {who: max(r[who] for r in rows) for who in self.pids} if rows else {}

    def write(self, path: str) -> None:
        with open(path, "w") as f:
            f.write("seconds,stage," + ",".join(self.pids) + "\n")
            for t, s, r in self.samples:
                f.write(f"{t:.1f},{s}," + ",".join(str(r[w]) for w in self.pids) + "\n")


def out_of_core(root: str, stages: list[str], rss_csv: str | None,
                files: int | None = None) -> None:
    """The stages over Parquet data written by ``--generate`` under ``root`` (the first
    ``files`` files of each half, or all)."""
    import dask.dataframe as dd  # noqa: PLC0415
    import pipeward.dask as pwd  # noqa: PLC0415

    halves = [sorted(os.path.join(root, half, f) for f in os.listdir(os.path.join(root, half)))
              [:files] for half in ("reference", "current")]
    c, client = cluster(memory_limit="2GiB")
    workers = client.run(os.getpid)
    pids = {"client+scheduler": os.getpid()}
    pids.update({f"worker {i}": pid for i, pid in enumerate(workers.values())})
    sampler = RssSampler(pids)
    ref, cur = dd.read_parquet(halves[0]), dd.read_parquet(halves[1])
    both = dd.concat([ref, cur])
    size = sum(os.path.getsize(f) for half in halves for f in half)
    print(f"{both.npartitions} partitions ({size / 1e9:.1f} GB of Parquet); "
          f"workers limited to 2 GiB; "
          f"RSS columns: {' / '.join(pids)} (MiB)", flush=True)
    monitor = None

    def fit_monitor():
        nonlocal monitor
        monitor = pwd.DriftMonitor(ref)
        return monitor

    plan = {
        "covariance": ("empirical covariance fit on both halves",
                       lambda: pwd.MahalanobisDetector("empirical").fit(both)),
        "monitor": ("DriftMonitor fit on the reference half", fit_monitor),
        "check": ("DriftMonitor check on the current half", lambda: monitor.check(cur)),
    }
    for stage in stages:
        name, run = plan[stage]
        sampler.stage = stage
        load0 = os.getloadavg()[0]
        t = time.perf_counter()
        out = run()
        elapsed = time.perf_counter() - t
        job = pwd.last_job()
        per = elapsed / max(job.passes, 1) / job.n_partitions * 2  # 2 workers
        peaks = sampler.stage_peaks(stage)
        print(f"{name}: {elapsed:.1f} s, {job.passes} passes over {job.n_partitions} "
              f"partitions ({per:.2f} s per partition per pass per worker), "
              f"{job.bytes_to_client / 1e6:.2f} MB to the client; load average "
              f"{load0:.1f} -> {os.getloadavg()[0]:.1f}; peak sampled RSS "
              + ", ".join(f"{w} {v / 2**20:.0f} MiB" for w, v in peaks.items()), flush=True)
        print(f"  RSS over time (MiB): {sampler.curve(stage)}", flush=True)
        if stage == "check":
            print(f"  drifted: {out.drifted_features}", flush=True)
    peaks = sampler.peaks()
    sampler.stop()
    print("peak RSS (VmHWM) over the whole run: "
          + ", ".join(f"{w} {v / 2**20:.0f} MiB" for w, v in peaks.items()), flush=True)
    if rss_csv:
        sampler.write(rss_csv)
    client.close()
    c.close()


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
    parser.add_argument("--rows-per-partition", type=int, default=ROWS_PER_PARTITION,
                        help="in memory: rows per partition (default 500,000: 32 MB)")
    parser.add_argument("--rows-per-file", type=int, default=ROWS_PER_FILE,
                        help="--generate: rows per Parquet file (= per partition)")
    parser.add_argument("--generate", metavar="DIR",
                        help="write --gb of Parquet under DIR (resumes; kept for --out-of-core)")
    parser.add_argument("--out-of-core", metavar="DIR", help="run the stages over DIR's data")
    parser.add_argument("--stages", default="covariance,monitor,check",
                        help="comma-separated: covariance, monitor, check (check needs monitor)")
    parser.add_argument("--files", type=int, help="--out-of-core: the first N files of each half")
    parser.add_argument("--rss-csv", metavar="FILE", help="write every RSS sample here")
    parser.add_argument("--keep", action="store_true",
                        help="keep the --out-of-core data (else deleted at the end)")
    args = parser.parse_args()
    if args.generate:
        write_parquet(os.path.join(args.generate, "pipeward-dask-bench"), args.gb,
                      args.rows_per_file)
    if args.out_of_core:
        root = os.path.join(args.out_of_core, "pipeward-dask-bench")
        try:
            out_of_core(root, args.stages.split(","), args.rss_csv, args.files)
        finally:
            if not args.keep:
                shutil.rmtree(root, ignore_errors=True)
                print(f"deleted {root}")
    elif args.one_process:
        one_process(args.gb, args.repeats, args.jobs.split(","), args.rows_per_partition)
    elif not args.generate:
        in_memory(args.gb, args.repeats, args.jobs.split(","), args.separate or args.gb > 2,
                  args.rows_per_partition)
    sys.exit(0)
