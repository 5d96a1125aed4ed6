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

Then the evidence the caller asked for is weighed. A *saved* checkpoint (kept outside the log by
a witness) must be of this log, verify, and have its root reproduced by the log's first records:
a log shorter than it was rolled back (``rolled_back``), one with other records there was
rewritten or replaced (``diverged``). A pinned public key requires a checkpoint signed by it that
covers the log, ``require="head"`` one that covers every record (``unsigned`` otherwise): without
one, a log rewritten and rehashed with its checkpoints deleted would look intact.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from .chain import GENESIS
from .checkpoint import Checkpoint
from .pinned import PinnedKeys, PublicKeys, pin_keys

__all__ = ["REQUIRE", "TAMPER_KINDS", "UNVERIFIED_KINDS", "WARNING_KINDS", "AuditReport", "Finding",
           "Row", "Scan", "VerificationError", "build_report", "checkpoint_sizes", "fold", "scan_rows",
           "verify_rows"]

#: kinds that mean the record is not what was written
TAMPER_KINDS = frozenset({"edited", "deleted", "inserted", "reordered", "truncated", "rewritten",
                          "bad_signature", "corrupt", "rolled_back", "diverged"})
#: kinds that mean the evidence asked for is missing: nothing shows the log was not rewritten
UNVERIFIED_KINDS = frozenset({"unsigned"})
#: kinds that deserve attention but are not evidence of tampering on their own
WARNING_KINDS = frozenset({"clock_backwards", "unpinned_key", "no_checkpoint", "unsigned_tail"})
#: what ``require=`` accepts: a verified checkpoint over some of the log, or over all of it
REQUIRE = ("checkpoint", "head")

EMPTY_ROOT = hashlib.sha256(b"").digest()

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
        """``"tamper"``, ``"unverified"`` (required evidence missing) or ``"warning"``."""
        if self.kind in WARNING_KINDS:
            return "warning"
        return "unverified" if self.kind in UNVERIFIED_KINDS else "tamper"


@dataclass
class AuditReport:
    """The outcome of :meth:`AuditLog.verify`; ``ok`` is False when any finding shows tampering
    or the evidence asked for is missing (:attr:`failures`).

    ``signed_size`` is the number of records covered by the largest checkpoint that verified
    (stored or saved; None when none did): records after it are protected by the chain alone.
    """

    n_records: int
    findings: list[Finding] = field(default_factory=list)
    checkpoints_verified: int = 0
    checkpoints_total: int = 0
    head_hash: str = GENESIS.hex()
    root: str = EMPTY_ROOT.hex()
    signed_size: int | None = None

    @property
    def ok(self) -> bool:
        return not self.failures

    @property
    def state(self) -> str:
        """``"OK"``, ``"TAMPERED"`` or ``"UNVERIFIED"`` (no tampering seen, evidence missing)."""
        if self.tampering:
            return "TAMPERED"
        return "UNVERIFIED" if self.failures else "OK"

    @property
    def failures(self) -> list[Finding]:
        """The findings that make ``ok`` False: tampering and missing evidence."""
        return [f for f in self.findings if f.severity != "warning"]

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
            "checkpoints_total": self.checkpoints_total, "signed_size": self.signed_size,
            "state": self.state,
            "findings": [{"seq": f.seq, "kind": f.kind, "severity": f.severity, "detail": f.detail}
                         for f in self.findings],
        }

    def reason(self) -> str:
        """One line naming why the log failed (empty when it did not)."""
        failures = self.failures
        if not failures:
            return ""
        first = failures[0]
        where = "" if first.seq is None else f" at #{first.seq}"
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        return f"{self.state}: {first.kind}{where}: {first.detail}{more}"

    def summary(self) -> str:
        lines = [f"{self.state}: {self.n_records} records, {self.checkpoints_verified}/"
                 f"{self.checkpoints_total} checkpoints verified, root {self.root}"]
        for f in self.findings:
            where = "log" if f.seq is None else f"#{f.seq}"
            lines.append(f"  {f.severity:10s} {f.kind:15s} {where:>8s}  {f.detail}")
        return "\n".join(lines)


class VerificationError(ValueError):
    """Raised where an operation refuses a log that does not verify (signing it, importing
    it); ``report`` says why."""

    def __init__(self, what: str, report: AuditReport) -> None:
        super().__init__(f"{what}: {report.reason()}")
        self.report = report


@dataclass
class Scan:
    """What one pass over the records found; :func:`build_report` turns it into findings."""

    count: int = 0
    head: bytes = GENESIS
    last_seq: int = -1
    root: bytes = EMPTY_ROOT
    roots: dict[int, bytes] = field(default_factory=lambda: {0: EMPTY_ROOT})  # size -> Merkle root
    gaps: list[tuple[int, int]] = field(default_factory=list)  # (expected seq, seq found)
    suspects: list[tuple[Row, bytes]] = field(default_factory=list)  # (row, hash it should follow)
    clock: list[tuple[int, bytes, bytes]] = field(default_factory=list)  # (seq, previous ts, ts)


def fold(nodes: list[bytes]) -> bytes:
    """RFC 6962 root from a Merkle frontier (perfect subtree roots, largest first)."""
    root = nodes[-1]
    for node in reversed(nodes[:-1]):
        root = hashlib.sha256(b"\x01" + node + root).digest()
    return root


