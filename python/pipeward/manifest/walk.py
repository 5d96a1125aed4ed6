"""Walk a directory tree the way a manifest sees it: regular files, symbolic links, and
directories to descend into; everything else is skipped with a warning.

Paths stay ``bytes`` end to end so names that are not valid UTF-8 survive unchanged.
"""

from __future__ import annotations

import fnmatch
import os
import re
import stat
import warnings
from pathlib import Path
from collections.abc import Iterable
from typing import Literal, NamedTuple

__all__ = ["Found", "ManifestWarning", "Matcher", "exact_pattern", "relative_inside", "walk"]


class ManifestWarning(UserWarning):
    """Something in the tree was left out of the manifest (a special file, a broken link)."""


class Found(NamedTuple):
    """One entry of the tree: ``path`` relative (``/``-joined bytes), ``abspath`` to open."""

    path: bytes
    abspath: bytes
    kind: Literal["file", "link"]
    st: os.stat_result | None  # None for links, and for files when the walk was asked not to stat
    target: bytes | None = None


class Matcher:
    """``exclude`` patterns (``fnmatch``, case-sensitive). A pattern containing ``/`` matches
    the whole relative path; one without matches any single name, like ``.gitignore``.
    An excluded directory is not descended into."""

    def __init__(self, patterns: Iterable[str]) -> None:
        self.patterns = tuple(patterns)
        for p in self.patterns:
            if not isinstance(p, str) or not p:
                raise TypeError(f"exclude patterns must be non-empty strings, got {p!r}")
        full = [fnmatch.translate(p) for p in self.patterns if "/" in p]
        name = [fnmatch.translate(p) for p in self.patterns if "/" not in p]
        self._full = re.compile("|".join(full)) if full else None
        self._name = re.compile("|".join(name)) if name else None

    def __call__(self, rel: bytes, name: bytes) -> bool:
        if self._name is not None and self._name.match(os.fsdecode(name)):
            return True
        return self._full is not None and self._full.match(os.fsdecode(rel)) is not None


def exact_pattern(rel: str) -> str:
    """A pattern matching exactly the relative path ``rel`` (``fnmatch`` specials escaped)."""
    return "".join(f"[{c}]" if c in "*?[" else c for c in rel)


def relative_inside(path: str | bytes | os.PathLike[str], root: str | bytes | os.PathLike[str]) -> str | None:
    """``path`` relative to ``root`` (POSIX) when it lies inside it, else None."""
    p, r = os.path.realpath(os.fsdecode(path)), os.path.realpath(os.fsdecode(root))
    rel = os.path.relpath(p, r)
    return None if rel == os.curdir or rel.startswith(os.pardir) else Path(rel).as_posix()


def _warn(msg: str) -> None:
    warnings.warn(msg, ManifestWarning, stacklevel=4)


def walk(root: str | bytes | os.PathLike[str], *, exclude: Matcher, follow_symlinks: bool,
         dir_errors: list[tuple[bytes, OSError]] | None = None,
         stat_files: bool = True) -> list[Found]:
    """Every regular file and link under ``root`` (the root itself is always followed).

    An unreadable directory raises, unless ``dir_errors`` is given to collect it. Entries that
    vanish while walking are left out: they are no longer part of the tree. With
    ``follow_symlinks``, a link whose target is missing or loops is kept as a link (warned),
    and a link back to a directory being walked is kept as a link instead of looping.
    ``stat_files=False`` saves a system call per file when nobody needs the walk's sizes.
    """
    root_b = os.fsencode(root)
    root_st = os.stat(root_b)
    if not stat.S_ISDIR(root_st.st_mode):
        raise NotADirectoryError(20, "not a directory", os.fsdecode(root_b))
    found: list[Found] = []
    match = exclude if exclude.patterns else None
    # (absolute dir, relative prefix, (dev, inode) of the dirs above: loop detection)
    stack: list[tuple[bytes, bytes, frozenset[tuple[int, int]]]] = [
        (root_b, b"", frozenset({(root_st.st_dev, root_st.st_ino)}))]
    while stack:
        dir_abs, prefix, above = stack.pop()
        try:
            with os.scandir(dir_abs) as it:
                children = list(it)
        except FileNotFoundError:
            continue
        except OSError as exc:
            if dir_errors is None:
                raise
            dir_errors.append((prefix.rstrip(b"/"), exc))
            continue
        for de in children:
            rel = prefix + de.name
            if match is not None and match(rel, de.name):
                continue
            try:
                if de.is_file(follow_symlinks=False):  # the common case, no extra call
                    st = de.stat(follow_symlinks=False) if stat_files else None
                    found.append(Found(rel, de.path, "file", st))
                else:
                    _visit(de, rel, above, follow_symlinks, found, stack)
            except FileNotFoundError:
                continue
    return found


def _visit(de: os.DirEntry[bytes], rel: bytes, above: frozenset[tuple[int, int]],
           follow: bool, found: list[Found], stack: list) -> None:
    if de.is_symlink():
        target = os.readlink(de.path)
        if not follow:
            found.append(Found(rel, de.path, "link", None, target))
            return
        try:
            st = os.stat(de.path)
        except OSError as exc:  # missing target (ENOENT) or a loop of links (ELOOP)
            _warn(f"{os.fsdecode(rel)!r}: cannot follow the link ({exc.strerror}); recorded as a link")
            found.append(Found(rel, de.path, "link", None, target))
            return
        if stat.S_ISDIR(st.st_mode):
            ident = (st.st_dev, st.st_ino)
            if ident in above:
                _warn(f"{os.fsdecode(rel)!r}: link to a directory above it (a loop); recorded as a link")
                found.append(Found(rel, de.path, "link", None, target))
            else:
                stack.append((de.path, rel + b"/", above | {ident}))
        elif stat.S_ISREG(st.st_mode):
            found.append(Found(rel, de.path, "file", st))
        else:
            _warn(f"{os.fsdecode(rel)!r}: link to a special file, skipped")
        return
    if de.is_dir(follow_symlinks=False):
        if follow:  # identities are only needed to catch loops through links
            st = de.stat(follow_symlinks=False)
            stack.append((de.path, rel + b"/", above | {(st.st_dev, st.st_ino)}))
        else:
            stack.append((de.path, rel + b"/", above))
    elif de.is_file(follow_symlinks=False):
        found.append(Found(rel, de.path, "file", de.stat(follow_symlinks=False)))
    else:
        _warn(f"{os.fsdecode(rel)!r}: not a regular file, directory or link; skipped")
