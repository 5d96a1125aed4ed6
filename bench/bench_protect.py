"""Encryption at rest: pipeward's age v1 against the ``age`` command (Go) on a 1 GiB file, and
encryption with the plaintext and ciphertext SHA-256 computed in the same read against
encryption alone.

    python -m pytest bench/bench_protect.py --benchmark-min-rounds=3 --benchmark-group-by=group

The input is read from the page cache and the output goes to /dev/null in every variant, so the
comparison is of the work each tool does (reading, sealing, writing), not of the disk.
PIPEWARD_BENCH_SCALE=0.1 shrinks the file for a quick run. ``age`` runs as a subprocess (its
start-up, ~2 ms, is included); the benchmarks skip without it.
"""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from pipeward import protect

SCALE = float(os.environ.get("PIPEWARD_BENCH_SCALE", "1"))
SIZE = max(1 << 20, int((1 << 30) * SCALE))
AGE = shutil.which("age")
needs_age = pytest.mark.skipif(AGE is None, reason="the `age` command is not installed")


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("protect")
    identity = protect.generate_identity(root / "key.txt")
    plain = root / "plain.bin"
    block = os.urandom(1 << 20)
    with open(plain, "wb") as f:
        for _ in range(SIZE >> 20):
            f.write(block)
    protect.encrypt_file(plain, root / "sealed.age", recipients=identity.recipient)
    for p in (plain, root / "sealed.age"):  # warm the page cache
        p.read_bytes()
    return {"identity": identity, "key": root / "key.txt", "plain": plain,
            "sealed": root / "sealed.age"}


def _encrypt(files, **kw):
    with open(files["plain"], "rb") as src, open(os.devnull, "wb") as dst:
        return protect.encrypt_stream(src, dst, recipients=files["identity"].recipient, **kw)


def _decrypt(files):
    with open(files["sealed"], "rb") as src, open(os.devnull, "wb") as dst:
        return protect.decrypt_stream(src, dst, identity=files["identity"])


@pytest.mark.benchmark(group="encrypt 1 GiB")
def test_encrypt_pipeward(benchmark, files):
    assert benchmark.pedantic(_encrypt, (files,), rounds=3).plaintext_size == SIZE


@pytest.mark.benchmark(group="encrypt 1 GiB")
def test_encrypt_pipeward_aes_gcm(benchmark, files):
    result = benchmark.pedantic(_encrypt, (files,), {"cipher": "aes-256-gcm"}, rounds=3)
    assert result.plaintext_size == SIZE


@needs_age
@pytest.mark.benchmark(group="encrypt 1 GiB")
def test_encrypt_age_cli(benchmark, files):
    recipient = str(files["identity"].recipient)
    benchmark.pedantic(subprocess.run, ([AGE, "-r", recipient, "-o", os.devnull, str(files["plain"])],),
                       {"check": True}, rounds=3)


@pytest.mark.benchmark(group="decrypt 1 GiB")
def test_decrypt_pipeward(benchmark, files):
    assert benchmark.pedantic(_decrypt, (files,), rounds=3) == SIZE


@needs_age
@pytest.mark.benchmark(group="decrypt 1 GiB")
def test_decrypt_age_cli(benchmark, files):
    benchmark.pedantic(subprocess.run, ([AGE, "-d", "-i", str(files["key"]), "-o", os.devnull,
                                         str(files["sealed"])],), {"check": True}, rounds=3)


@pytest.mark.benchmark(group="encrypt 1 GiB + both digests in one read")
def test_encrypt_alone(benchmark, files):
    benchmark.pedantic(_encrypt, (files,), rounds=3)


@pytest.mark.benchmark(group="encrypt 1 GiB + both digests in one read")
def test_encrypt_with_digests(benchmark, files):
    result = benchmark.pedantic(_encrypt, (files,), {"digests": True}, rounds=3)
    assert result.plaintext_sha256 is not None
