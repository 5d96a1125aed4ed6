"""``pipeward card``: a model card built from the facts in an audit log."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "card",
        help="write a model card from the facts recorded in an audit log",
        description="Assemble a model card (Mitchell et al. sections) from an audit log; every "
                    "value links to its record and values the log lacks are marked missing. "
                    "Exit 1 when the log fails verification (the card is still written, flagged).",
        epilog="example: pipeward card audit.db --model churn-v2 -o MODEL_CARD.md",
    )
    p.add_argument("log", help="audit log (SQLite)")
    p.add_argument("--model", help="model name (default: the model registered last)")
    from .audit import _key_options  # noqa: PLC0415

    _key_options(p, "the log's checkpoints must be signed with (a checkpoint signed by it must "
                    "then cover the log)")
    p.add_argument("--checkpoint", metavar="FILE",
                   help="a checkpoint saved earlier (audit checkpoint -o) that the log must extend")
    p.add_argument("-o", "--output", help="output file (default: standard output)")
    p.add_argument("--json", action="store_true", help="write JSON instead of Markdown")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..audit import AuditLog, ModelCard  # noqa: PLC0415

    if not Path(args.log).is_file():
        raise CLIError(f"no audit log at {args.log}")
    from .audit import _pinned, _saved_checkpoint  # noqa: PLC0415

    saved = _saved_checkpoint(args.checkpoint)
    keys = _pinned(args)
    with AuditLog(args.log, readonly=True) as log:
        try:
            card = ModelCard.from_audit(log, args.model, public_key=keys, checkpoint=saved)
        except ValueError as exc:
            raise CLIError(str(exc)) from None
    text = card.to_json() if args.json else card.to_markdown()
    if args.output:
        Path(args.output).write_text(text + "\n", encoding="utf-8")
    else:
        sys.stdout.write(text + "\n")
    return EXIT_OK if card.audit.get("ok") else EXIT_CHECK_FAILED
