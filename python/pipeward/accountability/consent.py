"""Honouring a consent column: rows without consent leave the data, and the log counts them.

``exclude_without_consent`` reads one column of flags (True / 1 / "yes" means the person
consented), returns the rows to keep, and records ``data.consent`` with the counts the
compliance check compares (rows without consent vs rows excluded).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import describe
from ..audit import AuditLog, Record
from ..audit.kinds import DATA_CONSENT

__all__ = ["exclude_without_consent"]

_YES = frozenset({"yes", "y", "true", "1"})
_NO = frozenset({"no", "n", "false", "0", ""})


def _missing(value: Any) -> bool:
    # None, NaN and pandas' NA (whose truth value raises) all mean no recorded consent
    if value is None or (isinstance(value, float) and value != value):
        return True
    return type(value).__name__ in ("NAType", "NaTType")


def _flags(consent: Any) -> np.ndarray:
    values = getattr(consent, "to_numpy", None)
    arr = values() if callable(values) else np.asarray(consent)
    if arr.ndim != 1:
        raise ValueError(f"consent: expected one flag per row (1-d), got a {describe(arr)}")
    if arr.dtype == bool:
        return arr
    if arr.dtype.kind in "iu":
        if not np.isin(arr, (0, 1)).all():
            raise ValueError("consent: integer flags must be 0 or 1")
        return arr == 1
    if arr.dtype.kind in "OUS":
        text = np.array(["" if _missing(v) else str(v).strip().lower() for v in arr])
        unknown = sorted(set(text.tolist()) - _YES - _NO)
        if unknown:
            raise ValueError(f"consent: cannot read {unknown[:5]} as yes/no")
        return np.isin(text, list(_YES))
    raise TypeError(f"consent: expected bool, 0/1 or yes/no flags, got a {describe(arr)}")


def exclude_without_consent(consent: Any, *, log: AuditLog | None = None, dataset: str | None = None,
                            column: str = "consent", model: str | None = None) -> tuple[np.ndarray, Record | None]:
    """``(keep, record)``: the indices of the rows with consent (sorted), and the
    ``data.consent`` record appended to ``log`` (None without a log). A missing flag counts as
    no consent."""
    flags = _flags(consent)
    keep = np.flatnonzero(flags)
    record = None
    if log is not None:
        if not isinstance(log, AuditLog):
            raise TypeError(f"log: expected a pipeward AuditLog, got {type(log).__name__}")
        n_without = int(flags.size - keep.size)
        payload: dict[str, Any] = {"column": column, "n_rows": int(flags.size),
                                   "n_without_consent": n_without, "n_excluded": n_without}
        for key, value in (("dataset", dataset), ("model", model)):
            if value is not None:
                payload[key] = value
        record = log.append(DATA_CONSENT, payload, subject=model or dataset or "")
    return keep, record
