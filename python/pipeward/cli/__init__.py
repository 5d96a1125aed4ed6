"""The ``pipeward`` command line.

Each subcommand lives in its own module in this package and exposes
``register(subparsers) -> None``; ``main`` discovers them, so a new subcommand is a new file.
Exit codes: 0 ok, 1 a check failed (tampering, drift, suspects), 2 usage or input error.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from collections.abc import Sequence

EXIT_OK = 0
EXIT_CHECK_FAILED = 1
EXIT_USAGE = 2


class CLIError(Exception):
    """An input problem the user can fix; printed without a traceback, exit code 2."""


def build_parser() -> argparse.ArgumentParser:
    from .._core import __version__  # noqa: PLC0415

    parser = argparse.ArgumentParser(
        prog="pipeward",
        description="Secure an ML pipeline: integrity, poisoning screen, DP training, drift, audit.",
        epilog="Exit codes: 0 ok, 1 a check failed, 2 usage or input error.",
    )
    parser.add_argument("--version", action="version", version=f"pipeward {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True
    for info in sorted(pkgutil.iter_modules(__path__), key=lambda i: i.name):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{__name__}.{info.name}")
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except CLIError as exc:
        print(f"pipeward {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except (OSError, ValueError, TypeError) as exc:
        print(f"pipeward {args.command}: error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
