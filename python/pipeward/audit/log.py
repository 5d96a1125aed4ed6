"""``AuditLog``: an append-only, hash-chained, checkpointed record of who did what, in SQLite.

One SQLite file in WAL mode. Every append is one ``BEGIN IMMEDIATE`` transaction that reads the
head of the chain, stamps the time, hashes and inserts: SQLite serialises writers across threads
and processes, and a writer killed mid-append leaves either the whole record or nothing.
Triggers refuse ``UPDATE`` and ``DELETE`` on records and checkpoints, so the API cannot change
history; someone editing the file directly is what :meth:`AuditLog.verify` is for.
"""

from __future__ import annotations

import getpass
import hashlib
import hmac
import os
import secrets
import socket
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import merkle, signing
from .canonical import JSONValue, _encode, canonical_json, check_json_value, check_text
from .chain import FORMAT, GENESIS, VERSION, Record, action_prefix, body_bytes, format_timestamp
from .jsonl import read_jsonl, verify_jsonl, write_jsonl
from .checkpoint import Checkpoint, MerkleFrontier, checkpoint_message
from .verify import AuditReport, Finding, verify_rows

__all__ = ["AuditLog", "verify_file"]

PSEUDONYM_PREFIX = "hmac-sha256:"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    seq INTEGER PRIMARY KEY, body BLOB NOT NULL, prev_hash BLOB NOT NULL, hash BLOB NOT NULL);
CREATE TABLE IF NOT EXISTS checkpoints (
    id INTEGER PRIMARY KEY, log_id TEXT NOT NULL, size INTEGER NOT NULL, root TEXT NOT NULL,
    ts TEXT NOT NULL, key_id TEXT NOT NULL, public_key TEXT NOT NULL, signature TEXT NOT NULL);
CREATE TRIGGER IF NOT EXISTS records_append_only_u BEFORE UPDATE ON records
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS records_append_only_d BEFORE DELETE ON records
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_append_only_u BEFORE UPDATE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER IF NOT EXISTS checkpoints_append_only_d BEFORE DELETE ON checkpoints
    BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
