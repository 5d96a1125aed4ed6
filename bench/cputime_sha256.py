"""CPU seconds (user + system, all threads) each SHA-256 implementation spends per job.

On a shared, oversubscribed machine wall-clock ratios mostly measure the other tenants; the
CPU time a job consumes does not depend on them. Run: python bench/cputime_sha256.py [MiB]
"""

from __future__ import annotations

import hashlib
import os
import resource
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

import pipeward as pw
from pipeward import _core


def cpu_seconds() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def measure(fn, rounds: int = 3) -> tuple[float, float]:
    """Median (cpu seconds, wall seconds) over `rounds` runs."""
    cpu, wall = [], []
    for _ in range(rounds):
        c0, w0 = cpu_seconds(), time.perf_counter()
        fn()
        cpu.append(cpu_seconds() - c0)
        wall.append(time.perf_counter() - w0)
    return statistics.median(cpu), statistics.median(wall)


def file_digest(path: str) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def main() -> None:
    mib = int(sys.argv[1]) if len(sys.argv) > 1 else 256
    buf = np.random.default_rng(0).integers(0, 256, mib << 20, dtype=np.uint8)
    assert pw.sha256(buf) == hashlib.sha256(buf).hexdigest()
    rows = []

    def row(group, name, fn, nbytes):
        cpu, wall = measure(fn)
        rows.append((group, name, cpu, wall, nbytes / cpu / 1e9))

    row(f"buffer {mib} MiB", "pipeward", lambda: pw.sha256(buf), buf.nbytes)
    row(f"buffer {mib} MiB", "hashlib", lambda: hashlib.sha256(buf).hexdigest(), buf.nbytes)
    with tempfile.TemporaryDirectory() as d:
        paths = []
        for i in range(64):
            paths.append(os.path.join(d, f"s{i}"))
            with open(paths[-1], "wb") as f:
                f.write(np.random.default_rng(i).integers(0, 256, 16 << 20, dtype=np.uint8).tobytes())
        expected = [file_digest(p) for p in paths]
        assert pw.hash_files(paths) == expected
        group, total = "64 files x 16 MiB", 64 << 24
        row(group, f"pipeward hash_files ({_core.sha256_multibuffer_enabled() and 'avx512 x16' or 'sha_ni'})",
            lambda: pw.hash_files(paths), total)
        _core.set_isa_limit("avx2")  # SHA-NI per file, no multi-buffer
        row(group, "pipeward hash_files (sha_ni, one file per thread)", lambda: pw.hash_files(paths), total)
        _core.set_isa_limit("auto")
        row(group, "file_digest loop", lambda: [file_digest(p) for p in paths], total)
        with ThreadPoolExecutor(os.cpu_count()) as pool:
            row(group, "file_digest thread pool", lambda: list(pool.map(file_digest, paths)), total)
    print(f"{'group':22} {'implementation':50} {'cpu s':>7} {'wall s':>7} {'GB/cpu-s':>9}")
    for g, n, c, w, gbs in rows:
        print(f"{g:22} {n:50} {c:7.3f} {w:7.3f} {gbs:9.2f}")


if __name__ == "__main__":
    main()
