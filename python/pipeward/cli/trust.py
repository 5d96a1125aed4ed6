"""``pipeward trust add|list|revoke``: the trust store of data providers' public keys."""

from __future__ import annotations

import argparse
import json
import os

from . import EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "trust",
        help="manage a trust store of named Ed25519 keys with roles, validity and revocations",
        description="Add, list or revoke the trusted keys in STORE (a JSON file). "
                    "`pipeward manifest verify --trust STORE` then names who signed.",
        epilog="example: pipeward trust add trust.json --name acme --key acme.pem.pub "
               "--role data-provider --not-after 2027-01-01",
    )
    tsub = p.add_subparsers(dest="trust_command", metavar="ACTION")
    tsub.required = True

    a = tsub.add_parser("add", help="trust a public key under a name",
                        description="Add a public key (PEM) to STORE (created if missing).",
                        epilog="example: pipeward trust add trust.json --name acme --key acme.pem.pub")
    a.add_argument("store", metavar="STORE", help="trust store file")
    a.add_argument("--name", required=True, help="who the key belongs to")
    a.add_argument("--key", required=True, metavar="PUBKEY", help="Ed25519 public key (PEM)")
    a.add_argument("--role", action="append", metavar="ROLE",
                   help="role the key may sign for (repeatable; default: data-provider)")
    a.add_argument("--not-before", metavar="TIME", help="start of validity (ISO 8601, UTC)")
    a.add_argument("--not-after", metavar="TIME", help="end of validity (ISO 8601, UTC)")
    a.set_defaults(func=run_add)

    ls = tsub.add_parser("list", help="list the keys of a store",
                         description="List the keys in STORE with their roles and status.",
                         epilog="example: pipeward trust list trust.json --json")
    ls.add_argument("store", metavar="STORE", help="trust store file")
    ls.add_argument("--json", action="store_true", help="machine-readable output")
    ls.set_defaults(func=run_list)

    r = tsub.add_parser("revoke", help="revoke a key (it stays listed, its signatures fail)",
                        description="Mark the key NAME (or key id) revoked in STORE.",
                        epilog="example: pipeward trust revoke trust.json acme --reason 'key leaked'")
    r.add_argument("store", metavar="STORE", help="trust store file")
    r.add_argument("name", metavar="NAME", help="name or key id of the key")
    r.add_argument("--reason", default="", help="why (recorded in the store)")
    r.set_defaults(func=run_revoke)


def _load(path: str, *, create: bool = False):
    from ..trust import TrustStore  # noqa: PLC0415

    if create and not os.path.exists(path):
        return TrustStore()
    return TrustStore.load(path)


def run_add(args: argparse.Namespace) -> int:
    store = _load(args.store, create=True)
    key = store.add(args.name, args.key, roles=args.role or ["data-provider"],
                    not_before=args.not_before, not_after=args.not_after)
    store.save(args.store)
    print(f"added {key.name!r} (key id {key.key_id[:16]}..., roles: {', '.join(key.roles)})")
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    store = _load(args.store)
    if args.json:
        print(json.dumps([k.to_dict() | {"public_key": None} for k in store.keys], indent=1))
        return EXIT_OK
    for k in store.keys:
        d = k.to_dict()
        status = f"REVOKED {d['revoked']['at']}" if d["revoked"] else "active"
        period = f"{d['not_before'] or '-'} .. {d['not_after'] or '-'}"
        print(f"{k.name}\t{k.key_id[:16]}\t{','.join(k.roles)}\t{period}\t{status}")
    return EXIT_OK


def run_revoke(args: argparse.Namespace) -> int:
    store = _load(args.store)
    try:
        key = store.revoke(args.name, reason=args.reason)
    except KeyError as exc:
        raise CLIError(exc.args[0]) from None
    store.save(args.store)
    print(f"revoked {key.name!r} (key id {key.key_id[:16]}...)")
    return EXIT_OK
