"""``pipeward demo``: the whole secured pipeline on bundled real data, with an HTML report."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "demo",
        help="run every stage pipeward secures on real data and write report.html",
        description="Run a complete secured pipeline on the bundled Breast Cancer Wisconsin "
                    "data: signed manifest and tamper detection, a poisoning screen, DP-SGD "
                    "training with privacy accounting, drift and input monitoring, fairness (over a "
                    "documented synthetic group), explanations, a GDPR compliance checklist, a "
                    "verified audit log and model card, and a self-contained HTML report. No network, "
                    "no optional dependency; a few seconds. Exit 0 when every check the demo "
                    "makes passes, 1 when one fails, 2 on a usage error.",
        epilog="example: pipeward demo --out pipeward-demo && xdg-open pipeward-demo/report.html",
    )
    p.add_argument("-o", "--out", default="pipeward-demo", metavar="DIR",
                   help="folder for the data, keys, manifest, audit log, model card and report "
                        "(default: ./pipeward-demo; created if missing)")
    p.add_argument("--seed", type=int, default=0, metavar="N", help="random seed (default: 0)")
    p.add_argument("--fast", action="store_true", help="fewer training steps (for tests)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing but errors")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..demo import Settings, run_demo  # noqa: PLC0415

    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise CLIError(f"--out {out} is a file; give a folder (it is created if missing)")
    if args.seed < 0:
        raise CLIError(f"--seed must be >= 0, got {args.seed}")
    settings = Settings.fast(args.seed) if args.fast else Settings(seed=args.seed)
    quiet = args.quiet or args.json
    result = run_demo(out, settings=settings, echo=None if quiet else print)
    if args.json:
        saved = json.loads((out / "results.json").read_text())
        saved.pop("report", None)  # the plot data; it stays in results.json
        json.dump(saved, sys.stdout, indent=2)
        print()
    elif not args.quiet:
        print(f"\nopen {result.paths['report']} in a browser; the model card is "
              f"{result.paths['model_card']}")
        print(f"{result.paths['private_key']} is a throwaway DEMO signing key (mode 0600): never "
              "sign real data with it; make your own with `pipeward keygen`")
    return EXIT_OK if result.ok else EXIT_CHECK_FAILED
