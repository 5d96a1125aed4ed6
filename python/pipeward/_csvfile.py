"""CSV tables read and written with the standard library's ``csv`` module and NumPy (no
pandas needed).

A table is a dict of column name -> 1-d array, in the file's order. Each column gets the
first type that holds every value that is not missing: numbers (float64, missing -> NaN),
booleans (true/false in any case; float64 0/1, missing -> NaN), ISO 8601 dates and times
(``datetime64``, missing -> NaT), else text (an object array of str, missing -> None).
Missing means an empty field or one of pandas' default NA spellings; fields are not stripped
(as pandas reads them). Numbers are parsed by Python's ``float``.
"""

from __future__ import annotations

import csv
import os
import re
from typing import Any

import numpy as np

__all__ = ["read_csv", "read_rows", "columns_of", "write_rows"]

MISSING = frozenset({"", "#N/A", "#N/A N/A", "#NA", "-1.#IND", "-1.#QNAN", "-NaN", "-nan",
                     "1.#IND", "1.#QNAN", "<NA>", "N/A", "NA", "NULL", "NaN", "None", "n/a",
                     "nan", "null"})
_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}([T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?)?$")


def read_csv(path: str | os.PathLike[str]) -> dict[str, np.ndarray]:
    """The columns of a CSV file with a header row; a ragged row, a duplicate or missing
    header or an empty file is a ``ValueError`` naming the file (and the line)."""
    return columns_of(*read_rows(path))


def read_rows(path: str | os.PathLike[str]) -> tuple[list[str], list[list[str]]]:
    """(header, body rows) of a CSV file as the text it holds, checked as :func:`read_csv`
    says; the text lets a subset of rows be written back exactly as it was read."""
    name = os.fspath(path)
    with open(path, newline="", encoding="utf-8-sig") as fh:
        try:
            rows = list(csv.reader(fh))
        except (csv.Error, UnicodeDecodeError) as exc:
            raise ValueError(f"{name}: not a readable CSV file: {exc}") from None
    while rows and not rows[-1]:  # trailing blank lines
        rows.pop()
    if not rows:
        raise ValueError(f"{name}: the CSV file is empty (expected a header row)")
    header = [h.strip() for h in rows[0]]
    if any(h == "" for h in header) or len(set(header)) != len(header):
        raise ValueError(f"{name}: the header row must name every column once, got {header}")
    body = rows[1:]
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise ValueError(f"{name}: line {line} has {len(row)} fields, the header "
                             f"{len(header)}")
    return header, body


def columns_of(header: list[str], body: list[list[str]]) -> dict[str, np.ndarray]:
    """The typed columns (see the module docstring) of rows from :func:`read_rows`."""
    columns = list(zip(*body)) if body else [()] * len(header)
    return {h: _column(col) for h, col in zip(header, columns)}


def write_rows(path: str | os.PathLike[str], header: list[str], rows: Any) -> None:
    """Write a header and rows of fields (str, or numbers written as Python writes them,
    which read back exactly) as a CSV file; None is an empty field."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh)
        out.writerow(header)
        out.writerows(rows)


def _column(texts: tuple[str, ...]) -> np.ndarray:
    """One column's strings as the first type that fits (see the module docstring)."""
    missing = [t in MISSING for t in texts]
    numbers = ["nan" if m else t for t, m in zip(texts, missing)] if any(missing) else texts
    try:
        return np.fromiter(map(float, numbers), dtype=np.float64, count=len(texts))
    except ValueError:
        pass
    present = [t for t, m in zip(texts, missing) if not m]
    if present and {t.lower() for t in present} <= {"true", "false"}:
        return np.array([np.nan if m else float(t.lower() == "true")
                         for t, m in zip(texts, missing)])
    if present and all(_ISO_DATE.match(t) for t in present):
        try:
            return np.array(["NaT" if m else t.replace(" ", "T") for t, m in zip(texts, missing)],
                            dtype="datetime64")
        except ValueError:
            pass
    return np.array([None if m else t for t, m in zip(texts, missing)], dtype=object)
