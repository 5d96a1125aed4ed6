"""The ``pipeward`` command line.

Each subcommand lives in its own module in this package and exposes
``register(subparsers) -> None``; ``main`` discovers them, so a new subcommand is a new file.
Exit codes: 0 ok, 1 a check failed (tampering, drift, suspects), 2 usage or input error.
"""

from __future__ import annotations

import argparse
import errno
import importlib
import os
import pkgutil
import sqlite3
import sys
import traceback
import zipfile
from collections.abc import Sequence
from typing import Any, NoReturn

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


class _ClosedStream:
    """Stands in for a standard stream the process was started without (Python sets it to
    None, where ``print`` would silently drop the output): any use is an input error."""

    def __init__(self, name: str) -> None:
        self.name = name

    def _fail(self, *_: Any, **__: Any) -> NoReturn:
        raise OSError(errno.EBADF, f"standard {self.name} is closed")

    write = writelines = read = readline = readinto = fileno = _fail
    buffer = property(_fail)

    def flush(self) -> None:
        pass  # nothing was written; the interpreter flushes at exit

    def isatty(self) -> bool:
        return False


# Errors that mean the input (a file, a stream, an option) is unusable; anything else is a
# bug in pipeward and keeps its traceback. ProgrammingError and InterfaceError are sqlite3
# errors of ours, not of the database.
_INPUT_ERRORS = (CLIError, OSError, ValueError, TypeError, EOFError, zipfile.BadZipFile,
                 sqlite3.DatabaseError)
_OUR_SQLITE_ERRORS = (sqlite3.ProgrammingError, sqlite3.InterfaceError)


def _input_error(exc: BaseException) -> str | None:
    """The one-line message for an input error, or None when ``exc`` is a bug."""
    if isinstance(exc, _OUR_SQLITE_ERRORS):
        return None
    if isinstance(exc, sqlite3.DatabaseError):
        return f"unreadable database: {exc} (a damaged or non-SQLite file)"
    if isinstance(exc, RecursionError):
        frames = traceback.extract_tb(exc.__traceback__)
        if frames and frames[-1].filename.endswith(os.path.join("json", "decoder.py")):
            return "the JSON input is nested too deeply to read"
        return None
    if isinstance(exc, zipfile.BadZipFile):
        return f"not a readable .npz (zip) archive: {exc}"
    if isinstance(exc, EOFError):
        return f"the file ended early (empty or truncated?): {exc}"
    if isinstance(exc, _INPUT_ERRORS):
        return " ".join(str(exc).split()) or type(exc).__name__  # one line
    return None


def _flush_stdout() -> None:
    """Flush standard output now, so a closed pipe or full disk is reported as an error here
    and not as a second message when the interpreter exits."""
    if isinstance(sys.stdout, _ClosedStream) or sys.stdout is None:
        return
    try:
        sys.stdout.flush()
    except OSError:
        devnull = os.open(os.devnull, os.O_WRONLY)  # what is left cannot be delivered
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
        raise


def main(argv: Sequence[str] | None = None) -> int:
    if sys.stdin is None:
        sys.stdin = _ClosedStream("input")  # type: ignore[assignment]
    if sys.stdout is None:
        sys.stdout = _ClosedStream("output")  # type: ignore[assignment]
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code = int(args.func(args) or 0)
        _flush_stdout()
        return code
    except KeyboardInterrupt:
        return 130
    except (*_INPUT_ERRORS, RecursionError) as exc:
        message = _input_error(exc)
        if message is None:
            raise
        try:
            _flush_stdout()
        except OSError:
            pass  # the error being reported comes first
        print(f"pipeward {args.command}: error: {message}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
