"""Permutation importance: how much a score drops when one feature's column is shuffled.

The global view next to Shapley values, and the one the spurious-correlation check compares
across data sets. Equal to ``sklearn.inspection.permutation_importance`` for the same integer
``random_state``: the same legacy ``RandomState`` seeds, shuffles and score, so the same
numbers, not just the same distribution.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import float_array
from .model_output import is_classifier

__all__ = ["PermutationImportance", "permutation_importance"]


@dataclass(frozen=True)
class PermutationImportance:
    """``importances[j, r]``: the score drop for feature ``j`` in repeat ``r``."""

    importances: np.ndarray
    baseline_score: float

    @property
    def importances_mean(self) -> np.ndarray:
        return self.importances.mean(axis=1)

    @property
    def importances_std(self) -> np.ndarray:
        return self.importances.std(axis=1)


def _default_score(model: Any) -> Callable[[np.ndarray, np.ndarray], float]:
    if is_classifier(model):
        return lambda y, pred: float(np.mean(y == pred))  # accuracy, a classifier's .score

    def r2(y: np.ndarray, pred: np.ndarray) -> float:  # a regressor's .score
        resid = np.sum((y - pred) ** 2)
        total = np.sum((y - np.mean(y)) ** 2)
        return float(1.0 - resid / total) if total > 0 else (1.0 if resid == 0 else 0.0)

    return r2


def permutation_importance(model: Any, X: Any, y: Any, *,
                           score: Callable[[np.ndarray, np.ndarray], float] | None = None,
                           n_repeats: int = 5, random_state: int | None = None) -> PermutationImportance:
    """Score drop per feature over ``n_repeats`` shuffles of its column.

    ``score(y, model.predict(X))`` defaults to accuracy for classifiers and R^2 for
    regressors (the models' own ``.score``). ``random_state`` is an integer (or None) seeding
    NumPy's legacy ``RandomState`` as scikit-learn does.
    """
    predict = getattr(model, "predict", None)
    if not callable(predict):
        raise TypeError(f"model: expected an estimator with predict(), got {type(model).__name__}")
    data = float_array(X, "X", ndim=2)
    target = np.asarray(y)
    if target.shape != (data.shape[0],):
        raise ValueError(f"y: expected {data.shape[0]} labels, got shape {target.shape}")
    if isinstance(n_repeats, bool) or not isinstance(n_repeats, numbers.Integral) or n_repeats < 1:
        raise ValueError(f"n_repeats: expected an integer >= 1, got {n_repeats!r}")
    if random_state is not None and (isinstance(random_state, bool) or not isinstance(random_state, numbers.Integral)):
        raise TypeError(f"random_state: expected an integer or None, got {type(random_state).__name__}")
    scorer = score or _default_score(model)
    baseline = scorer(target, predict(data))
    seed = np.random.RandomState(random_state).randint(np.iinfo(np.int32).max + 1)
    drops = np.empty((data.shape[1], n_repeats))
    for j in range(data.shape[1]):
        rng = np.random.RandomState(seed)  # a fresh stream per column, as scikit-learn
        permuted = data.copy()
        order = np.arange(data.shape[0])
        for r in range(n_repeats):
            rng.shuffle(order)
            permuted[:, j] = permuted[order, j]  # shuffles compound, as in scikit-learn
            drops[j, r] = baseline - scorer(target, predict(permuted))
    return PermutationImportance(drops, float(baseline))
