"""``pipeward erase``: remove data subjects' rows from a dataset, re-sign its manifest, and
say which models were trained on the old data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from . import EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "erase",
        help="erase data subjects (GDPR art. 17) from a dataset's CSV/Parquet files",
        description="Remove every row whose COLUMN holds one of the values in FILE (one a "
                    "line) from the CSV and Parquet files under DIR; rebuild (and re-sign) the "
                    "manifest; record the erasure in the audit log by token only; list the "
                    "models trained on the old data (from lineage attestations).",
        epilog="example: pipeward erase data/ --column email --values erase.txt "
               "--manifest data.manifest.json --sign key.pem --audit audit.db --attestation train.att.json",
    )
    p.add_argument("dir", metavar="DIR", help="the dataset directory")
    p.add_argument("--column", required=True, help="the column that identifies a subject")
    p.add_argument("--values", required=True, metavar="FILE", help="values to erase, one a line")
    p.add_argument("--manifest", metavar="FILE", help="the dataset's manifest: rebuilt and saved over")
    p.add_argument("--sign", metavar="KEY", help="Ed25519 private key (PEM) to re-sign the manifest")
    p.add_argument("--audit", metavar="LOG", help="audit log to record the erasure in")
    p.add_argument("--token-key", metavar="FILE",
                   help="tokenization key file (raw bytes): subjects are recorded as these tokens")
    p.add_argument("--attestation", action="append", default=[], metavar="FILE",
                   help="lineage attestation (DSSE) to find affected models (repeatable)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..protect.erase import erase  # noqa: PLC0415

    lines = Path(args.values).read_text(encoding="utf-8").splitlines()
    values = [line for line in lines if line]
    if not values:
        raise CLIError(f"{args.values}: no values to erase")
    audit = None
    if args.audit:
        from ..audit import AuditLog  # noqa: PLC0415

        audit = AuditLog(args.audit)
    token_key = Path(args.token_key).read_bytes() if args.token_key else None
    try:
        report = erase(args.dir, args.column, values, manifest=args.manifest, sign_with=args.sign,
                       audit=audit, token_key=token_key, attestations=args.attestation)
    finally:
        if audit is not None:
            audit.close()
    if args.json:
        print(json.dumps(report.to_dict(), indent=1))
        return EXIT_OK
    print(f"erased {report.total_removed} row(s) of {len(values)} subject(s) from "
          f"{len(report.rows_removed)} file(s); manifest {report.old_root[:16]}... -> {report.new_root[:16]}...")
    for m in report.models:
        print(f"trained on the old data: {m['name']} (step {m['step']}, root {m['root'][:16]}...): "
              f"retrain or unlearn")
    return EXIT_OK
