"""SHA-256: every kernel path against NIST CAVP vectors, hashlib, sha256sum and the reference."""

from __future__ import annotations

import errno
import hashlib
import importlib.util
import hmac
import io
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core
from pipeward import cli
from pipeward.reference import sha256 as ref
from pipeward.hashing import FileChangedError, first_failure, hash_files_raw, hash_files_stat

pytestmark = pytest.mark.native

VECTORS = Path(__file__).parent / "data" / "nist-cavp-sha256"


def _read_rsp(name: str) -> list[dict[str, str]]:
    """Records of a CAVP .rsp file: blocks of 'Key = value' lines separated by blank lines."""
    records, current = [], {}
    for line in (VECTORS / name).read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#") or line.startswith("["):
            if current:
                records.append(current)
                current = {}
            continue
        key, _, value = line.partition(" = ")
        current[key] = value
    if current:
        records.append(current)
    return records


def _messages(name: str) -> list[tuple[bytes, str]]:
    out = []
    for rec in _read_rsp(name):
        length = int(rec["Len"])
        msg = bytes.fromhex(rec["Msg"])[: length // 8]  # Len = 0 comes with Msg = 00
        out.append((msg, rec["MD"]))
    return out


SHORT = _messages("SHA256ShortMsg.rsp")
LONG = _messages("SHA256LongMsg.rsp")


def test_vector_files_are_complete():
    assert len(SHORT) == 65 and len(LONG) == 64
    assert [len(m) for m, _ in SHORT] == list(range(65))
    monte = _read_rsp("SHA256Monte.rsp")
    assert "Seed" in monte[0] and len(monte) == 101


# --- NIST CAVP -----------------------------------------------------------------------------


def test_kernel_path_follows_the_isa_limit(isa):
    assert _core.sha256_selected_path() == ("portable" if isa == "portable" else "sha_ni")


@pytest.mark.parametrize("vectors", [SHORT, LONG], ids=["ShortMsg", "LongMsg"])
def test_nist_one_shot(isa, vectors):
    for msg, md in vectors:
        assert pw.sha256(msg) == md, len(msg)


@pytest.mark.parametrize("vectors", [SHORT, LONG], ids=["ShortMsg", "LongMsg"])
def test_nist_streaming_in_odd_chunks(isa, vectors):
    for msg, md in vectors:
        h = pw.Sha256()
        for start in range(0, len(msg), 61):
            h.update(msg[start:start + 61])
        assert h.hexdigest() == md, len(msg)


def test_nist_reference():
    for msg, md in SHORT + LONG[:8]:
        assert ref.sha256(msg) == md, len(msg)


def _monte_carlo(seed: bytes, checkpoints: int, digest) -> list[str]:
    """SHAVS §6.4 Monte Carlo: MD0 = MD1 = MD2 = Seed; for i in 3..1002,
    MDi = SHA(MD(i-3) || MD(i-2) || MD(i-1)); the checkpoint is MD1002, the next seed."""
    out = []
    for _ in range(checkpoints):
        md = [seed, seed, seed]
        for _ in range(1000):
            md = [md[1], md[2], digest(md[0] + md[1] + md[2])]
        seed = md[2]
        out.append(seed.hex())
    return out


def test_nist_monte_carlo(isa):
    records = _read_rsp("SHA256Monte.rsp")
    seed = bytes.fromhex(records[0]["Seed"])
    expected = [r["MD"] for r in records[1:]]
    assert _monte_carlo(seed, 100, _core.sha256_digest) == expected


def test_nist_monte_carlo_reference_first_checkpoint():
    records = _read_rsp("SHA256Monte.rsp")
    seed = bytes.fromhex(records[0]["Seed"])
    assert _monte_carlo(seed, 1, ref.sha256_digest) == [records[1]["MD"]]


# --- lengths around block boundaries, random data and chunkings ----------------------------

BOUNDARY_LENGTHS = sorted(set(range(201)) | {n for k in range(6, 21)
                                             for n in (2**k - 1, 2**k, 2**k + 1)})


def test_every_length_near_block_boundaries(isa):
    data = np.random.default_rng(7).integers(0, 256, max(BOUNDARY_LENGTHS), dtype=np.uint8)
    raw = data.tobytes()
    for n in BOUNDARY_LENGTHS:
        expected = hashlib.sha256(raw[:n]).hexdigest()
        assert pw.sha256(raw[:n]) == expected, n
        h = pw.Sha256(raw[: n // 3])
        h.update(raw[n // 3:n])
        assert h.hexdigest() == expected, n


def test_byte_at_a_time_streaming(isa):
    raw = bytes(range(256)) * 2
    h = pw.Sha256()
    for i in range(len(raw)):
        h.update(raw[i:i + 1])
        if i % 37 == 0:
            assert h.hexdigest() == hashlib.sha256(raw[: i + 1]).hexdigest()
    assert h.digest() == hashlib.sha256(raw).digest()


@st.composite
def chunked_data(draw):
    data = draw(st.binary(min_size=0, max_size=3000))
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=12)))
    bounds = [0, *cuts, len(data)]
    return data, [data[a:b] for a, b in zip(bounds, bounds[1:])]


@given(chunked_data())
@example((b"", [b""]))
@example((b"a" * 64, [b"a" * 63, b"a"]))
@example((b"b" * 129, [b"b" * 55, b"b" * 1, b"b" * 73]))
def test_random_chunkings_match_hashlib(case):
    data, chunks = case
    expected = hashlib.sha256(data).hexdigest()
    for isa in _core.enabled_isas():
        _core.set_isa_limit(isa)
        try:
            h = pw.Sha256()
            for c in chunks:
                h.update(c)
            assert h.hexdigest() == expected
            assert pw.sha256(data) == expected
        finally:
            _core.set_isa_limit("auto")


@given(st.binary(max_size=300))
def test_reference_matches_hashlib(data):
    assert ref.sha256(data) == hashlib.sha256(data).hexdigest()


def test_switching_path_mid_stream_keeps_the_state():
    data = os.urandom(10_000)
    h = pw.Sha256()
    for i, isa in enumerate(_core.enabled_isas() * 3):
        _core.set_isa_limit(isa)
        h.update(data[i * 500:(i + 1) * 500])
    _core.set_isa_limit("auto")
    h.update(data[len(_core.enabled_isas()) * 3 * 500:])
    assert h.hexdigest() == hashlib.sha256(data).hexdigest()


# --- buffers and bad inputs ---------------------------------------------------------------


@pytest.mark.parametrize("dtype", ["uint8", "int16", "float32", "float64", "complex128", "bool"])
def test_numpy_arrays_hash_their_raw_bytes(rng, dtype):
    arr = (rng.standard_normal((7, 33)) * 100).astype(dtype)
    assert pw.sha256(arr) == hashlib.sha256(arr.tobytes()).hexdigest()
    h = pw.Sha256()
    h.update(arr)
    assert h.hexdigest() == hashlib.sha256(arr.tobytes()).hexdigest()


def test_buffer_kinds():
    raw = os.urandom(5000)
    expected = hashlib.sha256(raw).hexdigest()
    for obj in (raw, bytearray(raw), memoryview(raw), memoryview(raw).cast("I", (1250,)),
                np.frombuffer(raw, np.uint8)):
        assert pw.sha256(obj) == expected
    assert pw.sha256(np.zeros((0, 3))) == hashlib.sha256(b"").hexdigest()


@pytest.mark.parametrize("bad", ["text", 5, None, [1, 2], 3.5])
def test_wrong_types_are_type_errors(bad):
    with pytest.raises(TypeError, match="bytes-like"):
        pw.sha256(bad)
    with pytest.raises(TypeError, match="bytes-like"):
        pw.Sha256().update(bad)
    with pytest.raises(TypeError, match="bytes-like"):
        pw.Sha256(bad)


def test_str_error_says_to_encode():
    with pytest.raises(TypeError, match=r"got str \(encode"):
        pw.sha256("abc")


@pytest.mark.parametrize("arr", [np.arange(20)[::2], np.zeros((4, 5), order="F"),
                                 np.zeros((4, 6))[:, :3]], ids=["strided", "fortran", "sliced"])
def test_non_contiguous_arrays_are_value_errors(arr):
    with pytest.raises(ValueError, match="non-contiguous .* array of shape"):
        pw.sha256(arr)
    with pytest.raises(ValueError, match="non-contiguous"):
        pw.Sha256().update(arr)


def test_object_arrays_are_type_errors():
    with pytest.raises(TypeError, match="Python objects"):
        pw.sha256(np.array([b"a", 1], dtype=object))


def test_gpu_arrays_are_a_clear_error():
    class FakeCuPy:
        __cuda_array_interface__ = {"shape": (3,), "typestr": "|u1", "version": 3}
        dtype, shape = np.dtype(np.uint8), (3,)

    if importlib.util.find_spec("cupy") is None:  # with CuPy installed this hashes on the GPU
        with pytest.raises(pw.GPUUnavailableError, match="installed without GPU support"):
            pw.sha256(FakeCuPy())
    with pytest.raises(TypeError, match="streaming hash runs on the host"):
        pw.Sha256().update(FakeCuPy())


# --- hashlib compatibility and threads ----------------------------------------------------


def test_hashlib_interface():
    h = pw.Sha256(b"abc")
    assert (h.name, h.digest_size, h.block_size) == ("sha256", 32, 64)
    assert h.digest() == hashlib.sha256(b"abc").digest()
    assert h.digest() == h.digest()  # digest() does not finalise
    twin = h.copy()
    twin.update(b"def")
    assert h.hexdigest() == hashlib.sha256(b"abc").hexdigest()
    assert twin.hexdigest() == hashlib.sha256(b"abcdef").hexdigest()
    assert isinstance(twin, pw.Sha256)
    unused = pw.Sha256(b"x", usedforsecurity=False)
    assert unused.hexdigest() == hashlib.sha256(b"x", usedforsecurity=False).hexdigest()


def test_data_is_positional_only_like_hashlib():
    """hashlib documents ``sha256(data=b"", /, *, usedforsecurity=True)`` (issue #12): the
    data goes by position, and a keyword ``data=`` is refused as hashlib refused it up to 3.13."""
    with pytest.raises(TypeError, match="positional"):
        pw.Sha256(data=b"x")
    with pytest.raises(TypeError):
        pw.Sha256(b"x", True)  # usedforsecurity is keyword-only
    if sys.version_info < (3, 14):  # 3.14 added data= (and deprecated string=) to hashlib
        with pytest.raises(TypeError):
            hashlib.sha256(data=b"x")


def test_works_as_a_hashlib_constructor(tmp_path):
    raw = os.urandom(300_000)
    (tmp_path / "f").write_bytes(raw)
    with open(tmp_path / "f", "rb") as f:
        assert hashlib.file_digest(f, pw.Sha256).hexdigest() == hashlib.sha256(raw).hexdigest()
    key, msg = b"k" * 80, b"message"
    assert hmac.new(key, msg, pw.Sha256).digest() == hmac.new(key, msg, "sha256").digest()


@pytest.mark.parametrize("chunk", [100, 70_000])  # below and above the GIL-release size
def test_concurrent_updates_are_atomic(chunk):
    # Every chunk is the same bytes, so any order of whole updates gives one digest; a torn
    # update (two threads inside the state at once) would not.
    piece = bytes(range(251)) * (chunk // 251 + 1)
    piece = piece[:chunk]
    h = pw.Sha256()
    threads, per_thread = 4, 60

    def work():
        for _ in range(per_thread):
            h.update(piece)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert h.hexdigest() == hashlib.sha256(piece * (threads * per_thread)).hexdigest()


def _python_ticks_while(fn) -> int:
    """How often this thread ran Python while `fn` ran on another thread."""
    worker = threading.Thread(target=fn)
    ticks = 0
    worker.start()
    while worker.is_alive():
        ticks += 1
        time.sleep(0)
    worker.join()
    return ticks


def test_large_work_releases_the_gil(tmp_path):
    _core.set_isa_limit("portable")  # slow enough to watch
    try:
        data = np.zeros(24 << 20, np.uint8)
        assert _python_ticks_while(lambda: pw.sha256(data)) > 50
        assert _python_ticks_while(lambda: pw.Sha256().update(data)) > 50
        path = tmp_path / "big"
        path.write_bytes(data.tobytes())
        assert _python_ticks_while(lambda: pw.hash_file(path)) > 50
    finally:
        _core.set_isa_limit("auto")


# --- files --------------------------------------------------------------------------------


@pytest.fixture
def files(tmp_path):
    """Files of sizes around the read-chunk and overlap thresholds, with their digests."""
    rng = np.random.default_rng(11)
    sizes = [0, 1, 63, 64, 65, 4096, 262_143, 262_144, 262_145, 2 * 2**20 + 1, 5 * 2**20 + 3]
    out = []
    for i, n in enumerate(sizes):
        raw = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        p = tmp_path / f"f{i}.bin"
        p.write_bytes(raw)
        out.append((p, hashlib.sha256(raw).hexdigest()))
    return out


def test_hash_file_matches_hashlib(isa, files):
    for path, expected in files:
        assert pw.hash_file(path) == expected
        assert pw.hash_file(str(path)) == expected
        assert pw.hash_file(os.fsencode(path)) == expected


@pytest.mark.parametrize("workers", [None, 1, 2, 3])
def test_hash_files_preserves_order(isa, files, workers):
    paths = [p for p, _ in files] * 2
    expected = [d for _, d in files] * 2
    assert pw.hash_files(paths, workers=workers) == expected
    assert pw.hash_files(reversed(paths), workers=workers) == expected[::-1]
    assert pw.hash_files([], workers=workers) == []


def test_many_files_multibuffer_path(isa, tmp_path):
    # Enough files to fill 16 lanes per thread, with sizes around the block and the per-lane
    # read chunk (64 KiB), so lanes finish at different times and fall back to one stream.
    assert _core.sha256_multibuffer_enabled() == (isa == "avx512")
    rng = np.random.default_rng(5)
    sizes = [0, 1, 55, 56, 63, 64, 65, 119, 128, 65535, 65536, 65537, 131072, 300_001]
    sizes += [int(n) for n in rng.integers(0, 400_000, 26)]
    paths, expected = [], []
    for i, n in enumerate(sizes):
        raw = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        paths.append(tmp_path / f"m{i}")
        paths[-1].write_bytes(raw)
        expected.append(hashlib.sha256(raw).hexdigest())
    for workers in (1, 2):
        assert pw.hash_files(paths, workers=workers) == expected
        assert pw.hash_files(paths[::-1], workers=workers) == expected[::-1]


def test_hash_files_stat_reports_the_hashed_size_and_mtime(files):
    paths = [p for p, _ in files]
    for (path, digest), got in zip(files, hash_files_stat(paths, workers=2)):
        st_ = os.stat(path)
        assert got == (digest, st_.st_size, st_.st_mtime_ns)
        assert got.hexdigest == digest


def test_non_utf8_file_names(tmp_path):
    name = os.path.join(os.fsencode(tmp_path), b"caf\xe9-\xff.bin")
    with open(name, "wb") as f:
        f.write(b"latin-1 name")
    assert pw.hash_file(name) == hashlib.sha256(b"latin-1 name").hexdigest()
    assert pw.hash_files([name, name]) == [hashlib.sha256(b"latin-1 name").hexdigest()] * 2


def test_symlink_to_a_file_is_followed(tmp_path):
    (tmp_path / "target").write_bytes(b"target")
    (tmp_path / "link").symlink_to(tmp_path / "target")
    assert pw.hash_file(tmp_path / "link") == hashlib.sha256(b"target").hexdigest()


def test_proc_files_with_zero_st_size_hash_their_content():
    with open("/proc/self/cmdline", "rb") as f:
        expected = hashlib.sha256(f.read()).hexdigest()
    assert pw.hash_file("/proc/self/cmdline") == expected


def test_fifo_is_streamed_when_asked_for(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    raw = os.urandom(3 * 2**20 + 11)

    def writer():
        time.sleep(0.3)  # the reader waits for a writer
        with open(fifo, "wb") as f:
            f.write(raw)

    t = threading.Thread(target=writer)
    t.start()
    try:
        assert pw.hash_file(fifo, allow_special=True) == hashlib.sha256(raw).hexdigest()
    finally:
        t.join()


@pytest.mark.parametrize("special", ["fifo", "/dev/null", "/dev/zero"])
def test_special_files_are_refused_unless_asked_for(tmp_path, special):
    """A FIFO with no writer blocked inside C++ for ever, deaf to Ctrl-C; /dev/zero never ends."""
    path = tmp_path / "fifo" if special == "fifo" else Path(special)
    if special == "fifo":
        os.mkfifo(path)
    start = time.monotonic()
    with pytest.raises(OSError, match="not a regular file") as info:
        pw.hash_file(path)
    assert info.value.errno == errno.ESPIPE and info.value.filename == os.fspath(path)
    with pytest.raises(OSError, match="allow_special"):
        pw.hash_files([path] * 20, workers=2)  # the multi-buffer path refuses it too
    assert time.monotonic() - start < 5
    if special == "/dev/null":
        assert pw.hash_file(path, allow_special=True) == hashlib.sha256(b"").hexdigest()


def test_a_fifo_without_writer_stops_on_cancel(tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    progress = _core.Sha256Progress()
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault(
        "r", hash_files_raw([fifo], 1, progress=progress, allow_special=True)))
    worker.start()
    time.sleep(0.3)
    assert worker.is_alive()  # waiting for a writer
    progress.cancel()
    worker.join(5)
    assert not worker.is_alive() and box["r"][0][3] == errno.ECANCELED


def _raises_oserror(cls, path, code):
    with pytest.raises(cls) as info:
        pw.hash_file(path)
    assert info.value.errno == code
    assert info.value.filename == os.fspath(path)
    with pytest.raises(cls) as info:
        pw.hash_files([path], workers=2)
    assert info.value.filename == os.fspath(path)


def test_missing_file(tmp_path):
    _raises_oserror(FileNotFoundError, tmp_path / "absent", errno.ENOENT)
    _raises_oserror(FileNotFoundError, str(tmp_path / "absent"), errno.ENOENT)


def test_broken_symlink(tmp_path):
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    _raises_oserror(FileNotFoundError, tmp_path / "dangling", errno.ENOENT)


def test_directory_passed_as_a_file(tmp_path):
    _raises_oserror(IsADirectoryError, tmp_path, errno.EISDIR)


def test_read_error_is_an_oserror():
    _raises_oserror(OSError, "/proc/self/mem", errno.EIO)


def test_unreadable_file(tmp_path):
    secret = tmp_path / "secret"
    secret.write_bytes(b"no")
    secret.chmod(0)
    if os.geteuid() != 0:
        _raises_oserror(PermissionError, secret, errno.EACCES)
        return
    # root reads anything: check in a child that drops to 'nobody'. hash_file uses one
    # thread and no OpenMP region, so it is safe after fork().
    pid = os.fork()
    if pid == 0:  # pragma: no cover - child
        code = 3
        try:
            os.setgid(65534)
            os.setuid(65534)
            pw.hash_file(secret)
            code = 1
        except PermissionError as exc:
            code = 0 if (exc.errno == errno.EACCES and exc.filename == os.fspath(secret)) else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_file_vanished_before_hashing(tmp_path, files):
    gone = tmp_path / "gone.bin"
    gone.write_bytes(b"soon gone")
    paths = [files[0][0], gone, files[1][0]]
    gone.unlink()
    with pytest.raises(FileNotFoundError) as info:
        pw.hash_files(paths)
    assert info.value.filename == os.fspath(gone)


@pytest.mark.parametrize("many", [False, True], ids=["few", "multibuffer"])
def test_first_failure_in_input_order_is_raised(tmp_path, files, many):
    paths = [files[3][0], tmp_path / "missing-1", tmp_path, tmp_path / "missing-2"]
    if many:
        paths = [p for p, _ in files] * 2 + paths + [p for p, _ in files] * 2
    for workers in (1, 2):
        with pytest.raises(FileNotFoundError) as info:
            pw.hash_files(paths, workers=workers)
        assert info.value.filename == os.fspath(tmp_path / "missing-1")


def _mutate_while_hashing(path: Path, mutate, others=()) -> list:
    """Hash `path` (and `others`) on a thread, run `mutate` once some but not all of it is
    hashed, return the raw results; None when the hashing got past the end first."""
    size = path.stat().st_size
    progress = _core.Sha256Progress()
    box = {}
    worker = threading.Thread(target=lambda: box.setdefault(
        "r", hash_files_raw([path, *others], 1, progress=progress)))
    worker.start()
    while progress.bytes_done == 0 and worker.is_alive():
        time.sleep(0.0005)
    mutate()
    # Fewer bytes read in all than `path` holds: `path` was not finished when `mutate` returned.
    in_time = progress.bytes_done < size
    worker.join()
    return box["r"] if in_time else None


def _append(path: Path) -> None:
    with path.open("ab") as f:
        f.write(b"more")


def _replace(path: Path) -> None:
    fresh = path.with_suffix(".new")
    fresh.write_bytes(b"new content")
    os.replace(fresh, path)


def _rewrite_restoring_mtime(path: Path) -> None:
    """The same size, other bytes, and the old mtime back: only ctime tells (it cannot be set)."""
    st = path.stat()
    with path.open("r+b") as f:
        f.write(b"\xa5" * 4096)
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))


def _replace_keeping_a_link(path: Path) -> None:
    """Renamed over while another name keeps the old inode alive (st_nlink stays 1)."""
    os.link(path, path.with_suffix(".keep"))
    _replace(path)


_MUTATIONS = {
    "rewrite-restoring-mtime": _rewrite_restoring_mtime,
    "replace-keeping-a-link": _replace_keeping_a_link,
    "append": _append,
    "truncate": lambda path: os.truncate(path, 1000),
    "touch": lambda path: os.utime(path, ns=(0, 10**18)),
    "delete": lambda path: path.unlink(),
    "replace": _replace,
}


@pytest.mark.parametrize("how", sorted(_MUTATIONS))
def test_file_changing_while_hashed_raises(tmp_path, how):
    _core.set_isa_limit("portable")  # slow enough to change the file under it
    try:
        for attempt in range(4):
            path = tmp_path / f"moving-{attempt}.bin"
            path.write_bytes(b"\x5a" * (12 << 20 << attempt))
            mutate = _MUTATIONS[how]
            results = _mutate_while_hashing(path, lambda: mutate(path))
            if results is not None:
                break
        else:
            pytest.fail("the file was always hashed before it could be changed")
        error = first_failure([path], results[:1])
        assert isinstance(error, FileChangedError) and isinstance(error, OSError)
        assert error.errno == errno.EAGAIN and error.filename == os.fspath(path)
    finally:
        _core.set_isa_limit("auto")


@pytest.mark.skipif(not _core.sha256_multibuffer_enabled(), reason="no AVX-512")
@pytest.mark.parametrize("how", ["append", "truncate", "rewrite-restoring-mtime"])
def test_file_changing_while_hashed_multibuffer(tmp_path, how):
    for attempt in range(4):
        paths = [tmp_path / f"lane-{attempt}-{j}.bin" for j in range(16)]
        for p in paths:
            p.write_bytes(b"\x33" * (8 << 20 << attempt))
        results = _mutate_while_hashing(paths[0], lambda: _MUTATIONS[how](paths[0]), paths[1:])
        if results is not None:
            break
    else:
        pytest.fail("the file was always hashed before it could be changed")
    assert isinstance(first_failure(paths, results), FileChangedError)
    assert results[0][4] is True


def test_cancel_stops_the_multibuffer_job(tmp_path):
    paths = [tmp_path / f"c{j}" for j in range(20)]
    for p in paths:
        p.write_bytes(b"c" * 1000)
    progress = _core.Sha256Progress()
    progress.cancel()
    results = hash_files_raw(paths, 2, progress=progress)
    assert [r[3] for r in results] == [errno.ECANCELED] * 20


def test_cancel_stops_the_job(tmp_path):
    path = tmp_path / "big.bin"
    path.write_bytes(b"\0" * (8 << 20))
    progress = _core.Sha256Progress()
    progress.cancel()
    results = hash_files_raw([path, path], 2, progress=progress)
    assert [r[3] for r in results] == [errno.ECANCELED] * 2
    assert progress.files_done == 0


@pytest.mark.parametrize("bad, exc, match", [
    (3, TypeError, "sequence of paths"),
    ([3], TypeError, "expected a path"),
    (["a\0b"], ValueError, "NUL byte"),
    ("one/path", TypeError, "single str"),
    (b"one/path", TypeError, "single bytes"),
    (Path("p"), TypeError, "single"),
    (None, TypeError, "sequence of paths"),
])
def test_hash_files_bad_arguments(bad, exc, match):
    with pytest.raises(exc, match=match):
        pw.hash_files(bad)


@pytest.mark.parametrize("workers, exc", [(0, ValueError), (-2, ValueError), (1.5, TypeError),
                                          (True, TypeError), ("2", TypeError)])
def test_hash_files_bad_workers(files, workers, exc):
    with pytest.raises(exc, match="workers"):
        pw.hash_files([files[0][0]], workers=workers)


def test_hash_file_bad_arguments():
    with pytest.raises(TypeError, match="expected a path"):
        pw.hash_file(5)
    with pytest.raises(TypeError, match="hash_files for several"):
        pw.hash_file(["a", "b"])
    with pytest.raises(ValueError, match="NUL byte"):
        pw.hash_file(b"a\0b")


def test_memory_stays_bounded_for_a_large_file(tmp_path):
    # A sparse 256 MiB file: an implementation that loaded it whole would grow by 256 MiB.
    path = tmp_path / "sparse.bin"
    with open(path, "wb") as f:
        f.truncate(256 << 20)
    code = (
        "import resource, sys, pipeward as pw\n"
        "pw.hash_file(sys.argv[1] + '.small')\n"
        "before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "digest = pw.hash_file(sys.argv[1])\n"
        "after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss\n"
        "print(digest, (after - before) // 1024)\n"
    )
    (tmp_path / "sparse.bin.small").write_bytes(b"x" * (5 << 20))
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True,
                         text=True, check=True, timeout=300).stdout.split()
    zeros = hashlib.sha256()
    block = bytes(1 << 20)
    for _ in range(256):
        zeros.update(block)
    assert out[0] == zeros.hexdigest()
    assert int(out[1]) < 48, f"peak memory grew by {out[1]} MiB"


# --- CLI ----------------------------------------------------------------------------------


def _run_cli(args, capsysbinary, stdin: bytes | None = None, monkeypatch=None):
    if stdin is not None:
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = cli.main(["hash", "-q", *args])
    captured = capsysbinary.readouterr()
    return code, captured.out, captured.err


def test_cli_matches_sha256sum_with_escaped_names(tmp_path, capsysbinary, monkeypatch):
    monkeypatch.chdir(tmp_path)
    names = ["plain.txt", "back\\slash", "new\nline", "cr\rname", "spa ce"]
    for i, n in enumerate(names):
        Path(n).write_bytes(f"content {i}".encode())
    code, out, _ = _run_cli(names, capsysbinary)
    assert code == 0
    lines = []
    for i, n in enumerate(names):
        digest = hashlib.sha256(f"content {i}".encode()).hexdigest()
        esc = n.replace("\\", "\\\\").replace("\n", "\\n").replace("\r", "\\r")
        lines.append(("\\" if esc != n else "") + f"{digest}  {esc}\n")
    assert out.decode() == "".join(lines)
    if shutil.which("sha256sum"):
        gnu = subprocess.run(["sha256sum", *names], capture_output=True, check=True).stdout
        assert out == gnu


def test_cli_reads_stdin(capsysbinary, monkeypatch, tmp_path):
    raw = os.urandom(3_000_000)
    (tmp_path / "a").write_bytes(b"a")
    code, out, _ = _run_cli([str(tmp_path / "a"), "-"], capsysbinary, stdin=raw,
                            monkeypatch=monkeypatch)
    assert code == 0
    assert out.decode().splitlines() == [
        f"{hashlib.sha256(b'a').hexdigest()}  {tmp_path / 'a'}",
        f"{hashlib.sha256(raw).hexdigest()}  -",
    ]


def test_cli_reports_every_failure_and_exits_2(tmp_path, capsysbinary):
    (tmp_path / "ok").write_bytes(b"ok")
    args = [str(tmp_path / "missing"), str(tmp_path), str(tmp_path / "ok")]
    code, out, err = _run_cli(args, capsysbinary)
    assert code == cli.EXIT_USAGE
    assert out.decode() == f"{hashlib.sha256(b'ok').hexdigest()}  {tmp_path / 'ok'}\n"
    assert b"missing: No such file or directory" in err
    assert b"Is a directory" in err


def test_cli_json_and_output_file(tmp_path, capsysbinary):
    import json

    (tmp_path / "x").write_bytes(b"xyz")
    out_path = tmp_path / "sums.json"
    code, _, _ = _run_cli(["--json", "-o", str(out_path), str(tmp_path / "x"),
                           str(tmp_path / "nope")], capsysbinary)
    assert code == cli.EXIT_USAGE
    records = json.loads(out_path.read_text())
    assert records[0] == {"path": str(tmp_path / "x"), "sha256": hashlib.sha256(b"xyz").hexdigest(),
                          "size": 3}
    assert records[1]["errno"] == errno.ENOENT


def test_cli_bad_workers(tmp_path, capsysbinary):
    code, _, err = _run_cli(["-w", "0", str(tmp_path)], capsysbinary)
    assert code == cli.EXIT_USAGE and b"--workers" in err


def test_cli_progress_bar_path(tmp_path, monkeypatch, capsys):
    from pipeward.cli import hash as hash_cli

    monkeypatch.setattr(hash_cli, "PROGRESS_MIN_BYTES", 0)
    paths = []
    for i in range(3):
        paths.append(str(tmp_path / f"p{i}"))
        Path(paths[-1]).write_bytes(bytes([i]) * (1 << 20))
    results = hash_cli._hash_all(paths + [str(tmp_path / "gone")], 2, True, False)
    assert [r[0].hex() for r in results[:3]] == [
        hashlib.sha256(bytes([i]) * (1 << 20)).hexdigest() for i in range(3)]
    assert results[3][3] == errno.ENOENT  # the CLI keeps going past a failure
    assert "\r" in capsys.readouterr().err
