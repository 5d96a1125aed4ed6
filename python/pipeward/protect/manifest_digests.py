"""Manifests of encrypted trees: for each age-encrypted file, the SHA-256 of its ciphertext
(what the manifest's entries record, so ``verify`` needs no key) and of its plaintext, in one
read of the file; other files are hashed as usual."""

from __future__ import annotations

import errno
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

from ..manifest.entries import Entry, decode_bytes_field, encode_bytes_field
from ..manifest.walk import Matcher, walk
from ..hashing import FileChangedError, Sha256
from .encryption import plaintext_chunks
from .header import FORMATS
from .keys import IdentityLike, load_identities
from .stream import Source

__all__ = ["PlaintextDigest", "build_encrypted_entries", "digest_encrypted_file"]


class PlaintextDigest(NamedTuple):
    """The decrypted content of one encrypted manifest entry."""

    raw_path: bytes
    size: int
    digest: str

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = encode_bytes_field("path", self.raw_path)
        out.update(size=self.size, sha256=self.digest)
        return out

    @classmethod
    def from_dict(cls, data: Any) -> PlaintextDigest:
        if not isinstance(data, dict) or set(data) - {"path", "path_b64", "size", "sha256"}:
            raise ValueError(f"a plaintext record has 'path', 'size' and 'sha256', got {data!r}")
        entry = Entry(decode_bytes_field(data, "path"), "file", data.get("size"), data.get("sha256"))
        entry.validate()
        return cls(entry.raw_path, entry.size, entry.digest)  # type: ignore[arg-type]


_INTROS = tuple(f + b"\n" for f in FORMATS)
_PEEK = max(len(i) for i in _INTROS)


def digest_encrypted_file(path: str | bytes | os.PathLike[str], identities: Any,
                          ) -> tuple[str, int, str | None, int | None]:
    """``(ciphertext SHA-256, size, plaintext SHA-256, size)`` in one read; the plaintext pair
    is None when the file is not age-encrypted. A file that does not decrypt raises
    ``DecryptError`` naming it; one that changes while read raises ``FileChangedError``."""
    cipher_hash = Sha256()
    with open(path, "rb") as f:
        before = os.fstat(f.fileno())
        head = f.read(_PEEK)
        if not head.startswith(_INTROS):
            cipher_hash.update(head)
            size = len(head)
            while block := f.read(1 << 20):
                cipher_hash.update(block)
                size += len(block)
            plain = None
        else:
            source = Source(f, on_read=cipher_hash.update)
            source.push_back(head)
            plain_hash, plain_size = Sha256(), 0
            try:
                for chunk in plaintext_chunks(f, identity=identities, source=source):
                    plain_hash.update(chunk)
                    plain_size += len(chunk)
            except ValueError as exc:
                raise type(exc)(f"{os.fsdecode(path)}: {exc}") from None
            size = before.st_size
            plain = (plain_hash.hexdigest(), plain_size)
        after = os.fstat(f.fileno())
    if (after.st_size, after.st_mtime_ns) != (before.st_size, before.st_mtime_ns):
        raise FileChangedError(errno.EAGAIN, "file changed while it was read", os.fsdecode(path))
    return cipher_hash.hexdigest(), size, *(plain or (None, None))


def build_encrypted_entries(root: str | os.PathLike[str], identity: IdentityLike | Iterable[IdentityLike],
                            *, workers: int | None, exclude: Matcher, follow_symlinks: bool,
                            ) -> tuple[list[Entry], list[PlaintextDigest]]:
    """Manifest entries (ciphertext digests) of the tree and the plaintext digests of its
    encrypted files, files read once each on ``workers`` threads."""
    identities = load_identities(identity)
    found = walk(root, exclude=exclude, follow_symlinks=follow_symlinks, stat_files=False)
    files = [f for f in found if f.kind == "file"]
    with ThreadPoolExecutor(max_workers=workers or os.cpu_count() or 1) as pool:
        digests = list(pool.map(lambda f: digest_encrypted_file(f.abspath, identities), files))
    entries = [Entry(f.path, "file", d[1], d[0]) for f, d in zip(files, digests)]
    entries += [Entry(f.path, "link", len(f.target), target=f.target)  # type: ignore[arg-type]
                for f in found if f.kind == "link"]
    plaintext = [PlaintextDigest(f.path, d[3], d[2]) for f, d in zip(files, digests)  # type: ignore[arg-type]
                 if d[2] is not None]
    return entries, plaintext
