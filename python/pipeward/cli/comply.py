"""``pipeward comply``: answer a compliance profile's requirements from an audit log."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "comply",
        help="check an audit log against a compliance profile (GDPR, CCPA, HIPAA or your own)",
        description="Automated compliance checks: each requirement of a profile is answered "
                    "pass / fail / not recorded from the audit log (and the data and model "
                    "folders), naming the records it read.",
        epilog="example: pipeward comply check --profile gdpr audit.db --data data/",
    )
    actions = p.add_subparsers(dest="comply_command", metavar="ACTION")
    actions.required = True
    c = actions.add_parser(
        "check", help="answer every requirement; exit 1 when one fails",
        description="Exit 0 when no requirement fails ('not recorded' is reported, not failed, "
                    "unless --strict), 1 when one fails, 2 on bad input.",
        epilog="example: pipeward comply check --profile hipaa audit.db --pubkey audit.pem.pub --json")
    c.add_argument("log", metavar="AUDIT.db", help="audit log (SQLite)")
    c.add_argument("--profile", default="gdpr", metavar="gdpr|ccpa|hipaa|FILE",
                   help="a shipped profile or a JSON profile file (default: gdpr)")
    c.add_argument("--data", metavar="DIR", help="data folder to re-hash against the recorded manifest")
    c.add_argument("--model", metavar="DIR", help="model folder to re-hash against the recorded artefact")
    c.add_argument("--name", metavar="MODEL", help="model name (default: the model registered last)")
    from .audit import _key_options  # noqa: PLC0415

    _key_options(c, "the checkpoints must be signed with")
    c.add_argument("--checkpoint", metavar="FILE",
                   help="a checkpoint saved earlier (audit checkpoint -o) that the log must extend")
    c.add_argument("--strict", action="store_true", help="also exit 1 when a requirement is not recorded")
    c.add_argument("--json", action="store_true", help="machine-readable report")
    c.set_defaults(func=run_check)
    s = actions.add_parser(
        "profile", help="print a shipped profile (to copy and edit)",
        description="Print a shipped profile as JSON: requirements, limits and citations.",
        epilog="example: pipeward comply profile gdpr > my-gdpr.json")
    s.add_argument("name", choices=("gdpr", "ccpa", "hipaa"))
    s.set_defaults(func=run_profile)


def run_check(args: argparse.Namespace) -> int:
    from ..accountability.comply import check_compliance, load_profile  # noqa: PLC0415
    from ..audit import AuditLog  # noqa: PLC0415
    from .audit import _pinned, _saved_checkpoint  # noqa: PLC0415

    if not Path(args.log).is_file():
        raise CLIError(f"no audit log at {args.log}")
    for flag, folder in (("--data", args.data), ("--model", args.model)):
        if folder is not None and not Path(folder).is_dir():
            raise CLIError(f"{flag} {folder} is not a folder")
    keys = _pinned(args)
    saved = _saved_checkpoint(args.checkpoint)
    try:
        profile = load_profile(args.profile)
    except (FileNotFoundError, ValueError) as exc:
        raise CLIError(str(exc)) from None
    with AuditLog(args.log, readonly=True) as log:
        report = check_compliance(log, profile, model=args.name, data_dir=args.data,
                                  model_dir=args.model, checkpoint=saved,
                                  public_key=keys)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2, ensure_ascii=False))
    else:
        print(report.summary())
    failed = not report.ok or (args.strict and not report.complete)
    return EXIT_CHECK_FAILED if failed else EXIT_OK


def run_profile(args: argparse.Namespace) -> int:
    from importlib import resources  # noqa: PLC0415

    text = resources.files("pipeward.accountability.comply").joinpath(
        "profiles", f"{args.name}.json").read_text("utf-8")
    sys.stdout.write(text)
    return EXIT_OK
