"""GNU ``sha256sum`` check files: write them, read them back, verify a tree against one.

Format (coreutils 9): one line per file, ``<64 hex>  <name>`` (two spaces: text mode; ``" *"``
marks binary mode, identical on POSIX). A name containing a backslash, line feed or carriage
return is escaped as ``\\\\``, ``\\n``, ``\\r`` and its line starts with a backslash. Names are
raw bytes, so any file name round-trips. The BSD style that ``sha256sum --tag`` writes,
``SHA256 (<name>) = <64 hex>``, is read too. Only regular files are listed: ``sha256sum -c``
has no notion of a symbolic link.
"""

from __future__ import annotations

import os
import re
import stat
import time
from collections.abc import Iterable

from .build import digest_files
from .entries import Entry, ManifestError, check_relative_path
from .verify import Verification
from .walk import Found

__all__ = ["format_checkfile", "parse_checkfile", "verify_checkfile"]

_GNU = re.compile(rb"([0-9a-fA-F]{64}) [ *](.+)", re.DOTALL)
_TAG = re.compile(rb"SHA256 \((.+)\) = ([0-9a-fA-F]{64})", re.DOTALL)
_UNESCAPE = {b"\\": b"\\", b"n": b"\n", b"r": b"\r"}


def _escape(name: bytes) -> tuple[bool, bytes]:
    if not any(c in name for c in (b"\\", b"\n", b"\r")):
        return False, name
    return True, name.replace(b"\\", b"\\\\").replace(b"\n", b"\\n").replace(b"\r", b"\\r")


def _unescape(name: bytes, lineno: int) -> bytes:
    out, i = bytearray(), 0
    while i < len(name):
        c = name[i:i + 1]
        if c == b"\\":
            nxt = name[i + 1:i + 2]
            if nxt not in _UNESCAPE:
                raise ManifestError(f"check file line {lineno}: bad escape {(c + nxt)!r} in the name")
            out += _UNESCAPE[nxt]
            i += 2
        else:
            out += c
            i += 1
    return bytes(out)


def format_checkfile(entries: Iterable[Entry]) -> bytes:
    """``sha256sum`` lines for the file entries, in the order given."""
    lines = []
    for e in entries:
        if e.kind != "file":
            continue
        escaped, name = _escape(e.raw_path)
        lines.append((b"\\" if escaped else b"") + e.digest.encode() + b"  " + name + b"\n")  # type: ignore[union-attr]
    return b"".join(lines)


def parse_checkfile(data: bytes) -> list[tuple[bytes, str]]:
    """``[(raw path, lowercase hex digest)]`` from check-file bytes; a malformed line is a
    ``ManifestError`` naming its number. Paths must be relative (a leading ``./`` is dropped)."""
    if not isinstance(data, (bytes, bytearray)):
        raise TypeError(f"expected the check file's bytes, got {type(data).__name__}")
    out: list[tuple[bytes, str]] = []
    seen: set[bytes] = set()
    lines = bytes(data).split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    for lineno, line in enumerate(lines, 1):
        line = line.removesuffix(b"\r")  # written on Windows
        escaped = line.startswith(b"\\")
        body = line[1:] if escaped else line
        m = _GNU.fullmatch(body)
        if m:
            digest, name = m.group(1), m.group(2)
        elif (t := _TAG.fullmatch(body)):
            name, digest = t.group(1), t.group(2)
        else:
            raise ManifestError(f"check file line {lineno}: expected '<64 hex digits>  <name>' or "
                                f"'SHA256 (<name>) = <64 hex digits>', got {line[:80]!r}")
        if escaped:
            name = _unescape(name, lineno)
        while name.startswith(b"./"):
            name = name[2:]
        try:
            check_relative_path(name)
        except ValueError as exc:
            raise ManifestError(f"check file line {lineno}: {exc}") from None
        if name in seen:
            raise ManifestError(f"check file line {lineno}: {name!r} is listed twice")
        seen.add(name)
        out.append((name, digest.decode().lower()))
    return out


def verify_checkfile(checkfile: bytes | str | os.PathLike[str], root: str | os.PathLike[str] | bytes,
                     *, workers: int | None = None, allow_empty: bool = False) -> Verification:
    """Check every file a ``sha256sum`` check file lists, under ``root`` (links are followed,
    as ``sha256sum -c`` does). A check file lists what it lists, so nothing is ever ``added``.
    ``checkfile`` is its bytes or a path to it.

    A check file that lists nothing proves nothing, so it is a ``ManifestError`` unless
    ``allow_empty`` says an empty list is what was meant."""
    if isinstance(checkfile, (bytes, bytearray)):
        data = bytes(checkfile)
    else:
        with open(checkfile, "rb") as fh:
            data = fh.read()
    listed = parse_checkfile(data)
    if not listed and not allow_empty:
        raise ManifestError("the check file lists no files, so it cannot show that anything is "
                            "intact (an empty list on purpose: allow_empty=True)")
    root_b = os.fsencode(root)
    if not os.path.isdir(root_b):
        raise NotADirectoryError(20, "not a directory", os.fsdecode(root_b))
    removed: list[bytes] = []
    errors: dict[bytes, str] = {}
    found: list[Found] = []
    want: list[str] = []
    start_ns = time.time_ns()
    for name, digest in listed:
        abspath = os.path.join(root_b, name)
        try:
            st = os.stat(abspath)
        except FileNotFoundError:
            removed.append(name)
            continue
        except OSError as exc:
            errors[name] = exc.strerror or str(exc)
            continue
        if not stat.S_ISREG(st.st_mode):
            errors[name] = "not a regular file"
            continue
        found.append(Found(name, abspath, "file", st))
        want.append(digest)
    digests, errs = digest_files(found, workers=workers, cache=None, start_ns=start_ns,
                                 progress=False, tolerant=True)
    modified: list[bytes] = []
    for i, (f, d, w) in enumerate(zip(found, digests, want)):
        if i in errs:
            if isinstance(errs[i], FileNotFoundError):
                removed.append(f.path)
            else:
                errors[f.path] = errs[i].strerror or str(errs[i])
        elif d[0] != w:  # type: ignore[index]
            modified.append(f.path)
    dec = os.fsdecode
    return Verification(
        removed=tuple(dec(p) for p in sorted(removed)),
        modified=tuple(dec(p) for p in sorted(modified)),
        errors=tuple((dec(p), m) for p, m in sorted(errors.items())),
        reasons={dec(p): "content changed" for p in modified},
        checked=len(listed),
    )
