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
import time

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


# --- tokenize: batched HMAC-SHA256 against a Python hmac loop -------------------------------
N_TOKENS = max(10_000, int(10_000_000 * SCALE))
TOKEN_KEY = b"bench-key-0123456789abcdef"


@pytest.fixture(scope="module")
def short_strings():
    return [f"user{i:08d}@example.com" for i in range(N_TOKENS)]


def _cpu_timed(benchmark, fn, *args):
    """fn(*args) under pytest-benchmark, recording each round's CPU seconds in extra_info: the
    calling thread's and the other threads' (the list path's helper), for the per-thread CPU
    ratio, which a shared machine disturbs less than wall time (`--benchmark-json`)."""
    info = benchmark.extra_info

    def run():
        t, p = time.thread_time(), time.process_time()
        out = fn(*args)
        t, p = time.thread_time() - t, time.process_time() - p
        info.setdefault("calling_thread_cpu_s", []).append(round(t, 4))
        info.setdefault("other_threads_cpu_s", []).append(round(p - t, 4))
        return out

    return run


def _python_hmac_loop(values):
    import hashlib  # noqa: PLC0415
    import hmac  # noqa: PLC0415

    return [hmac.new(TOKEN_KEY, v.encode(), hashlib.sha256).hexdigest() for v in values]


@pytest.mark.benchmark(group="tokenize 10M short strings")
def test_tokenize_python_hmac_loop(benchmark, short_strings):
    benchmark.pedantic(_cpu_timed(benchmark, _python_hmac_loop, short_strings), rounds=1)


@pytest.fixture(params=["avx512", "avx2"])
def isa_path(request):
    from pipeward import _core  # noqa: PLC0415

    if request.param not in _core.enabled_isas():
        pytest.skip(f"{request.param} is not available here")
    before = _core.isa_limit()
    _core.set_isa_limit(request.param)
    yield request.param
    _core.set_isa_limit(before)


@pytest.mark.benchmark(group="tokenize 10M short strings")
def test_tokenize_list(benchmark, short_strings, isa_path):
    out = benchmark.pedantic(_cpu_timed(benchmark, protect.tokenize, short_strings, TOKEN_KEY), rounds=3)
    assert out[123] == _python_hmac_loop(short_strings[123:124])[0]


@pytest.mark.benchmark(group="tokenize 10M short strings")
def test_tokenize_arrow(benchmark, short_strings, isa_path):
    pa = pytest.importorskip("pyarrow")
    array = pa.array(short_strings)
    out = benchmark.pedantic(_cpu_timed(benchmark, protect.tokenize, array, TOKEN_KEY), rounds=3)
    assert out[123].as_py() == _python_hmac_loop(short_strings[123:124])[0]
