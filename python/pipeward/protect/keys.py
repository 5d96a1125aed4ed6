"""X25519 keys in age's text forms: identities ``AGE-SECRET-KEY-1...`` (and identity files of
them, one per line, ``#`` comments) and recipients ``age1...``."""

from __future__ import annotations

import os
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Union

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey

from . import _bech32

__all__ = ["Identity", "IdentityLike", "Recipient", "RecipientLike", "generate_identity",
           "load_identities", "load_recipients"]

_RAW = serialization.Encoding.Raw


class Recipient:
    """An X25519 public key: whom a file is encrypted to (``age1...``)."""

    __slots__ = ("key",)

    def __init__(self, key: X25519PublicKey) -> None:
        if not isinstance(key, X25519PublicKey):
            raise TypeError(f"expected an X25519PublicKey, got {type(key).__name__}")
        self.key = key

    @classmethod
    def from_string(cls, text: str) -> Recipient:
        """Parse an ``age1...`` recipient."""
        if not isinstance(text, str):
            raise TypeError(f"expected an age1... recipient string, got {type(text).__name__}")
        try:
            hrp, data = _bech32.decode(text.strip())
        except ValueError as exc:
            raise ValueError(f"not an age X25519 recipient ({exc}): {text.strip()[:80]!r}") from None
        if hrp != "age" or len(data) != 32 or text.strip().lower() != text.strip():
            raise ValueError(f"not an age X25519 recipient (expected age1 + 32 bytes in lower-case "
                             f"Bech32): {text.strip()[:80]!r}")
        return cls(X25519PublicKey.from_public_bytes(data))

    def raw(self) -> bytes:
        return self.key.public_bytes(_RAW, serialization.PublicFormat.Raw)

    def __str__(self) -> str:
        return _bech32.encode("age", self.raw())

    def __repr__(self) -> str:
        return f"Recipient({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Recipient) and self.raw() == other.raw()

    def __hash__(self) -> int:
        return hash(self.raw())


class Identity:
    """An X25519 private key: what decrypts files sent to its :attr:`recipient`."""

    __slots__ = ("key",)

    def __init__(self, key: X25519PrivateKey) -> None:
        if not isinstance(key, X25519PrivateKey):
            raise TypeError(f"expected an X25519PrivateKey, got {type(key).__name__}")
        self.key = key

    @classmethod
    def generate(cls) -> Identity:
        return cls(X25519PrivateKey.generate())

    @classmethod
    def from_string(cls, text: str) -> Identity:
        """Parse an ``AGE-SECRET-KEY-1...`` identity."""
        try:
            hrp, data = _bech32.decode(text.strip())
        except ValueError as exc:
            raise ValueError(f"not an age X25519 identity ({exc})") from None
        if hrp != "age-secret-key-" or len(data) != 32:
            raise ValueError("not an age X25519 identity (expected AGE-SECRET-KEY-1 + 32 bytes)")
        return cls(X25519PrivateKey.from_private_bytes(data))

    @property
    def recipient(self) -> Recipient:
        return Recipient(self.key.public_key())

    def __str__(self) -> str:
        raw = self.key.private_bytes(_RAW, serialization.PrivateFormat.Raw,
                                     serialization.NoEncryption())
        return _bech32.encode("age-secret-key-", raw).upper()

    def __repr__(self) -> str:  # never the secret
        return f"Identity(recipient={str(self.recipient)!r})"


IdentityLike = Union[Identity, X25519PrivateKey, str, "os.PathLike[str]"]
RecipientLike = Union[Recipient, X25519PublicKey, str]


def generate_identity(path: str | os.PathLike[str] | None = None) -> Identity:
    """A new X25519 identity; with ``path``, also written there as an age identity file
    (mode 0600, never overwriting), readable by ``age -d -i``."""
    identity = Identity.generate()
    if path is not None:
        text = (f"# created: {time.strftime('%Y-%m-%dT%H:%M:%SZ', time.gmtime())}\n"
                f"# public key: {identity.recipient}\n{identity}\n")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="ascii") as f:
            f.write(text)
    return identity


def _identity_lines(text: str, where: str) -> list[Identity]:
    found = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        try:
            found.append(Identity.from_string(line))
        except ValueError as exc:  # the line may be a secret: name its number, not its text
            raise ValueError(f"{where}, line {number}: {exc}") from None
    if not found:
        raise ValueError(f"{where}: no AGE-SECRET-KEY-1 identity in it")
    return found


def load_identities(identity: IdentityLike | Iterable[IdentityLike]) -> list[Identity]:
    """Identities from an :class:`Identity`, an ``X25519PrivateKey``, an
    ``AGE-SECRET-KEY-1...`` string, an age identity file path, or a list of these."""
    if isinstance(identity, Identity):
        return [identity]
    if isinstance(identity, X25519PrivateKey):
        return [Identity(identity)]
    if isinstance(identity, str) and identity.lstrip().upper().startswith("AGE-SECRET-KEY-1"):
        return _identity_lines(identity, "identity string")
    if isinstance(identity, (str, os.PathLike)):
        path = Path(identity)
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError:
            raise ValueError(f"{path}: not an age identity file (not UTF-8 text)") from None
        return _identity_lines(text, str(path))
    if isinstance(identity, (bytes, bytearray)):
        raise TypeError("expected an identity, an AGE-SECRET-KEY-1 string or an identity file "
                        "path, got bytes")
    if isinstance(identity, Iterable):
        out = [i for item in identity for i in load_identities(item)]
        if not out:
            raise ValueError("no identities given")
        return out
    raise TypeError(f"expected an identity, an AGE-SECRET-KEY-1 string or an identity file path, "
                    f"got {type(identity).__name__}")


def load_recipients(recipients: RecipientLike | Iterable[RecipientLike]) -> list[Recipient]:
    """Recipients from :class:`Recipient` objects, ``X25519PublicKey`` objects, ``age1...``
    strings, identities (their public half), or a list of these."""
    if isinstance(recipients, (Recipient, X25519PublicKey, Identity, X25519PrivateKey, str)):
        recipients = [recipients]  # type: ignore[list-item]
    if not isinstance(recipients, Iterable):
        raise TypeError(f"expected age1... recipients, got {type(recipients).__name__}")
    out = []
    for r in recipients:
        if isinstance(r, Recipient):
            out.append(r)
        elif isinstance(r, X25519PublicKey):
            out.append(Recipient(r))
        elif isinstance(r, Identity):
            out.append(r.recipient)
        elif isinstance(r, X25519PrivateKey):
            out.append(Recipient(r.public_key()))
        elif isinstance(r, str):
            out.append(Recipient.from_string(r))
        else:
            raise TypeError(f"expected an age1... recipient, got {type(r).__name__}")
    if not out:
        raise ValueError("no recipients given")
    return out
