"""``pipeward package``: a model and its training data -> a signed model directory."""

from __future__ import annotations

import argparse
from pathlib import Path

from . import EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "package",
        help="package a model (.skops or .onnx) into a signed directory for `pipeward serve`",
        description="Write DIR with the model, pipeward-model.json (features, dtypes, ranges, "
                    "categories, classes), the fitted input guard and drift reference, and a "
                    "manifest.json signed with the private key. Pickle files are refused.",
        epilog="example: pipeward package model.skops --train train.csv --labels target "
               "--key release.pem -o model-dir",
    )
    p.add_argument("model", metavar="MODEL", help="the model file (.skops or .onnx)")
    p.add_argument("--train", required=True, metavar="DATA",
                   help="training data (.npy, .npz, .csv or .parquet)")
    p.add_argument("--labels", metavar="COL", help="the label column in DATA (dropped from the features)")
    p.add_argument("--key", required=True, metavar="PRIVATE.pem", help="Ed25519 private key to sign with")
    p.add_argument("-o", "--output", required=True, metavar="DIR", help="directory to write (new or empty)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..serve import package  # noqa: PLC0415 - needs the serve extra
    from .screen import _load  # noqa: PLC0415 - the same table reader and label split

    if not Path(args.model).is_file():
        raise CLIError(f"{args.model}: no such model file")
    _, X, y = _load(Path(args.train), args.labels)
    manifest = package(args.model, X, args.output, private_key=args.key, y=y)
    print(f"packaged {args.model} into {args.output} (manifest root {manifest.root})")
    return EXIT_OK
