"""The one place manifests hash files: the native parallel ``hash_files_raw``, which gives for
each file its digest with the size and mtime of the bytes it hashed (``fstat`` on the
descriptor it read, so a manifest's size and digest always describe the same content), or the
error for that file alone."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from ..hashing import FileChangedError, file_error, first_failure, hash_files_raw, interruptible

__all__ = ["FileChangedError", "RawHasher", "hash_paths", "hash_paths_tolerant"]

Hashed = tuple[str, int, int]  # (hex digest, size, mtime_ns) of what was read
Progress = Callable[[int, int], None]  # called with the bytes and files hashed so far
# A hasher with hash_files_raw's signature, (paths, workers, keep_going=) -> per file (digest,
# size, mtime, error code, changed); None means hash_files_raw itself, looked up at call time.
# pipeward.dask passes one that hashes on its workers.
RawHasher = Callable[..., list]


def _hash_batches(paths: Sequence[bytes], workers: int | None, on_progress: Progress | None,
                  keep_going: bool, raw: RawHasher | None = None,
                  ) -> list[tuple[bytes, int, int, int, bool]]:
    """One native call for the whole list; with ``on_progress`` (called with the bytes and
    files hashed so far) the native hasher reports its bytes as it reads, so one huge file moves the bar too.
    A custom ``raw`` hasher (Dask) has no byte counter: it reports after each batch."""
    if on_progress is None:
        out = (raw or hash_files_raw)(list(paths), workers, keep_going=keep_going)
    elif raw is None:
        out = interruptible(lambda prog: hash_files_raw(list(paths), workers, progress=prog,
                                                        keep_going=keep_going),
                            tick=lambda prog: on_progress(prog.bytes_done, prog.files_done))
        on_progress(sum(r[1] for r in out), len(out))
    else:
        out, done = [], 0
        for lo in range(0, len(paths), 1024):
            chunk = raw(list(paths[lo:lo + 1024]), workers, keep_going=keep_going)
            out.extend(chunk)
            done += sum(r[1] for r in chunk)
            on_progress(done, len(out))
    if not keep_going:
        error = first_failure(list(paths), out)
        if error is not None:
            raise error
    return out


def hash_paths(paths: Sequence[bytes], workers: int | None = None,
               on_progress: Progress | None = None, raw: RawHasher | None = None,
               ) -> list[Hashed]:
    """``(hex SHA-256, size, mtime_ns)`` of each file, in order; raises the first ``OSError``
    (it names the path; ``FileChangedError`` when a file changed while it was read)."""
    return [(d.hex(), size, mtime) for d, size, mtime, _, _ in
            _hash_batches(paths, workers, on_progress, keep_going=False, raw=raw)]


def hash_paths_tolerant(paths: Sequence[bytes], workers: int | None = None,
                        on_progress: Progress | None = None, raw: RawHasher | None = None,
                        ) -> tuple[list[Hashed | None], dict[int, OSError]]:
    """Like :func:`hash_paths`, but a file that cannot be hashed becomes an error for its index
    instead of stopping the others: ``(results with None where it failed, {index: error})``."""
    results: list[Hashed | None] = []
    errors: dict[int, OSError] = {}
    hashed = _hash_batches(paths, workers, on_progress, keep_going=True, raw=raw)
    for i, (d, size, mtime, code, changed) in enumerate(hashed):
        if changed or code:
            errors[i] = file_error(code, changed, paths[i])
            results.append(None)
        else:
            results.append((d.hex(), size, mtime))
    return results, errors
