"""``pipeward audit``: verify, show, export, import and checkpoint an audit log."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "audit",
        help="verify, show, export or checkpoint a tamper-evident audit log",
        description="Work with a pipeward audit log (SQLite, or an exported .jsonl for verify).",
        epilog="example: pipeward audit verify audit.db --pubkey audit.pem.pub --json",
    )
    actions = p.add_subparsers(dest="audit_command", metavar="ACTION")
    actions.required = True

    v = actions.add_parser(
        "verify", help="re-derive the hash chain and checkpoints; exit 1 on any tampering",
        description="Re-derive every record hash, link and signed checkpoint. Exit 0 when the log "
                    "is intact (warnings allowed), 1 when tampering is found or the evidence asked "
                    "for is missing, 2 on bad input.",
        epilog="example: pipeward audit verify audit.db --pubkey old.pem.pub --pubkey new.pem.pub "
               "--checkpoint witness.json")
    v.add_argument("log", help="audit log: SQLite file, or an export ending in .jsonl")
    _evidence_options(v)
    v.add_argument("--strict", action="store_true",
                   help="require a verified checkpoint over every record, and exit 1 on warnings too")
    v.add_argument("--json", action="store_true", help="machine-readable report")
    v.add_argument("-q", "--quiet", action="store_true", help="print nothing; use the exit code")
    v.set_defaults(func=run_verify)

    s = actions.add_parser(
        "show", help="print records (as stored: verify first)",
        description="Print the records of an audit log, oldest first.",
        epilog="example: pipeward audit show audit.db --action training.dp --last 5")
    s.add_argument("log", help="audit log (SQLite)")
    s.add_argument("--action", action="append", help="only this action (repeatable)")
    s.add_argument("--subject", help="only this subject")
    s.add_argument("--last", type=int, metavar="N", help="only the last N matching records")
    s.add_argument("--json", action="store_true", help="one JSON object per line")
    s.set_defaults(func=run_show)

    e = actions.add_parser(
        "export", help="write the log as JSON Lines (to archive it or verify it elsewhere)",
        description="Export records and checkpoints as JSON Lines.",
        epilog="example: pipeward audit export audit.db -o audit.jsonl")
    e.add_argument("log", help="audit log (SQLite)")
    e.add_argument("-o", "--output", help="output file (default: standard output)")
    e.set_defaults(func=run_export)

    i = actions.add_parser(
        "import", help="verify a JSON Lines export and load it into a new SQLite log, as it is",
        description="Verify an export, then load it into a new SQLite file without recomputing "
                    "anything. Exit 1 (nothing written) when it does not verify, 2 when the file "
                    "is not an export.",
        epilog="example: pipeward audit import audit.jsonl -o copy.db --pubkey audit.pem.pub")
    i.add_argument("jsonl", help="exported log (.jsonl)")
    i.add_argument("-o", "--output", required=True, help="new SQLite file to create")
    _evidence_options(i)
    i.set_defaults(func=run_import)

    c = actions.add_parser(
        "checkpoint", help="verify the log, then sign its record count and Merkle root",
        description="Verify the log, then append a signed checkpoint over all records so far "
                    "(--key), or take the latest one it holds (no --key). With -o, save it to FILE "
                    "for a witness to keep; a checkpoint already in FILE must be extended by the "
                    "log, or nothing is signed or saved (exit 1).",
        epilog="example: pipeward audit checkpoint audit.db --key audit.pem -o witness.json")
    c.add_argument("log", help="audit log (SQLite)")
    c.add_argument("--key", help="Ed25519 private key (PEM) to sign a new checkpoint with")
    _key_options(c, "(without --key) the saved checkpoint must be signed with")
    c.add_argument("-o", "--output", metavar="FILE",
                   help="save the checkpoint here (after checking the log extends the one there)")
    c.add_argument("--json", action="store_true", help="machine-readable output")
    c.set_defaults(func=run_checkpoint)


def _key_options(p: argparse.ArgumentParser, what: str) -> None:
    p.add_argument("--pubkey", action="append", metavar="KEY",
                   help=f"Ed25519 public key (PEM, NAME.pem.pub) {what}; repeat it for a key "
                        "rotation (each checkpoint by one of them). A private key is refused")
    p.add_argument("--trust-store", metavar="STORE",
                   help="instead of --pubkey: a trust store (pipeward trust); each signer must be "
                        "a key it trusts at the time of signing")


def _pinned(args: argparse.Namespace):  # noqa: ANN202 - list of key paths, a TrustStore, or None
    if args.pubkey and args.trust_store:
        raise CLIError("give --pubkey or --trust-store, not both")
    if args.trust_store:
        from ..trust import TrustStore  # noqa: PLC0415

        if not Path(args.trust_store).is_file():
            raise CLIError(f"no trust store at {args.trust_store}")
        return TrustStore.load(args.trust_store)
    for key in args.pubkey or ():
        if not Path(key).is_file():
            raise CLIError(f"--pubkey file {key} does not exist")
    return args.pubkey or None


def _evidence_options(p: argparse.ArgumentParser) -> None:
    _key_options(p, "the checkpoints must be signed with (a checkpoint signed by it must then "
                    "cover the log)")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="a checkpoint saved earlier (audit checkpoint -o): the log must extend it, "
                        "which catches a rollback to an older copy")


def _saved_checkpoint(path: str | None):  # noqa: ANN202
    from ..audit import Checkpoint  # noqa: PLC0415

    if path is None:
        return None
    if not Path(path).is_file():
        raise CLIError(f"no checkpoint file at {path}")
    return Checkpoint.load(path)


def _refused(exc: Exception) -> int:
    """A log refused because it does not verify: a failed check, named in one line."""
    print(f"pipeward audit: {exc}", file=sys.stderr)
    return EXIT_CHECK_FAILED


def _open(path: str, *, readonly: bool = True):  # noqa: ANN202
    from ..audit import AuditLog  # noqa: PLC0415

    if not Path(path).is_file():
        raise CLIError(f"no audit log at {path}")
    return AuditLog(path, readonly=readonly, create=False)


def run_verify(args: argparse.Namespace) -> int:
    from ..audit import verify_file  # noqa: PLC0415

    if not Path(args.log).is_file():
        raise CLIError(f"no audit log at {args.log}")
    report = verify_file(args.log, _pinned(args), checkpoint=_saved_checkpoint(args.checkpoint),
                         require="head" if args.strict else None)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif not args.quiet:
        print(report.summary())
    failed = not report.ok or (args.strict and report.warnings)
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def run_show(args: argparse.Namespace) -> int:
    if args.last is not None and args.last < 0:
        raise CLIError(f"--last expects a count >= 0, got {args.last}")
    with _open(args.log) as log:
        records = list(log.records(action=args.action, subject=args.subject))
    if args.last is not None:
        records = records[len(records) - args.last:] if args.last else []
    if args.json:
        for r in records:
            print(json.dumps(r.to_dict(), ensure_ascii=False, sort_keys=True))
    else:
        print(format_records(records), end="")
    return EXIT_OK


def _human_time(ts: str) -> str:
    """``2026-01-01T00:00:00.011000Z`` as ``2026-01-01 00:00:00 UTC`` (the stored text if odd)."""
    if len(ts) >= 19 and ts[10] == "T" and ts.endswith("Z"):
        return f"{ts[:10]} {ts[11:19]} UTC"
    return ts


def _value(v: object) -> str:
    text = v if isinstance(v, str) else json.dumps(v, ensure_ascii=False, sort_keys=True)
    return text.replace("\n", "\\n")


def format_records(records: list) -> str:  # list[Record]
    """One block per record: an aligned header line (number, time, actor, action, subject, the
    first 12 hex digits of its hash), then the payload one ``key: value`` per line."""
    if not records:
        return "(no records)\n"
    seq_w = max(len(f"#{r.seq}") for r in records)
    actor_w = max(len(r.actor) for r in records)
    action_w = max(len(r.action) for r in records)
    lines = []
    for r in records:
        subject = f"  [{r.subject}]" if r.subject else ""
        lines.append(f"{f'#{r.seq}':<{seq_w}}  {_human_time(r.ts)}  {r.actor:<{actor_w}}  "
                     f"{r.action:<{action_w}}  {r.hash[:12]}{subject}".rstrip())
        key_w = max((len(k) for k in r.payload), default=0)
        lines.extend(f"{'':<{seq_w}}    {k + ':':<{key_w + 1}} {_value(v)}"
                     for k, v in sorted(r.payload.items()))
    return "\n".join(lines) + "\n"


def run_export(args: argparse.Namespace) -> int:
    with _open(args.log) as log:
        n = log.export_jsonl(args.output if args.output else sys.stdout)
    if args.output:
        print(f"exported {n} records to {args.output}", file=sys.stderr)
    return EXIT_OK


def run_import(args: argparse.Namespace) -> int:
    from ..audit import AuditLog, VerificationError  # noqa: PLC0415

    if not Path(args.jsonl).is_file():
        raise CLIError(f"no export at {args.jsonl}")
    if Path(args.output).exists():
        raise CLIError(f"{args.output} exists; import into a new file")
    try:
        log = AuditLog.import_jsonl(args.jsonl, args.output, public_key=_pinned(args),
                                    checkpoint=_saved_checkpoint(args.checkpoint))
    except VerificationError as exc:
        return _refused(exc)
    with log:
        print(f"verified and imported {len(log)} records into {args.output}", file=sys.stderr)
    return EXIT_OK


def run_checkpoint(args: argparse.Namespace) -> int:
    from ..audit import Checkpoint, VerificationError  # noqa: PLC0415

    if args.key is None and args.output is None:
        raise CLIError("give --key to sign a new checkpoint, or -o FILE to save the latest one")
    previous = None
    if args.output is not None and Path(args.output).exists():
        try:
            previous = Checkpoint.load(args.output)
        except ValueError as exc:
            raise CLIError(f"refusing to overwrite {args.output}: {exc}") from None
    with _open(args.log, readonly=args.key is None) as log:
        try:
            if args.key is not None:
                cp = log.checkpoint(args.key, since=previous)
            else:  # every stored checkpoint verified, so the latest one can be handed on
                report = log.verify(_pinned(args), checkpoint=previous)
                if not report.ok:
                    raise VerificationError(f"refusing to save a checkpoint of {args.log}", report)
                stored = log.checkpoints()
                if not stored:
                    raise CLIError(f"{args.log} holds no checkpoint yet: sign one with --key")
                cp = stored[-1]
        except VerificationError as exc:
            return _refused(exc)
    if args.output is not None:
        cp.save(args.output)
    if args.json:
        print(json.dumps(cp.to_dict(), indent=2))
    else:
        print(f"checkpoint: {cp.size} records, root {cp.root}, key {cp.key_id[:16]}")
    return EXIT_OK
