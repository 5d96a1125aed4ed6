"""One audit record and the hash that chains it to the one before.

A record's *body* is the canonical JSON (:mod:`pipeward.audit.canonical`) of the object

    {"action": str, "actor": str, "payload": object, "seq": int, "subject": str, "ts": str}

and its hash is ``SHA-256(prev_hash || body)``, where ``prev_hash`` is the previous record's
32-byte hash (32 zero bytes for record 0). ``ts`` is UTC, ISO 8601 with microseconds
(``2026-11-26T01:42:14.123456Z``): a fixed width, so text order is time order, and, as the
last key, always the body's final 27 characters before ``"}``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

from .canonical import canonical_text

__all__ = ["FORMAT", "GENESIS", "VERSION", "Record", "action_prefix", "body_bytes", "format_timestamp", "record_hash"]

GENESIS = bytes(32)

# What a log file (SQLite meta, JSON Lines header) says it holds.
FORMAT = "pipeward-audit"
VERSION = "1"

# The C string escaper behind json.dumps(ensure_ascii=False): the same bytes canonical_json gives.
_escape = json.encoder.encode_basestring  # type: ignore[attr-defined]
_TEMPLATE = '{"action":%s,"actor":%s,"payload":%s,"seq":%d,"subject":%s,"ts":%s}'


def body_bytes(seq: int, ts: str, actor: str, action: str, subject: str, payload_json: str) -> bytes:
    """A record's canonical body, given its payload's canonical JSON text.

    Equal to ``canonical_json({...})`` of the record object (a test holds them together); built
    from a template because every append does this.
    """
    return (_TEMPLATE % (_escape(action), _escape(actor), payload_json, seq, _escape(subject),
                         _escape(ts))).encode("utf-8")


def record_hash(prev_hash: bytes, body: bytes) -> bytes:
    """``SHA-256(prev_hash || body)``."""
    return hashlib.sha256(prev_hash + body).digest()


def action_prefix(action: str) -> bytes:
    """The bytes every body of a record with this action starts with."""
    return ('{"action":' + _escape(action) + ",").encode("utf-8")


def format_timestamp(when: datetime) -> str:
    """``YYYY-MM-DDTHH:MM:SS.ffffffZ`` in UTC; naive datetimes are rejected, not guessed."""
    if not isinstance(when, datetime):
        raise TypeError(f"the clock must return a datetime, got {type(when).__name__}")
    offset = when.utcoffset()
    if offset is None:
        raise ValueError("the clock returned a naive datetime; expected a timezone-aware one")
    if offset:
        when = when.astimezone(timezone.utc)
    # isoformat is implemented in C, unlike strftime; cut the offset and write "Z".
    return when.replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


@dataclass(frozen=True)
class Record:
    """One entry of the audit log, as stored (hashes in hex)."""

    seq: int
    ts: str
    actor: str
    action: str
    subject: str
    payload: dict[str, Any] = field(default_factory=dict)
    prev_hash: str = GENESIS.hex()
    hash: str = ""

    def body(self) -> bytes:
        """The canonical bytes this record's hash covers, after the previous hash."""
        return body_bytes(self.seq, self.ts, self.actor, self.action, self.subject,
                          canonical_text(self.payload))

    def computed_hash(self) -> str:
        """``SHA-256(prev_hash || body)`` in hex; equals ``hash`` for an intact record."""
        return record_hash(bytes.fromhex(self.prev_hash), self.body()).hex()

    @classmethod
    def from_body(cls, body: bytes | str, prev_hash: bytes, hash: bytes) -> Record:  # noqa: A002
        """Parse a stored body (``ValueError`` if it is not a record object)."""
        obj = json.loads(body)
        if not isinstance(obj, dict):
            raise ValueError("a record body must be a JSON object")
        try:
            return cls(obj["seq"], obj["ts"], obj["actor"], obj["action"], obj["subject"],
                       obj["payload"], bytes(prev_hash).hex(), bytes(hash).hex())
        except KeyError as exc:
            raise ValueError(f"a record body without {exc.args[0]!r}") from None

    def to_dict(self) -> dict[str, Any]:
        return {"seq": self.seq, "ts": self.ts, "actor": self.actor, "action": self.action,
                "subject": self.subject, "payload": self.payload, "prev_hash": self.prev_hash,
                "hash": self.hash}
