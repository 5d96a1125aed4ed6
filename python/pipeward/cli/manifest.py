"""``pipeward manifest build|verify``: record a tree's digests, later check nothing changed."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "manifest",
        help="build or verify a signed manifest (SHA-256 + Merkle root) of a directory",
        description="Build or verify a manifest of a directory tree.",
        epilog="example: pipeward manifest build data/ -o data.manifest.json --sign key.pem",
    )
    msub = p.add_subparsers(dest="manifest_command", metavar="ACTION")
    msub.required = True

    b = msub.add_parser(
        "build",
        help="hash every file under DIR and write a manifest",
        description="Hash every file under DIR in parallel and write a JSON manifest with the "
                    "Merkle root of the tree; prints the root.",
        epilog="example: pipeward manifest build data/ -o data.manifest.json --sign key.pem "
               "--exclude '*.tmp' --cache ~/.cache/data.pwcache",
    )
    b.add_argument("dir", metavar="DIR", help="the directory to record")
    b.add_argument("-o", "--output", required=True, metavar="FILE", help="manifest file to write")
    b.add_argument("--sign", metavar="KEY", help="Ed25519 private key (PEM) to sign with")
    b.add_argument("--exclude", action="append", default=[], metavar="PATTERN",
                   help="fnmatch pattern to leave out (repeatable; with '/': relative path, "
                        "without: any name)")
    b.add_argument("--follow-symlinks", action="store_true",
                   help="hash what links point to instead of recording the links")
    b.add_argument("--cache", metavar="FILE", help="digest cache for fast re-builds")
    b.add_argument("--checkfile", metavar="FILE", help="also write a sha256sum -c check file")
    b.add_argument("--workers", type=int, metavar="N", help="hashing threads (default: all)")
    b.add_argument("--json", action="store_true", help="machine-readable output")
    b.add_argument("-q", "--quiet", action="store_true", help="print nothing on success")
    b.set_defaults(func=run_build)

    v = msub.add_parser(
        "verify",
        help="check a directory against a manifest (exit 1 when anything changed)",
        description="Check DIR against a manifest (or a sha256sum check file). Exit 0 when "
                    "intact, 1 with the list of changes otherwise, 2 on an input error.",
        epilog="examples:\n"
               "  pipeward manifest verify data.manifest.json --dir data/ --pubkey key.pem.pub\n"
               "  pipeward manifest verify data.manifest.json --pubkey old.pem.pub "
               "--pubkey new.pem.pub",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    v.add_argument("manifest", metavar="FILE", help="manifest (JSON) or sha256sum check file")
    v.add_argument("--dir", metavar="DIR",
                   help="the tree to check (default: where the manifest says it is, recorded "
                        "relative to the manifest file when it was built; for a check file or an "
                        "older manifest: the current directory)")
    v.add_argument("--any-tree", action="store_true",
                   help="compare even a directory that looks like another tree (most entries "
                        "absent and many unlisted files), which is refused by default")
    v.add_argument("--pubkey", action="append", metavar="KEY",
                   help="Ed25519 public key (PEM): the manifest must carry a valid signature by "
                        "it; repeat for a key rotation (any of the keys may have signed)")
    v.add_argument("--trust", "--trust-store", dest="trust", metavar="STORE",
                   help="trust store (pipeward trust): the signer must be a trusted, valid key")
    v.add_argument("--role", metavar="ROLE", help="with --trust: the role the signer must hold")
    v.add_argument("--cache", metavar="FILE", help="digest cache (see build)")
    v.add_argument("--allow-empty", action="store_true",
                   help="accept a sha256sum check file that lists no files (by default an error: "
                        "it would prove nothing)")
    v.add_argument("--workers", type=int, metavar="N", help="hashing threads (default: all)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.add_argument("-q", "--quiet", action="store_true", help="print only the changes")
    v.set_defaults(func=run_verify)


def _workers(n: int | None) -> int | None:
    if n is not None and n <= 0:
        raise CLIError(f"--workers must be positive, got {n}")
    return n


def _show(path: str) -> str:
    """A path safe to print on one line (control characters and undecodable bytes escaped)."""
    out = path.encode("utf-8", "backslashreplace").decode("utf-8")
    return "".join(c if c.isprintable() or c == " " else repr(c)[1:-1] for c in out)


def run_build(args: argparse.Namespace) -> int:
    from ..manifest import Manifest  # noqa: PLC0415
    from ..manifest.walk import exact_pattern, relative_inside  # noqa: PLC0415

    if not os.path.isdir(args.dir):
        raise CLIError(f"not a directory: {args.dir!r}")
    exclude = list(args.exclude)
    for out in (args.output, args.checkfile):  # never record our own outputs
        inside = relative_inside(out, args.dir) if out else None
        if inside is not None:
            exclude.append(exact_pattern(inside))
    m = Manifest.build(args.dir, workers=_workers(args.workers), exclude=exclude,
                       follow_symlinks=args.follow_symlinks, cache=args.cache,
                       progress=not args.quiet)
    m.locate(args.output)  # so that verify finds the tree from anywhere; signed with the rest
    if args.sign:
        m.sign(args.sign)
    m.save(args.output)
    if args.checkfile:
        m.to_checkfile(args.checkfile)
    if args.json:
        print(json.dumps({"root": m.root, "entries": len(m), "signed": m.signature is not None,
                          "key_id": m.signature["key_id"] if m.signature else None,
                          "output": args.output}))
    elif not args.quiet:
        files = sum(e.kind == "file" for e in m)
        size = sum(e.size for e in m if e.kind == "file")
        signed = f", signed by key {m.signature['key_id'][:16]}" if m.signature else ""
        print(f"{m.root}  {len(m)} entries ({files} files, {size} bytes){signed} -> {args.output}")
    return EXIT_OK


def _is_json_manifest(path: Path) -> bool:
    """True for a JSON manifest, False for a sha256sum check file; an empty file is neither
    (it would verify "0 entries intact" whatever the tree holds)."""
    with open(path, "rb") as fh:
        head = fh.read(4096).lstrip()
    if not head:
        raise CLIError(f"{path} is empty: expected a pipeward manifest (JSON) or a sha256sum "
                       "check file")
    return head.startswith(b"{")


def run_verify(args: argparse.Namespace) -> int:
    from ..manifest import Manifest, verify_checkfile  # noqa: PLC0415
    from ..manifest.verify import NotTheTreeError  # noqa: PLC0415

    path = Path(args.manifest)
    is_json = _is_json_manifest(path)
    if not is_json and (args.pubkey or args.trust):
        raise CLIError("a sha256sum check file cannot carry a signature; --pubkey/--trust need a manifest")
    if args.role and not args.trust:
        raise CLIError("--role needs --trust")
    signature_ok: bool | None = None
    trusted = None
    if is_json:
        m = Manifest.load(path)
        if args.pubkey:
            signature_ok = m.verify_signature(args.pubkey)
        if args.trust:
            from ..trust import TrustStore  # noqa: PLC0415

            trusted = m.verify_signature(TrustStore.load(args.trust), role=args.role)
            signature_ok = bool(trusted) and signature_ok is not False
        tree = args.dir if args.dir is not None else (m.tree() or ".")
        if not os.path.isdir(tree):
            where = "" if args.dir is not None else " (where the manifest says its tree is)"
            raise CLIError(f"not a directory: {os.fspath(tree)!r}{where}; pass --dir")
        try:
            result = m.verify(tree, workers=_workers(args.workers), cache=args.cache,
                              progress=not (args.quiet or args.json), any_tree=args.any_tree)
        except NotTheTreeError as exc:
            raise CLIError(str(exc)) from None
        root = m.root
    else:
        result = verify_checkfile(path, args.dir or ".", workers=_workers(args.workers),
                                  allow_empty=args.allow_empty)
        root = None
    ok = result.ok and signature_ok is not False
    if args.json:
        out = result.to_dict()
        out.update(ok=ok, root=root, signature=signature_ok)
        if trusted is not None:
            out["signer"] = trusted.to_dict()
        print(json.dumps(out, indent=1))
        return EXIT_OK if ok else EXIT_CHECK_FAILED
    if trusted is not None:
        print(f"signed by {trusted.signer!r} (trusted)" if trusted else
              f"signature: NOT TRUSTED: {trusted.reason}")
    if signature_ok is False and (trusted is None or trusted):
        why = "the manifest is not signed" if m.signature is None else \
            "the signature does not verify with " + \
            ("this key" if len(args.pubkey) == 1 else f"any of the {len(args.pubkey)} keys") + \
            " (wrong key, or the manifest was altered)"
        print(f"signature: INVALID: {why}")
    for p in result.modified:
        print(f"modified  {_show(p)}  ({result.reasons.get(p, '')})")
    for p in result.added:
        print(f"added     {_show(p)}")
    for p in result.removed:
        print(f"removed   {_show(p)}")
    for a, b in result.renamed:
        print(f"renamed   {_show(a)} -> {_show(b)}")
    for p, msg in result.errors:
        print(f"error     {_show(p)}: {msg}")
    if ok and not args.quiet:
        sig = ", signature valid" if signature_ok else \
            (", signature NOT checked (no --pubkey)" if is_json and m.signature else "")
        print(f"OK: {result.checked} entries intact{sig}" + (f" (root {root})" if root else ""))
    elif not ok:
        n = (len(result.modified) + len(result.added) + len(result.removed) + len(result.renamed)
             + len(result.errors))
        print(f"FAILED: {n} change(s) or error(s)" + (" and a bad signature" if signature_ok is False else ""),
              file=sys.stderr)
    return EXIT_OK if ok else EXIT_CHECK_FAILED
