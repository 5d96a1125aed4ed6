"""Standard SHA-256 digests (FIPS 180-4), bit for bit those of ``hashlib.sha256`` and ``sha256sum``.

The C++ kernel uses the x86 SHA extensions when the CPU has them and portable C++ otherwise
(``PIPEWARD_ISA=portable`` forces the latter). Files are read with ``read()`` into bounded
buffers -- never mapped, so a file truncated under us is an error rather than a crash -- and
checked with ``fstat`` before and after: a file whose size, modification time or status-change
time (ctime, which a rewrite that restores mtime still moves) changes while it is read, or whose
path names another file afterwards, raises :class:`FileChangedError` instead of yielding a
digest of a mix of versions. FIFOs and devices are refused unless asked for
(``allow_special=True``): reading one can block for ever or never end.
"""

from __future__ import annotations

import errno
import os
import threading
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, Union

from . import _core
from ._backend import is_gpu_array

if TYPE_CHECKING:
    from typing_extensions import Buffer, Self

StrOrBytesPath = Union[str, bytes, "os.PathLike[str]", "os.PathLike[bytes]"]

__all__ = ["FileChangedError", "HashedFile", "Sha256", "hash_file", "hash_files",
           "hash_files_stat", "sha256"]


class FileChangedError(OSError):
    """A file's size, modification time or status-change time changed, or it was deleted or
    replaced, while it was being hashed; its digest would describe no version of the file.
    ``errno`` is ``EAGAIN``: hashing it again once it is stable can succeed."""


class HashedFile(NamedTuple):
    """One file's digest with the size and modification time of the bytes that were hashed,
    both taken with ``fstat`` on the descriptor that was read (so they belong to that content)."""

    hexdigest: str
    size: int
    mtime_ns: int


def _host_only(data: object, who: str) -> None:
    if is_gpu_array(data):
        raise TypeError(f"{who}: a streaming hash runs on the host and CuPy arrays are not "
                        "copied there silently; use pw.sha256(array) or pw.sha256_batch(...) "
                        "to hash GPU memory on the GPU, or copy it explicitly (array.get())")


def sha256(data: Buffer, /) -> str:
    """Hex SHA-256 digest of ``data``'s raw bytes, equal to ``hashlib.sha256(data).hexdigest()``.

    ``data`` is any C-contiguous buffer: bytes, bytearray, memoryview, or a NumPy array of any
    dtype (its bytes in memory order). A CuPy array (or PyTorch CUDA tensor) is hashed on the
    GPU without copying it to the host (one thread: SHA-256 of one message is sequential; see
    ``sha256_batch`` for many messages or chunks at once). A ``str`` is a ``TypeError`` (encode it first); a
    non-contiguous array is a ``ValueError`` (no silent copy).
    """
    if is_gpu_array(data):  # one message is one GPU thread: cuda/sha256.cu; 32 bytes come back
        from ._sha256_batch import sha256_batch  # noqa: PLC0415 - it imports this module

        return bytes(sha256_batch([data])[0].get()).hex()
    return _core.sha256_digest(data).hex()


