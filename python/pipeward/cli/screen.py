"""``pipeward screen``: screen a training set for poisoned rows; exit 1 when any are found."""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from .._csvfile import columns_of, read_rows, write_rows
from .._npfile import load_npy, load_npz
from .._validate import is_frame
from . import EXIT_CHECK_FAILED, EXIT_OK, CLIError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "screen",
        help="screen training data for outliers, flipped labels and backdoor clusters",
        description="Screen a dataset (.npy, .npz, .csv, .parquet) for poisoned rows: "
                    ".csv is read and written without pandas, .parquet needs pipeward[data]. "
                    "outliers by robust Mahalanobis distance and, with labels, label-flip "
                    "suspects and spectral-signature backdoor clusters. Exits 1 when rows "
                    "should be quarantined.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog="examples:\n"
               "  pipeward screen train.csv --labels target --quarantine suspects.csv\n"
               "  pipeward screen features.npz --labels y --json\n"
               "  pipeward screen X.npy --labels -1   # last column holds the labels\n"
               "  pipeward screen train.csv --labels target --fdr 0.1\n"
               "  pipeward screen train.csv --labels target --estimator model.skops\n"
               "  pipeward screen train.csv --labels target --fdr 0.1 --trusted checked",
    )
    p.add_argument("data", help="the data: .npy, .npz (array 'X' or the only one), .csv, .parquet")
    p.add_argument("--labels", metavar="COLUMN",
                   help="label column (name, or index for .npy), or an array name in a .npz")
    p.add_argument("--quarantine", metavar="OUT",
                   help="write the quarantined rows here (.npy, .csv or .parquet); .csv and "
                        ".parquet add the original row index ('row') and a 'reason' column")
    p.add_argument("-o", "--output", metavar="OUT", help="write the clean rows here")
    p.add_argument("--alpha", type=float, default=1e-4, help="outlier test level (default 1e-4)")
    p.add_argument("--fdr", type=float, metavar="Q",
                   help="flag label suspects by Benjamini-Hochberg on their conformal "
                        "p-values at this false discovery rate (0 < Q < 1)")
    p.add_argument("--trusted", metavar="ROWS",
                   help="rows whose labels are known to be right: a column of the .csv or "
                        ".parquet (1/0 or true/false; left out of the features), or a file of "
                        "row indices (.npy, or .txt with one a line) or a .npy boolean mask; "
                        "the p-values are calibrated on these rows, so --fdr then holds by "
                        "construction")
    p.add_argument("--estimator", metavar="MODEL",
                   help="a scikit-learn classifier saved with skops (.skops); its out-of-fold "
                        "probabilities replace the Gaussian class model (needs pipeward[skops])")
    p.add_argument("--trust", action="append", default=[], metavar="TYPE",
                   help="a type in the --estimator file to load beyond skops' trusted "
                        "defaults (repeat for several)")
    p.add_argument("--json", action="store_true",
                   help="machine-readable output, with every row's outlier score for "
                        "'pipeward report --screen'")
    p.add_argument("-q", "--quiet", action="store_true", help="print nothing; use the exit code")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from ..outliers import screen  # noqa: PLC0415
    from ..outliers.screen import continuous_example  # noqa: PLC0415

    if args.fdr is not None and not 0 < args.fdr < 1:
        raise CLIError(f"--fdr: expected a rate in (0, 1), got {args.fdr:g}")
    estimator = _load_estimator(Path(args.estimator), args.trust) if args.estimator else None
    table, X, y = _load(Path(args.data), args.labels)
    if y is None and (estimator is not None or args.fdr is not None or args.trusted):
        raise CLIError("--estimator, --fdr and --trusted judge labels: name the label column "
                       "with --labels")
    trusted = None
    if args.trusted:
        trusted, X = _trusted_rows(args.trusted, table, X)
    if y is not None and (example := continuous_example(np.asarray(y))) is not None:
        raise CLIError(f"--labels {args.labels}: a continuous (regression) target "
                       f"({np.unique(y).size} distinct values, e.g. {example:g}); label-flip "
                       "screening needs class labels: run without --labels to screen for "
                       "outliers only, or bin the target into classes first")
    try:
        report = screen(X, y, alpha=args.alpha, fdr=args.fdr, estimator=estimator,
                        trusted=trusted)
    except (TypeError, ValueError) as exc:
        if args.trusted and str(exc).startswith("trusted:"):
            raise CLIError(f"--trusted {args.trusted}: {str(exc)[len('trusted: '):]}") from None
        raise
    keep = np.ones(report.n_rows, dtype=bool)
    keep[report.quarantine] = False
    if args.quarantine:
        _save(Path(args.quarantine), table, ~keep, reasons=report.reasons)
    if args.output:
        _save(Path(args.output), table, keep)
    if args.json:
        print(json.dumps(report.to_dict(), indent=2))
    elif not args.quiet:
        print(report.summary())
        if report.fdr_note():
            print(report.fdr_note())
        if report.quarantine.size:
            shown = ", ".join(str(i) for i in report.quarantine[:20])
            more = " ..." if report.quarantine.size > 20 else ""
            print(f"quarantine rows: {shown}{more}")
    return EXIT_CHECK_FAILED if report.quarantine.size else EXIT_OK


