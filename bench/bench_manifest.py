"""Manifest building: pipeward against a thread-pooled Python walk + hashlib, and a cached
re-build against a cold build.

    python -m pytest bench/bench_manifest.py --benchmark-min-rounds=3 --benchmark-group-by=group

Sizes: 20,000 files of 4 KiB (80 MiB), and a 512 MiB tree (512 files of 1 MiB; the issue asks
for 2 GiB, scaled down for a shared 2-core box). PIPEWARD_BENCH_SCALE=0.1 shrinks both for a
quick run. Files are read from the page cache in every variant (each tree is hashed once
before timing), so the comparison is of CPU work, not of the disk.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor

import pytest

import pipeward as pw
from pipeward.manifest import cache as cache_module

SCALE = float(os.environ.get("PIPEWARD_BENCH_SCALE", "1"))
N_SMALL = max(100, int(20_000 * SCALE))
N_BIG = max(8, int(512 * SCALE))


def _write_tree(root, n: int, size: int, per_dir: int = 500) -> str:
    block = os.urandom(size)
    for i in range(n):
        d = os.path.join(root, f"d{i // per_dir:03d}")
        if i % per_dir == 0:
            os.makedirs(d, exist_ok=True)
        with open(os.path.join(d, f"f{i:06d}.bin"), "wb") as f:
            f.write(block[i % 251:] + block[:i % 251])  # distinct contents, same size
    return str(root)


@pytest.fixture(scope="module")
def small_tree(tmp_path_factory):
    root = _write_tree(tmp_path_factory.mktemp("small"), N_SMALL, 4096)
    pw.Manifest.build(root)  # warm the page cache
    return root


@pytest.fixture(scope="module")
def big_tree(tmp_path_factory):
    root = _write_tree(tmp_path_factory.mktemp("big"), N_BIG, 1 << 20, per_dir=64)
    pw.Manifest.build(root)
    return root


def python_walk_hashlib(root: str) -> dict[str, str]:
    """The peer: os.walk, then hashlib.file_digest on a thread pool (hashlib releases the GIL)."""
    paths = [os.path.join(d, f) for d, _, files in os.walk(root) for f in files]

    def digest(p: str) -> str:
        with open(p, "rb") as fh:
            return hashlib.file_digest(fh, "sha256").hexdigest()

    with ThreadPoolExecutor(os.cpu_count()) as pool:
        return dict(zip(paths, pool.map(digest, paths)))


@pytest.mark.benchmark(group=f"manifest-build-{N_SMALL}x4KiB")
def test_pipeward_manifest_build(benchmark, small_tree):
    m = benchmark(pw.Manifest.build, small_tree)
    peer = python_walk_hashlib(small_tree)
    assert {os.path.join(small_tree, e.path): e.digest for e in m} == peer


@pytest.mark.benchmark(group=f"manifest-build-{N_SMALL}x4KiB")
def test_python_walk_hashlib_threadpool(benchmark, small_tree):
    assert len(benchmark(python_walk_hashlib, small_tree)) == N_SMALL


@pytest.mark.benchmark(group=f"manifest-rebuild-{N_BIG}MiB")
def test_cold_build(benchmark, big_tree):
    m = benchmark(pw.Manifest.build, big_tree)
    assert len(m) == N_BIG


@pytest.mark.benchmark(group=f"manifest-rebuild-{N_BIG}MiB")
def test_cached_rebuild_unchanged(benchmark, big_tree, tmp_path, monkeypatch):
    monkeypatch.setattr(cache_module, "RACY_WINDOW_NS", -10**12)  # files were written just now
    cache = tmp_path / "cache.json"
    cold = pw.Manifest.build(big_tree, cache=cache)
    warm = benchmark(pw.Manifest.build, big_tree, cache=cache)
    assert warm.root == cold.root
