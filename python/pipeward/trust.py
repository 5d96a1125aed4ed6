"""``TrustStore``: the Ed25519 public keys of trusted data providers and publishers, by name,
with roles, validity periods and revocations, in one JSON file.

File layout (version 1)::

    {"format": "pipeward-trust-store", "version": 1,
     "keys": [{"name": str, "key_id": <hex SHA-256 of the raw key>, "public_key": <PEM>,
               "roles": [str, ...], "not_before": <UTC time> | null,
               "not_after": <UTC time> | null,
               "revoked": {"at": <UTC time>, "reason": str} | null}, ...]}

A signature is trusted when its key is in the store, not revoked, inside its validity period
at the time of checking, holds the role asked for, and the signature verifies.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import json
import os
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from . import signing

__all__ = ["SignatureCheck", "TrustStore", "TrustedKey"]

FORMAT = "pipeward-trust-store"
VERSION = 1


def _time(value: str | dt.datetime | None, what: str) -> dt.datetime | None:
    """An aware UTC datetime from an ISO 8601 string (a bare date means its midnight UTC)."""
    if value is None:
        return None
    if isinstance(value, str):
        try:
            value = dt.datetime.fromisoformat(value)
        except ValueError:
            raise ValueError(f"{what} must be an ISO 8601 time such as 2026-01-31T00:00:00Z, "
                             f"got {value!r}") from None
    if not isinstance(value, dt.datetime):
        raise TypeError(f"{what} must be an ISO 8601 string or a datetime, got {type(value).__name__}")
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).replace(microsecond=0)  # the file keeps seconds


def _text(value: dt.datetime | None) -> str | None:
    return None if value is None else value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


@dataclass(frozen=True)
class TrustedKey:
    """One named key of a :class:`TrustStore`."""

    name: str
    key_id: str
    public_pem: bytes
    roles: tuple[str, ...]
    not_before: dt.datetime | None = None
    not_after: dt.datetime | None = None
    revoked_at: dt.datetime | None = None
    revoked_reason: str = ""

    def problem(self, role: str | None, at: dt.datetime) -> str | None:
        """Why this key may not vouch for ``role`` at time ``at``; None when it may."""
        if self.revoked_at is not None:
            why = f": {self.revoked_reason}" if self.revoked_reason else ""
            return f"key {self.name!r} was revoked on {_text(self.revoked_at)}{why}"
        if self.not_before is not None and at < self.not_before:
            return f"key {self.name!r} is not valid before {_text(self.not_before)}"
        if self.not_after is not None and at > self.not_after:
            return f"key {self.name!r} expired on {_text(self.not_after)}"
        if role is not None and role not in self.roles:
            return (f"key {self.name!r} does not hold the role {role!r} (it holds: "
                    f"{', '.join(self.roles) or 'none'})")
        return None

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "key_id": self.key_id, "public_key": self.public_pem.decode(),
                "roles": list(self.roles), "not_before": _text(self.not_before),
                "not_after": _text(self.not_after),
                "revoked": None if self.revoked_at is None else
                {"at": _text(self.revoked_at), "reason": self.revoked_reason}}

    @classmethod
    def from_dict(cls, data: Any) -> TrustedKey:
        if not isinstance(data, dict) or set(data) != {"name", "key_id", "public_key", "roles",
                                                        "not_before", "not_after", "revoked"}:
            raise ValueError(f"malformed trust store key record: {data!r}")
        pem = str(data["public_key"]).encode()
        kid = signing.key_id(pem)
        if kid != data["key_id"]:
            raise ValueError(f"key {data['name']!r}: its key_id does not match its public key")
        revoked = data["revoked"]
        if revoked is not None and (not isinstance(revoked, dict) or set(revoked) != {"at", "reason"}):
            raise ValueError(f"key {data['name']!r}: malformed 'revoked' {revoked!r}")
        roles = data["roles"]
        if not isinstance(roles, list) or not all(isinstance(r, str) and r for r in roles):
            raise ValueError(f"key {data['name']!r}: 'roles' must be a list of names")
        return cls(str(data["name"]), kid, pem, tuple(roles),
                   _time(data["not_before"], "not_before"), _time(data["not_after"], "not_after"),
                   _time(revoked["at"], "revoked at") if revoked else None,
                   str(revoked["reason"]) if revoked else "")


@dataclass(frozen=True)
class SignatureCheck:
    """The outcome of checking a signature against a trust store: truthy when trusted.
    ``signer`` names the key when it is known; ``reason`` says why it failed."""

    ok: bool
    signer: str | None = None
    key_id: str | None = None
    roles: tuple[str, ...] = ()
    reason: str = ""

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "signer": self.signer, "key_id": self.key_id,
                "roles": list(self.roles), "reason": self.reason}


@dataclass
class TrustStore:
    """Named Ed25519 public keys with roles, validity periods and revocations.

    ``TrustStore.load(path)`` reads a store; :meth:`add`, :meth:`revoke` change it and
    :meth:`save` writes it back. ``Manifest.verify_signature(store, role=...)`` and
    :meth:`check` say who signed, or why the signature is not trusted.
    """

    keys: list[TrustedKey] = field(default_factory=list)

    # ---------------------------------------------------------------------------- files
    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> TrustStore:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"{os.fspath(path)}: not a trust store (not JSON: {exc})") from None
        if not isinstance(data, dict) or data.get("format") != FORMAT:
            raise ValueError(f"{os.fspath(path)}: not a pipeward trust store")
        if data.get("version") != VERSION or not isinstance(data.get("keys"), list):
            raise ValueError(f"{os.fspath(path)}: unsupported trust store version "
                             f"{data.get('version')!r} or no 'keys' list")
        try:
            store = cls([TrustedKey.from_dict(k) for k in data["keys"]])
            store._check_unique()
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{os.fspath(path)}: {exc}") from None
        return store

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the store as JSON, atomically (a reader never sees half a store)."""
        text = json.dumps({"format": FORMAT, "version": VERSION,
                           "keys": [k.to_dict() for k in self.keys]}, indent=1) + "\n"
        target = Path(path)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(text)
            os.replace(tmp, target)
        except BaseException:
            os.unlink(tmp)
            raise

    def _check_unique(self) -> None:
        for what in ("name", "key_id"):
            seen: set[str] = set()
            for k in self.keys:
                if getattr(k, what) in seen:
                    raise ValueError(f"two keys with the {what} {getattr(k, what)!r}")
                seen.add(getattr(k, what))

    # -------------------------------------------------------------------------- changes
    def add(self, name: str, public_key: signing.KeyLike, *, roles: Iterable[str] = ("data-provider",),
            not_before: str | dt.datetime | None = None,
            not_after: str | dt.datetime | None = None) -> TrustedKey:
        """Trust ``public_key`` (object, PEM or PEM file) under ``name`` for ``roles``."""
        if not isinstance(name, str) or not name.strip():
            raise ValueError(f"a key needs a non-empty name, got {name!r}")
        if isinstance(roles, str):
            raise TypeError("roles must be a list of role names, got a single str")
        roles = tuple(roles)
        if not roles or not all(isinstance(r, str) and r for r in roles):
            raise ValueError(f"roles must be non-empty names, got {roles!r}")
        key = signing.load_public_key(public_key)
        start, end = _time(not_before, "not_before"), _time(not_after, "not_after")
        if start is not None and end is not None and end <= start:
            raise ValueError(f"not_after {_text(end)} is not after not_before {_text(start)}")
        entry = TrustedKey(name, signing.key_id(key), signing.public_pem(key), roles, start, end)
        self.keys.append(entry)
        try:
            self._check_unique()
        except ValueError:
            self.keys.pop()
            raise
        return entry

    def _find(self, name_or_key_id: str) -> int:
        for i, k in enumerate(self.keys):
            if name_or_key_id in (k.name, k.key_id):
                return i
        raise KeyError(f"no key named {name_or_key_id!r} in the trust store")

    def revoke(self, name_or_key_id: str, *, reason: str = "",
               at: str | dt.datetime | None = None) -> TrustedKey:
        """Mark a key revoked (kept in the store, so its signatures are named, not unknown)."""
        i = self._find(name_or_key_id)
        self.keys[i] = replace(self.keys[i], revoked_at=_time(at or _now(), "at"),
                               revoked_reason=reason)
        return self.keys[i]

    def get(self, name_or_key_id: str) -> TrustedKey | None:
        try:
            return self.keys[self._find(name_or_key_id)]
        except KeyError:
            return None

    def __len__(self) -> int:
        return len(self.keys)

    # -------------------------------------------------------------------------- checking
    def check(self, key_id: str, message: bytes, signature: bytes, *, role: str | None = None,
              at: str | dt.datetime | None = None) -> SignatureCheck:
        """Whether ``signature`` over ``message`` by the key ``key_id`` is trusted for ``role``
        (any role when None) at time ``at`` (now by default)."""
        when = _time(at, "at") or _now()
        key = next((k for k in self.keys if k.key_id == key_id), None)
        if key is None:
            return SignatureCheck(False, key_id=key_id,
                                  reason=f"unknown key {key_id[:16]}...: not in the trust store")
        found = {"signer": key.name, "key_id": key.key_id, "roles": key.roles}
        problem = key.problem(role, when)
        if problem is not None:
            return SignatureCheck(False, reason=problem, **found)  # type: ignore[arg-type]
        if not signing.verify(key.public_pem, message, signature):
            return SignatureCheck(False, reason=f"the signature by {key.name!r} does not verify: "
                                                f"the signed content was altered", **found)  # type: ignore[arg-type]
        return SignatureCheck(True, **found)  # type: ignore[arg-type]

    def check_block(self, block: dict[str, str] | None, message: bytes, *, role: str | None = None,
                    at: str | dt.datetime | None = None) -> SignatureCheck:
        """:meth:`check` for a ``{"algorithm", "key_id", "value"}`` signature block (as
        manifests carry); an absent block is 'not signed'."""
        if block is None:
            return SignatureCheck(False, reason="not signed")
        try:
            value = base64.b64decode(block["value"], validate=True)
        except (KeyError, binascii.Error, TypeError):
            return SignatureCheck(False, reason="malformed signature block")
        return self.check(block.get("key_id", ""), message, value, role=role, at=at)
