"""``pipeward drift``: test a current dataset against a reference; exit 1 on drift."""

from __future__ import annotations

import argparse
import json
import zipfile
from pathlib import Path
from typing import Any

from .._csvfile import read_csv
from .._npfile import load_npy, load_npz
from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "drift",
        help="KS + PSI drift check of CURRENT against REFERENCE (exit 1 on drift)",
        description="Test every feature of CURRENT against REFERENCE with the two-sample KS "
                    "test (scipy's numbers, corrected across features) and PSI. Files: .npy, "
                    ".npz (first array), .csv (header row; read without pandas), .parquet "
                    "(needs pipeward[data]). Table columns are matched by name; datetime "
                    "columns are left out unless --datetimes numbers. A saved profile "
                    "(DriftMonitor.save, or -o here) can stand in for REFERENCE.",
        epilog="examples:\n  pipeward drift train.csv today.csv --target label --timestamp ts\n"
               "  pipeward drift train.parquet today.parquet --columns age,income --json",
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
    p.add_argument("--columns", help="comma-separated columns to test (default: all)")
    p.add_argument("--exclude", help="comma-separated columns to leave out")
    p.add_argument("--target", help="the label column, left out of the drift tests")
    p.add_argument("--timestamp", help="the time column, left out of the drift tests")
    p.add_argument("--datetimes", choices=["exclude", "numbers"], default="exclude",
                   help="datetime columns: leave out (default) or test as seconds since 1970")
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
    if suffix == ".csv":
        return read_csv(p)
    if suffix == ".parquet":
        try:
            import pandas as pd  # noqa: PLC0415
        except ImportError as exc:
            raise CLIError(f"{path}: reading .parquet needs pandas and pyarrow "
                           "(pip install pipeward[data]); .csv and .npy need nothing more") from exc
        return pd.read_parquet(p)
    raise CLIError(f"{path}: unsupported file type {suffix!r} (use .npy, .npz, .csv or .parquet)")


def _names(value: str | None) -> list[str] | None:
    return None if value is None else [n.strip() for n in value.split(",") if n.strip()]


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
    columns = {"columns": _names(args.columns), "exclude": _names(args.exclude),
               "target": args.target, "timestamp": args.timestamp, "datetimes": args.datetimes}
    if _is_profile(args.reference):
        if any(v is not None for k, v in columns.items() if k != "datetimes") or \
                args.datetimes != "exclude":
            raise CLIError(f"{args.reference}: a saved profile keeps the columns it was fitted "
                           "with; --columns, --exclude, --target, --timestamp and --datetimes "
                           "apply when fitting from data")
        monitor = DriftMonitor.load(args.reference, **decision)
    else:
        monitor = DriftMonitor(load_table(args.reference), **columns, **decision)
    if args.output:
        monitor.save(args.output)
    report = monitor.check(load_table(args.current))
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif not args.quiet:
        print(report)
    return EXIT_CHECK_FAILED if report.any_drift else EXIT_OK
