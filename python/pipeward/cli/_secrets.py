"""Shared by ``pipeward encrypt`` and ``decrypt``: passphrases from a terminal or a file,
and binary input/output that default to stdin/stdout."""

from __future__ import annotations

import contextlib
import getpass
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from . import CLIError


def read_passphrase(prompt: bool, file: str | None, *, confirm: bool) -> str | None:
    """The passphrase from ``--passphrase-file`` (its first line) or a terminal prompt."""
    if file is not None:
        lines = Path(file).read_text(encoding="utf-8").splitlines()
        if not lines or not lines[0]:
            raise CLIError(f"{file}: the passphrase file is empty")
        return lines[0]
    if not prompt:
        return None
    try:
        with open("/dev/tty"):
            pass
    except OSError:
        raise CLIError("-p needs a terminal to ask for the passphrase; use --passphrase-file "
                       "FILE in scripts") from None
    first = getpass.getpass("Enter passphrase: ")
    if not first:
        raise CLIError("the passphrase is empty")
    if confirm and getpass.getpass("Confirm passphrase: ") != first:
        raise CLIError("the passphrases do not match")
    return first


@contextlib.contextmanager
def binary_streams(input: str | None, output: str | None) -> Iterator[tuple[BinaryIO, BinaryIO]]:
    """``(source, sink)``: the named files, or stdin/stdout for None or ``-``."""
    if output in (None, "-") and sys.stdout.isatty():
        raise CLIError("refusing to write binary output to a terminal; use -o FILE or a pipe")
    with contextlib.ExitStack() as stack:
        src = sys.stdin.buffer if input in (None, "-") else stack.enter_context(open(input, "rb"))  # type: ignore[arg-type]
        dst = sys.stdout.buffer if output in (None, "-") else stack.enter_context(open(output, "wb"))  # type: ignore[arg-type]
        yield src, dst


def to_files(input: str | None, output: str | None) -> bool:
    """Whether both ends are named files (then the output can be written atomically)."""
    return input not in (None, "-") and output not in (None, "-")
