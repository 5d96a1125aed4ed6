"""A digest cache for incremental re-hashing.

A file's digest is reused when its ``(device, inode, size, mtime_ns, ctime_ns)`` are all
unchanged. ``ctime`` cannot be set from user space, so an edit that restores ``mtime`` (``touch
-d``) still misses the cache. A digest is only stored when the file's mtime and ctime are older
than the build's start by more than :data:`RACY_WINDOW_NS`: a file written in the same clock
tick as it was hashed could change again without its timestamps moving (git's "racy clean"
problem), so such files are hashed again next time.

The cache is a JSON file replaced atomically; it holds what the last build saw, so use one cache
per tree. A pipeward cache that cannot be used is ignored with a warning (it only costs time),
but a file that is not a pipeward cache at all is never written over (a mistyped ``--cache``
must not destroy a key or a dataset): that is a :class:`~pipeward.manifest.ManifestError`. The
cache is trusted like the tree itself: whoever can write it can make a build record wrong digests.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path

from .._files import write_new_file
from .entries import ManifestError
from .walk import ManifestWarning

__all__ = ["RACY_WINDOW_NS", "HashCache"]

RACY_WINDOW_NS = 2_000_000_000  # covers coarse file-system clocks (FAT: 2 s)
_FORMAT = "pipeward-hash-cache"
_VERSION = 1

Key = tuple[int, int, int, int, int]


def cache_key(st: os.stat_result) -> Key:
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class HashCache:
    """Digests keyed on ``(device, inode, size, mtime_ns, ctime_ns)``, stored at ``path``."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(os.fsdecode(path))
        self._loaded = False  # True once an existing, valid cache file was read
        self._old: dict[Key, str] = self._read()
        self._new: dict[Key, str] = {}
        self.hits = 0

    def _read(self) -> dict[Key, str]:
        try:
            raw = self.path.read_bytes()
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ManifestError(f"cannot read the hash cache {str(self.path)!r}: {exc}") from None
        if not raw:
            return {}  # an empty file (mktemp) holds nothing to lose
        try:
            data = json.loads(raw)
        except (ValueError, RecursionError):
            data = None
        if not isinstance(data, dict) or data.get("format") != _FORMAT:
            raise ManifestError(f"{str(self.path)!r} exists and is not a pipeward hash cache; "
                                "refusing to write over it (give a new file or a cache path)")
        try:
            if data.get("version") != _VERSION:
                raise ValueError(f"version {data.get('version')!r}, expected {_VERSION}")
            old = {tuple(map(int, row[:5])): str(row[5]) for row in data["entries"]}  # type: ignore[misc]
            self._loaded = True
            return old
        except (AttributeError, KeyError, TypeError, ValueError, IndexError) as exc:
            warnings.warn(f"ignoring the hash cache {str(self.path)!r}: {exc}", ManifestWarning,
                          stacklevel=3)
            return {}

    def lookup(self, st: os.stat_result) -> str | None:
        digest = self._old.get(cache_key(st))
        if digest is not None:
            self.hits += 1
        return digest

    def record(self, st: os.stat_result, digest: str, start_ns: int) -> None:
        """Remember ``digest`` unless the file changed too close to ``start_ns`` to be trusted."""
        if max(st.st_mtime_ns, st.st_ctime_ns) < start_ns - RACY_WINDOW_NS:
            self._new[cache_key(st)] = digest

    def save(self) -> None:
        """Write what this build recorded (stale entries drop out), atomically; an unchanged
        cache is left as it is, so re-checking an unchanged tree writes nothing."""
        if self._loaded and self._new == self._old:
            return
        rows = [[*k, d] for k, d in self._new.items()]
        payload = json.dumps({"format": _FORMAT, "version": _VERSION, "entries": rows},
                             separators=(",", ":")).encode()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        write_new_file(self.path, payload, 0o600, overwrite=True)
