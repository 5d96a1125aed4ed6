"""Input checks shared by the public functions: no silent casts, messages that say what
arrived and what was expected."""

from __future__ import annotations

from typing import Any

import numpy as np

FLOAT_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))


def describe(x: Any) -> str:
    """``'float16 array of shape (3,)'`` or the type name for non-arrays."""
    dtype = getattr(x, "dtype", None)
    shape = getattr(x, "shape", None)
    if dtype is not None and shape is not None:
        kind = "CuPy array" if hasattr(x, "__cuda_array_interface__") else "array"
        return f"{dtype} {kind} of shape {tuple(shape)}"
    return type(x).__name__


def float_array(x: Any, name: str, *, ndim: int | tuple[int, ...] | None = None,
                allow_empty: bool = False, finite: bool = False) -> Any:
    """Return ``x`` as a float32/float64 array without copying or casting.

    Lists and other sequences become float64 arrays (there is no dtype to preserve); an
    existing array of any other dtype is a ``TypeError`` rather than a silent cast.
    """
    if not hasattr(x, "dtype"):
        if isinstance(x, (str, bytes)):
            raise TypeError(f"{name}: expected a float32 or float64 array, got {type(x).__name__}")
        try:
            x = np.asarray(x, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise TypeError(f"{name}: expected a float32 or float64 array, got "
                            f"{type(x).__name__} that is not numeric ({exc})") from None
    if np.dtype(x.dtype) not in FLOAT_DTYPES:
        raise TypeError(f"{name}: expected a float32 or float64 array, got a {describe(x)}")
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else ndim
        if x.ndim not in allowed:
            want = " or ".join(f"{d}-d" for d in allowed)
            raise ValueError(f"{name}: expected a {want} array, got a {describe(x)}")
    if not allow_empty and x.size == 0:
        raise ValueError(f"{name}: expected a non-empty array, got a {describe(x)}")
    if finite:
        xp = _module_of(x)
        if not bool(xp.isfinite(x).all()):
            raise ValueError(f"{name}: contains NaN or infinity ({describe(x)})")
    return x


def _module_of(x: Any) -> Any:
    if hasattr(x, "__cuda_array_interface__"):
        from ._backend import cupy  # noqa: PLC0415

        return cupy()
    return np


def positive_int(value: Any, name: str, *, allow_none: bool = False) -> int | None:
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an integer, got {type(value).__name__}")
    if value <= 0:
        raise ValueError(f"{name} must be positive, got {value}")
    return int(value)


def workers_arg(workers: Any) -> int | None:
    """``None`` (the OpenMP default, honouring threadpoolctl) or a positive thread count."""
    return positive_int(workers, "workers", allow_none=True)
