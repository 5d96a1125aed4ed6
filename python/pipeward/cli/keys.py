"""``pipeward keys add|list|revoke``: the API keys of a service (only salted hashes are kept)."""

from __future__ import annotations

import argparse
import json

from . import EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("keys", help="manage the API keys of `pipeward serve`",
                       description="The store keeps a salted SHA-256 of each key; the key itself "
                                   "is printed once, by `keys add`.",
                       epilog="example: pipeward keys add --store keys.json --name alice --role analyst")
    verbs = p.add_subparsers(dest="verb", metavar="VERB")
    verbs.required = True
    add = verbs.add_parser("add", help="make a key and print it once on stdout")
    add.add_argument("--store", required=True, metavar="KEYS.json")
    add.add_argument("--name", required=True, help="who or what the key is for")
    add.add_argument("--role", required=True, help="a role of the policy (admin, analyst, user, metrics, ...)")
    add.set_defaults(func=run_add)
    lst = verbs.add_parser("list", help="list the keys (ids, names, roles; never secrets)")
    lst.add_argument("--store", required=True, metavar="KEYS.json")
    lst.add_argument("--json", action="store_true", help="machine-readable output")
    lst.set_defaults(func=run_list)
    rev = verbs.add_parser("revoke", help="revoke a key by id or every key of a name")
    rev.add_argument("--store", required=True, metavar="KEYS.json")
    rev.add_argument("key", metavar="ID_OR_NAME")
    rev.set_defaults(func=run_revoke)


def _store(path: str, create: bool = False):  # noqa: ANN202
    from ..serve import KeyStore  # noqa: PLC0415 - needs the serve extra

    return KeyStore(path, create=create)


def run_add(args: argparse.Namespace) -> int:
    print(_store(args.store, create=True).add(args.name, args.role))
    return EXIT_OK


def run_list(args: argparse.Namespace) -> int:
    keys = _store(args.store).list()
    if args.json:
        print(json.dumps([{k: v for k, v in key.to_dict().items() if k not in ("salt", "hash")}
                          for key in keys], indent=2))
        return EXIT_OK
    for key in keys:
        state = f"revoked {key.revoked}" if key.revoked else "active"
        print(f"{key.id}  {key.name}  role={key.role}  created {key.created}  {state}")
    return EXIT_OK


def run_revoke(args: argparse.Namespace) -> int:
    try:
        ids = _store(args.store).revoke(args.key)
    except KeyError as exc:
        raise CLIError(exc.args[0]) from None
    print(f"revoked {', '.join(ids)}")
    return EXIT_OK