def _load_estimator(path: Path, trust: list[str]) -> Any:
    """A classifier from a skops file; types beyond skops' trusted defaults need --trust."""
    try:
        import skops.io as sio  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise CLIError("--estimator needs skops: pip install pipeward[skops]") from None
    if not path.exists():
        raise CLIError(f"{path}: no such file")
    try:
        untrusted = [t for t in sio.get_untrusted_types(file=path) if t not in trust]
    except Exception as exc:  # noqa: BLE001 - skops raises many kinds on a bad file
        raise CLIError(f"{path}: not a skops file ({type(exc).__name__}: {exc})") from None
    if untrusted:
        raise CLIError(f"{path}: holds types skops does not trust by default: "
                       f"{', '.join(untrusted)}; pass --trust TYPE for each if you trust them")
    model = sio.load(path, trusted=trust or None)
    if not (hasattr(model, "fit") and hasattr(model, "predict_proba")):
        raise CLIError(f"{path}: expected a classifier with fit and predict_proba, got "
                       f"{type(model).__name__}")
    return model


def _trusted_rows(spec: str, table: Any, features: Any) -> tuple[np.ndarray, Any]:
    """(trusted rows, features without a trusted column) from --trusted: a file of row
    indices or a mask, else a column of the table."""
    path = Path(spec)
    if path.suffix.lower() in (".npy", ".txt") and path.exists():
        try:
            rows = (load_npy(path) if path.suffix.lower() == ".npy"
                    else np.loadtxt(path, dtype=np.int64, ndmin=1))
        except ValueError as exc:
            raise CLIError(f"--trusted {spec}: not a list of row indices ({exc})") from None
        return rows, features
    if not (isinstance(table, _CsvTable) or is_frame(table)):
        raise CLIError(f"--trusted {spec}: no such .npy/.txt file (a column name works for "
                       ".csv and .parquet data only)")
    if spec not in features:
        raise CLIError(f"--trusted: no file {spec!r} and no column {spec!r} "
                       f"(columns: {_column_list(list(features.keys()))})")
    flags = np.asarray(features[spec])
    if flags.dtype.kind not in "biuf" or not np.isin(flags, (0, 1)).all():
        raise CLIError(f"--trusted {spec}: the column must hold 1/0 or true/false in every row")
    rest = {k: features[k] for k in features.keys() if k != spec}
    return flags.astype(bool), rest


@dataclass
class _CsvTable:
    """A CSV file as read: its text (written back unchanged) and its typed columns."""

    header: list[str]
    body: list[list[str]]
    columns: dict[str, np.ndarray]


def _load(path: Path, labels: str | None) -> tuple[Any, Any, np.ndarray | None]:
    """(the table to write rows from, features, labels or None)."""
    if not path.exists():
        raise CLIError(f"{path}: no such file")
    suffix = path.suffix.lower()
    if suffix in (".csv", ".parquet"):
        if suffix == ".csv":
            header, body = read_rows(path)
            table: Any = _CsvTable(header, body, columns_of(header, body))
            columns = table.columns
        else:
            pd = _pandas(f"{path}: reading .parquet")
            table = columns = pd.read_parquet(path)
        if labels is None:
            return table, columns, None
        if labels not in columns:
            raise CLIError(f"--labels: no column {labels!r} in {path} "
                           f"(columns: {_column_list(list(columns.keys()))})")
        features = {k: columns[k] for k in columns.keys() if k != labels}
        return table, features, _whole_numbers_as_int(np.asarray(columns[labels]))
    if suffix == ".npz":
        arrays = load_npz(path)
        if "X" in arrays:
            X = arrays["X"]
        elif len([k for k in arrays if k != labels]) == 1:
            X = next(v for k, v in arrays.items() if k != labels)
        else:
            raise CLIError(f"{path}: expected an array named 'X' (has {', '.join(arrays)})")
        if labels is not None and labels in arrays:
            return X, X, arrays[labels]
        return _split_column(X, labels)
    if suffix == ".npy":
        return _split_column(load_npy(path), labels)
    raise CLIError(f"{path}: unsupported format {suffix!r} (use .npy, .npz, .csv or .parquet)")


