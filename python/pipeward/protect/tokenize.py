"""``tokenize``: deterministic keyed tokens for identifiers (HMAC-SHA256, equal to Python's
``hmac``), batched in native code over whole string arrays."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from .._validate import describe

__all__ = ["tokenize"]


def _key(key: Any) -> bytes:
    if isinstance(key, (bytearray, memoryview)):
        key = bytes(key)
    if not isinstance(key, bytes):
        raise TypeError(f"key must be bytes (e.g. os.urandom(32) kept in a secret store), got "
                        f"{type(key).__name__}")
    if not key:
        raise ValueError("key is empty: tokens under an empty key are not secret")
    return key


def _arrow_tokens(array: Any, key: bytes, length: int, workers: int | None) -> Any:
    import pyarrow as pa  # noqa: PLC0415 - only for Arrow input
    import pyarrow.compute as pc  # noqa: PLC0415

    if isinstance(array, pa.ChunkedArray):
        return pa.chunked_array([_arrow_tokens(c, key, length, workers) for c in array.chunks],
                                type=pa.large_string() if pa.types.is_large_string(array.type) else pa.string())
    if isinstance(array.type, pa.ExtensionType) or not (
            pa.types.is_string(array.type) or pa.types.is_large_string(array.type)):
        raise TypeError(f"tokenize: expected an Arrow string array, got {array.type}")
    n = len(array)
    _, offsets_buf, data_buf = array.buffers()
    wide = pa.types.is_large_string(array.type)
    offsets = np.frombuffer(offsets_buf, dtype=np.int64 if wide else np.int32)[array.offset:array.offset + n + 1]
    data = np.frombuffer(data_buf, dtype=np.uint8) if data_buf is not None else np.zeros(0, np.uint8)
    tokens = _core.hmac_sha256_hex_offsets(key, data, offsets, length, workers)
    big = n * length >= 2**31 - 1 or wide
    out = pa.Array.from_buffers(pa.large_string() if big else pa.string(), n,
                                [None, pa.py_buffer(np.arange(0, n * length + 1, length,
                                                              dtype=np.int64 if big else np.int32)),
                                 pa.py_buffer(tokens)])
    if array.null_count:
        out = pc.if_else(pc.is_valid(array), out, pa.scalar(None, out.type))
    return out


def _is_arrow(values: Any) -> bool:
    module = type(values).__module__
    return module.startswith("pyarrow") and hasattr(values, "type")


def tokenize(values: Any, key: bytes, *, length: int = 64, workers: int | None = None,
             backend: str = "native", audit: Any = None, column: str | None = None,
             dataset: str | None = None) -> Any:
    """Keyed tokens: the first ``length`` hex digits of HMAC-SHA256(``key``, UTF-8 of the
    value), equal to ``hmac.new(key, value.encode(), hashlib.sha256).hexdigest()[:length]``.

    Equal values give equal tokens under one key, so joins and counts still work, while the
    values cannot be recovered or guessed without the key. ``values`` may be a list of str, a
    NumPy array (StringDType, object or ``U``), a pandas Series, or an Arrow (chunked) string
    array; the result has the same kind, and missing values (None, NaN, Arrow nulls) stay
    missing. Arrow input (and pandas' Arrow-backed strings) is hashed straight from its
    buffers. ``backend="reference"`` runs the RFC 2104 reference instead (slow).

    With ``audit`` (an :class:`~pipeward.AuditLog`) a ``data.tokenized`` record names the
    ``column`` (a Series' own name by default) and ``dataset``; the key is never recorded.
    """
    name = column if column is not None else getattr(values, "name", None)
    if audit is not None and (name is None or not str(name)):
        raise ValueError("tokenize: audit= needs column= (the name of the tokenized column)")
    tokens = _tokenize(values, key, length, workers, backend)
    if audit is not None:
        from .records import record_tokenized  # noqa: PLC0415

        record_tokenized(audit, str(name), len(tokens), length=int(length), dataset=dataset)
    return tokens


def _tokenize(values: Any, key: bytes, length: int, workers: int | None, backend: str) -> Any:
    key = _key(key)
    if isinstance(length, bool) or not isinstance(length, (int, np.integer)) or not 1 <= length <= 64:
        raise ValueError(f"length must be an integer from 1 to 64 hex digits, got {length!r}")
    length = int(length)
    if backend not in ("native", "reference"):
        raise ValueError(f"backend must be 'native' or 'reference', got {backend!r}")
    if isinstance(values, (str, bytes)):
        raise TypeError(f"tokenize: expected an array or sequence of str, got one "
                        f"{type(values).__name__}: use tokenize([value], key)[0]")
    if backend == "native" and _is_arrow(values):
        return _arrow_tokens(values, key, length, workers)
    try:
        import pandas as pd  # noqa: PLC0415
    except ImportError:  # pragma: no cover - pandas is optional
        pd = None
    if pd is not None and isinstance(values, pd.Series):
        return _series_tokens(values, key, length, workers, backend, pd)
    if isinstance(values, np.ndarray):
        return _numpy_tokens(values, key, length, workers, backend)
    if isinstance(values, (list, tuple)):  # read in place: a copy of 10M references costs ~10%
        return _list_tokens(values, key, length, workers, backend)
    if isinstance(values, Sequence):
        return _list_tokens(list(values), key, length, workers, backend)
    raise TypeError(f"tokenize: expected a list, NumPy array, pandas Series or Arrow array of "
                    f"str, got {type(values).__name__}")


def _list_tokens(values: list[Any] | tuple[Any, ...], key: bytes, length: int, workers: int | None,
                 backend: str) -> list[str | None]:
    if backend == "reference":
        from ..reference.hmac import tokens  # noqa: PLC0415

        for i, v in enumerate(values):
            if v is not None and not isinstance(v, str):
                raise TypeError(f"tokenize: expected str values (or None), got {type(v).__name__} "
                                f"at index {i}")
        return tokens(values, key, length)
    return _core.hmac_sha256_hex_list(key, values, length, workers)


def _numpy_tokens(values: np.ndarray, key: bytes, length: int, workers: int | None,
                  backend: str) -> np.ndarray:
    if values.ndim != 1:
        raise ValueError(f"tokenize: expected a 1-d array of str, got a {describe(values)}")
    kind = values.dtype.kind
    if kind not in ("T", "O", "U"):
        raise TypeError(f"tokenize: expected a StringDType, object or str ('U') array, got a "
                        f"{describe(values)}")
    objects = values if kind == "O" else values.astype(object)
    na = getattr(values.dtype, "na_object", None)
    if kind == "T" and na is not None:  # StringDType's own missing value (NaN-like) -> None
        objects = np.where(np.isnan(values), None, objects)
    out = np.empty(len(objects), dtype=object)
    out[:] = _list_tokens(objects.tolist(), key, length, workers, backend)
    if kind == "O":
        return out
    if kind == "U":
        return out.astype(f"U{length}")
    if na is not None:
        out[np.isnan(values)] = na
    return out.astype(values.dtype)


def _series_tokens(series: Any, key: bytes, length: int, workers: int | None, backend: str,
                   pd: Any) -> Any:
    if backend == "native":
        try:
            import pyarrow as pa  # noqa: PLC0415
        except ImportError:  # pragma: no cover
            pa = None
        array = getattr(series.array, "_pa_array", None)
        if pa is not None and array is not None and (pa.types.is_string(array.type)
                                                     or pa.types.is_large_string(array.type)):
            tokens = _arrow_tokens(array, key, length, workers)
            return pd.Series(pd.array(tokens, dtype=series.dtype), index=series.index, name=series.name)
    if series.dtype != object and not isinstance(series.dtype, pd.StringDtype):
        raise TypeError(f"tokenize: expected a Series of str, got dtype {series.dtype}")
    values = series.astype(object).where(series.notna(), None).tolist()
    tokens = _list_tokens(values, key, length, workers, backend)
    return pd.Series(tokens, index=series.index, name=series.name,
                     dtype=object if series.dtype == object else series.dtype)
