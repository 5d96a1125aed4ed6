"""Compare a manifest with a directory tree and say exactly what changed.

Sizes and link targets are compared first, so a file whose size changed is reported without
reading it; only same-size files are hashed (plus new files whose size matches a missing one,
to recognise renames). Problems reading the tree are results in ``errors``, never exceptions.
"""

from __future__ import annotations

import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .._progress import ProgressArg
from ._hashing import RawHasher
from .build import digest_files
from .cache import HashCache
from .entries import Entry
from .walk import Found, Matcher, walk

__all__ = ["NotTheTreeError", "Verification", "compare_tree"]


class NotTheTreeError(ValueError):
    """The directory does not look like the manifest's tree at all (most listed entries absent
    and more unlisted ones than listed ones present): a wrong ``--dir``, not a changed tree."""


@dataclass(frozen=True)
class Verification:
    """What differs between a manifest and a tree; ``ok`` when nothing does.

    Paths are ``str`` (``os.fsdecode`` of the raw names), sorted by their bytes.
    ``renamed`` holds ``(old, new)`` pairs whose content (or link target) is unchanged;
    ``reasons`` says why each modified path differs; ``errors`` holds ``(path, message)`` for
    files or directories that could not be read (unverified, so not ``ok``).
    """

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    modified: tuple[str, ...] = ()
    renamed: tuple[tuple[str, str], ...] = ()
    errors: tuple[tuple[str, str], ...] = ()
    reasons: Mapping[str, str] = field(default_factory=dict)
    checked: int = 0

    @property
    def ok(self) -> bool:
        return not (self.added or self.removed or self.modified or self.renamed or self.errors)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "checked": self.checked,
            "added": list(self.added),
            "removed": list(self.removed),
            "modified": [{"path": p, "reason": self.reasons.get(p, "")} for p in self.modified],
            "renamed": [{"from": a, "to": b} for a, b in self.renamed],
            "errors": [{"path": p, "error": m} for p, m in self.errors],
        }


def _message(exc: OSError) -> str:
    return exc.strerror or str(exc)


def _is_under(path: bytes, dirs: Sequence[bytes]) -> bool:
    return any(d == b"" or path == d or path.startswith(d + b"/") for d in dirs)


def _rename_key(kind: str, size: int, digest: str | None, target: bytes | None) -> tuple:
    return (kind, size, digest, target)


# Below this many strangers hashing them costs little and the answer (a list of changes) is
# still readable, so the guard stays out of the way of small trees and their edits.
MIN_STRANGERS = 32


def _check_same_tree(root: object, listed: int, kept: int, strangers: int) -> None:
    # A tree with most files deleted still verifies (as removals), and so does one with files
    # added or renamed (an unlisted file the size of a missing one may be a rename: it counts as
    # kept); only "most entries gone AND more strangers than survivors" is another tree.
    if listed and 2 * kept < listed and strangers > kept and strangers >= MIN_STRANGERS:
        where = os.fsdecode(root) if isinstance(root, (str, bytes, os.PathLike)) else str(root)
        raise NotTheTreeError(
            f"{where!r} does not look like the manifest's tree: {kept} of its {listed} entries "
            f"are there and {strangers} unlisted files are; give the tree's directory (--dir), "
            "or --any-tree to compare anyway")


def compare_tree(entries: Sequence[Entry], root: str | os.PathLike[str] | bytes, *,
                 exclude: Matcher, follow_symlinks: bool, workers: int | None = None,
                 cache: HashCache | None = None, progress: ProgressArg = False,
                 raw: RawHasher | None = None, any_tree: bool = True) -> Verification:
    """Verify the tree under ``root`` against ``entries`` (walked with the manifest's options;
    ``raw`` hashes the files, see build.digest_files). Unless ``any_tree``, a directory that is
    plainly another tree raises :class:`NotTheTreeError` before anything is hashed."""
    start_ns = time.time_ns()
    dir_errors: list[tuple[bytes, OSError]] = []
    found = walk(root, exclude=exclude, follow_symlinks=follow_symlinks, dir_errors=dir_errors)
    bad_dirs = [d for d, _ in dir_errors]
    errors: dict[bytes, str] = {d or b".": f"cannot list directory: {_message(e)}" for d, e in dir_errors}
    expected = {e.raw_path: e for e in entries}
    current = {f.path: f for f in found}

    removed: list[bytes] = []
    modified: dict[bytes, str] = {}
    to_hash: list[tuple[Found, Entry | None]] = []
    for path, e in expected.items():
        f = current.get(path)
        if f is None:
            if not _is_under(path, bad_dirs):
                removed.append(path)
        elif f.kind != e.kind:
            modified[path] = f"was a {e.kind}, now a {f.kind}"
        elif e.kind == "link":
            if f.target != e.target:
                modified[path] = "link target changed"
        elif f.st.st_size != e.size:
            modified[path] = f"size {e.size} -> {f.st.st_size}"
        else:
            to_hash.append((f, e))
    added = [p for p in current if p not in expected]
    missing_sizes = {expected[p].size for p in removed if expected[p].kind == "file"}
    if not any_tree:
        maybe_renamed = min(len(removed), sum(current[p].kind == "file"
                                              and current[p].st.st_size in missing_sizes
                                              for p in added))
        kept = len(expected) - len(removed) + maybe_renamed
        _check_same_tree(root, len(expected), kept, len(added) - maybe_renamed)
    to_hash += [(current[p], None) for p in added
                if current[p].kind == "file" and current[p].st.st_size in missing_sizes]

    digests, hash_errors = digest_files([f for f, _ in to_hash], workers=workers, cache=cache,
                                        start_ns=start_ns, progress=progress, tolerant=True,
                                        raw=raw)
    if cache is not None:
        cache.save()
    new_digest: dict[bytes, str] = {}
    for i, ((f, e), d) in enumerate(zip(to_hash, digests)):
        if i in hash_errors:
            exc = hash_errors[i]
            if isinstance(exc, FileNotFoundError):  # vanished while we looked
                (removed.append(f.path) if e is not None else added.remove(f.path))
            else:
                errors[f.path] = _message(exc)
        elif e is None:
            new_digest[f.path] = d[0]  # type: ignore[index]
        elif d[0] != e.digest:  # type: ignore[index]
            modified[f.path] = "content changed"

    # A rename is a missing entry and a new one with the same kind, size and digest/target.
    pool: dict[tuple, list[bytes]] = {}
    for p in sorted(removed):
        e = expected[p]
        pool.setdefault(_rename_key(e.kind, e.size, e.digest, e.target), []).append(p)
    renamed: list[tuple[bytes, bytes]] = []
    for p in sorted(added):
        f = current[p]
        if f.kind == "file":
            if p not in new_digest:
                continue
            key = _rename_key("file", f.st.st_size, new_digest[p], None)
        else:
            key = _rename_key("link", len(f.target), None, f.target)  # type: ignore[arg-type]
        if pool.get(key):
            renamed.append((pool[key].pop(0), p))
    gone = {a for a, _ in renamed} | {b for _, b in renamed}

    dec = os.fsdecode
    return Verification(
        added=tuple(dec(p) for p in sorted(added) if p not in gone),
        removed=tuple(dec(p) for p in sorted(removed) if p not in gone),
        modified=tuple(dec(p) for p in sorted(modified)),
        renamed=tuple((dec(a), dec(b)) for a, b in sorted(renamed)),
        errors=tuple((dec(p), m) for p, m in sorted(errors.items())),
        reasons={dec(p): r for p, r in modified.items()},
        checked=len(expected),
    )
