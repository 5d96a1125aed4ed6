"""Per-group confusion counts: the one summary every fairness number is computed from.

A :class:`GroupCounts` holds, for each group (one combination of sensitive-feature values),
the 2x2 table of rows by (true label, predicted label) and, when scores are given, the sums of
the score and its square by true label. These are plain integer and float sums, so counts built
on separate partitions of the data merge exactly (:meth:`GroupCounts.merge`): that is how the
assessment runs in one pass over data on Dask.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["GroupCounts"]


def _key(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value


@dataclass(frozen=True)
class GroupCounts:
    """``cells[g, t, p]``: rows of group ``groups[g]`` with true label ``t`` and prediction ``p``;
    ``score_sum[g, t]`` and ``score_sq[g, t]``: sums of the score and of its square (or None)."""

    names: tuple[str, ...]
    groups: tuple[tuple[Any, ...], ...]
    cells: np.ndarray
    score_sum: np.ndarray | None = None
    score_sq: np.ndarray | None = None

    @classmethod
    def from_arrays(cls, names: Sequence[str], columns: Sequence[np.ndarray], y_true: np.ndarray,
                    y_pred: np.ndarray, y_score: np.ndarray | None = None) -> GroupCounts:
        """Count one partition: ``y_true``/``y_pred`` are 0/1, ``columns`` the sensitive features."""
        n = y_true.shape[0]
        codes = np.zeros(n, dtype=np.int64)
        levels = []
        for col in columns:
            uniq, inverse = np.unique(col, return_inverse=True)
            levels.append(uniq)
            codes = codes * uniq.size + inverse.reshape(-1)
        present, group_of_row = np.unique(codes, return_inverse=True)
        g = present.size
        cell = group_of_row * 4 + y_true.astype(np.int64) * 2 + y_pred.astype(np.int64)
        cells = np.bincount(cell, minlength=4 * g).reshape(g, 2, 2)
        # Decode each present combined code back to its tuple of feature values.
        groups = []
        for code in present.tolist():
            parts = []
            for uniq in reversed(levels):
                code, j = divmod(code, uniq.size)
                parts.append(_key(uniq[j]))
            groups.append(tuple(reversed(parts)))
        score_sum = score_sq = None
        if y_score is not None:
            slot = group_of_row * 2 + y_true.astype(np.int64)
            score_sum = np.bincount(slot, weights=y_score, minlength=2 * g).reshape(g, 2)
            score_sq = np.bincount(slot, weights=y_score * y_score, minlength=2 * g).reshape(g, 2)
        return cls(tuple(names), tuple(groups), cells, score_sum, score_sq)

    def merge(self, other: GroupCounts) -> GroupCounts:
        """The counts of both partitions together (exact: sums of integers and floats)."""
        return GroupCounts.merge_all([self, other])

    @staticmethod
    def merge_all(parts: Iterable[GroupCounts]) -> GroupCounts:
        parts = list(parts)
        if not parts:
            raise ValueError("merge_all: expected at least one GroupCounts")
        names = parts[0].names
        scored = parts[0].score_sum is not None
        for p in parts[1:]:
            if p.names != names:
                raise ValueError(f"cannot merge counts of sensitive features {p.names} into {names}")
            if (p.score_sum is not None) != scored:
                raise ValueError("cannot merge counts with scores and counts without")
        try:
            groups = sorted({g for p in parts for g in p.groups})
        except TypeError:
            raise TypeError("sensitive feature values of different types in different partitions "
                            "cannot be ordered") from None
        index = {g: i for i, g in enumerate(groups)}
        cells = np.zeros((len(groups), 2, 2), dtype=np.int64)
        score_sum = np.zeros((len(groups), 2)) if scored else None
        score_sq = np.zeros((len(groups), 2)) if scored else None
        for p in parts:
            rows = np.array([index[g] for g in p.groups], dtype=np.int64)
            np.add.at(cells, rows, p.cells)
            if scored:
                np.add.at(score_sum, rows, p.score_sum)
                np.add.at(score_sq, rows, p.score_sq)
        return GroupCounts(names, tuple(groups), cells, score_sum, score_sq)

    @property
    def n_rows(self) -> int:
        return int(self.cells.sum())
