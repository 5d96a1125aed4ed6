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
import os
import socket
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from .. import merkle, signing
from .canonical import JSONValue, _encode, check_json_value, check_text
from .chain import FORMAT, GENESIS, VERSION, Record, action_prefix, body_bytes, format_timestamp
from .jsonl import read_jsonl, verify_jsonl, write_jsonl
from .pinned import PinnedKeys, PublicKeys, pin_keys
from .checkpoint import Checkpoint, CheckpointLike, as_checkpoint, checkpoint_message
from .redaction import (
    REDACTION_KEY_ENV,
    RedactionKey,
    key_from_environment,
    load_redaction_key,
    pseudonym,
    warn_if_guessable,
)
from .verify import (
    AuditReport,
    Finding,
    VerificationError,
    build_report,
    check_require,
    checkpoint_sizes,
    scan_rows,
    verify_rows,
)

__all__ = ["AuditLog", "verify_file"]

SQLITE_MAGIC = b"SQLite format 3\x00"

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
    ``redaction_key`` keys the pseudonyms of redacted fields: bytes, or the path of a file
    holding the key as hex (default: the environment variable ``PIPEWARD_AUDIT_REDACTION_KEY``,
    hex); it is never stored in the log, and redacting without one is an error (``salt`` is
    its older name); ``durable=True`` syncs every commit to disk (SQLite
    ``synchronous=FULL``) so that even a power cut loses nothing committed -- without it, a
    killed process loses nothing but an OS crash may lose the last commits. ``readonly=True``
    opens an existing log without writing anything to it (what verification and the CLI's
    read commands use, so that checking evidence never changes it).
    """

    def __init__(self, path: str | os.PathLike[str], *, actor: str | None = None,
                 clock: Callable[[], datetime] | None = None,
                 redaction_key: RedactionKey | None = None, salt: bytes | None = None,
                 durable: bool = False, create: bool = True, readonly: bool = False,
                 timeout: float = 60.0) -> None:
        self.path = os.fspath(path)
        self.readonly = bool(readonly)
        self.timeout = float(timeout)
        if (not create or readonly) and self.path != ":memory:" and not Path(self.path).is_file():
            raise FileNotFoundError(f"no audit log at {self.path}")
        self.actor = _text(actor, "actor") if actor is not None else _default_actor()
        self._clock = clock or _utc_now
        if salt is not None:
            if not isinstance(salt, (bytes, bytearray)):
                raise TypeError(f"salt: expected bytes, got {type(salt).__name__}")
            if redaction_key is not None:
                raise TypeError("pass redaction_key or its older name salt, not both")
            redaction_key = salt
        self._redaction_key = None if redaction_key is None else load_redaction_key(redaction_key)
        if (not create or readonly) and self.path != ":memory:":
            _check_sqlite_file(self.path)
        self._lock = threading.RLock()
        self._db: sqlite3.Connection | None = None
        try:
            if readonly:
                self._db = _connect_readonly(self.path, timeout)
            else:
                self._db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None,
                                           check_same_thread=False)
                self._set_wal()
                self._db.execute(f"PRAGMA synchronous={'FULL' if durable else 'NORMAL'}")
                if create:
                    self._create_schema()
            self._meta = self._read_meta()
        except (sqlite3.DatabaseError, ValueError) as exc:
            if self._db is not None:
                self._db.close()
            if isinstance(exc, ValueError):
                raise
            if _is_busy(exc):
                raise self._busy() from None
            raise ValueError(f"{self.path} is not a readable pipeward audit log: {exc}") from None

    def _set_wal(self) -> None:
        """WAL mode, waiting up to ``timeout`` for other processes. Switching a new file's
        journal mode while other processes open it can be refused at once (SQLite skips its
        busy handler where waiting could deadlock), so the wait is done here."""
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self._db.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() >= deadline:
                    raise
                time.sleep(0.005)

    def _busy(self) -> TimeoutError:
        return TimeoutError(f"{self.path}: another writer held the audit log's lock for more than "
                            f"{self.timeout:g} s; nothing was written (AuditLog(timeout=...) sets "
                            "the wait)")

    def _begin_write(self, db: sqlite3.Connection) -> None:
        """Take the log's write lock for one transaction, so the head read inside it is the
        head the new records extend, whatever other processes append. SQLite's busy handler
        retries for ``timeout`` seconds; past that, a TimeoutError that says so."""
        try:
            db.execute("BEGIN IMMEDIATE")
        except sqlite3.OperationalError as exc:
            if _is_busy(exc):
                raise self._busy() from None
            raise

    def _create_schema(self) -> None:
        db = self._db
        self._begin_write(db)
        try:
            tables = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            if tables and "meta" not in tables:
                raise ValueError(f"{self.path} is an SQLite database but not a pipeward audit log")
            for statement in _SCHEMA.split(";\n"):
                if statement.strip():
                    db.execute(statement)
            if db.execute("SELECT count(*) FROM meta").fetchone()[0] == 0:
                meta = {"format": FORMAT, "version": VERSION, "log_id": uuid.uuid4().hex}
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
        if not isinstance(meta.get("log_id"), str) or not meta["log_id"]:
            raise ValueError(f"{self.path} is not a readable pipeward audit log: it names no log_id")
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
        """The keyed hash a redacted field is stored as:
        ``"hmac-sha256:" + HMAC-SHA256(redaction key, canonical_json(value))`` in hex. Equal
        values give equal pseudonyms under one key (across logs too), so records about one user
        can still be found without storing who the user is."""
        return pseudonym(self._key(), value)

    def _key(self) -> bytes:
        if self._redaction_key is not None:
            return self._redaction_key
        key = key_from_environment()
        if key is not None:
            return key
        older = " (this log was written by an older pipeward, which kept the key inside the log: " \
                "see 'Migrating' in docs/audit.md)" if "salt" in self._meta else ""
        raise ValueError(f"redaction needs a key kept outside the log: pass AuditLog(..., redaction_key=) "
                         f"bytes or a key file, or set {REDACTION_KEY_ENV} to it in hex{older}")

    def legacy_salt(self) -> bytes | None:
        """The redaction salt an older pipeward kept inside this log (None for newer logs): the
        key its redacted fields were written with, for looking them up after a migration."""
        salt = self._meta.get("salt")
        try:
            return None if salt is None else bytes.fromhex(salt)
        except (TypeError, ValueError):
            raise ValueError(f"{self.path}: the stored salt is not hex") from None

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
            warn_if_guessable(name, body[name])
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
            self._begin_write(db)
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
    def checkpoint(self, private_key: signing.KeyLike, *, since: CheckpointLike | None = None) -> Checkpoint:
        """Verify the log, then sign its record count and the RFC 6962 Merkle root over all
        record hashes.

        A log that does not verify is not signed (:class:`VerificationError`); nor is one that
        does not extend ``since``, the checkpoint a witness kept from the last time (see
        :meth:`verify`), which is how a rolled-back or replaced log is kept from being signed.
        """
        key = signing.load_private_key(private_key)
        saved = None if since is None else as_checkpoint(since)
        with self._lock:
            db = self._writable()
            self._begin_write(db)
            try:
                report = self._verify_snapshot(db, None, saved, None)
                if not report.ok:
                    raise VerificationError(f"refusing to sign {self.path}", report)
                size, root = report.n_records, bytes.fromhex(report.root)
                ts = format_timestamp(self._clock())
                signature = key.sign(checkpoint_message(self.log_id, size, root, ts))
                public = key.public_key()
                from cryptography.hazmat.primitives import serialization  # noqa: PLC0415

                raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                cp = Checkpoint(self.log_id, size, root.hex(), ts, signing.key_id(public),
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
    def verify(self, public_key: PublicKeys | None = None, *,
               checkpoint: CheckpointLike | None = None, require: str | None = None) -> AuditReport:
        """Re-derive the hash chain and every checkpoint's root and name what does not match.

        ``public_key`` pins the key the checkpoints must be signed with (several keys, for a
        key rotation: each checkpoint by one of them; or a :class:`~pipeward.TrustStore`: by a
        key it trusts at the checkpoint's time), and then a checkpoint signed by it must cover
        the log (``unsigned`` otherwise); without it they are checked
        against the keys stored beside them (which an attacker could replace), and the report
        says so. ``require="head"`` asks for a verified checkpoint over every record,
        ``"checkpoint"`` for one over some (the default with a pinned key). ``checkpoint`` is a
        checkpoint saved earlier and kept outside the log (a :class:`Checkpoint`, its dict, or
        the path of a file from :meth:`Checkpoint.save`): the log must extend it, so a log
        rolled back to an older copy (``rolled_back``) or rewritten (``diverged``) fails.
        """
        check_require(require)
        pinned = pin_keys(public_key)
        saved = None if checkpoint is None else as_checkpoint(checkpoint)
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN")  # one read snapshot for checkpoints and records
                return self._verify_snapshot(db, pinned, saved, require)
            finally:
                if db.in_transaction:
                    db.execute("ROLLBACK")

    def _verify_snapshot(self, db: sqlite3.Connection, public_key: PinnedKeys | None,
                         saved: Checkpoint | None, require: str | None) -> AuditReport:
        """Verify what ``db`` holds inside the transaction the caller opened."""
        try:
            cps = [Checkpoint(*row) for row in db.execute(_CHECKPOINTS_SQL).fetchall()]
            rows = db.execute(_ROWS_SQL + " ORDER BY seq")  # streamed, never all in memory
            scan = scan_rows(rows, checkpoint_sizes([*cps, saved]))
        except sqlite3.DatabaseError as exc:
            return AuditReport(0, [Finding(None, "corrupt", f"SQLite cannot read the log: {exc}")])
        return build_report(scan, cps, log_id=self.log_id, public_key=public_key, saved=saved,
                            require=require)

    def export_jsonl(self, dest: str | os.PathLike[str] | Any) -> int:
        """Write the log as JSON Lines (see :mod:`pipeward.audit.jsonl`); returns the record count."""
        with self._lock:
            return write_jsonl(self._db, self.log_id, dest)

    @classmethod
    def import_jsonl(cls, src: str | os.PathLike[str] | Any, path: str | os.PathLike[str], *,
                     public_key: PublicKeys | None = None, checkpoint: CheckpointLike | None = None,
                     require: str | None = None, **kwargs: Any) -> AuditLog:
        """Verify an exported log, then load it into a new SQLite file as it is (nothing
        recomputed), so that :meth:`verify` there checks what was shipped.

        An export that does not verify (with ``public_key``, ``checkpoint`` and ``require`` as in
        :meth:`verify`) is refused with :class:`VerificationError` and nothing is written: lines
        an import cannot hold (garbage, duplicates) would otherwise be dropped and the copy
        would verify clean. A file that is not an export is a ``ValueError``.
        """
        check_require(require)
        if os.fspath(path) != ":memory:" and Path(path).exists():
            raise FileExistsError(f"{os.fspath(path)} exists; import into a new file")
        header, rows, cps, findings = read_jsonl(src)
        report = verify_rows(rows, cps, log_id=str(header.get("log_id", "")),
                             public_key=pin_keys(public_key),
                             saved=None if checkpoint is None else as_checkpoint(checkpoint),
                             require=require, extra=findings)
        if not report.ok:
            name = src if isinstance(src, (str, os.PathLike)) else "the export"
            raise VerificationError(f"refusing to import {os.fspath(name)}", report)
        log = cls(path, **kwargs)
        with log._lock:
            db = log._db
            log._begin_write(db)
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


def _is_busy(exc: sqlite3.Error) -> bool:
    """SQLite's "database is locked": another connection kept the lock past the busy timeout."""
    return (getattr(exc, "sqlite_errorcode", 0) & 0xFF) == sqlite3.SQLITE_BUSY


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


def _check_sqlite_file(path: str) -> None:
    """``ValueError`` unless ``path`` starts as an SQLite database does (an empty file is read
    as an empty database, which then lacks the log's tables)."""
    with open(path, "rb") as f:
        head = f.read(len(SQLITE_MAGIC))
    if head and head != SQLITE_MAGIC:
        raise ValueError(f"{path} is not a pipeward audit log (not an SQLite database)")


def verify_file(path: str | os.PathLike[str], public_key: PublicKeys | None = None, *,
                checkpoint: CheckpointLike | None = None, require: str | None = None) -> AuditReport:
    """Verify an audit log file: SQLite, or JSON Lines (``.jsonl``) as exported; the options
    are those of :meth:`AuditLog.verify`. A file that is not an audit log at all (not SQLite,
    or SQLite without the log's tables; not an export) is a ``ValueError``: an input error,
    not a finding. Damage inside a log is a finding (``corrupt``)."""

    path = os.fspath(path)
    if not Path(path).is_file():
        raise FileNotFoundError(f"no audit log at {path}")
    if path.endswith((".jsonl", ".ndjson")):
        return verify_jsonl(path, public_key, checkpoint=checkpoint, require=require)
    with AuditLog(path, readonly=True) as log:
        return log.verify(public_key, checkpoint=checkpoint, require=require)
