"""The one place manifests hash files: the native parallel ``hash_files_stat``, which also
gives the size and mtime of the bytes it hashed (``fstat`` on the descriptor it read).

Until the native SHA-256 kernel is merged, a thread pool of ``hashlib.file_digest`` stands in
(same contract: order kept, ``OSError`` naming the path, ``FileChangedError`` when a file
changes while it is read).
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

try:
    from ..sha256 import FileChangedError, hash_files_stat
except ImportError:  # the native kernel is not merged yet
    hash_files_stat = None

    class FileChangedError(OSError):  # type: ignore[no-redef]
        """A file changed (size or modification time) while it was being hashed."""


__all__ = ["FileChangedError", "hash_paths", "hash_paths_tolerant"]

PathT = bytes
Hashed = tuple[str, int, int]  # (hex digest, size, mtime_ns) of what was read


def _stamp(st: os.stat_result) -> tuple[int, int, int, int]:
    return (st.st_size, st.st_mtime_ns, st.st_ino, st.st_dev)


def _hashlib_file(path: PathT) -> Hashed:
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        digest = hashlib.file_digest(f, "sha256").hexdigest()
        read = f.tell()
        after = os.fstat(f.fileno())
    if _stamp(before) != _stamp(after) or read != after.st_size:
        raise FileChangedError(0, "file changed while it was being hashed", os.fsdecode(path))
    return digest, after.st_size, after.st_mtime_ns


def hash_paths(paths: Sequence[PathT], workers: int | None = None,
               on_progress: Callable[[int], None] | None = None) -> list[Hashed]:
    """``(hex SHA-256, size, mtime_ns)`` of each file, in order; raises the first ``OSError``
    (it names the path).

    ``on_progress(k)`` is called after each batch with the number of files just hashed; batches
    exist only when progress is asked for, so the common case is one native call.
    """
    if not paths:
        return []
    batch = 1024 if on_progress else len(paths)
    out: list[Hashed] = []
    for lo in range(0, len(paths), batch):
        chunk = list(paths[lo:lo + batch])
        if hash_files_stat is not None:
            out.extend(hash_files_stat(chunk, workers=workers))
        else:
            with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
                out.extend(pool.map(_hashlib_file, chunk))
        if on_progress:
            on_progress(len(chunk))
    return out


def hash_paths_tolerant(paths: Sequence[PathT], workers: int | None = None,
                        on_progress: Callable[[int], None] | None = None,
                        ) -> tuple[list[Hashed | None], dict[int, OSError]]:
    """Like :func:`hash_paths`, but an unreadable file becomes an error for its index instead of
    stopping the others: ``(digests with None where it failed, {index: error})``."""
    try:
        return list(hash_paths(paths, workers, on_progress)), {}
    except OSError:
        pass  # rare: redo file by file so every failure is reported, not just the first
    digests: list[Hashed | None] = [None] * len(paths)
    errors: dict[int, OSError] = {}

    def one(i: int) -> None:
        try:
            digests[i] = hash_paths([paths[i]], 1)[0]
        except OSError as exc:
            errors[i] = exc

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        list(pool.map(one, range(len(paths))))
    return digests, errors
