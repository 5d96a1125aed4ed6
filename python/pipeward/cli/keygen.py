"""``pipeward keygen``: a new Ed25519 key pair for signing manifests."""

from __future__ import annotations

import argparse
import json

from . import EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "keygen",
        help="generate an Ed25519 key pair (PEM) for signing manifests",
        description="Write a new Ed25519 private key to FILE (mode 0600) and its public key to "
                    "FILE.pub, and print the key id (SHA-256 of the raw public key).",
        epilog="example: pipeward keygen -o release.pem  (then: manifest build --sign release.pem, "
               "manifest verify --pubkey release.pem.pub)",
    )
    p.add_argument("-o", "--output", required=True, metavar="FILE", help="private key file to write")
    p.add_argument("--public", metavar="FILE", help="public key file (default: FILE.pub)")
    p.add_argument("--force", action="store_true",
                   help="replace existing key files (with new files: a link is replaced, not followed)")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..signing import save_keypair  # noqa: PLC0415

    public = args.public or args.output + ".pub"
    try:
        kid = save_keypair(args.output, public, overwrite=args.force)
    except FileExistsError as exc:
        raise CLIError(f"{exc.filename!r} exists; pass --force to replace it") from None
    if args.json:
        print(json.dumps({"private_key": args.output, "public_key": public, "key_id": kid}))
    elif not args.quiet:
        print(f"key id {kid}\nprivate key: {args.output} (keep it secret)\npublic key:  {public}")
    return EXIT_OK
