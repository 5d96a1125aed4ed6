"""Canonical JSON: the one byte string a value hashes as.

pipeward uses a documented subset of JSON rather than RFC 8785 (JCS), chosen so that the
bytes are what Python's own ``json`` module writes with fixed options, and any JSON library
can reproduce them:

* values: ``null``, ``true``/``false``, integers (any size, written as-is), finite floats,
  strings, arrays (lists or tuples), objects with string keys; anything else is a ``TypeError``
  (no silent conversion of NumPy scalars, sets, dates, ...);
* floats are written as Python's ``repr`` (the shortest string that round-trips: ``0.1``,
  ``1.0``, ``1e-07``, ``1e+16``); NaN and infinities are a ``ValueError``;
* object keys sorted by Unicode code point; no whitespace (``,`` and ``:`` separators);
* strings written as UTF-8, escaping only ``"``, ``\\`` and control characters below U+0020
  (``\\n``, ``\\t``, ... or ``\\u00XX``); lone surrogates are a ``ValueError``.

JCS differs from this in float formatting (``1.0`` there is ``1``) and key order (UTF-16 code
units); a value made of strings, integers and objects with ASCII keys has the same bytes in both.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["JSONValue", "canonical_json", "canonical_text", "check_json_value", "check_text"]

JSONValue = Any  # None | bool | int | float | str | list | tuple | dict[str, JSONValue]

_encode = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":"), check_circular=True,
).encode


_PLAIN = frozenset({str, int, bool, type(None)})


def check_json_value(value: JSONValue, where: str = "value") -> None:
    """Raise ``TypeError``/``ValueError`` unless ``value`` is in the canonical JSON subset
    (text is checked for lone surrogates when it is encoded, by :func:`canonical_text`)."""
    kind = type(value)
    if kind in _PLAIN:
        return
    if kind is float:
        if value != value or value in (math.inf, -math.inf):
            raise ValueError(f"{where}: NaN and infinities have no JSON form, got {value!r}")
        return
    if kind is dict:
        for key, item in value.items():
            if type(key) is not str:
                raise TypeError(f"{where}: object keys must be str, got {type(key).__name__} {key!r}")
            if type(item) not in _PLAIN:
                check_json_value(item, f"{where}[{key!r}]")
        return
    if kind is list or kind is tuple:
        for i, item in enumerate(value):
            if type(item) not in _PLAIN:
                check_json_value(item, f"{where}[{i}]")
        return
    hint = ""
    if hasattr(value, "item") and hasattr(value, "dtype"):
        hint = " (a NumPy value: convert it with int(), float() or .tolist())"
    raise TypeError(
        f"{where}: expected None, bool, int, float, str, list, tuple or dict with str keys, "
        f"got {kind.__module__}.{kind.__qualname__}{hint}"
    )


def check_text(text: str, where: str) -> None:
    """``ValueError`` unless ``text`` encodes as UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"{where}: not valid Unicode text ({exc.reason} at {exc.start})") from None


def canonical_text(value: JSONValue) -> str:
    """The canonical JSON of ``value`` as ``str`` (see the module docstring)."""
    check_json_value(value)
    text = _encode(value)
    check_text(text, "value")
    return text


def canonical_json(value: JSONValue) -> bytes:
    """The canonical JSON of ``value`` as UTF-8 bytes (see the module docstring)."""
    return canonical_text(value).encode("utf-8")