"""

# The body is the only copy of a record's fields, so what is read is what is hashed.
_ROWS_SQL = ("SELECT seq, ifnull(CAST(body AS BLOB), x''), ifnull(CAST(prev_hash AS BLOB), x''), "
             "ifnull(CAST(hash AS BLOB), x'') FROM records")
_CHECKPOINTS_SQL = ("SELECT log_id, size, root, ts, key_id, public_key, signature "
                    "FROM checkpoints ORDER BY id")


def _default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = f"uid{os.getuid()}" if hasattr(os, "getuid") else "unknown"
    return f"{user}@{socket.gethostname()}"


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _text(value: Any, name: str) -> str:
    if type(value) is not str:
        raise TypeError(f"{name}: expected str, got {type(value).__name__}")
    return value  # lone surrogates are caught when the body is encoded


class AuditLog:
    """An append-only, tamper-evident audit log stored in one SQLite file.

    ``actor`` is recorded on every append that does not name one (default ``user@host``);
    ``clock`` returns the current time as an aware ``datetime`` (tests pass their own);
    ``salt`` keys the pseudonyms of redacted fields (default: a random salt kept in the
    database, never exported); ``durable=True`` syncs every commit to disk (SQLite
    ``synchronous=FULL``) so that even a power cut loses nothing committed -- without it, a
    killed process loses nothing but an OS crash may lose the last commits. ``readonly=True``
    opens an existing log without writing anything to it (what verification and the CLI's
    read commands use, so that checking evidence never changes it).
    """

    def __init__(self, path: str | os.PathLike[str], *, actor: str | None = None,
                 clock: Callable[[], datetime] | None = None, salt: bytes | None = None,
                 durable: bool = False, create: bool = True, readonly: bool = False,
                 timeout: float = 60.0) -> None:
        self.path = os.fspath(path)
        self.readonly = bool(readonly)
        if (not create or readonly) and self.path != ":memory:" and not Path(self.path).is_file():
            raise FileNotFoundError(f"no audit log at {self.path}")
        self.actor = _text(actor, "actor") if actor is not None else _default_actor()
        self._clock = clock or _utc_now
        if salt is not None and not isinstance(salt, (bytes, bytearray)):
            raise TypeError(f"salt: expected bytes, got {type(salt).__name__}")
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        try:
            if readonly:
                self._db = _connect_readonly(self.path, timeout)
            else:
                self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                           check_same_thread=False)
                self._db.execute("PRAGMA journal_mode=WAL")
                self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                self._create_schema()
            self._meta = self._read_meta()
        except (sqlite3.DatabaseError, ValueError) as exc:
            if self._db is not None:
                self._db.close()
            if isinstance(exc, ValueError):
                raise
            raise ValueError(f"{self.path} is not a readable pipeward audit log: {exc}") from None
        self._salt = bytes(salt) if salt is not None else bytes.fromhex(self._meta.get("salt", ""))

    def _create_schema(self) -> None:
        db = self._db
        db.execute("BEGIN IMMEDIATE")
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:
                raise ValueError(f"{self.path} is an SQLite database but not a pipeward audit log")
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    db.execute(statement)
            if db.execute("SELECT count(*) FROM meta").fetchone()[0] == 0:
                meta = {"format": FORMAT, "version": VERSION, "log_id": uuid.uuid4().hex,
                        "salt": secrets.token_hex(32)}
                db.executemany("INSERT INTO meta VALUES (?, ?)", meta.items())
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _read_meta(self) -> dict[str, str]:
        tables = {r[0] for r in self._db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        if not {"meta", "records", "checkpoints"} <= tables:
            raise ValueError(f"{self.path} is not a pipeward audit log (tables: {sorted(tables)})")
        meta = dict(self._db.execute("SELECT key, value FROM meta"))
        if meta.get("format") != FORMAT:
            raise ValueError(f"{self.path} is not a pipeward audit log (format {meta.get('format')!r})")
        if meta.get("version") != VERSION:
            raise ValueError(f"{self.path}: audit log format version {meta.get('version')!r}, "
                             f"this pipeward reads version {VERSION}")
        return meta

    def _writable(self) -> sqlite3.Connection:
        if self.readonly:
            raise ValueError(f"{self.path} was opened read-only")
        return self._db

    # --- properties ---------------------------------------------------------------------------
    @property
    def log_id(self) -> str:
        """A random identifier of this log, bound into every checkpoint signature."""
        return self._meta["log_id"]

    def __len__(self) -> int:
        with self._lock:
            return int(self._db.execute("SELECT count(*) FROM records").fetchone()[0])

    def __repr__(self) -> str:
        return f"AuditLog({self.path!r})"

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> AuditLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- writing ------------------------------------------------------------------------------
    def pseudonym(self, value: JSONValue) -> str:
        """The salted hash a redacted field is stored as:
        ``"hmac-sha256:" + HMAC-SHA256(salt, canonical_json(value))`` in hex. Equal values give
        equal pseudonyms within a log (or across logs sharing a salt), so records about one user
        can still be found without storing who the user is."""
        digest = hmac.new(self._salt, canonical_json(value), hashlib.sha256).hexdigest()
        return PSEUDONYM_PREFIX + digest

    def _prepare(self, action: str, payload: Mapping[str, JSONValue] | None, subject: str,
                 actor: str | None, redact: Iterable[str]) -> tuple[str, str, str, dict[str, Any], str]:
        _text(action, "action")
        if not action:
            raise ValueError("action: expected a non-empty name such as 'training.dp'")
        _text(subject, "subject")
        actor = self.actor if actor is None else _text(actor, "actor")
        if payload is None:
            payload = {}
        if not isinstance(payload, Mapping):
            raise TypeError(f"payload: expected a dict, got {type(payload).__name__}")
        body = dict(payload)
        check_json_value(body, "payload")
        for name in ([redact] if isinstance(redact, str) else redact):
            if name not in body:
                raise ValueError(f"redact: the payload has no field {name!r} "
                                 f"(fields: {sorted(body)})")
            body[name] = self.pseudonym(body[name])
        payload_json = _encode(body)
        check_text(payload_json + action + actor + subject, "action, actor, subject or payload")
        return action, actor, subject, body, payload_json

    def append(self, action: str, payload: Mapping[str, JSONValue] | None = None, *,
               subject: str = "", actor: str | None = None, redact: Iterable[str] = ()) -> Record:
        """Append one record in its own transaction and return it.

        ``payload`` is a dict in the canonical JSON subset; the fields named in ``redact`` are
        stored as :meth:`pseudonym` of their value instead of the value.
        """
        return self.append_many([{"action": action, "payload": payload, "subject": subject,
                                  "actor": actor, "redact": redact}])[0]

    def append_many(self, entries: Iterable[Mapping[str, Any]]) -> list[Record]:
        """Append several records in one transaction (all or none); each entry is a dict with
        ``action`` and optionally ``payload``, ``subject``, ``actor``, ``redact``."""
        prepared = []
        for i, entry in enumerate(entries):
            if not isinstance(entry, Mapping) or "action" not in entry:
                raise TypeError(f"entry {i}: expected a dict with an 'action', got {entry!r:.80}")
            unknown = set(entry) - {"action", "payload", "subject", "actor", "redact"}
            if unknown:
                raise ValueError(f"entry {i}: unknown fields {sorted(unknown)}")
            prepared.append(self._prepare(entry["action"], entry.get("payload"),
                                          entry.get("subject", ""), entry.get("actor"),
                                          entry.get("redact", ())))
        if not prepared:
            return []
        sha = hashlib.sha256
        out: list[Record] = []
        with self._lock:
            db = self._writable()
            db.execute("BEGIN IMMEDIATE")
            try:
                head = db.execute("SELECT seq, hash FROM records ORDER BY seq DESC LIMIT 1").fetchone()
                seq, prev = (head[0] + 1, bytes(head[1])) if head else (0, GENESIS)
                rows = []
                clock = self._clock
                for action, actor, subject, payload, payload_json in prepared:
                    # The clock is read inside the transaction so that time order follows seq order.
                    ts = format_timestamp(clock())
                    body = body_bytes(seq, ts, actor, action, subject, payload_json)
                    h = sha(prev + body).digest()
                    rows.append((seq, body, prev, h))
                    out.append(Record(seq, ts, actor, action, subject, payload, prev.hex(), h.hex()))
                    prev, seq = h, seq + 1
                db.executemany("INSERT INTO records VALUES (?, ?, ?, ?)", rows)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return out

    # --- reading ------------------------------------------------------------------------------
    def records(self, *, action: str | Sequence[str] | None = None, subject: str | None = None,
                start: int = 0, stop: int | None = None, skip_unreadable: bool = False
                ) -> Iterator[Record]:
        """Records in ``seq`` order, optionally only those with the given action(s) or subject.

        Read as stored (call :meth:`verify` to know whether they can be trusted); a record whose
        body is not a record any more raises ``ValueError``, or is skipped if asked.
        """
        sql = "SELECT seq, body, prev_hash, hash FROM records WHERE seq >= ?"
        args: list[Any] = [start]
        if stop is not None:
            sql += " AND seq < ?"
            args.append(stop)
        if action is not None:
            # Filter on the body's own first bytes: there is no second copy of the action to trust.
            prefixes = [action_prefix(a) for a in ([action] if isinstance(action, str) else action)]
            sql += " AND (" + " OR ".join(["substr(body, 1, ?) = ?"] * len(prefixes)) + ")"
            for p in prefixes:
                args += [len(p), p]
        with self._lock:
            rows = self._db.execute(sql + " ORDER BY seq", args).fetchall()
        for seq, body, prev, h in rows:
            try:
                record = Record.from_body(body, prev, h)
            except (TypeError, ValueError) as exc:
                if skip_unreadable:
                    continue
                raise ValueError(f"record #{seq} is unreadable ({exc}): run verify()") from None
            if subject is None or record.subject == subject:
                yield record

    def get(self, seq: int) -> Record:
        """The record with this sequence number (``IndexError`` if there is none)."""
        for record in self.records(start=seq, stop=seq + 1):
            return record
        raise IndexError(f"no record #{seq} (the log has {len(self)})")

    def head(self) -> Record | None:
        """The latest record, or None for an empty log."""
        with self._lock:
            row = self._db.execute("SELECT max(seq) FROM records").fetchone()
        return None if row[0] is None else self.get(row[0])

    def record_hashes(self, stop: int | None = None) -> list[bytes]:
        """The stored record hashes in ``seq`` order (the Merkle tree's leaves, before 0x00)."""
        sql = "SELECT hash FROM records ORDER BY seq" + ("" if stop is None else " LIMIT ?")
        with self._lock:
            rows = self._db.execute(sql, () if stop is None else (stop,)).fetchall()
        return [bytes(r[0]) for r in rows]

    # --- checkpoints and proofs ---------------------------------------------------------------
    def checkpoint(self, private_key: signing.KeyLike) -> Checkpoint:
        """Sign the current record count and the RFC 6962 Merkle root over all record hashes."""
        key = signing.load_private_key(private_key)
        with self._lock:
            db = self._writable()
            db.execute("BEGIN IMMEDIATE")
            try:
                frontier = MerkleFrontier()
                for (h,) in db.execute("SELECT hash FROM records ORDER BY seq"):
                    frontier.add(bytes(h))
                ts = format_timestamp(self._clock())
                root = frontier.root()
                signature = key.sign(checkpoint_message(self.log_id, frontier.size, root, ts))
                public = signing.load_public_key(key)
                from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

                raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                cp = Checkpoint(self.log_id, frontier.size, root.hex(), ts, signing.key_id(public),
                                raw.hex(), signature.hex())
                db.execute("INSERT INTO checkpoints (log_id, size, root, ts, key_id, public_key, "
                           "signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
                           (cp.log_id, cp.size, cp.root, cp.ts, cp.key_id, cp.public_key, cp.signature))
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return cp

    def checkpoints(self) -> list[Checkpoint]:
        """All checkpoints, oldest first."""
        with self._lock:
            rows = self._db.execute(_CHECKPOINTS_SQL).fetchall()
        return [Checkpoint(*row) for row in rows]

    def consistency_proof(self, old_size: int, new_size: int | None = None) -> list[bytes]:
        """RFC 6962 proof that the first ``old_size`` records are a prefix of the first
        ``new_size`` (default: all); check it with :func:`pipeward.audit.verify_consistency`."""
        leaves = [merkle.leaf_hash(h) for h in self.record_hashes(new_size)]
        if new_size is not None and new_size > len(leaves):
            raise ValueError(f"new_size {new_size} exceeds the log's {len(leaves)} records")
        return merkle.consistency_proof(leaves, old_size)

    def inclusion_proof(self, seq: int, size: int | None = None) -> list[bytes]:
        """RFC 6962 audit path for record ``seq`` in the tree of the first ``size`` records."""
        leaves = [merkle.leaf_hash(h) for h in self.record_hashes(size)]
        return merkle.inclusion_proof(leaves, seq)

    # --- verification and export --------------------------------------------------------------
    def verify(self, public_key: signing.KeyLike | None = None) -> AuditReport:
        """Re-derive the hash chain and every checkpoint's root and name what does not match.

        ``public_key`` pins the key the checkpoints must be signed with; without it they are
        checked against the keys stored beside them (which an attacker could replace), and the
        report says so.
        """
        if public_key is not None:
            public_key = signing.load_public_key(public_key)
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN")  # one read snapshot for checkpoints and records
                cps = [Checkpoint(*row) for row in db.execute(_CHECKPOINTS_SQL).fetchall()]
                rows = db.execute(_ROWS_SQL + " ORDER BY seq")  # streamed, never all in memory
                return verify_rows(rows, cps, log_id=self.log_id, public_key=public_key)
            except sqlite3.DatabaseError as exc:
                return AuditReport(0, [Finding(None, "corrupt", f"SQLite cannot read the log: {exc}")])
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")

    def export_jsonl(self, dest: str | os.PathLike[str] | Any) -> int:
        """Write the log as JSON Lines (see :mod:`pipeward.audit.jsonl`); returns the record count."""
        with self._lock:
            return write_jsonl(self._db, self.log_id, dest)

    @classmethod
    def import_jsonl(cls, src: str | os.PathLike[str] | Any, path: str | os.PathLike[str],
                     **kwargs: Any) -> AuditLog:
        """Load an exported log into a new SQLite file as it is (nothing recomputed), so that
        :meth:`verify` there checks what was shipped."""
        if os.fspath(path) != ":memory:" and Path(path).exists():
            raise FileExistsError(f"{os.fspath(path)} exists; import into a new file")
        header, rows, cps, _ = read_jsonl(src)
        log = cls(path, **kwargs)
        with log._lock:
            db = log._db
            db.execute("BEGIN IMMEDIATE")
            try:
                if header.get("log_id"):
                    db.execute("UPDATE meta SET value = ? WHERE key = 'log_id'", (header["log_id"],))
                    log._meta["log_id"] = header["log_id"]
                db.executemany("INSERT OR IGNORE INTO records VALUES (?, ?, ?, ?)", rows)
                db.executemany("INSERT INTO checkpoints (log_id, size, root, ts, key_id, public_key, "
                               "signature) VALUES (?, ?, ?, ?, ?, ?, ?)",
                               [(c.log_id, c.size, c.root, c.ts, c.key_id, c.public_key, c.signature)
                                for c in cps])
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise
        return log


def _connect_readonly(path: str, timeout: float) -> sqlite3.Connection:
    """Open without writing anything, even the WAL index; an archived file in a read-only
    place (no -shm beside it) is opened as immutable."""
    uri = Path(path).resolve().as_uri()
    try:
        db = sqlite3.connect(uri + "?mode=ro", uri=True, timeout=timeout, isolation_level=None,
                             check_same_thread=False)
        db.execute("SELECT count(*) FROM sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        # Only where the WAL index cannot be created: elsewhere "immutable" could skip the WAL.
        folder = Path(path).resolve().parent
        if os.access(folder, os.W_OK) or Path(path + "-wal").exists():
            raise
        return sqlite3.connect(uri + "?immutable=1", uri=True, timeout=timeout, isolation_level=None,
                               check_same_thread=False)


def verify_file(path: str | os.PathLike[str], public_key: signing.KeyLike | None = None) -> AuditReport:
    """Verify an audit log file: SQLite, or JSON Lines (``.jsonl``) as exported. A file that
    cannot be read as either is reported as ``corrupt`` rather than raised."""

    path = os.fspath(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no audit log at {path}")
    if path.endswith((".jsonl", ".ndjson")):
        return verify_jsonl(path, public_key)
    try:
        log = AuditLog(path, readonly=True)
    except ValueError as exc:
        return AuditReport(0, [Finding(None, "corrupt", str(exc))])
    with log:
        return log.verify(public_key)
