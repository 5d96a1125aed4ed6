"""Manifest entries and their canonical bytes, the only thing the Merkle root is computed over.

Canonical entry bytes (format version 1), all integers big-endian::

    u32 len(path) || path || kind || u64 size || payload

* ``path``: the path relative to the manifest root as raw bytes (the bytes the file system
  returned), components joined by ``/``; never absolute, no empty, ``.`` or ``..``
  component, no NUL byte.
* ``kind``: one byte, ``b"f"`` for a regular file, ``b"l"`` for a symbolic link.
* ``size``: the file size in bytes; for a link, the length of its target.
* ``payload``: for a file, its 32-byte SHA-256 digest; for a link, ``u32 len(target) || target``
  (the target as the raw bytes ``readlink`` returns).

Leaf hash = ``SHA-256(0x00 || canonical bytes)`` (RFC 6962); entries are sorted by path bytes,
so the root binds every name, kind, size and content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
import struct
from collections.abc import Iterable
from typing import Any, Literal, NamedTuple

__all__ = ["Entry", "ManifestError", "check_relative_path", "decode_bytes_field", "encode_bytes_field",
           "leaf_hashes"]

Kind = Literal["file", "link"]
_KIND_BYTE = {"file": b"f", "link": b"l"}
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ManifestError(ValueError):
    """A manifest or check file that is malformed, truncated or internally inconsistent."""


def check_relative_path(path: bytes) -> None:
    """Raise ``ValueError`` unless ``path`` is a clean relative POSIX path."""
    if not path:
        raise ValueError("empty path")
    if b"\x00" in path:
        raise ValueError(f"path {path!r} contains a NUL byte")
    if path.startswith(b"/"):
        raise ValueError(f"path {path!r} is absolute")
    for part in path.split(b"/"):
        if part in (b"", b".", b".."):
            raise ValueError(f"path {path!r} has an empty, '.' or '..' component")


class Entry(NamedTuple):
    """One regular file (``digest`` set) or symbolic link (``target`` set) of a manifest."""

    raw_path: bytes
    kind: Kind
    size: int
    digest: str | None = None
    target: bytes | None = None

    @property
    def path(self) -> str:
        """The path as ``str`` (``os.fsdecode``: non-UTF-8 bytes become lone surrogates)."""
        return os.fsdecode(self.raw_path)

    def validate(self) -> None:
        """Raise ``ValueError`` naming the first field that is not well formed."""
        check_relative_path(self.raw_path)
        if self.kind not in _KIND_BYTE:
            raise ValueError(f"kind must be 'file' or 'link', got {self.kind!r}")
        if isinstance(self.size, bool) or not isinstance(self.size, int) or not 0 <= self.size < 2**64:
            raise ValueError(f"size must be an integer in [0, 2**64), got {self.size!r}")
        if self.kind == "file":
            if not isinstance(self.digest, str) or not _HEX64.fullmatch(self.digest):
                raise ValueError(f"sha256 must be 64 lowercase hex characters, got {self.digest!r}")
            if self.target is not None:
                raise ValueError("a file entry has no link target")
        else:
            if not isinstance(self.target, bytes) or not self.target:
                raise ValueError(f"a link needs a non-empty target, got {self.target!r}")
            if self.size != len(self.target):
                raise ValueError(f"a link's size is its target length {len(self.target)}, got {self.size}")
            if self.digest is not None:
                raise ValueError("a link entry has no sha256")

    def canonical_bytes(self) -> bytes:
        """The bytes the Merkle leaf is computed over (see the module docstring)."""
        return _canonical(self.raw_path, self.kind, self.size, self.digest, self.target)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = encode_bytes_field("path", self.raw_path)
        out["type"] = self.kind
        if self.kind == "file":
            out["size"] = self.size
            out["sha256"] = self.digest
        else:
            out.update(encode_bytes_field("target", self.target))  # type: ignore[arg-type]
        return out

    @classmethod
    def from_dict(cls, data: Any) -> Entry:
        """Parse one JSON entry; ``ValueError`` names the field that is wrong."""
        if not isinstance(data, dict):
            raise ValueError(f"expected an object, got {type(data).__name__}")
        kind = data.get("type")
        if kind == "file":
            allowed = {"path", "path_b64", "type", "size", "sha256"}
        elif kind == "link":
            allowed = {"path", "path_b64", "type", "target", "target_b64"}
        else:
            raise ValueError(f"'type' must be 'file' or 'link', got {kind!r}")
        unknown = sorted(set(data) - allowed)
        if unknown:
            raise ValueError(f"unknown field(s) {', '.join(map(repr, unknown))} for a {kind}")
        raw_path = decode_bytes_field(data, "path")
        if kind == "file":
            if "size" not in data or "sha256" not in data:
                raise ValueError("a file entry needs 'size' and 'sha256'")
            entry = cls(raw_path, "file", data["size"], digest=data["sha256"])
        else:
            target = decode_bytes_field(data, "target")
            entry = cls(raw_path, "link", len(target), target=target)
        entry.validate()
        return entry


_U32, _U64 = struct.Struct(">I").pack, struct.Struct(">Q").pack


def _canonical(path: bytes, kind: str, size: int, digest: str | None, target: bytes | None) -> bytes:
    if kind == "file":
        return b"".join((_U32(len(path)), path, b"f", _U64(size), bytes.fromhex(digest)))  # type: ignore[arg-type]
    return b"".join((_U32(len(path)), path, b"l", _U64(size), _U32(len(target)), target))  # type: ignore[arg-type]


def leaf_hashes(entries: Iterable[Entry]) -> list[bytes]:
    """``SHA-256(0x00 || canonical bytes)`` of each entry (RFC 6962 leaf hashes), in order."""
    sha, u32, u64, fromhex = hashlib.sha256, _U32, _U64, bytes.fromhex
    # The file case inlined: this loop runs once per file of a tree.
    return [sha(b"".join((b"\x00", u32(len(p)), p, b"f", u64(n), fromhex(d)))).digest()
            if k == "file" else sha(b"\x00" + _canonical(p, k, n, d, t)).digest()
            for p, k, n, d, t in entries]


def encode_bytes_field(name: str, value: bytes) -> dict[str, str]:
    """``{name: text}`` when ``value`` is valid UTF-8, else ``{name + "_b64": base64}``: lossless."""
    try:
        return {name: value.decode("utf-8")}
    except UnicodeDecodeError:
        return {name + "_b64": base64.b64encode(value).decode("ascii")}


def decode_bytes_field(data: dict[str, Any], name: str) -> bytes:
    """Inverse of :func:`encode_bytes_field`; exactly one of the two spellings must be present."""
    text, b64 = data.get(name), data.get(name + "_b64")
    if (text is None) == (b64 is None):
        raise ValueError(f"expected exactly one of {name!r} and {name + '_b64'!r}")
    if text is not None:
        if not isinstance(text, str):
            raise ValueError(f"{name!r} must be a string, got {type(text).__name__}")
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
            raise ValueError(f"{name!r} is not valid Unicode text: {text!r}") from None
    if not isinstance(b64, str):
        raise ValueError(f"{name + '_b64'!r} must be a string, got {type(b64).__name__}")
    try:
        return base64.b64decode(b64, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"{name + '_b64'!r} is not valid base64: {exc}") from None
