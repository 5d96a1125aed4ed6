"""Ed25519 keys and signatures, through `cryptography`.

Keys travel as PEM: private keys as unencrypted PKCS#8 (written with mode 0600), public keys
as SubjectPublicKeyInfo. Every function that takes a key accepts the key object, PEM bytes,
or a path to a PEM file. Key files follow one naming scheme (OpenSSH's): the private key
``NAME.pem``, its public key ``NAME.pem.pub`` beside it (``pipeward keygen``, ``save_keypair``
callers and the demo all use it). Where a public key is asked for, a private key is refused.
"""

from __future__ import annotations

import errno
import hashlib
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Union

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from ._files import write_new_file

__all__ = [
    "KeyLike",
    "generate_keypair",
    "key_id",
    "load_private_key",
    "load_public_key",
    "load_public_keys",
    "save_keypair",
    "sign",
    "verify",
]

KeyLike = Union[Ed25519PrivateKey, Ed25519PublicKey, bytes, str, "os.PathLike[str]"]


def _pem_bytes(key: bytes | str | os.PathLike[str], what: str) -> bytes:
    if isinstance(key, bytes):
        return key
    if isinstance(key, str) and key.lstrip().startswith("-----BEGIN"):
        return key.encode()
    path = Path(key)
    try:
        return path.read_bytes()
    except OSError as exc:
        raise OSError(exc.errno, f"cannot read the {what} key file: {exc.strerror}", str(path)) from None


def load_private_key(key: KeyLike) -> Ed25519PrivateKey:
    """An Ed25519 private key from a key object, PEM bytes/text or a PEM file."""
    if isinstance(key, Ed25519PrivateKey):
        return key
    if isinstance(key, Ed25519PublicKey):
        raise TypeError("expected an Ed25519 private key, got a public key")
    if not isinstance(key, (bytes, str, os.PathLike)):
        raise TypeError(f"expected an Ed25519 private key, PEM bytes or a path, got {type(key).__name__}")
    pem = _pem_bytes(key, "private")
    try:
        loaded = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a readable unencrypted PEM private key: {exc}") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise TypeError(f"expected an Ed25519 private key, got {type(loaded).__name__}")
    return loaded


def load_public_key(key: KeyLike) -> Ed25519PublicKey:
    """An Ed25519 public key from a key object, PEM bytes/text or a PEM file.

    A private key is refused (``ValueError``), whatever form it comes in: where a public key is
    asked for, a verifier is checking someone else's signature, and one holding the private key
    could have made that signature itself, so "valid" would prove nothing."""
    if isinstance(key, Ed25519PublicKey):
        return key
    if isinstance(key, Ed25519PrivateKey):
        raise ValueError(_PRIVATE_GIVEN.format(what="an Ed25519 private key object"))
    if not isinstance(key, (bytes, str, os.PathLike)):
        raise TypeError(f"expected an Ed25519 public key, PEM bytes or a path, got {type(key).__name__}")
    pem = _pem_bytes(key, "public")
    if b"PRIVATE KEY-----" in pem:
        what = "PEM data" if isinstance(key, bytes) or str(key).lstrip().startswith("-----") \
            else repr(os.fspath(key))
        raise ValueError(_PRIVATE_GIVEN.format(what=what))
    try:
        loaded = serialization.load_pem_public_key(pem)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"not a readable PEM public key: {exc}") from None
    if not isinstance(loaded, Ed25519PublicKey):
        raise TypeError(f"expected an Ed25519 public key, got {type(loaded).__name__}")
    return loaded


def load_public_keys(keys: KeyLike | Sequence[KeyLike]) -> list[Ed25519PublicKey]:
    """One public key or several (a key rotation: whatever any of them signed is accepted),
    each read by :func:`load_public_key`, so a private key among them is refused; an empty
    list is a ``ValueError``."""
    if isinstance(keys, (bytes, str, os.PathLike)) or not isinstance(keys, Sequence):
        return [load_public_key(keys)]
    if not keys:
        raise ValueError("expected at least one public key, got an empty list")
    return [load_public_key(k) for k in keys]


_PRIVATE_GIVEN = ("{what} is a private key, where a public key is needed: pass the public key "
                  "(`pipeward keygen -o NAME.pem` writes it as NAME.pem.pub); a verifier must never "
                  "hold the private key")


def generate_keypair() -> tuple[bytes, bytes]:
    """A new Ed25519 key pair as ``(private_pem, public_pem)``."""
    private = Ed25519PrivateKey.generate()
    private_pem = private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return private_pem, public_pem(private.public_key())


def public_pem(key: Ed25519PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)


def save_keypair(private_path: str | os.PathLike[str], public_path: str | os.PathLike[str], *,
                 overwrite: bool = False) -> str:
    """Generate a key pair and write it as PEM files; returns the key id.

    Each file is written to a new file in its folder (``O_CREAT|O_EXCL|O_NOFOLLOW``, the private
    key at mode 0600) and then renamed into place, so a key never lands in a file that already
    existed: not through a planted symbolic link, and not keeping an old file's 0644 mode.
    Without ``overwrite`` an existing file (or link) at either path is a ``FileExistsError``.
    """
    if not overwrite:
        for path in (private_path, public_path):
            if os.path.lexists(path):
                raise FileExistsError(errno.EEXIST, "file exists", os.fspath(path))
    private_pem, pub_pem = generate_keypair()
    write_new_file(private_path, private_pem, 0o600, overwrite=overwrite)
    write_new_file(public_path, pub_pem, 0o644, overwrite=overwrite)
    return key_id(load_public_key(pub_pem))


def key_id(key: KeyLike) -> str:
    """SHA-256 (hex) of the raw 32-byte public key: a short, stable name for a key (a private
    key, object or PEM, is named by its public half: naming a key verifies nothing)."""
    if isinstance(key, Ed25519PrivateKey):
        public = key.public_key()
    elif isinstance(key, (bytes, str, os.PathLike)) and b"PRIVATE KEY-----" in _pem_bytes(key, "key"):
        public = load_private_key(_pem_bytes(key, "key")).public_key()
    else:
        public = load_public_key(key)
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()


def sign(private_key: KeyLike, message: bytes) -> bytes:
    """Ed25519 signature (64 bytes) of ``message``."""
    return load_private_key(private_key).sign(bytes(message))


def verify(public_key: KeyLike, message: bytes, signature: bytes) -> bool:
    """True when ``signature`` is a valid Ed25519 signature of ``message`` under the key."""
    try:
        load_public_key(public_key).verify(bytes(signature), bytes(message))
    except InvalidSignature:
        return False
    return True