def _whole_numbers_as_int(y: np.ndarray) -> np.ndarray:
    """The CSV reader gives every number as float64; a label column of whole numbers is
    read as integers, as pandas reads it, so reasons say "label 1", not "label 1.0"."""
    if y.dtype.kind == "f" and y.size and np.isfinite(y).all() and (y == np.round(y)).all() \
            and np.abs(y).max() < 2**53:
        return y.astype(np.int64)
    return y


def _split_column(X: np.ndarray, labels: str | None) -> tuple[Any, np.ndarray, np.ndarray | None]:
    if labels is None:
        return X, X, None
    try:
        col = int(labels)
    except ValueError:
        raise CLIError(f"--labels: expected a column index for an array, got {labels!r}") from None
    if X.ndim != 2 or not -X.shape[1] <= col < X.shape[1]:
        raise CLIError(f"--labels: column {col} is out of range for data of shape {X.shape}")
    return X, np.delete(X, col, axis=1), X[:, col]


def _column_list(columns: Any, limit: int = 40) -> str:
    """All column names, or the first ``limit`` and how many more."""
    names = [str(c) for c in columns]
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else f"{shown} ... and {len(names) - limit} more"


def _save(path: Path, table: Any, rows: np.ndarray, *, reasons: np.ndarray | None = None) -> None:
    """Write the chosen rows; with ``reasons`` (the quarantine file), .csv/.parquet also get
    each row's original index (``row``: the data frame's index, else its position) and the
    ``reason`` it was quarantined, so every suspect can be traced back to the source. CSV
    out of a CSV or an array needs no pandas; CSV rows are written as they were read."""
    picked = np.flatnonzero(rows)
    suffix = path.suffix.lower()
    if suffix == ".npy":
        np.save(path, _matrix(table, picked))
        return
    if suffix not in (".csv", ".parquet"):
        raise CLIError(f"{path}: unsupported output format {suffix!r} (use .npy, .csv, .parquet)")
    if suffix == ".csv" and not is_frame(table):
        if isinstance(table, _CsvTable):
            header, body = table.header, [table.body[i] for i in picked]
        else:
            header = [str(j) for j in range(table.shape[1])]
            body = table[picked].tolist()  # Python numbers: written as repr, read back exactly
        if reasons is not None:
            row = _free_name(header, "row")
            reason = _free_name([row, *header], "reason")
            header = [row, *header, reason]
            body = [[i, *r, str(reasons[i])] for i, r in zip(picked.tolist(), body)]
        write_rows(path, header, body)
        return
    pd = _pandas(f"{path}: writing {suffix}")
    if is_frame(table):
        part, index = table.iloc[picked], table.index[picked]
    else:
        part = pd.DataFrame(table.columns if isinstance(table, _CsvTable) else table).iloc[picked]
        index = picked
    if reasons is not None:
        part = part.copy()
        part.insert(0, _free_name(part.columns, "row"), np.asarray(index))
        part[_free_name(part.columns, "reason")] = [str(r) for r in reasons[picked]]
    part.to_csv(path, index=False) if suffix == ".csv" else part.to_parquet(path, index=False)


def _matrix(table: Any, picked: np.ndarray) -> np.ndarray:
    """The chosen rows as one array, for a .npy file."""
    if isinstance(table, np.ndarray):
        return table[picked]
    if is_frame(table):
        return table.iloc[picked].to_numpy()
    text = [k for k, col in table.columns.items() if col.dtype.kind != "f"]
    if text:
        raise CLIError(f".npy output holds numbers only, and column(s) {', '.join(text[:5])} "
                       "are not: write .csv instead")
    return np.column_stack(list(table.columns.values()))[picked]


def _pandas(what: str) -> Any:
    try:
        import pandas as pd  # noqa: PLC0415 - optional dependency
    except ImportError:
        raise CLIError(f"{what} needs pandas and pyarrow: pip install pipeward[data] "
                       "(.csv and .npy need nothing more)") from None
    return pd


def _free_name(columns: Any, name: str) -> str:
    """``name``, or ``_name``, ``__name``... when the data already has such a column."""
    taken = {str(c) for c in columns}
    while name in taken:
        name = "_" + name
    return name
