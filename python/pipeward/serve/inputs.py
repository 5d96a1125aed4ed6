"""Request bodies to model inputs, or a 422 that names the offending field.

Accepted bodies: ``{"inputs": [[v, ...], ...]}`` (columns in the schema's order) or
``{"records": [{name: v, ...}, ...]}``. Numeric features take JSON numbers only (no strings,
no booleans), finite, within the training range widened by ``range_slack`` widths of it;
categorical features take one of the categories seen in training.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .policy import InputRules
from .schema import ModelSchema

__all__ = ["InputError", "ParsedInput", "parse_inputs"]

_NUMBER = (int, float)


class InputError(ValueError):
    """Invalid input: ``loc`` is the JSON path of the field (FastAPI's ``loc`` convention)."""

    def __init__(self, loc: list[Any], msg: str, kind: str, field: str | None = None):
        self.loc, self.msg, self.kind, self.field = loc, msg, kind, field
        super().__init__(msg)

    def detail(self) -> dict[str, Any]:
        d: dict[str, Any] = {"loc": ["body", *self.loc], "msg": self.msg, "type": self.kind}
        if self.field is not None:
            d["field"] = self.field
        return d


@dataclass
class ParsedInput:
    """``numeric``: float64 (rows, numeric features); ``table``: what the model is given
    (the same matrix, or a DataFrame when some features are categorical); ``categorical``:
    the values of each categorical feature (one list per feature, in schema order)."""

    numeric: np.ndarray
    table: Any
    n_rows: int
    categorical: list[list[str]] = field(default_factory=list)


class InputParser:
    """Validates request payloads against a schema (bounds precomputed once)."""

    def __init__(self, schema: ModelSchema, rules: InputRules):
        self.schema, self.rules = schema, rules
        self.names = schema.names
        self.numeric_idx = schema.numeric_index
        self.all_numeric = schema.all_numeric
        lows, width = schema.numeric_scale()
        self.low = lows - rules.range_slack * width
        self.high = lows + width + rules.range_slack * width
        self.categories = {j: set(f.categories) for j, f in enumerate(schema.features)
                           if f.kind == "categorical"}

    def parse(self, payload: Any) -> ParsedInput:
        if not isinstance(payload, dict):
            raise InputError([], f"expected a JSON object with 'inputs' or 'records', got "
                                 f"{_json_type(payload)}", "type_error")
        keys = set(payload)
        if keys == {"inputs"}:
            rows, where = payload["inputs"], "inputs"
        elif keys == {"records"}:
            rows, where = payload["records"], "records"
        else:
            raise InputError([], f"expected exactly one of 'inputs' or 'records', got keys "
                                 f"{sorted(map(str, keys))[:5]}", "value_error")
        if not isinstance(rows, list) or not rows:
            raise InputError([where], "expected a non-empty list of rows", "value_error")
        if len(rows) > self.rules.max_rows:
            raise InputError([where], f"too many rows: at most {self.rules.max_rows}, got {len(rows)}",
                             "too_many_rows")
        if where == "records":
            rows = [self._record_row(i, r) for i, r in enumerate(rows)]
        return self._rows(rows, where)

    def _record_row(self, i: int, record: Any) -> list[Any]:
        if not isinstance(record, dict):
            raise InputError(["records", i], f"expected an object of feature values, got "
                                             f"{_json_type(record)}", "type_error")
        if len(record) != len(self.names) or any(n not in record for n in self.names):
            missing = [n for n in self.names if n not in record]
            if missing:
                raise InputError(["records", i, missing[0]], f"missing feature {missing[0]!r}",
                                 "missing", missing[0])
            extra = next(k for k in record if k not in self.names)
            raise InputError(["records", i, extra], f"unknown feature {extra!r}", "extra_forbidden", extra)
        return [record[n] for n in self.names]

    def _rows(self, rows: list[Any], where: str) -> ParsedInput:
        d = len(self.names)
        for i, row in enumerate(rows):
            if not isinstance(row, list) or len(row) != d:
                got = f"{len(row)} values" if isinstance(row, list) else _json_type(row)
                raise InputError([where, i], f"expected {d} feature values, got {got}",
                                 "wrong_feature_count")
        if self.all_numeric:
            kinds = {type(v) for row in rows for v in row}
            if not kinds <= {int, float}:
                self._raise_non_numeric(rows, where, range(d))
            try:
                X = np.array(rows, dtype=np.float64)
            except OverflowError:
                self._raise_overflow(rows, where)
            self._check_numeric(X, where, np.arange(d))
            return ParsedInput(X, X, len(rows))
        return self._mixed(rows, where)

    def _mixed(self, rows: list[Any], where: str) -> ParsedInput:
        import pandas as pd  # noqa: PLC0415 - categorical models are served from DataFrames

        idx = self.numeric_idx
        self._raise_non_numeric(rows, where, idx, only_bad=True)
        try:
            X = np.array([[row[j] for j in idx] for row in rows], dtype=np.float64).reshape(len(rows), idx.size)
        except OverflowError:
            self._raise_overflow(rows, where)
        self._check_numeric(X, where, idx)
        for j, allowed in self.categories.items():
            for i, row in enumerate(rows):
                v = row[j]
                if not isinstance(v, str) or v not in allowed:
                    name = self.names[j]
                    raise InputError([where, i, name if where == "records" else j],
                                     f"feature {name!r}: unknown category {v!r:.40} (allowed: "
                                     f"{sorted(allowed)[:10]})", "unknown_category", name)
        table = pd.DataFrame(rows, columns=self.names)
        for pos, j in enumerate(idx):
            table[self.names[j]] = X[:, pos]
        categorical = [[row[j] for row in rows] for j in self.categories]
        return ParsedInput(X, table, len(rows), categorical)

    def guard_features(self, parsed: ParsedInput) -> np.ndarray:
        """The rows as the out-of-distribution guard scores them (numeric columns, then the
        categorical ones one-hot: :meth:`ModelSchema.guard_matrix`)."""
        if self.all_numeric:
            return parsed.numeric
        return self.schema.guard_matrix(parsed.numeric, parsed.categorical)

    def _raise_non_numeric(self, rows: list[Any], where: str, columns: Any, only_bad: bool = False) -> None:
        for i, row in enumerate(rows):
            for j in columns:
                v = row[j]
                if type(v) not in _NUMBER:
                    name = self.names[j]
                    raise InputError([where, i, name if where == "records" else int(j)],
                                     f"feature {name!r}: expected a number, got {_json_type(v)}",
                                     "float_type", name)
        if not only_bad:  # a type set said "non-numeric" but no cell is: refuse all the same
            raise InputError([where], "expected numbers only", "float_type")

    def _raise_overflow(self, rows: list[Any], where: str) -> None:
        for i, row in enumerate(rows):
            for j, v in enumerate(row):
                if isinstance(v, int) and not isinstance(v, bool):
                    try:
                        float(v)
                    except OverflowError:
                        name = self.names[j]
                        raise InputError([where, i, name if where == "records" else j],
                                         f"feature {name!r}: the number is too large", "finite_number",
                                         name) from None
        raise InputError([where], "a number is too large", "finite_number")

    def _check_numeric(self, X: np.ndarray, where: str, columns: np.ndarray) -> None:
        ok = np.isfinite(X)
        if not ok.all():
            i, pos = map(int, np.argwhere(~ok)[0])
            name = self.names[columns[pos]]
            raise InputError([where, i, name if where == "records" else int(columns[pos])],
                             f"feature {name!r}: expected a finite number, got {float(X[i, pos])!r}",
                             "finite_number", name)
        bad = (X < self.low) | (X > self.high)
        if bad.any():
            i, pos = map(int, np.argwhere(bad)[0])
            name = self.names[columns[pos]]
            raise InputError([where, i, name if where == "records" else int(columns[pos])],
                             f"feature {name!r}: {float(X[i, pos])!r} is outside the allowed range "
                             f"[{self.low[pos]:.6g}, {self.high[pos]:.6g}]", "out_of_range", name)


def parse_inputs(payload: Any, schema: ModelSchema, rules: InputRules) -> ParsedInput:
    """One-off form of :class:`InputParser` (the service keeps a parser)."""
    return InputParser(schema, rules).parse(payload)


def _json_type(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "an object"
    if isinstance(v, float) and not math.isfinite(v):
        return repr(v)
    return type(v).__name__
