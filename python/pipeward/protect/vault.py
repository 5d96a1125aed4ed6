"""``TokenVault``: the way back from a token to its value, for authorised re-identification.

Values are stored encrypted with AES-256-GCM under a key derived from the tokenization key
(HKDF-SHA256, its own label, so the MAC key and the encryption key are never the same bytes),
with a random 96-bit nonce each and the token as associated data (a ciphertext moved to
another token does not decrypt). Every lookup is an audit record naming who asked and why.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from .header import hkdf
from .tokenize import _key, tokenize

if TYPE_CHECKING:
    from ..audit import AuditLog

__all__ = ["TokenVault"]

_SCHEMA = "CREATE TABLE IF NOT EXISTS vault (token TEXT PRIMARY KEY, nonce BLOB NOT NULL, value BLOB NOT NULL)"


class TokenVault:
    """Tokens and their encrypted values in one SQLite file.

    ``vault.tokenize(values)`` gives the same tokens as :func:`pipeward.protect.tokenize` under
    the same key and length, and keeps each value encrypted; ``vault.reveal(token, who=...,
    purpose=...)`` decrypts one, recording the lookup in ``audit``.
    """

    def __init__(self, path: str | os.PathLike[str], key: bytes, *, audit: AuditLog,
                 length: int = 64) -> None:
        from ..audit import AuditLog  # noqa: PLC0415

        if not isinstance(audit, AuditLog):
            raise TypeError("a token vault needs an AuditLog: every lookup is recorded")
        self._key = _key(key)
        self._aead = AESGCM(hkdf(self._key, b"", b"pipeward token vault aes-256-gcm"))
        self._length = length
        self._audit = audit
        self._db = sqlite3.connect(os.fspath(path))
        self._db.execute(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> TokenVault:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    def tokenize(self, values: Sequence[str | None]) -> list[str | None]:
        """Tokens of ``values`` (None stays None); each new value is stored encrypted."""
        values = list(values)
        tokens = tokenize(values, self._key, length=self._length)
        rows = []
        for token, value in zip(tokens, values):
            if token is None:
                continue
            nonce = os.urandom(12)
            rows.append((token, nonce, self._aead.encrypt(nonce, value.encode("utf-8"), token.encode())))
        with self._db:
            self._db.executemany("INSERT OR IGNORE INTO vault VALUES (?, ?, ?)", rows)
        return tokens

    def reveal(self, token: str, *, who: str, purpose: str) -> str | None:
        """The value behind ``token`` (None when the vault does not hold it), recorded in the
        audit log as ``pii.vault.lookup`` with ``who`` as the actor."""
        from ..audit.records import record_vault_lookup  # noqa: PLC0415

        if not isinstance(who, str) or not who or not isinstance(purpose, str) or not purpose:
            raise ValueError("a lookup must say who asks (who=) and why (purpose=)")
        row = self._db.execute("SELECT nonce, value FROM vault WHERE token = ?", (token,)).fetchone()
        record_vault_lookup(self._audit, token=token, purpose=purpose, found=row is not None, actor=who)
        if row is None:
            return None
        try:
            return self._aead.decrypt(row[0], row[1], token.encode()).decode("utf-8")
        except InvalidTag:
            raise ValueError(f"the vault entry for token {token[:16]}... does not decrypt: the "
                             f"vault was altered or the key is wrong") from None

    def forget(self, tokens: Sequence[str]) -> int:
        """Delete the entries of ``tokens`` (erasure); returns how many were held."""
        with self._db:
            cur = self._db.executemany("DELETE FROM vault WHERE token = ?", [(t,) for t in tokens])
        self._db.execute("VACUUM")  # the deleted ciphertexts leave the file
        return cur.rowcount

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM vault").fetchone()[0])

    def __repr__(self) -> str:
        return f"TokenVault({len(self)} tokens)"

    def _raw(self) -> Any:  # for tests: what an attacker with the file sees
        return self._db.execute("SELECT token, nonce, value FROM vault").fetchall()
