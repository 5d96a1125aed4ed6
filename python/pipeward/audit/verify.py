"""Re-derive an audit log's hash chain and Merkle roots, and name whatever does not match.

One pass over the records (in ``seq`` order) checks ``SHA-256(previous hash || body) == hash``
and the stored ``prev_hash`` for every record, compares timestamps, and grows an RFC 6962 Merkle
frontier whose root is read off at each checkpoint's size, so no tree is ever rebuilt. Only the
records that fail (the *suspects*) are looked at again, to tell an edit from a move:

* a gap in ``seq`` is a deletion;
* a suspect that hashes correctly under its own stored ``prev_hash`` is intact but out of place:
  if its body names another ``seq`` it was moved, together with the records that chain on from
  it up to the next suspect. A shift that runs to the end of the log means records were inserted
  (bodies say ``seq - k``) or deleted (``seq + k``) and the rest renumbered; otherwise the records
  were reordered. If its body names its own ``seq``, the record before it was rewritten and its
  hash recomputed;
* a suspect that hashes to nothing is an edit;
* a checkpoint whose root no longer matches, with nothing else wrong before its size, means the
  chain was recomputed without the signing key (``rewritten``); a checkpoint larger than the log
  means truncation; a signature that fails, or a key other than the pinned one, or a checkpoint
  made for another log, is a bad signature.

Timestamps that go backwards, and logs with no pinned key or no checkpoint, are *warnings*: they
are not by themselves evidence of tampering (clocks are stepped back; hosts disagree), so
``report.ok`` stays True, but they are always reported.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .. import signing
from .chain import GENESIS
from .checkpoint import Checkpoint

__all__ = ["TAMPER_KINDS", "WARNING_KINDS", "AuditReport", "Finding", "Row", "Scan", "build_report",
           "checkpoint_sizes", "fold", "scan_rows", "verify_rows"]

#: kinds that mean the record is not what was written (``report.ok`` is False)
TAMPER_KINDS = frozenset({"edited", "deleted", "inserted", "reordered", "truncated", "rewritten",
                          "bad_signature", "corrupt"})
#: kinds that deserve attention but are not evidence of tampering on their own
WARNING_KINDS = frozenset({"clock_backwards", "unpinned_key", "no_checkpoint"})

# (seq, body, prev hash, hash): what is stored per record
Row = tuple[int, bytes, bytes, bytes]


class Finding(NamedTuple):
    """One thing wrong: the record it concerns (None for the log as a whole), a kind from
    :data:`TAMPER_KINDS` or :data:`WARNING_KINDS`, and a sentence saying what was seen."""

    seq: int | None
    kind: str
    detail: str

    @property
    def severity(self) -> str:
        return "warning" if self.kind in WARNING_KINDS else "tamper"


@dataclass
class AuditReport:
    """The outcome of :meth:`AuditLog.verify`; ``ok`` is False when any finding shows tampering."""

    n_records: int
    findings: list[Finding] = field(default_factory=list)
    checkpoints_verified: int = 0
    checkpoints_total: int = 0
    head_hash: str = GENESIS.hex()
    root: str = hashlib.sha256(b"").hexdigest()

    @property
    def ok(self) -> bool:
        return not any(f.kind in TAMPER_KINDS for f in self.findings)

    @property
    def tampering(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in TAMPER_KINDS]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.kind in WARNING_KINDS]

    def kinds(self) -> set[str]:
        return {f.kind for f in self.findings}

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok, "n_records": self.n_records, "head_hash": self.head_hash,
            "root": self.root, "checkpoints_verified": self.checkpoints_verified,
            "checkpoints_total": self.checkpoints_total,
            "findings": [{"seq": f.seq, "kind": f.kind, "severity": f.severity, "detail": f.detail}
                         for f in self.findings],
        }

    def summary(self) -> str:
        state = "OK" if self.ok else "TAMPERED"
        lines = [f"{state}: {self.n_records} records, {self.checkpoints_verified}/"
                 f"{self.checkpoints_total} checkpoints verified, root {self.root}"]
        for f in self.findings:
            where = "log" if f.seq is None else f"#{f.seq}"
            lines.append(f"  {f.severity:7s} {f.kind:15s} {where:>8s}  {f.detail}")
        return "\n".join(lines)


@dataclass
class Scan:
    """What one pass over the records found; :func:`build_report` turns it into findings."""

    count: int = 0
    head: bytes = GENESIS
    last_seq: int = -1
    root: bytes = hashlib.sha256(b"").digest()
    roots: dict[int, bytes] = field(default_factory=dict)  # checkpoint size -> Merkle root
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected seq, seq found)
    suspects: list[tuple[Row, bytes]] = field(default_factory=list)  # (row, hash it should follow)
    clock: list[tuple[int, bytes, bytes]] = field(default_factory=list)  # (seq, previous ts, ts)


def fold(nodes: list[bytes]) -> bytes:
    """RFC 6962 root from a Merkle frontier (perfect subtree roots, largest first)."""
    root = nodes[-1]
    for node in reversed(nodes[:-1]):
        root = hashlib.sha256(b"\x01" + node + root).digest()
    return root


def checkpoint_sizes(checkpoints: Sequence[Checkpoint]) -> list[int]:
    return sorted({cp.size for cp in checkpoints if type(cp.size) is int and cp.size > 0})


def scan_rows(rows: Iterable[Row], sizes: Sequence[int]) -> Scan:
    """One pass over ``(seq, body, prev_hash, hash)`` rows in ``seq`` order.

    Per record: ``SHA-256(previous hash || body) == hash`` and ``prev_hash == previous hash``
    (else it is a suspect, looked at again later), the timestamp (the body's last 27 bytes
    before ``"}``) against the previous one, and one leaf into the Merkle frontier, whose
    root is read off at every checkpoint size.
    """
    scan = Scan()
    sha = hashlib.sha256
    gaps, suspects, clock, roots = scan.gaps, scan.suspects, scan.clock, scan.roots
    nodes: list[bytes] = []
    count = expected = 0
    prev_h, prev_ts = GENESIS, b""
    targets = iter(sizes)
    target = next(targets, -1)
    # The hot loop: everything it touches is a local name.
    for row in rows:
        seq, body, prev, h = row
        if seq != expected:
            gaps.append((expected, seq))
        if prev != prev_h or sha(prev_h + body).digest() != h:
            suspects.append((row, prev_h))
        ts = body[-29:-2]
        if ts < prev_ts:
            clock.append((seq, prev_ts, ts))
        node = sha(b"\x00" + h).digest()
        count += 1
        n = count
        while not n & 1:
            node = sha(b"\x01" + nodes.pop() + node).digest()
            n >>= 1
        nodes.append(node)
        if count == target:
            roots[count] = fold(nodes)
            target = next(targets, -1)
        prev_h, prev_ts, expected = h, ts, seq + 1
    scan.count, scan.head, scan.last_seq = count, prev_h, expected - 1
    if nodes:
        scan.root = fold(nodes)
    return scan


def verify_rows(rows: Iterable[Row], checkpoints: Sequence[Checkpoint] = (), *, log_id: str = "",
                public_key: signing.KeyLike | None = None,
                extra: Iterable[Finding] = ()) -> AuditReport:
    """Verify ``(seq, body, prev_hash, hash)`` rows given in ``seq`` order."""
    return build_report(scan_rows(rows, checkpoint_sizes(checkpoints)), checkpoints, log_id=log_id,
                        public_key=public_key, extra=extra)


def build_report(scan: Scan, checkpoints: Sequence[Checkpoint], *, log_id: str = "",
                 public_key: signing.KeyLike | None = None,
                 extra: Iterable[Finding] = ()) -> AuditReport:
    """Name what a scan found: record by record first, then the checkpoints."""
    report = AuditReport(n_records=scan.count, checkpoints_total=len(checkpoints),
                         head_hash=scan.head.hex(), root=scan.root.hex())
    findings: list[Finding] = list(extra)
    flagged: set[int] = set()  # records already explained by a finding

    for expect, seq in scan.gaps:
        if seq > expect:
            span = f"#{expect}" if seq == expect + 1 else f"#{expect}..#{seq - 1}"
            findings.append(Finding(expect, "deleted",
                                    f"record {span} missing: seq jumps from {expect - 1} to {seq}"))
        else:
            findings.append(Finding(seq, "reordered", f"record #{seq} comes after #{expect - 1}"))
        flagged.update((expect, seq))

    links, renumbered_deletions = _classify_suspects(scan.suspects, scan.last_seq, flagged, findings)

    for seq in links:
        if seq in flagged or seq - 1 in flagged:
            continue
        findings.append(Finding(seq - 1, "edited",
                                f"record #{seq - 1} was rewritten and its hash recomputed: record #{seq} "
                                "links to a different hash"))
        flagged.add(seq - 1)

    # Deletions in the middle are already named: only records missing past the end are truncation.
    span = scan.last_seq + 1 + renumbered_deletions
    _check_checkpoints(checkpoints, scan.roots, scan.count, span, log_id, public_key, findings, flagged,
                       report)

    for seq, before, ts in scan.clock:
        if seq not in flagged:
            findings.append(Finding(seq, "clock_backwards",
                                    f"timestamp {ts.decode(errors='replace')} is earlier than the previous "
                                    f"record's {before.decode(errors='replace')}"))
    findings.sort(key=lambda f: (-1 if f.seq is None else f.seq, f.kind))
    report.findings = findings
    return report


def _body_seq(body: bytes) -> int | None:
    try:
        obj = json.loads(body)
        seq = obj["seq"] if isinstance(obj, dict) else None
    except (ValueError, KeyError):
        return None
    return seq if type(seq) is int else None


def _classify_suspects(suspects: list[tuple[Row, bytes]], last_seq: int, flagged: set[int],
                       findings: list[Finding]) -> tuple[list[int], int]:
    """Tell edits from moves. Returns the seqs that are intact but link to the wrong hash, and
    how many records were deleted with the rest renumbered."""
    sha = hashlib.sha256
    moved: list[tuple[int, int]] = []  # (stored seq, seq in the body - stored seq)
    links: list[int] = []
    for (seq, body, prev, h), running in suspects:
        if sha(running + body).digest() == h:  # content intact, only the stored prev_hash changed
            findings.append(Finding(seq, "edited", f"record #{seq}'s prev_hash field was altered"))
            flagged.add(seq)
            continue
        intact = sha(prev + body).digest() == h
        body_seq = _body_seq(body) if intact else None
        if not intact or body_seq is None:
            findings.append(Finding(seq, "edited", f"record #{seq}'s content does not match its hash"))
            flagged.add(seq)
        elif body_seq != seq:
            moved.append((seq, body_seq - seq))
            flagged.add(seq)
        else:
            links.append(seq)

    # A moved record's successors chain onto it unchanged, so they carry the same shift up to
    # the next suspect: that is the run of records it moved with.
    suspect_seqs = sorted(row[0] for row, _ in suspects)
    moved_seqs = {seq for seq, _ in moved}
    renumbered_deletions = 0
    for start, d in moved:
        later = [s for s in suspect_seqs if s > start]
        end = later[0] - 1 if later else last_seq
        # Renumbering after an insertion or deletion shifts every later record the same way;
        # a swap leaves shifts that cancel within a few records.
        shifted_to_end = end == last_seq and start - 1 not in moved_seqs
        if shifted_to_end and d < 0:
            first = max(start + d, 0)
            span = f"#{first}" if first == start - 1 else f"#{first}..#{start - 1}"
            # an inserted record with a made-up hash reads as edited: it is the insertion
            findings[:] = [f for f in findings
                           if not (f.kind == "edited" and f.seq is not None and first <= f.seq < start)]
            findings.append(Finding(first, "inserted",
                                    f"record {span} was inserted and records #{start}..#{end} renumbered "
                                    f"(their bodies say seq {d:+d})"))
            flagged.update(range(first, start + 1))
        elif shifted_to_end and d > 0:
            span = f"#{start}" if d == 1 else f"#{start}..#{start + d - 1}"
            findings.append(Finding(start, "deleted",
                                    f"record {span} was deleted and records #{start + d}..#{end + d} "
                                    f"renumbered down by {d}"))
            renumbered_deletions += d
        elif start == end:
            findings.append(Finding(start, "reordered", f"record #{start + d} is stored at #{start}"))
            flagged.add(end + 1)
        else:
            findings.append(Finding(start, "reordered", f"records #{start + d}..#{end + d} are stored "
                                                        f"at #{start}..#{end}"))
            flagged.add(end + 1)
    return links, renumbered_deletions


def _check_checkpoints(checkpoints: Sequence[Checkpoint], roots: dict[int, bytes], count: int,
                       span: int, log_id: str, public_key: signing.KeyLike | None, findings: list[Finding],
                       flagged: set[int], report: AuditReport) -> None:
    if not checkpoints:
        findings.append(Finding(None, "no_checkpoint",
                                "no signed checkpoint: the hash chain alone cannot show that it was "
                                "not recomputed; call log.checkpoint(private_key)"))
        return
    pinned = signing.key_id(public_key) if public_key is not None else None
    if pinned is None:
        findings.append(Finding(None, "unpinned_key",
                                "signatures were checked against the keys stored in the log; pass the "
                                "public key to pin it"))
    good_size = 0
    for number, cp in enumerate(checkpoints):
        name = f"checkpoint {number} (size {cp.size}, {cp.ts})"
        if type(cp.size) is not int or cp.size < 0 or not all(
                isinstance(v, str) for v in (cp.root, cp.ts, cp.key_id, cp.public_key, cp.signature)):
            findings.append(Finding(None, "bad_signature", f"{name} is malformed"))
            continue
        signed_ok = True
        if pinned is not None and cp.key_id != pinned:
            findings.append(Finding(None, "bad_signature",
                                    f"{name} is signed by key {cp.key_id[:16]}..., not the given key "
                                    f"{pinned[:16]}..."))
            signed_ok = False
        elif not cp.signature_valid(public_key):
            findings.append(Finding(None, "bad_signature", f"{name}: the signature does not verify"))
            signed_ok = False
        elif log_id and cp.log_id != log_id:
            findings.append(Finding(None, "bad_signature",
                                    f"{name} was signed for log {cp.log_id}, not this log ({log_id})"))
            signed_ok = False
        if cp.size > span:
            findings.append(Finding(span, "truncated",
                                    f"{name} signed {cp.size} records but the log has {count}: records "
                                    f"#{span}..#{cp.size - 1} were removed"))
            continue
        root = roots.get(cp.size)
        if root is None or root.hex() != cp.root:
            explained = any(s < cp.size for s in flagged)
            if not explained:
                findings.append(Finding(good_size, "rewritten",
                                        f"records #{good_size}..#{cp.size - 1} hash and link correctly but "
                                        f"their Merkle root differs from the one {name} signed: the chain "
                                        "was recomputed without the signing key"))
                flagged.update(range(good_size, min(cp.size, good_size + 1)))
            continue
        good_size = max(good_size, cp.size)
        if signed_ok:
            report.checkpoints_verified += 1
