"""The one place manifests hash files: the native parallel ``hash_files_stat``, which also
gives the size and mtime of the bytes it hashed (``fstat`` on the descriptor it read), so a
manifest's size and digest always describe the same content."""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor

from ..sha256 import FileChangedError, hash_files_stat

__all__ = ["FileChangedError", "hash_paths", "hash_paths_tolerant"]

Hashed = tuple[str, int, int]  # (hex digest, size, mtime_ns) of what was read


def hash_paths(paths: Sequence[bytes], workers: int | None = None,
               on_progress: Callable[[int], None] | None = None) -> list[Hashed]:
    """``(hex SHA-256, size, mtime_ns)`` of each file, in order; raises the first ``OSError``
    (it names the path; ``FileChangedError`` when a file changed while it was read).

    ``on_progress(k)`` is called after each batch with the number of files just hashed; batches
    exist only when progress is asked for, so the common case is one native call.
    """
    if not paths:
        return []
    batch = 1024 if on_progress else len(paths)
    out: list[Hashed] = []
    for lo in range(0, len(paths), batch):
        chunk = list(paths[lo:lo + batch])
        out.extend(hash_files_stat(chunk, workers=workers))
        if on_progress:
            on_progress(len(chunk))
    return out


def hash_paths_tolerant(paths: Sequence[bytes], workers: int | None = None,
                        on_progress: Callable[[int], None] | None = None,
                        ) -> tuple[list[Hashed | None], dict[int, OSError]]:
    """Like :func:`hash_paths`, but an unreadable file becomes an error for its index instead of
    stopping the others: ``(results with None where it failed, {index: error})``."""
    try:
        return list(hash_paths(paths, workers, on_progress)), {}
    except OSError:
        pass  # rare: redo file by file so every failure is reported, not just the first
    results: list[Hashed | None] = [None] * len(paths)
    errors: dict[int, OSError] = {}

    def one(i: int) -> None:
        try:
            results[i] = hash_paths([paths[i]], 1)[0]
        except OSError as exc:
            errors[i] = exc

    with ThreadPoolExecutor(workers or os.cpu_count() or 1) as pool:
        list(pool.map(one, range(len(paths))))
    return results, errors
