"""``erase``: remove data subjects from a dataset (GDPR art. 17, CCPA deletion).

Every CSV and Parquet file under the dataset loses the rows whose ``column`` holds one of the
values; each file is rewritten whole (a new Parquet file has fresh statistics and dictionary
pages, so no erased value survives in them) and replaces the old one atomically. The manifest
is rebuilt and re-signed, the erasure goes to the audit log with the subjects as tokens only,
and the lineage attestations tell which models were derived from the old data.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..manifest import Manifest

if TYPE_CHECKING:
    from ..audit import AuditLog
    from ..signing import KeyLike

__all__ = ["ErasureReport", "erase", "models_derived_from"]

_SUFFIXES = (".csv", ".parquet")


@dataclass
class ErasureReport:
    """What an erasure did: rows removed per file, the manifest roots before and after, the
    subjects as tokens, and the outputs (models) derived from the old data."""

    column: str
    rows_removed: dict[str, int] = field(default_factory=dict)
    files_without_column: list[str] = field(default_factory=list)
    old_root: str = ""
    new_root: str = ""
    subject_tokens: list[str] = field(default_factory=list)
    models: list[dict[str, str]] = field(default_factory=list)

    @property
    def total_removed(self) -> int:
        return sum(self.rows_removed.values())

    def to_dict(self) -> dict[str, Any]:
        return {"column": self.column, "rows_removed": self.rows_removed,
                "total_removed": self.total_removed, "files_without_column": self.files_without_column,
                "old_root": self.old_root, "new_root": self.new_root,
                "subject_tokens": self.subject_tokens, "models": self.models}


def _replace_atomically(path: Path, write: Any) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".erasing")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _erase_csv(path: Path, column: str, subjects: set[str]) -> int | None:
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.reader(f)
        header = next(reader, None)
        if header is None or column not in header:
            return None
        at = header.index(column)
        rows = list(reader)
    kept = [r for r in rows if not (len(r) > at and r[at] in subjects)]
    if len(kept) == len(rows):
        return 0

    def write(tmp: str) -> None:
        with open(tmp, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(header)
            writer.writerows(kept)

    _replace_atomically(path, write)
    return len(rows) - len(kept)


def _erase_parquet(path: Path, column: str, subjects: set[str]) -> int | None:
    try:
        import pyarrow as pa  # noqa: PLC0415
        import pyarrow.compute as pc  # noqa: PLC0415
        import pyarrow.parquet as pq  # noqa: PLC0415
    except ImportError:
        raise ImportError("erasing from Parquet files needs pyarrow: pip install 'pipeward[protect]'") from None
    meta = pq.ParquetFile(path).metadata
    table = pq.read_table(path)
    if column not in table.column_names:
        return None
    values = pc.cast(table[column], pa.string())
    doomed = pc.is_in(values, value_set=pa.array(sorted(subjects), pa.string()))
    removed = pc.sum(doomed).as_py() or 0
    if not removed:
        return 0
    kept = table.filter(pc.invert(pc.fill_null(doomed, False)))
    codec = meta.row_group(0).column(0).compression.lower() if meta.num_row_groups else "snappy"
    codec = "none" if codec == "uncompressed" else codec
    # Rewritten whole: fresh statistics and dictionaries that only know the kept rows.
    _replace_atomically(path, lambda tmp: pq.write_table(kept, tmp, compression=codec))
    return int(removed)


def models_derived_from(root: str, attestations: Iterable[Any]) -> list[dict[str, str]]:
    """Outputs of attested steps that read the manifest ``root``, directly or through other
    attested steps: ``[{"step", "name", "root"}]``. Signatures are not checked here (this
    finds what may be affected; :func:`pipeward.lineage.verify` checks trust)."""
    from ..lineage.dsse import load_envelope, payload_bytes  # noqa: PLC0415

    steps = []
    for source in attestations:
        envelope, where = load_envelope(source)
        pred = json.loads(payload_bytes(envelope, where)).get("predicate", {})
        steps.append((pred.get("step"), {i.get("root") for i in pred.get("inputs", [])},
                      [(o.get("name"), o.get("root")) for o in pred.get("outputs", [])]))
    affected, found = {root}, []
    changed = True
    while changed:
        changed = False
        for step, inputs, outputs in steps:
            if inputs & affected:
                for name, out_root in outputs:
                    if out_root not in affected:
                        affected.add(out_root)
                        found.append({"step": str(step), "name": str(name), "root": str(out_root)})
                        changed = True
    return found


def erase(root: str | os.PathLike[str], column: str, values: Iterable[str], *,
          manifest: str | os.PathLike[str] | None = None, sign_with: KeyLike | None = None,
          audit: AuditLog | None = None, token_key: bytes | None = None,
          attestations: Sequence[Any] = ()) -> ErasureReport:
    """Remove every row whose ``column`` equals one of ``values`` from the CSV and Parquet
    files under ``root``.

    ``manifest`` (a manifest file of the dataset) is rebuilt with the same options and saved
    over, signed with ``sign_with`` when given. With ``audit`` the erasure is recorded
    (``data.erased``) with the subjects as tokens: ``tokenize(values, token_key)`` when a
    token key is given, else the log's own salted pseudonyms. ``attestations`` (lineage DSSE
    envelopes) name the models trained on the old data.
    """
    subjects = set(values)
    if not subjects or not all(isinstance(v, str) and v for v in subjects):
        raise ValueError("values: expected one or more non-empty str values to erase")
    base = Path(root)
    if not base.is_dir():
        raise NotADirectoryError(f"not a directory: {os.fspath(root)!r}")
    old = Manifest.load(manifest) if manifest is not None and os.path.exists(manifest) else None
    exclude = list(old.exclude) if old is not None else []
    if old is None:
        old = Manifest.build(base, exclude=exclude)
    report = ErasureReport(column=column, old_root=old.root)
    # Tokens first: a token key or redaction key that is missing must fail before any file
    # is rewritten, not after.
    ordered = sorted(subjects)
    if token_key is not None:
        from .tokenize import tokenize  # noqa: PLC0415

        report.subject_tokens = tokenize(ordered, token_key)
    elif audit is not None:
        report.subject_tokens = [audit.pseudonym(v) for v in ordered]
    files = sorted(p for p in base.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES
                   and not p.name.startswith("."))
    for path in files:
        rel = path.relative_to(base).as_posix()
        removed = (_erase_csv if path.suffix.lower() == ".csv" else _erase_parquet)(path, column, subjects)
        if removed is None:
            report.files_without_column.append(rel)
        elif removed:
            report.rows_removed[rel] = removed
    if len(report.files_without_column) == len(files):
        raise ValueError(f"no CSV or Parquet file under {os.fspath(root)!r} has a column {column!r}")
    new = Manifest.build(base, exclude=exclude, metadata=old.metadata)
    if sign_with is not None:
        new.sign(sign_with)
    if manifest is not None:
        new.save(manifest)
    report.new_root = new.root
    report.models = models_derived_from(old.root, attestations)
    if audit is not None:
        from ..audit.records import record_erasure  # noqa: PLC0415

        record_erasure(audit, column=column, subject_tokens=report.subject_tokens,
                       rows_removed=report.total_removed, files=sorted(report.rows_removed),
                       old_root=report.old_root, new_root=report.new_root,
                       models=[f"{m['name']} ({m['root'][:16]}...)" for m in report.models],
                       dataset=base.resolve().name)
    return report


