"""``pipeward decrypt``: decrypt an age v1 file (or pipeward's AES-256-GCM variant)."""

from __future__ import annotations

import argparse
import sys

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError
from ._secrets import binary_streams, read_passphrase, to_files


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "decrypt",
        help="decrypt an age file with an identity file or a passphrase (exit 1 if tampered)",
        description="Decrypt INPUT (default: stdin) to OUTPUT (default: stdout). With -o the "
                    "output appears only when every chunk authenticated. Exit 1 when the file "
                    "does not authenticate (wrong key or passphrase, truncated, altered).",
        epilog="example: pipeward decrypt -i key.txt -o data.csv data.csv.age",
    )
    p.add_argument("input", nargs="?", metavar="INPUT", help="file to decrypt (default: stdin)")
    p.add_argument("-o", "--output", metavar="OUTPUT", help="file to write (default: stdout)")
    p.add_argument("-i", "--identity", action="append", default=[], metavar="FILE",
                   help="age identity file (AGE-SECRET-KEY-1...; repeatable)")
    p.add_argument("-p", "--passphrase", action="store_true",
                   help="decrypt with a passphrase asked on the terminal")
    p.add_argument("--passphrase-file", metavar="FILE",
                   help="decrypt with the passphrase on the first line of FILE")
    p.add_argument("--max-work-factor", type=int, default=22, metavar="N",
                   help="refuse scrypt work factors above N (default: 22, as age)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..protect import (DecryptError, NotEncryptedError, decrypt_file,  # noqa: PLC0415
                           decrypt_stream)

    passphrase = read_passphrase(args.passphrase, args.passphrase_file, confirm=False)
    if bool(args.identity) == (passphrase is not None):
        raise CLIError("give identity files (-i) or a passphrase (-p/--passphrase-file), not "
                       "both and not neither")
    options = {"identity": args.identity or None, "passphrase": passphrase,
               "max_work_factor": args.max_work_factor}
    try:
        if to_files(args.input, args.output):
            decrypt_file(args.input, args.output, **options)
        else:
            with binary_streams(args.input, args.output) as (src, dst):
                decrypt_stream(src, dst, **options)
    except NotEncryptedError as exc:  # nothing to verify: an input error, not a verdict
        raise CLIError(str(exc)) from None
    except DecryptError as exc:
        print(f"pipeward decrypt: error: {exc}", file=sys.stderr)
        return EXIT_CHECK_FAILED
    return EXIT_OK
