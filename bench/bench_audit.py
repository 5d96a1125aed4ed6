"""Audit log speed: appends (batched and one transaction each) and verification.

Targets (issue): >= 20,000 records/s appended in batches, >= 2,000/s one transaction each,
1M records verified in <= 5 s. Each group holds the floor it is measured against: the same rows
written or hashed with raw sqlite3/hashlib and no chaining, checks or Merkle tree.

    pytest bench/bench_audit.py --benchmark-min-rounds=3
    python bench/bench_audit.py 1000000     # one-off: build and verify a 1M-record log
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
import time
from pathlib import Path

import pytest

from pipeward.audit import AuditLog

BATCH = 1000
SINGLE = 200
VERIFY_N = 100_000


def entries(n, start=0):
    return [{"action": "train.step", "subject": "model-a",
             "payload": {"step": start + i, "loss": 0.25 + i * 1e-6, "user": "u-42"}} for i in range(n)]


@pytest.fixture
def log(tmp_path):
    with AuditLog(tmp_path / "bench.db", actor="bench") as lg:
        yield lg


@pytest.fixture
def raw(tmp_path):
    db = sqlite3.connect(tmp_path / "raw.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("CREATE TABLE r (seq INTEGER PRIMARY KEY, body BLOB)")
    yield db
    db.close()


@pytest.mark.benchmark(group=f"audit-append-batch-{BATCH}")
def test_append_many(benchmark, log):
    benchmark(lambda: log.append_many(entries(BATCH)))
    benchmark.extra_info["records_per_s"] = BATCH / benchmark.stats.stats.median


@pytest.mark.benchmark(group=f"audit-append-batch-{BATCH}")
def test_raw_sqlite_batch_floor(benchmark, raw):
    import json

    def insert():
        raw.execute("BEGIN IMMEDIATE")
        raw.executemany("INSERT INTO r (body) VALUES (?)",
                        [(json.dumps(e).encode(),) for e in entries(BATCH)])
        raw.execute("COMMIT")

    benchmark(insert)
    benchmark.extra_info["records_per_s"] = BATCH / benchmark.stats.stats.median


@pytest.mark.benchmark(group=f"audit-append-single-x{SINGLE}")
def test_append_one_transaction_each(benchmark, log):
    one = entries(1)[0]

    def appends():
        for _ in range(SINGLE):
            log.append(one["action"], one["payload"], subject=one["subject"])

    benchmark(appends)
    benchmark.extra_info["records_per_s"] = SINGLE / benchmark.stats.stats.median


@pytest.mark.benchmark(group=f"audit-append-single-x{SINGLE}")
def test_raw_sqlite_single_floor(benchmark, raw):
    body = b'{"action":"train.step"}'

    def inserts():
        for _ in range(SINGLE):
            raw.execute("BEGIN IMMEDIATE")
            raw.execute("INSERT INTO r (body) VALUES (?)", (body,))
            raw.execute("COMMIT")

    benchmark(inserts)
    benchmark.extra_info["records_per_s"] = SINGLE / benchmark.stats.stats.median


def build(path: Path, n: int, checkpoint_every: int = 0) -> AuditLog:
    from pipeward import signing

    private_pem, _ = signing.generate_keypair()
    log = AuditLog(path, actor="bench")
    step = 10_000
    for start in range(0, n, step):
        log.append_many(entries(min(step, n - start), start))
        if checkpoint_every and (start + step) % checkpoint_every == 0:
            log.checkpoint(private_pem)
    log.checkpoint(private_pem)
    return log


@pytest.fixture(scope="module")
def verify_log(tmp_path_factory):
    log = build(tmp_path_factory.mktemp("verify") / "v.db", VERIFY_N, checkpoint_every=50_000)
    yield log
    log.close()


@pytest.mark.benchmark(group=f"audit-verify-{VERIFY_N}")
def test_verify(benchmark, verify_log):
    report = benchmark(verify_log.verify)
    assert report.ok and report.checkpoints_verified == 3
    benchmark.extra_info["records_per_s"] = VERIFY_N / benchmark.stats.stats.median


@pytest.mark.benchmark(group=f"audit-verify-{VERIFY_N}")
def test_hashlib_floor(benchmark, verify_log):
    """Reading the rows and one SHA-256 each: the least any chain check can cost."""
    db = sqlite3.connect(verify_log.path)

    def hash_all():
        sha = hashlib.sha256
        for (body,) in db.execute("SELECT body FROM records ORDER BY seq"):
            sha(body).digest()

    benchmark(hash_all)
    db.close()


if __name__ == "__main__":  # one-off large run: python bench/bench_audit.py 1000000
    import tempfile

    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        big = build(Path(tmp) / "big.db", n, checkpoint_every=250_000)
        t1 = time.perf_counter()
        c0, w0 = time.process_time(), time.perf_counter()
        report = big.verify()
        c1, w1 = time.process_time(), time.perf_counter()
        print(f"built {n} records in {t1 - t0:.1f} s ({n / (t1 - t0):,.0f} records/s incl. checkpoints)")
        print(f"verify: {w1 - w0:.2f} s wall, {c1 - c0:.2f} s CPU; ok={report.ok}, "
              f"checkpoints {report.checkpoints_verified}/{report.checkpoints_total}")
        big.close()
