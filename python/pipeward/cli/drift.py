"""``pipeward drift``: test a current dataset against a reference; exit 1 on drift."""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path
from typing import Any

from .._npfile import load_npy, load_npz
from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "drift",
        help="KS + PSI drift check of CURRENT against REFERENCE (exit 1 on drift)",
        description="Test every feature of CURRENT against REFERENCE with the two-sample KS "
                    "test (scipy's numbers, corrected across features) and PSI. Files: .npy, "
                    ".npz (first array), .csv (header row), .parquet. A saved profile "
                    "(DriftMonitor.save, or -o here) can stand in for REFERENCE.",
        epilog="example: pipeward drift train.parquet today.parquet --alpha 0.01 --json",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("reference", help="reference data, or a profile saved with -o / DriftMonitor.save")
    p.add_argument("current", help="current data")
    p.add_argument("--json", action="store_true", help="machine-readable report")
    p.add_argument("--alpha", type=float, default=0.05, help="KS significance level (default 0.05)")
    p.add_argument("--correction", default="holm", choices=["none", "bonferroni", "holm", "bh", "by"],
                   help="multiple-testing correction across features (default holm)")
    p.add_argument("--psi-threshold", type=float, default=0.2, help="PSI drift threshold (default 0.2)")
    p.add_argument("--tests", default="ks,psi", help="comma-separated: ks, psi (default both)")
    p.add_argument("-o", "--output", help="also save the fitted reference profile here (.npz)")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing; use the exit code")
    p.set_defaults(func=run)


def load_table(path: str) -> Any:
    """A NumPy array or a pandas DataFrame from .npy/.npz/.csv/.parquet."""
    p = Path(path)
    if not p.exists():
        raise CLIError(f"{path}: no such file")
    suffix = p.suffix.lower()
    if suffix == ".npy":
        return load_npy(p)
    if suffix == ".npz":
        arrays = load_npz(p)
        if not arrays:
            raise CLIError(f"{path}: the .npz archive holds no array")
        return next(iter(arrays.values()))
    if suffix in (".csv", ".parquet"):
        try:
            import pandas as pd  # noqa: PLC0415
        except ImportError as exc:
            raise CLIError(f"{path}: reading {suffix} needs pandas (pip install pipeward[data])") from exc
        return pd.read_csv(p) if suffix == ".csv" else pd.read_parquet(p)
    raise CLIError(f"{path}: unsupported file type {suffix!r} (use .npy, .npz, .csv or .parquet)")


def _is_profile(path: str) -> bool:
    """A saved DriftMonitor profile (an .npz holding its 'settings'), not raw data."""
    if not path.lower().endswith(".npz") or not Path(path).is_file():
        return False
    try:
        with zipfile.ZipFile(path) as archive:  # the names only; the arrays are read later
            return "settings.npy" in archive.namelist()
    except zipfile.BadZipFile:
        return False  # reported by the loader, with the file's name


def run(args: argparse.Namespace) -> int:
    from ..drift import DriftMonitor  # noqa: PLC0415

    tests = tuple(t.strip() for t in args.tests.split(",") if t.strip())
    decision = {"tests": tests, "alpha": args.alpha, "correction": args.correction,
                "psi_threshold": args.psi_threshold}  # checked by the monitor, whatever the reference
    if _is_profile(args.reference):
        monitor = DriftMonitor.load(args.reference, **decision)
    else:
        monitor = DriftMonitor(load_table(args.reference), **decision)
    if args.output:
        monitor.save(args.output)
    report = monitor.check(load_table(args.current))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif not args.quiet:
        print(report)
    return EXIT_CHECK_FAILED if report.any_drift else EXIT_OK
