"""``pipeward encrypt``: encrypt a file in the age v1 format (``age -d`` decrypts it)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from . import EXIT_OK, CLIError
from ._secrets import binary_streams, read_passphrase, to_files


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "encrypt",
        help="encrypt a file to age recipients or with a passphrase (age v1 format)",
        description="Encrypt INPUT (default: stdin) to OUTPUT (default: stdout) in the age v1 "
                    "format, readable by `age -d`; or with --cipher aes-256-gcm in pipeward's "
                    "AES-256-GCM variant.",
        epilog="example: pipeward encrypt -r age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p "
               "-o data.csv.age data.csv",
    )
    p.add_argument("input", nargs="?", metavar="INPUT", help="file to encrypt (default: stdin)")
    p.add_argument("-o", "--output", metavar="OUTPUT", help="file to write (default: stdout)")
    p.add_argument("-r", "--recipient", action="append", default=[], metavar="RECIPIENT",
                   help="age1... public key to encrypt to (repeatable)")
    p.add_argument("-R", "--recipients-file", action="append", default=[], metavar="FILE",
                   help="file of age1... recipients, one a line, '#' comments (repeatable)")
    p.add_argument("-p", "--passphrase", action="store_true",
                   help="encrypt with a passphrase asked on the terminal (scrypt)")
    p.add_argument("--passphrase-file", metavar="FILE",
                   help="encrypt with the passphrase on the first line of FILE")
    p.add_argument("--work-factor", type=int, default=18, metavar="N",
                   help="scrypt log2(N) for passphrases (default: 18, as age)")
    p.add_argument("--cipher", choices=["chacha20-poly1305", "aes-256-gcm"],
                   default="chacha20-poly1305",
                   help="payload AEAD: chacha20-poly1305 is age v1 (default); aes-256-gcm is "
                        "pipeward's FIPS-friendly variant, which age cannot read")
    p.add_argument("--audit", metavar="LOG", help="record the encryption (data.encrypted) in this "
                   "audit log; needs -o OUTPUT and an INPUT file")
    p.add_argument("--json", action="store_true",
                   help="print sizes and SHA-256 digests of the plaintext and ciphertext")
    p.set_defaults(func=run)


def _recipients(args: argparse.Namespace) -> list[str]:
    found = list(args.recipient)
    for file in args.recipients_file:
        for line in Path(file).read_text(encoding="utf-8").splitlines():
            if line.strip() and not line.lstrip().startswith("#"):
                found.append(line.strip())
    return found


def run(args: argparse.Namespace) -> int:
    from ..protect import encrypt_file, encrypt_stream  # noqa: PLC0415

    recipients = _recipients(args)
    passphrase = read_passphrase(args.passphrase, args.passphrase_file, confirm=True)
    if bool(recipients) == (passphrase is not None):
        raise CLIError("give recipients (-r/-R) or a passphrase (-p/--passphrase-file), not both "
                       "and not neither")
    options = {"recipients": recipients or None, "passphrase": passphrase, "cipher": args.cipher,
               "work_factor": args.work_factor, "digests": args.json}
    if args.audit and not to_files(args.input, args.output):
        raise CLIError("--audit records an encrypted file: give INPUT and -o OUTPUT files")
    if to_files(args.input, args.output):
        if args.audit:
            from ..audit import AuditLog  # noqa: PLC0415

            with AuditLog(args.audit) as log:
                result = encrypt_file(args.input, args.output, **options, audit=log,
                                      dataset=Path(args.input).name)
        else:
            result = encrypt_file(args.input, args.output, **options)
    else:
        with binary_streams(args.input, args.output) as (src, dst):
            result = encrypt_stream(src, dst, **options)
    if args.json:
        print(json.dumps(dataclasses.asdict(result)), file=sys.stderr if args.output in (None, "-") else sys.stdout)
    return EXIT_OK
