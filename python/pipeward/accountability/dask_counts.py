"""Group counts of Dask collections: one count per partition, merged exactly.

Used only when an input is a Dask array, Series or DataFrame (the ``dist`` extra); the
partitions of all inputs must line up row for row, as they do for columns of one DataFrame or
arrays with the same chunks.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .group_counts import GroupCounts

__all__ = ["is_dask", "merged_counts"]


def is_dask(*values: Any) -> bool:
    return any(type(v).__module__.split(".")[0] in ("dask", "dask_expr") for v in values
               if v is not None)


def _partitions(x: Any, name: str) -> list[Any]:
    if not is_dask(x):
        raise TypeError(f"{name}: mix of Dask and in-memory inputs; give every input as a Dask "
                        f"collection with the same partitions (got {type(x).__name__})")
    if hasattr(x, "to_delayed") and hasattr(x, "npartitions"):  # DataFrame / Series
        return list(x.to_delayed())
    if x.ndim == 2:
        x = x.rechunk({1: -1})  # whole rows in each block
    return list(x.to_delayed().reshape(-1))


def merged_counts(count_partition: Callable[..., GroupCounts], y_true: Any, y_pred: Any,
                  sensitive_features: Any, y_score: Any) -> GroupCounts:
    """Map ``count_partition(y_true, y_pred, sensitive, y_score)`` over aligned partitions,
    compute all of them in one pass, and merge."""
    import dask  # noqa: PLC0415

    inputs = {"y_true": y_true, "y_pred": y_pred, "sensitive_features": sensitive_features}
    if y_score is not None:
        inputs["y_score"] = y_score
    parts = {k: _partitions(v, k) for k, v in inputs.items()}
    sizes = {k: len(v) for k, v in parts.items()}
    if len(set(sizes.values())) != 1:
        raise ValueError(f"Dask inputs must have the same number of partitions, got {sizes}")
    task = dask.delayed(count_partition, pure=True)
    n = next(iter(sizes.values()))
    tasks = [task(parts["y_true"][i], parts["y_pred"][i], parts["sensitive_features"][i],
                  parts["y_score"][i] if y_score is not None else None) for i in range(n)]
    return GroupCounts.merge_all(dask.compute(*tasks))
