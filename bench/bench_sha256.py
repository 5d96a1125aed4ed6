"""SHA-256 throughput against hashlib (OpenSSL, SHA-NI) and the pure-Python reference.

Run (short, page-cached data):
    python -m pytest bench/bench_sha256.py --benchmark-min-rounds=3 --benchmark-columns=median,min,rounds

Groups: one buffer in memory; one large file; 64 files of 16 MiB (hash_files against a
hashlib.file_digest loop and against a thread pool of file_digest, what model-signing does).
Every benchmark first checks that its digests equal hashlib's.
"""

from __future__ import annotations

import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest

import pipeward as pw
from pipeward import _core
from pipeward.reference import sha256 as ref

BUFFER_BYTES = int(os.environ.get("PIPEWARD_BENCH_BUFFER_MIB", "1024")) << 20
FILE_COUNT, FILE_BYTES = 64, 16 << 20
BIG_FILE_BYTES = 512 << 20


@pytest.fixture(scope="module")
def buffer():
    data = np.random.default_rng(0).integers(0, 256, BUFFER_BYTES, dtype=np.uint8)
    return data, hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def small_buffer():
    return np.random.default_rng(1).integers(0, 256, 64 << 10, dtype=np.uint8)


def _write_random(path: Path, size: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    with open(path, "wb") as f:
        for start in range(0, size, 4 << 20):
            f.write(rng.integers(0, 256, min(4 << 20, size - start), dtype=np.uint8).tobytes())


@pytest.fixture(scope="module")
def many_files(tmp_path_factory):
    root = tmp_path_factory.mktemp("many")
    paths = [root / f"shard-{i:02d}.bin" for i in range(FILE_COUNT)]
    for i, p in enumerate(paths):
        _write_random(p, FILE_BYTES, i)
    return paths, hash_files_loop(paths)  # also brings them into the page cache


@pytest.fixture(scope="module")
def big_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("big") / "model.bin"
    _write_random(path, BIG_FILE_BYTES, 99)
    return path, file_digest(path)


def file_digest(path: Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def hash_files_loop(paths: list[Path]) -> list[str]:
    return [file_digest(p) for p in paths]


def hash_files_thread_pool(paths: list[Path]) -> list[str]:
    with ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
        return list(pool.map(file_digest, paths))


def _bench(benchmark, fn, *args, nbytes: int):
    benchmark.extra_info["bytes"] = nbytes
    benchmark.extra_info["cpu_kernel"] = _core.sha256_selected_path()
    return benchmark(fn, *args)


# --- one buffer ---------------------------------------------------------------------------


@pytest.mark.benchmark(group=f"sha256 buffer {BUFFER_BYTES >> 20} MiB")
@pytest.mark.parametrize("impl", ["pipeward", "pipeward-portable", "hashlib"])
def test_buffer(benchmark, buffer, impl):
    buffer, expected = buffer
    if impl == "hashlib":
        got = _bench(benchmark, lambda b: hashlib.sha256(b).hexdigest(), buffer, nbytes=buffer.nbytes)
    elif impl == "pipeward":
        got = _bench(benchmark, pw.sha256, buffer, nbytes=buffer.nbytes)
    else:
        _core.set_isa_limit("portable")
        try:
            part = buffer[: buffer.nbytes // 8]  # 8x less: the portable path is slow
            expected = hashlib.sha256(part).hexdigest()
            got = _bench(benchmark, pw.sha256, part, nbytes=part.nbytes)
        finally:
            _core.set_isa_limit("auto")
    assert got == expected


@pytest.mark.benchmark(group="sha256 buffer 64 KiB")
@pytest.mark.parametrize("impl", ["pipeward", "hashlib", "reference"])
def test_small_buffer(benchmark, small_buffer, impl):
    fn = {"pipeward": pw.sha256, "hashlib": lambda b: hashlib.sha256(b).hexdigest(),
          "reference": ref.sha256}[impl]
    got = _bench(benchmark, fn, small_buffer, nbytes=small_buffer.nbytes)
    assert got == hashlib.sha256(small_buffer).hexdigest()


# --- files --------------------------------------------------------------------------------


@pytest.mark.benchmark(group=f"hash one {BIG_FILE_BYTES >> 20} MiB file")
@pytest.mark.parametrize("impl", ["pipeward", "hashlib.file_digest"])
def test_one_file(benchmark, big_file, impl):
    path, expected = big_file
    fn = pw.hash_file if impl == "pipeward" else file_digest
    assert _bench(benchmark, fn, path, nbytes=BIG_FILE_BYTES) == expected


@pytest.mark.benchmark(group=f"hash {FILE_COUNT} files of {FILE_BYTES >> 20} MiB")
@pytest.mark.parametrize("impl", ["pipeward", "file_digest loop", "file_digest thread pool"])
def test_many_files(benchmark, many_files, impl):
    paths, expected = many_files
    fn = {"pipeward": pw.hash_files, "file_digest loop": hash_files_loop,
          "file_digest thread pool": hash_files_thread_pool}[impl]
    assert _bench(benchmark, fn, paths, nbytes=FILE_COUNT * FILE_BYTES) == expected
