"""``mask``: hide all but the last characters of each value, optionally keeping its format."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["mask", "mask_value"]


def mask_value(value: str, *, keep_last: int = 4, preserve_format: bool = True, char: str = "*") -> str:
    """``value`` with every letter and digit but the last ``keep_last`` replaced by ``char``.
    With ``preserve_format`` separators (``-``, ``@``, ``.``, spaces...) stay, so
    ``4111-1111-1111-1234`` becomes ``****-****-****-1234``; without, the whole prefix is
    replaced, and the length kept."""
    shown = 0
    out = []
    for c in reversed(value):
        if c.isalnum():
            if shown < keep_last:
                out.append(c)
                shown += 1
            else:
                out.append(char)
        else:
            out.append(c if preserve_format or shown < keep_last else char)
    return "".join(reversed(out))


def mask(values: Any, *, keep_last: int = 4, preserve_format: bool = True, char: str = "*") -> Any:
    """:func:`mask_value` over a list, NumPy array or pandas Series (missing values stay
    missing); the result has the same kind."""
    if isinstance(keep_last, bool) or not isinstance(keep_last, int) or keep_last < 0:
        raise ValueError(f"keep_last must be a non-negative integer, got {keep_last!r}")
    if not isinstance(char, str) or len(char) != 1:
        raise ValueError(f"char must be one character, got {char!r}")
    if isinstance(values, str):
        raise TypeError("mask: expected an array or sequence of str; for one value use mask_value")

    def one(v: Any) -> Any:
        if v is None or (isinstance(v, float) and v != v):
            return v
        if not isinstance(v, str):
            raise TypeError(f"mask: expected str values, got {type(v).__name__}")
        return mask_value(v, keep_last=keep_last, preserve_format=preserve_format, char=char)

    try:
        import pandas as pd  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(values, pd.Series):
        return values.map(one, na_action="ignore")
    if isinstance(values, np.ndarray):
        out = np.empty(values.shape[0], dtype=object)
        out[:] = [one(v) for v in values.astype(object).tolist()]
        return out if values.dtype == object else out.astype(values.dtype)
    if isinstance(values, Sequence):
        return [one(v) for v in values]
    raise TypeError(f"mask: expected a list, NumPy array or pandas Series, got {type(values).__name__}")
