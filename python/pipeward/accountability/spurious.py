"""A spurious-correlation check: features the model leans on that stop mattering elsewhere.

A feature that carries real signal keeps its permutation importance on held-out or shifted
data; one that only correlated with the label in the training data (a hospital's scanner tag,
a leaked ID) loses it (collapses) or starts to hurt (flips sign). The check names both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .permutation import permutation_importance

__all__ = ["SpuriousReport", "spurious_features"]


@dataclass(frozen=True)
class SpuriousReport:
    """Importance per feature on the training data and on the check data, and the verdicts."""

    feature_names: tuple[str, ...]
    train_importance: np.ndarray
    check_importance: np.ndarray
    train_std: np.ndarray
    check_std: np.ndarray
    collapsed: tuple[str, ...] = field(default=())
    flipped: tuple[str, ...] = field(default=())

    @property
    def suspects(self) -> tuple[str, ...]:
        return tuple(sorted(set(self.collapsed) | set(self.flipped)))

    def to_dict(self) -> dict[str, Any]:
        return {"collapsed": list(self.collapsed), "flipped": list(self.flipped),
                "importance": {n: {"train": float(a), "check": float(b)} for n, a, b in
                               zip(self.feature_names, self.train_importance, self.check_importance)}}


def spurious_features(model: Any, X_train: Any, y_train: Any, X_check: Any, y_check: Any, *,
                      feature_names: Sequence[str] | None = None, n_repeats: int = 10,
                      min_importance: float = 0.02, collapse: float = 0.25,
                      random_state: int | None = 0) -> SpuriousReport:
    """Compare permutation importance on ``(X_train, y_train)`` with ``(X_check, y_check)``.

    A feature is *important* on the training data when its mean score drop passes
    ``min_importance`` and two standard deviations of its repeats. It has *collapsed* when its
    drop on the check data is below ``collapse`` times the training drop, and *flipped* when
    the check drop is negative beyond two standard deviations and ``min_importance``.
    """
    if not 0 <= collapse < 1:
        raise ValueError(f"collapse: expected a fraction in [0, 1), got {collapse!r}")
    train = permutation_importance(model, X_train, y_train, n_repeats=n_repeats, random_state=random_state)
    check = permutation_importance(model, X_check, y_check, n_repeats=n_repeats, random_state=random_state)
    d = train.importances.shape[0]
    names = tuple(feature_names) if feature_names is not None else tuple(f"x{j}" for j in range(d))
    if len(names) != d:
        raise ValueError(f"feature_names: expected {d} names, got {len(names)}")
    mt, st = train.importances_mean, train.importances_std
    mc, sc = check.importances_mean, check.importances_std
    important = (mt > min_importance) & (mt > 2 * st)
    flipped = important & (mc < -np.maximum(min_importance, 2 * sc))
    collapsed = important & ~flipped & (mc < collapse * mt)
    return SpuriousReport(names, mt, mc, st, sc,
                          tuple(n for n, c in zip(names, collapsed) if c),
                          tuple(n for n, f in zip(names, flipped) if f))