def checkpoint_sizes(checkpoints: Iterable[Checkpoint | None]) -> list[int]:
    return sorted({cp.size for cp in checkpoints if cp is not None and type(cp.size) is int and cp.size > 0})


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
                public_key: PublicKeys | None = None, saved: Checkpoint | None = None,
                require: str | None = None, extra: Iterable[Finding] = ()) -> AuditReport:
    """Verify ``(seq, body, prev_hash, hash)`` rows given in ``seq`` order against the stored
    ``checkpoints``, a ``saved`` checkpoint kept elsewhere and the ``require`` policy (see
    :func:`build_report`)."""
    check_require(require)
    scan = scan_rows(rows, checkpoint_sizes([*checkpoints, saved]))
    return build_report(scan, checkpoints, log_id=log_id, public_key=public_key, saved=saved,
                        require=require, extra=extra)


def check_require(require: str | None) -> None:
    if require is not None and require not in REQUIRE:
        raise ValueError(f"require: expected None, 'checkpoint' or 'head', got {require!r}")


def build_report(scan: Scan, checkpoints: Sequence[Checkpoint], *, log_id: str = "",
                 public_key: PublicKeys | None = None, saved: Checkpoint | None = None,
                 require: str | None = None, extra: Iterable[Finding] = ()) -> AuditReport:
    """Name what a scan found: record by record first, then the checkpoints, then the evidence
    asked for. ``require`` is ``"checkpoint"`` (a verified checkpoint must cover the log; the
    default when ``public_key`` is pinned), ``"head"`` (one must cover every record) or None."""
    check_require(require)
    public_key = pin_keys(public_key)
    if require is None and public_key is not None:
        require = "checkpoint"
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
    if saved is not None:
        _check_saved(saved, scan.roots, scan.count, log_id, public_key, findings, report)
    _check_coverage(report, bool(checkpoints) or saved is not None, public_key is not None, require,
                    findings)

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
                       span: int, log_id: str, public_key: PinnedKeys | None, findings: list[Finding],
                       flagged: set[int], report: AuditReport) -> None:
    if not checkpoints:
        return
    if public_key is None:
        findings.append(Finding(None, "unpinned_key",
                                "signatures were checked against the keys stored in the log; pass the "
                                "public key to pin it"))
    good_size = 0
    for number, cp in enumerate(checkpoints):
        problem = cp.problem()
        if problem is not None:
            findings.append(Finding(None, "bad_signature", f"checkpoint {number} is malformed: {problem}"))
            continue
        name = f"checkpoint {number} (size {cp.size}, {cp.ts})"
        signed_ok = True
        why = public_key.problem(cp) if public_key is not None else None
        if why is not None:
            findings.append(Finding(None, "bad_signature", f"{name}{why}"))
            signed_ok = False
        elif public_key is None and not cp.signature_valid():
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
            report.signed_size = max(report.signed_size or 0, cp.size)


def _check_saved(cp: Checkpoint, roots: dict[int, bytes], count: int, log_id: str,
                 public_key: PinnedKeys | None, findings: list[Finding], report: AuditReport) -> None:
    """The log must extend the checkpoint a witness kept: same log, its records, at least as many."""
    problem = cp.problem()
    if problem is not None:
        findings.append(Finding(None, "bad_signature", f"the saved checkpoint is malformed: {problem}"))
        return
    name = f"the saved checkpoint (size {cp.size}, {cp.ts})"
    why = public_key.problem(cp) if public_key is not None else None
    if why is not None:
        findings.append(Finding(None, "bad_signature", f"{name}{why}"))
        return
    if public_key is None and not cp.signature_valid():
        findings.append(Finding(None, "bad_signature", f"{name}: the signature does not verify"))
        return
    if log_id and cp.log_id != log_id:
        findings.append(Finding(None, "diverged", f"{name} is of another log ({cp.log_id}), not this one "
                                                  f"({log_id}): the log was replaced"))
        return
    if cp.size > count:
        findings.append(Finding(count, "rolled_back",
                                f"{name} signed {cp.size} records but the log has {count}: it was rolled "
                                "back to an older copy or truncated"))
        return
    if roots.get(cp.size, b"").hex() != cp.root:
        findings.append(Finding(None, "diverged",
                                f"the log's first {cp.size} records are not those {name} signed (their "
                                "Merkle root differs): the log was rewritten or replaced"))
        return
    report.signed_size = max(report.signed_size or 0, cp.size)


def _check_coverage(report: AuditReport, any_checkpoint: bool, pinned: bool, require: str | None,
                    findings: list[Finding]) -> None:
    """How much of the log a verified checkpoint covers, against what was asked for."""
    covered, n = report.signed_size, report.n_records
    signer = "signed by the given key" if pinned else "that verifies"
    if require is not None and (covered is None or (covered == 0 and n > 0)):
        findings.append(Finding(None, "unsigned",
                                f"no checkpoint {signer} covers the log: records rewritten and rehashed "
                                "with their checkpoints deleted would look the same"))
    elif require == "head" and covered != n:
        first = covered or 0
        findings.append(Finding(first, "unsigned",
                                f"records #{first}..#{n - 1} are not covered by a checkpoint {signer}"))
    elif covered is not None and covered < n:
        findings.append(Finding(covered, "unsigned_tail",
                                f"records #{covered}..#{n - 1} come after the last verified checkpoint: "
                                "only the hash chain protects them"))
    elif not any_checkpoint and require is None:
        findings.append(Finding(None, "no_checkpoint",
                                "no signed checkpoint: the hash chain alone cannot show that it was "
                                "not recomputed; call log.checkpoint(private_key)"))
