"""API keys: a JSON store of salted hashes; the key itself is shown once, when it is made.

A key reads ``pw_<id>_<secret>``: the id finds the entry, and the entry keeps only
``SHA-256(salt || secret)`` with a random per-key salt. The secret has 256 bits of entropy,
so one fast hash suffices (as for GitHub or Stripe tokens; a slow password hash protects low-
entropy secrets, which these are not), and a leaked store reveals no usable key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

__all__ = ["ApiKey", "KeyStore"]

FORMAT = "pipeward-keys"
PREFIX = "pw_"
_RELOAD_EVERY_S = 1.0
_VERIFIED_CACHE = 4096  # distinct keys remembered as verified (more are checked each time)


@dataclass(frozen=True)
class ApiKey:
    """One stored key (never its secret)."""

    id: str
    name: str
    role: str
    salt: str
    hash: str
    created: str
    revoked: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def _now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _digest(salt: bytes, secret: str) -> str:
    return hashlib.sha256(salt + secret.encode()).hexdigest()


class KeyStore:
    """The keys of a service, in a JSON file (``path=None``: in memory only).

    The service re-reads the file when it changes (checked at most once a second), so a
    revocation takes effect without a restart.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None, *, create: bool = False):
        self.path = Path(path) if path is not None else None
        self._keys: dict[str, ApiKey] = {}
        self._lock = threading.Lock()
        self._mtime: float | None = None
        self._checked = 0.0
        # Keys already verified since the last (re)load -> their id: a hit skips the salted
        # hash. Cleared on every reload, so a revocation still takes effect within a second.
        self._verified: dict[str, str] = {}
        if self.path is not None:
            if self.path.exists():
                self._read()
            elif not create:
                raise FileNotFoundError(f"{self.path}: no key store (make one with `pipeward keys add`)")

    # --- persistence ------------------------------------------------------------------------
    def _read(self) -> None:
        if self.path is None:
            return
        try:
            stat = self.path.stat()
            data = json.loads(self.path.read_text())
            if data.get("format") != FORMAT or not isinstance(data.get("keys"), list):
                raise ValueError("not a pipeward key store")
            keys = {k["id"]: ApiKey(**k) for k in data["keys"]}
        except (OSError, ValueError, TypeError, KeyError) as exc:
            raise ValueError(f"{self.path}: unreadable key store ({exc})") from None
        self._keys, self._mtime = keys, stat.st_mtime_ns
        self._verified = {}

    def _write(self) -> None:
        if self.path is None:
            return
        data = {"format": FORMAT, "version": 1, "keys": [k.to_dict() for k in self._keys.values()]}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".keys-")
        try:
            with os.fdopen(fd, "w") as fh:  # mkstemp files are 0600
                json.dump(data, fh, indent=2)
                fh.write("\n")
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
        self._mtime = self.path.stat().st_mtime_ns

    def _refresh(self) -> None:
        """Re-read the file if it changed since the last look (at most once a second)."""
        if self.path is None:
            return
        now = time.monotonic()
        if now - self._checked < _RELOAD_EVERY_S:
            return
        self._checked = now
        try:
            mtime = self.path.stat().st_mtime_ns
        except OSError:
            return  # keep the keys we have rather than lock everyone out
        if mtime != self._mtime:
            with self._lock:
                try:
                    self._read()
                except ValueError:
                    pass  # a half-written or broken file: keep serving with the last good one

    # --- management ---------------------------------------------------------------------------
    def add(self, name: str, role: str) -> str:
        """Make a key for ``name`` with ``role``; returns the key (the only time it is seen)."""
        for what, value in (("name", name), ("role", role)):
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{what}: expected a non-empty string, got {value!r}")
        with self._lock:
            key_id = secrets.token_hex(6)
            while key_id in self._keys:
                key_id = secrets.token_hex(6)
            secret = secrets.token_urlsafe(32)
            salt = secrets.token_bytes(16)
            self._keys[key_id] = ApiKey(key_id, name, role, salt.hex(), _digest(salt, secret), _now())
            self._write()
        return f"{PREFIX}{key_id}_{secret}"

    def revoke(self, name_or_id: str) -> list[str]:
        """Revoke every key with this id or name; returns the ids revoked."""
        with self._lock:
            hits = [k for k in self._keys.values()
                    if (k.id == name_or_id or k.name == name_or_id) and k.revoked is None]
            if not hits:
                raise KeyError(f"no active key with id or name {name_or_id!r}")
            stamp = _now()
            for k in hits:
                self._keys[k.id] = ApiKey(**{**k.to_dict(), "revoked": stamp})
            self._write()
        return [k.id for k in hits]

    def list(self) -> list[ApiKey]:
        return sorted(self._keys.values(), key=lambda k: k.created)

    # --- checking -----------------------------------------------------------------------------
    def authenticate(self, presented: str) -> ApiKey | None:
        """The active key ``presented`` belongs to, or None (unknown, wrong or revoked)."""
        self._refresh()
        known = self._verified.get(presented)
        if known is not None:
            entry = self._keys.get(known)
            return entry if entry is not None and entry.revoked is None else None
        if not presented.startswith(PREFIX):
            return None
        key_id, sep, secret = presented[len(PREFIX):].partition("_")
        entry = self._keys.get(key_id)
        if not sep or entry is None:
            return None
        if not hmac.compare_digest(_digest(bytes.fromhex(entry.salt), secret), entry.hash):
            return None
        if entry.revoked is not None:
            return None
        if len(self._verified) < _VERIFIED_CACHE:
            self._verified[presented] = key_id
        return entry
