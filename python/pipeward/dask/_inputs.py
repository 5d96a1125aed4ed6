"""Dask arrays and DataFrames as lists of (rows, features) NumPy blocks, checked on the
client from their metadata alone (no data is read to check them)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from dask.delayed import Delayed, delayed

from .._validate import FLOAT_DTYPES


@dataclass
class Table:
    """A partitioned (rows, features) float table."""

    parts: list[Delayed]
    n_features: int
    dtype: np.dtype
    names: list[str] | None   # DataFrame column names
    one_d: bool               # a 1-d array: one feature, scalar results
    collection: Any           # the Dask object, for map_blocks / map_partitions


def is_dask_array(x: Any) -> bool:
    import dask.array as da  # noqa: PLC0415

    return isinstance(x, da.Array)


def is_dask_frame(x: Any) -> bool:
    try:
        import dask.dataframe as dd  # noqa: PLC0415
    except ImportError:
        return False
    return isinstance(x, dd.DataFrame)


def table(x: Any, name: str, *, numeric_frames: bool = True) -> Table:
    """Blocks of a Dask array (1-d or 2-d, float32/float64, samples along axis 0) or of a Dask
    DataFrame (numeric columns: float32 if all are, else float64, as pw.DriftMonitor reads a
    pandas frame; string or categorical columns are a TypeError)."""
    if is_dask_array(x):
        if np.dtype(x.dtype) not in FLOAT_DTYPES:
            raise TypeError(f"{name}: expected a float32 or float64 Dask array, got "
                            f"{x.dtype} of shape {x.shape}")
        if x.ndim not in (1, 2):
            raise ValueError(f"{name}: expected a 1-d or 2-d (rows, features) Dask array, got "
                             f"shape {x.shape}")
        one_d = x.ndim == 1
        table2 = x[:, None] if one_d else x
        if table2.shape[1] == 0:
            raise ValueError(f"{name}: expected at least one feature, got shape {x.shape}")
        if table2.numblocks[1] > 1:  # every task sees whole rows
            table2 = table2.rechunk({1: -1})
        parts = list(table2.to_delayed()[:, 0])
        return Table(parts, int(table2.shape[1]), np.dtype(x.dtype), None, one_d, table2)
    if is_dask_frame(x):
        kinds = {str(c): t for c, t in x.dtypes.items()}
        bad = [f"{c} ({t})" for c, t in kinds.items() if not _numeric(t)]
        if bad:
            raise TypeError(
                f"{name}: pipeward.dask reads numeric columns only; got non-numeric column(s) "
                f"{', '.join(bad[:5])}. Encode categorical and string columns first (for "
                "example with their category codes), or select the numeric columns")
        if not kinds:
            raise ValueError(f"{name}: expected at least one column")
        f32 = all(np.dtype(t) == np.float32 for t in kinds.values())
        dtype = np.dtype(np.float32 if f32 else np.float64)
        parts = [delayed(_frame_block, pure=True)(p, dtype) for p in x.to_delayed()]
        return Table(parts, len(kinds), dtype, list(kinds), False, x)
    raise TypeError(f"{name}: expected a Dask array or Dask DataFrame, got "
                    f"{type(x).__name__}; for data in memory use the pipeward function of the "
                    "same name, or wrap it with dask.array.from_array")


def _numeric(dtype: Any) -> bool:
    try:
        return np.dtype(dtype).kind in "fiub"
    except TypeError:  # pandas extension dtypes: nullable ints / floats / booleans are numeric
        return str(dtype).lower().startswith(("int", "uint", "float", "boolean"))


def _frame_block(frame: Any, dtype: np.dtype) -> np.ndarray:
    # Nullable integer columns: NA becomes NaN, as pw.DriftMonitor reads a pandas frame.
    return frame.to_numpy(dtype=dtype, na_value=np.nan)
