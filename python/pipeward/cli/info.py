"""``pipeward info``: what this installation can run."""

from __future__ import annotations

import argparse
import json


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show the version, CPU kernel variants, threads and GPU",
        description="Show what this installation can run.",
        epilog="example: pipeward info --json",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from .._capabilities import capabilities  # noqa: PLC0415

    caps = capabilities()
    if args.json:
        print(json.dumps(caps, indent=2))
        return 0
    gpu = caps["gpu"]
    print(f"pipeward {caps['version']}")
    print(f"cpu kernels : {', '.join(caps['isa'])} (limit: {caps['isa_limit']})")
    print(f"threads     : {caps['threads']}")
    print(f"gpu         : {gpu['name'] + ' (sm ' + gpu['compute_capability'] + ')' if gpu else 'none'}")
    return 0
