"""HMAC-SHA256 as RFC 2104 writes it, on the reference SHA-256: the readable spec the batched
native tokens are tested against (slow: for tests and reading)."""

from __future__ import annotations

from .sha256 import sha256_digest

BLOCK = 64


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """``H((K' ^ opad) || H((K' ^ ipad) || message))`` with ``K'`` the key hashed when longer
    than a block, then zero-padded to 64 bytes."""
    if len(key) > BLOCK:
        key = sha256_digest(key)
    key = key.ljust(BLOCK, b"\x00")
    inner = sha256_digest(bytes(k ^ 0x36 for k in key) + message)
    return sha256_digest(bytes(k ^ 0x5C for k in key) + inner)


def tokens(values: list[str | None], key: bytes, length: int = 64) -> list[str | None]:
    """The first ``length`` hex digits of the HMAC of each value's UTF-8 (None stays None)."""
    return [None if v is None else hmac_sha256(key, v.encode("utf-8")).hex()[:length] for v in values]