class Sha256:
    """A streaming SHA-256 hasher with the ``hashlib`` interface (``Sha256(data=b"", /, *,
    usedforsecurity=True)``), plus ``reset()``.

    ``update`` takes the same buffers as :func:`sha256`, is safe to call from several threads
    (each call is applied whole, under the hasher's own lock) and releases the GIL for large
    buffers. Works wherever a hashlib constructor does, e.g. ``hashlib.file_digest(f, Sha256)``
    or ``hmac.new(key, msg, Sha256)``.
    """

    name = "sha256"
    digest_size = 32
    block_size = 64
    __slots__ = ("_state",)

    def __init__(self, data: Buffer = b"", /, *, usedforsecurity: bool = True) -> None:
        # The documented hashlib signature: the data is positional (hashlib refuses data= up
        # to Python 3.13 and names the parameter `string`, undocumented); usedforsecurity is
        # hashlib's flag for FIPS builds, and SHA-256 is allowed either way.
        self._state = _core.Sha256Hasher()
        if not (isinstance(data, bytes) and not data):
            self.update(data)

    def update(self, data: Buffer, /) -> None:
        """Absorb ``data``'s bytes."""
        _host_only(data, "Sha256.update")
        self._state.update(data)

    def digest(self) -> bytes:
        """The 32-byte digest of everything absorbed so far; the hasher can keep going."""
        return self._state.digest()

    def hexdigest(self) -> str:
        """:meth:`digest` as 64 lowercase hex characters."""
        return self._state.digest().hex()

    def reset(self) -> None:
        """Forget everything absorbed: the hasher is as new (as ``blake3.reset()``)."""
        self._state.reset()

    def copy(self) -> Self:
        """An independent hasher in the same state."""
        twin = type(self).__new__(type(self))
        twin._state = self._state.copy()
        return twin

    def __repr__(self) -> str:
        return f"<pipeward.Sha256 object @ {id(self):#x}>"


def _encode_path(path: object, who: str) -> bytes:
    try:
        raw = os.fsencode(path)  # type: ignore[arg-type]
    except TypeError:
        raise TypeError(f"{who}: expected a path (str, bytes or os.PathLike), got "
                        f"{type(path).__name__}") from None
    if b"\0" in raw:
        raise ValueError(f"{who}: path contains a NUL byte: {path!r}")
    return raw


def _path_list(paths: object, who: str) -> list[object]:
    if isinstance(paths, (str, bytes, os.PathLike)):
        raise TypeError(f"{who}: expected a sequence of paths, got a single "
                        f"{type(paths).__name__} (use hash_file for one file)")
    if not isinstance(paths, Iterable):
        raise TypeError(f"{who}: expected a sequence of paths, got {type(paths).__name__}")
    return list(paths)


def _workers(workers: object) -> int | None:
    if workers is None:
        return None
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be None or a positive integer, got {type(workers).__name__}")
    if workers <= 0:
        raise ValueError(f"workers must be None or a positive integer, got {workers}")
    return workers


def file_error(code: int, changed: bool, path: object) -> OSError:
    """The exception for one failed file: an ``OSError`` subclass chosen by ``errno``
    (FileNotFoundError, PermissionError, IsADirectoryError, ...) or :class:`FileChangedError`,
    naming ``path`` as given."""
    name = os.fspath(path)  # type: ignore[call-overload]
    if changed:
        return FileChangedError(errno.EAGAIN, "file changed, or was deleted or replaced, while "
                                "being hashed; hash it again once it is stable", name)
    if code == NOT_REGULAR:
        return OSError(code, "not a regular file (a FIFO or device, which could block "
                       "or never end); ask for it with allow_special=True (--allow-special)", name)
    return OSError(code, os.strerror(code), name)


RawResult = tuple[bytes, int, int, int, bool]  # _core.FileDigest(digest, size, mtime_ns, errno, changed)
NOT_REGULAR = errno.ESPIPE  # the kernel's errno for a special file not asked for
T = TypeVar("T")


def hash_files_raw(paths: list[object], workers: int | None = None, *, progress: object = None,
                   keep_going: bool = False, allow_special: bool = False) -> list[RawResult]:
    """Per file ``(digest, size, mtime_ns, errno, changed)``, raising nothing about the files
    (for the CLI, which reports every failure, and for tests that watch ``progress``, a
    ``_core.Sha256Progress``). Unless ``keep_going``, files after a failure are skipped with
    ``errno.ECANCELED``. With ``allow_special`` and no ``progress``, the job runs where Ctrl-C
    can stop it (see :func:`interruptible`): a FIFO may wait for a writer."""
    encoded = [_encode_path(p, "hash_files") for p in paths]
    threads = _workers(workers)
    if allow_special and progress is None:
        return interruptible(lambda prog: _core.sha256_hash_files(
            encoded, threads, prog, keep_going, allow_special=True))
    return _core.sha256_hash_files(encoded, threads, progress, keep_going,
                                   allow_special=allow_special)


