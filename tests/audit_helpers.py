"""Shared helpers for the audit tests: a stepping clock, keys, and raw SQLite tampering."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import datetime, timedelta, timezone

from pipeward import signing


class StepClock:
    """A clock that advances one millisecond per reading (``back()`` steps it backwards)."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=timezone.utc)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now

    def back(self, seconds: float) -> None:
        self.now -= timedelta(seconds=seconds)


def keypair():
    private_pem, public_pem = signing.generate_keypair()
    return signing.load_private_key(private_pem), signing.load_public_key(public_pem)


def tamper(path, *statements, params=()):
    """Edit the database the way an attacker with file access would: triggers dropped first."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for name in ("records_append_only_u", "records_append_only_d",
                     "checkpoints_append_only_u", "checkpoints_append_only_d"):
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
        for statement in statements:
            db.execute(statement, params) if params else db.execute(statement)
    finally:
        db.close()


def rows(path):
    db = sqlite3.connect(path)
    try:
        return db.execute("SELECT seq, body, prev_hash, hash FROM records ORDER BY seq").fetchall()
    finally:
        db.close()


def rehash_from(path, start):
    """Recompute every hash from record ``start`` on, as someone without the signing key can."""
    db = sqlite3.connect(path, isolation_level=None)
    try:
        for name in ("records_append_only_u", "records_append_only_d"):
            db.execute(f"DROP TRIGGER IF EXISTS {name}")
        all_rows = db.execute("SELECT seq, body, prev_hash, hash FROM records ORDER BY seq").fetchall()
        prev = bytes(32) if start == 0 else bytes(all_rows[start - 1][3])
        for seq, body, _, _ in all_rows[start:]:
            h = hashlib.sha256(prev + bytes(body)).digest()
            db.execute("UPDATE records SET prev_hash = ?, hash = ? WHERE seq = ?", (prev, h, seq))
            prev = h
    finally:
        db.close()
