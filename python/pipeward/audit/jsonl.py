"""JSON Lines export and import, so a log can be archived or verified on another system.

Every line is one canonical JSON object with a ``type``:

* line 1, ``{"format": "pipeward-audit", "log_id": ..., "type": "header", "version": "1"}``;
* one ``{"action", "actor", "hash", "payload", "prev_hash", "seq", "subject", "ts",
  "type": "record"}`` per record, in ``seq`` order, hashes in hex (a stored body that no longer
  parses is shipped as ``{"body_hex", "hash", "prev_hash", "seq", "type"}``);
* one ``{"key_id", "log_id", "public_key", "root", "signature", "size", "ts",
  "type": "checkpoint"}`` per checkpoint.

A record's body, hence its hash, is re-derived from its line alone (see :mod:`pipeward.audit.chain`), so any
system with a SHA-256 and an Ed25519 verifier can check an export.

A file whose first line is not that header is not an export (a CSV, an empty file, any other
JSON): reading it is a ``ValueError``, never an empty log. After the header, a line that cannot
be read is a ``corrupt`` finding: that is damage to an export.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
import sqlite3
from typing import IO, Any

from .canonical import canonical_text
from .chain import FORMAT, VERSION, Record, body_bytes
from .checkpoint import Checkpoint, CheckpointLike, as_checkpoint
from .pinned import PublicKeys, pin_keys
from .verify import AuditReport, Finding, Row, check_require, verify_rows

__all__ = ["read_jsonl", "verify_jsonl", "write_jsonl"]


@contextmanager
def _open(target: str | os.PathLike[str] | IO[str], mode: str) -> Iterator[IO[Any]]:
    if isinstance(target, (str, os.PathLike)):
        if "b" in mode:
            with open(target, mode) as f:
                yield f
        else:
            with open(target, mode, encoding="utf-8", newline="\n") as f:
                yield f
    else:
        yield target


def _parse(line: str | bytes) -> Any:
    text = line.decode("utf-8") if isinstance(line, bytes) else line
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def _read_header(line: str | bytes, name: str) -> dict[str, Any]:
    where = f"{name} is not a pipeward audit export"
    try:
        obj = _parse(line)
    except ValueError:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise ValueError(f"{where}: its first line is not JSON") from None
    if not isinstance(obj, dict) or obj.get("type") != "header" or obj.get("format") != FORMAT:
        raise ValueError(f"{where}: its first line is not the header "
                         f"{{\"format\": \"{FORMAT}\", \"type\": \"header\", ...}}")
    if not isinstance(obj.get("log_id"), str) or not obj["log_id"]:
        raise ValueError(f"{where}: its header names no log_id")
    if obj.get("version") != VERSION:
        raise ValueError(f"{name}: audit export format version {obj.get('version')!r}, this pipeward "
                         f"reads version {VERSION}")
    return obj


def write_jsonl(db: sqlite3.Connection, log_id: str,
                dest: str | os.PathLike[str] | IO[str]) -> int:
    """Write the log in ``db`` (an AuditLog's connection, its lock held by the caller) to
    ``dest`` (a path or a text stream), in one read transaction; returns the number of records."""
    n = 0
    with _open(dest, "w") as out:
        db.execute("BEGIN")
        try:
            out.write(canonical_text({"format": FORMAT, "log_id": log_id, "type": "header",
                                      "version": VERSION}) + "\n")
            for seq, body, prev, h in db.execute("SELECT seq, body, prev_hash, hash FROM records "
                                                 "ORDER BY seq"):
                line: dict[str, Any] = {"hash": bytes(h).hex(), "prev_hash": bytes(prev).hex(),
                                        "type": "record"}
                try:
                    line.update(Record.from_body(body, prev, h).to_dict())
                except (TypeError, ValueError):  # not a record any more: ship the stored bytes
                    line.update(seq=seq, body_hex=bytes(body).hex())
                out.write(canonical_text(line) + "\n")
                n += 1
            for row in db.execute("SELECT log_id, size, root, ts, key_id, public_key, signature "
                                  "FROM checkpoints ORDER BY id"):
                out.write(canonical_text({**Checkpoint(*row).to_dict(), "type": "checkpoint"}) + "\n")
        finally:
            if db.in_transaction:
                db.execute("ROLLBACK")
    return n


def _record_row(obj: dict[str, Any]) -> Row:
    seq = obj["seq"]
    if type(seq) is not int:
        raise ValueError(f"seq must be an integer, got {seq!r}")
    if "body_hex" in obj:
        body = bytes.fromhex(obj["body_hex"])
    else:
        try:
            payload = canonical_text(obj["payload"])
        except (TypeError, ValueError):
            payload = json.dumps(obj["payload"])  # cannot be what was hashed: reads as edited
        body = body_bytes(seq, str(obj["ts"]), str(obj["actor"]), str(obj["action"]),
                          str(obj["subject"]), payload)
    return seq, body, bytes.fromhex(obj["prev_hash"]), bytes.fromhex(obj["hash"])


def read_jsonl(src: str | os.PathLike[str] | IO[str]
               ) -> tuple[dict[str, Any], list[Row], list[Checkpoint], list[Finding]]:
    """Parse an export: ``(header, record rows in seq order, checkpoints, findings)``.

    ``ValueError`` when the first line is not an export's header. Later lines that are not
    valid are reported as ``corrupt`` findings; records out of order in the file as
    ``reordered``; a second record with an existing ``seq`` as ``inserted``.
    """
    name = os.fspath(src) if isinstance(src, (str, os.PathLike)) else "the input"
    header: dict[str, Any] | None = None
    rows: dict[int, Row] = {}
    cps: list[Checkpoint] = []
    findings: list[Finding] = []
    last_seq = -1
    with _open(src, "rb") as f:
        for number, line in enumerate(f, 1):
            if not line.strip():
                continue
            if header is None:
                header = _read_header(line, name)
                continue
            try:
                obj = _parse(line)
                kind = obj.get("type") if isinstance(obj, dict) else None
                if kind == "record":
                    row = _record_row(obj)
                    seq = row[0]
                    if seq in rows:
                        findings.append(Finding(seq, "inserted",
                                                f"line {number}: a second record #{seq}"))
                        continue
                    if seq < last_seq:
                        findings.append(Finding(seq, "reordered",
                                                f"line {number}: record #{seq} comes after #{last_seq}"))
                    last_seq = max(last_seq, seq)
                    rows[seq] = row
                elif kind == "checkpoint":
                    cps.append(Checkpoint.from_dict(obj))
                else:
                    raise ValueError(f"unknown line type {kind!r}")
            except (ValueError, KeyError, TypeError, AttributeError, RecursionError) as exc:
                findings.append(Finding(None, "corrupt", f"line {number} is not a valid record: {exc}"))
    if header is None:
        raise ValueError(f"{name} is not a pipeward audit export: it is empty")
    return header, [rows[s] for s in sorted(rows)], cps, findings


def verify_jsonl(src: str | os.PathLike[str] | IO[str], public_key: PublicKeys | None = None, *,
                 checkpoint: CheckpointLike | None = None, require: str | None = None) -> AuditReport:
    """Verify an exported log without importing it (same checks and options as
    :meth:`AuditLog.verify`); ``ValueError`` if ``src`` is not an export."""
    check_require(require)
    header, rows, cps, findings = read_jsonl(src)
    return verify_rows(rows, cps, log_id=str(header.get("log_id", "")), public_key=pin_keys(public_key),
                       saved=None if checkpoint is None else as_checkpoint(checkpoint), require=require,
                       extra=findings)


