"""Which columns of a table the drift checks test: chosen by name, whatever their order.

A table is a pandas DataFrame or a mapping of column name -> 1-d column. ``columns`` names
the columns to test (default: all); ``exclude``, ``target`` and ``timestamp`` are kept out by
name. Datetime columns are kept out with a note unless ``datetimes="numbers"``, which tests
them as seconds since the epoch (NaT -> NaN).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

DATETIMES = ("exclude", "numbers")


@dataclass(frozen=True)
class ColumnRules:
    """The column choice of a :class:`~pipeward.DriftMonitor`, kept with its profile."""

    columns: tuple[str, ...] | None = None
    exclude: tuple[str, ...] = ()
    target: str | None = None
    timestamp: str | None = None
    datetimes: str = "exclude"

    @classmethod
    def make(cls, columns: Any = None, exclude: Any = None, target: Any = None,
             timestamp: Any = None, datetimes: Any = "exclude") -> ColumnRules:
        """Checked rules: names are strings, ``datetimes`` is one of :data:`DATETIMES`, and a
        column cannot be both chosen and kept out."""
        if datetimes not in DATETIMES:
            raise ValueError(f"datetimes must be one of {', '.join(DATETIMES)}, got {datetimes!r}")
        rules = cls(None if columns is None else _names(columns, "columns"),
                    () if exclude is None else _names(exclude, "exclude"),
                    _name(target, "target"), _name(timestamp, "timestamp"), datetimes)
        if rules.columns is not None:
            if not rules.columns:
                raise ValueError("columns: expected at least one column name")
            both = [c for c in rules.columns if c in rules.kept_out()]
            if both:
                raise ValueError(f"columns {both} are both chosen (columns=) and kept out "
                                 "(exclude=, target= or timestamp=)")
        return rules

    def kept_out(self) -> dict[str, str]:
        """Column name -> why it is not tested, for the names given."""
        out = {c: "excluded" for c in self.exclude}
        if self.target is not None:
            out[self.target] = "target"
        if self.timestamp is not None:
            out[self.timestamp] = "timestamp"
        return out

    def is_default(self) -> bool:
        return self == ColumnRules()

    def to_json(self) -> dict[str, Any]:
        return {"columns": None if self.columns is None else list(self.columns),
                "exclude": list(self.exclude), "target": self.target,
                "timestamp": self.timestamp, "datetimes": self.datetimes}

    @classmethod
    def from_json(cls, saved: Any) -> ColumnRules:
        if not isinstance(saved, dict):
            raise ValueError(f"column rules must be a JSON object, got {saved!r:.60}")
        return cls.make(**{k: saved.get(k) for k in ("columns", "exclude", "target",
                                                      "timestamp")},
                        datetimes=saved.get("datetimes", "exclude"))

    def select(self, table: Any, name: str) -> tuple[dict[str, Any], dict[str, str]]:
        """(the columns to test, name -> column, in the table's order; the table's columns
        left out, name -> reason). A name in ``columns`` the table lacks is a ``ValueError``."""
        names = [str(c) for c in table.keys()]
        twice = sorted({n for n in names if names.count(n) > 1})
        if twice:
            raise ValueError(f"{name}: column names must be unique, got {twice} more than once")
        by_name = dict(zip(names, table.keys()))
        if self.columns is not None:
            missing = [c for c in self.columns if c not in by_name]
            if missing:
                raise ValueError(f"{name}: no column(s) named {missing} (columns=); it has "
                                 f"{_listing(names)}")
        kept_out = self.kept_out()
        chosen: dict[str, Any] = {}
        left_out: dict[str, str] = {}
        for n in names:
            if n in kept_out:
                left_out[n] = kept_out[n]
                continue
            if self.columns is not None and n not in self.columns:
                continue  # not chosen: not reported either
            col = table[by_name[n]]
            if _is_datetime(col):
                if self.datetimes == "exclude":
                    left_out[n] = "datetime; datetimes='numbers' tests it"
                    continue
                col = epoch_seconds(col)
            chosen[n] = col
        if not chosen:
            raise ValueError(f"{name}: no column left to test; it has {_listing(names)} and "
                             f"{_listing(list(left_out))} are left out")
        return chosen, left_out


def match_columns(chosen: dict[str, Any], expected: list[str], name: str,
                  exact: bool) -> dict[str, Any]:
    """``chosen`` in the order of ``expected`` (the reference's columns). A missing column is a
    ``ValueError`` naming it; so is an extra one when ``exact`` (no ``columns=`` was given)."""
    missing = [c for c in expected if c not in chosen]
    extra = [c for c in chosen if c not in expected] if exact else []
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"missing column(s) {_listing(missing)}")
        if extra:
            parts.append(f"column(s) not in the reference {_listing(extra)} (keep them out "
                         "with exclude=, or choose with columns=)")
        raise ValueError(f"{name}: {'; '.join(parts)}")
    return {c: chosen[c] for c in expected}


def epoch_seconds(col: Any) -> np.ndarray:
    """A datetime column as float64 seconds since 1970-01-01 (NaT -> NaN; time zones: UTC)."""
    if hasattr(col, "dt") and getattr(col.dt, "tz", None) is not None:
        col = col.dt.tz_convert("UTC").dt.tz_localize(None)
    values = np.asarray(col).astype("datetime64[ns]")
    out = values.astype(np.int64).astype(np.float64) / 1e9
    out[np.isnat(values)] = np.nan
    return out


def _is_datetime(col: Any) -> bool:
    return getattr(getattr(col, "dtype", None), "kind", "") == "M"


def _names(value: Any, what: str) -> tuple[str, ...]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, Iterable):
        raise TypeError(f"{what}: expected column names, got {type(value).__name__}")
    names = tuple(str(v) for v in value)
    if len(set(names)) != len(names):
        raise ValueError(f"{what}: a column is named twice in {list(names)}")
    return names


def _name(value: Any, what: str) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"{what}: expected a column name, got {type(value).__name__}")
    return value


def _listing(names: list[str], most: int = 10) -> str:
    shown = ", ".join(repr(n) for n in names[:most])
    return f"[{shown}]" if len(names) <= most else f"[{shown}, ... {len(names) - most} more]"
