"""Turn a directory tree into manifest entries: walk, reuse cached digests, hash the rest in
one parallel native call, and make sure nothing changed between the walk and the hashing."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Iterable, Sequence

from . import _hashing
from ._hashing import FileChangedError
from .._progress import ProgressArg, reporter
from .cache import HashCache
from .entries import Entry
from .walk import Found, Matcher, walk

__all__ = ["build_entries", "digest_files"]


def _changed(path: bytes) -> FileChangedError:
    return FileChangedError(errno.EAGAIN, "file changed between listing and hashing", os.fsdecode(path))


def digest_files(files: Sequence[Found], *, workers: int | None, cache: HashCache | None,
                 start_ns: int, progress: ProgressArg, tolerant: bool = False,
                 raw: _hashing.RawHasher | None = None,
                 ) -> tuple[list[tuple[str, int] | None], dict[int, OSError]]:
    """``(SHA-256, size)`` of each found file: from ``cache`` when its stat key matches, else
    hashed, with the size of the bytes that were read.

    When the walk measured a file (``st``), the size and mtime the hasher saw must match it:
    otherwise the file changed in between, and that is a ``FileChangedError``. ``tolerant``
    collects per-file errors by index (and leaves None) instead of raising the first.
    ``raw`` hashes the files (pipeward.dask passes one that runs on its workers).
    """
    out: list[tuple[str, int] | None] = [None] * len(files)
    todo = []
    for i, f in enumerate(files):
        hit = cache.lookup(f.st) if cache is not None and f.st is not None else None
        if hit is None:
            todo.append(i)
        else:
            out[i] = (hit, f.st.st_size)  # type: ignore[union-attr]
    paths = [files[i].abspath for i in todo]
    report, close = (reporter(progress, _total_bytes(files[i] for i in todo), len(todo)) if todo
                     else (None, None))
    errors: dict[int, OSError] = {}
    try:
        if tolerant:
            hashed, errs = _hashing.hash_paths_tolerant(paths, workers, report, raw=raw)
            errors = {todo[j]: e for j, e in errs.items()}
        else:
            hashed = _hashing.hash_paths(paths, workers, report, raw=raw)  # type: ignore[assignment]
    finally:
        if close is not None:
            close()
    for i, h in zip(todo, hashed):
        if h is None:
            continue
        st = files[i].st
        if st is not None and (h[1] != st.st_size or h[2] != st.st_mtime_ns):
            if not tolerant:
                raise _changed(files[i].path)
            errors[i] = _changed(files[i].path)
        else:
            out[i] = (h[0], h[1])
    if cache is not None:
        for f, r in zip(files, out):
            if r is not None and f.st is not None:
                cache.record(f.st, r[0], start_ns)
    return out, errors


def _total_bytes(files: Iterable[Found]) -> int:
    """The bytes a progress report counts up to: the walk's sizes, or a stat where it took none
    (a file that cannot be stat'ed counts 0 here and fails when it is hashed)."""
    total = 0
    for f in files:
        try:
            total += (f.st if f.st is not None else os.stat(f.abspath)).st_size
        except OSError:
            pass
    return total


def build_entries(root: str | os.PathLike[str] | bytes, *, workers: int | None,
                  exclude: Matcher, follow_symlinks: bool, cache: HashCache | None,
                  progress: ProgressArg, raw: _hashing.RawHasher | None = None,
                  ) -> list[Entry]:
    """The sorted entries of the tree under ``root``; any unreadable file or directory raises."""
    start_ns = time.time_ns()
    # Without a cache nothing needs the walk's sizes: the hasher measures what it reads.
    found = walk(root, exclude=exclude, follow_symlinks=follow_symlinks,
                 stat_files=cache is not None)
    files = [f for f in found if f.kind == "file"]
    hashed, _ = digest_files(files, workers=workers, cache=cache, start_ns=start_ns,
                             progress=progress, raw=raw)
    entries = [Entry(f.path, "file", h[1], h[0]) for f, h in zip(files, hashed)]  # type: ignore[index]
    entries += [Entry(f.path, "link", len(f.target), target=f.target)  # type: ignore[arg-type]
                for f in found if f.kind == "link"]
    entries.sort(key=lambda e: e.raw_path)
    if cache is not None:
        cache.save()
    return entries
