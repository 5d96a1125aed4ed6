"""``pipeward report``: one self-contained HTML report from saved results and an audit log."""

from __future__ import annotations

import argparse
import json
import sqlite3
import sys
from pathlib import Path
from typing import Any

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError
from .audit import _key_options, _pinned


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="build a self-contained HTML report from an audit log and saved results",
        description="Build one self-contained HTML file (inline charts, no script, no network) "
                    "from any mix of: a demo's results.json, an audit log (its chain status, "
                    "records, drift checks and model card), drift results (pipeward drift "
                    "--json), screen results (pipeward screen --json) and a manifest. Exit 0 "
                    "when written, 1 when written but the audit log fails verification or "
                    "the manifest's signature does not verify with --pubkey or --trust-store, 2 "
                    "on an input error.",
        epilog="example: pipeward report --audit audit.db --drift today.json --screen screen.json "
               "-o report.html",
    )
    p.add_argument("-o", "--output", default="report.html", metavar="FILE",
                   help="HTML file to write (default: report.html)")
    p.add_argument("--results", metavar="FILE", help="results.json written by pipeward demo")
    p.add_argument("--audit", metavar="LOG", help="audit log (SQLite file) to verify and show")
    _key_options(p, "the audit log's checkpoints and the manifest must be signed with")
    p.add_argument("--drift", action="append", default=[], metavar="FILE",
                   help="drift results JSON (repeatable; the file name labels the chart)")
    p.add_argument("--screen", metavar="FILE", help="screen results JSON")
    p.add_argument("--manifest", metavar="FILE", help="manifest JSON")
    p.add_argument("--title", default=None, help="report title")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    p.set_defaults(func=run)


def _read_json(path: str, what: str) -> Any:
    file = Path(path)
    if not file.is_file():
        raise CLIError(f"{what} file {path} does not exist")
    try:
        return json.loads(file.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CLIError(f"{what} file {path} is not JSON: {exc}") from None


def run(args: argparse.Namespace) -> int:
    from .._core import __version__  # noqa: PLC0415
    from ..report import write_report  # noqa: PLC0415
    from ..report import inputs  # noqa: PLC0415

    if not (args.results or args.audit or args.drift or args.screen or args.manifest):
        raise CLIError("nothing to report: give at least one of --results, --audit, --drift, "
                       "--screen, --manifest")
    data: dict[str, Any] = {}
    if args.results:
        saved = _read_json(args.results, "--results")
        if not isinstance(saved, dict) or not isinstance(saved.get("report"), dict):
            raise CLIError(f"--results {args.results}: expected the results.json of pipeward demo "
                           "(a 'report' object inside)")
        data.update(saved["report"])
    data["title"] = args.title or data.get("title") or "pipeward report"
    data.setdefault("meta", {})["pipeward"] = __version__
    keys = _pinned(args)
    if args.manifest:
        from ..manifest import Manifest  # noqa: PLC0415

        if not Path(args.manifest).is_file():
            raise CLIError(f"--manifest file {args.manifest} does not exist")
        data["integrity"] = inputs.manifest_section(Manifest.load(args.manifest), keys)
    drift = list(data.get("drift") or [])
    for path in args.drift:
        drift.append(inputs.drift_section(_read_json(path, "--drift"), Path(path).stem))
    if args.screen:
        data["screen"] = inputs.screen_section(_read_json(args.screen, "--screen"))
    audit_ok = None
    if args.audit:
        audit_ok = _add_audit(data, drift, args.audit, keys)
    if drift:
        data["drift"] = drift
    out = write_report(data, args.output)
    # A signature checked with the keys given that does not verify fails the report as the log does.
    signature_ok = data["integrity"]["signature"] == "valid" if args.manifest and keys is not None else None
    summary = {"report": str(out), "sections": [k for k in ("integrity", "screen", "privacy", "drift",
                                                            "guard", "fairness", "explanations",
                                                            "compliance", "security", "audit",
                                                            "model_card") if data.get(k)],
               "audit_ok": audit_ok, "signature_ok": signature_ok}
    if args.json:
        json.dump(summary, sys.stdout, indent=2)
        print()
    elif not args.quiet:
        print(f"wrote {out} ({', '.join(summary['sections']) or 'no sections'})")
        if audit_ok is False:
            print(f"audit log {args.audit} FAILED verification: see the report's governance section")
        if signature_ok is False:
            given = f"trust store {args.trust_store}" if args.trust_store else ", ".join(args.pubkey)
            why = data["integrity"]["signature"]
            print(f"manifest {args.manifest}: signature INVALID with {given}"
                  + ("" if why == "invalid" else f" ({why})"))
    return EXIT_CHECK_FAILED if False in (audit_ok, signature_ok) else EXIT_OK


def _add_audit(data: dict[str, Any], drift: list[dict[str, Any]], path: str, keys: Any) -> bool:
    if not Path(path).is_file():
        raise CLIError(f"--audit file {path} does not exist")
    from ..audit import AuditLog, ModelCard  # noqa: PLC0415
    from ..report import inputs  # noqa: PLC0415
    from ..report.accountability import accountability_sections  # noqa: PLC0415

    try:
        log = AuditLog(path, readonly=True)
    except sqlite3.DatabaseError as exc:
        raise CLIError(f"--audit {path} is not a pipeward audit log: {exc}") from None
    with log:
        data["audit"] = inputs.audit_section(log, keys)
        records = list(log.records())
        if not drift:
            drift.extend(inputs.drift_sections_from_audit(records))
        for key, section in accountability_sections(records).items():
            data.setdefault(key, section)
        if "model_card" not in data and any(r.action == "model.registered" for r in records):
            data["model_card"] = {"text": ModelCard.from_audit(log, public_key=keys).to_markdown()}
    return bool(data["audit"]["ok"])