def interruptible(job: Callable[[_core.Sha256Progress], T], *,
                  tick: Callable[[_core.Sha256Progress], None] | None = None) -> T:
    """``job(progress)`` on a worker thread while this thread waits in short joins (calling
    ``tick(progress)`` after each, to draw a progress bar): Ctrl-C reaches this thread, cancels
    the job (a read waiting on a FIFO stops within 0.1 s) and is raised again."""
    progress = _core.Sha256Progress()
    box: dict[str, Any] = {}
    # An Event, not Thread.join: before Python 3.13 a join interrupted by Ctrl-C marks the
    # thread stopped while it still runs, and the interpreter would exit under it.
    done = threading.Event()

    def work() -> None:
        try:
            box["result"] = job(progress)
        except BaseException as exc:  # noqa: BLE001 - raised again on the calling thread
            box["error"] = exc
        finally:
            done.set()

    threading.Thread(target=work, name="pipeward-hash", daemon=True).start()
    try:
        while not done.wait(0.2):
            if tick is not None:
                tick(progress)
    except KeyboardInterrupt:
        progress.cancel()
        while True:  # the job ends within a poll interval; a second Ctrl-C waits for it too
            try:
                if done.wait(0.2):
                    break
            except KeyboardInterrupt:
                continue
        raise
    if "error" in box:
        raise box["error"]
    return box["result"]


def first_failure(paths: list[object], results: list[RawResult]) -> OSError | None:
    """The exception for the first failed file in input order, or None."""
    for path, (_, _, _, code, changed) in zip(paths, results):
        if changed or (code != 0 and code != errno.ECANCELED):
            return file_error(code, changed, path)
    for path, (_, _, _, code, _) in zip(paths, results):
        if code == errno.ECANCELED:  # cancelled through a Sha256Progress, nothing failed
            return file_error(code, False, path)
    return None


def hash_files_stat(paths: Iterable[StrOrBytesPath], *, workers: int | None = None,
                    allow_special: bool = False) -> list[HashedFile]:
    """Like :func:`hash_files`, with each file's size and ``st_mtime_ns`` as measured on the
    descriptor that was hashed (after reading), for caches keyed on (size, mtime)."""
    items = _path_list(paths, "hash_files")
    results = hash_files_raw(items, workers, allow_special=allow_special)
    error = first_failure(items, results)
    if error is not None:
        raise error
    return [HashedFile(d.hex(), size, mtime) for d, size, mtime, _, _ in results]


def hash_files(paths: Iterable[StrOrBytesPath], *, workers: int | None = None,
               allow_special: bool = False) -> list[str]:
    """Hex SHA-256 digests of files' contents, in the order given (as ``sha256sum``).

    Files are hashed in parallel on ``workers`` threads (None: the OpenMP default, which
    honours threadpoolctl) with the GIL released, each streamed through bounded buffers. The
    first failure in input order raises: an ``OSError`` subclass with ``errno`` and the path
    (FileNotFoundError, PermissionError, IsADirectoryError, ``ESPIPE`` for a FIFO or
    device unless ``allow_special``, ...) or :class:`FileChangedError`.
    """
    return [r.hexdigest for r in hash_files_stat(paths, workers=workers,
                                                 allow_special=allow_special)]


def hash_file(path: StrOrBytesPath, /, *, allow_special: bool = False) -> str:
    """Hex SHA-256 digest of one file's contents (``sha256sum``), read and hashed in parallel
    by two threads. ``path`` may be bytes, so names that are not valid UTF-8 work. A FIFO or
    device is read only with ``allow_special=True`` (then Ctrl-C stops a FIFO with no writer)."""
    if isinstance(path, (list, tuple)):
        raise TypeError(f"hash_file: expected one path, got a {type(path).__name__} "
                        "(use hash_files for several)")
    return hash_files_stat([path], workers=1, allow_special=allow_special)[0].hexdigest
