"""Poisoning simulation: label flips and tabular backdoors, scored with and without
``pw.screen`` in front of training.

* ``"random_flip"``: ``rate * n`` random rows get another label (drawn among the other classes).
* ``"targeted_flip"``: the most influential rows are flipped. For a logistic regression (or a
  ``Pipeline`` ending in one) influence is Koh & Liang's (:mod:`pipeward.redteam.influence`):
  the rows, and the labels, whose flip most raises the refit model's loss on the clean training
  set (the attacker's stand-in for the test distribution), each flip scored alone. For other
  models, which have no exact influence here, the rows the clean model is most confident about
  (their loss, and so their pull on the fit, is largest once the label is wrong), flipped to a
  random other class. ``selection`` in the result says which.
* ``"backdoor"``: ``rate * n`` copies of rows not of class ``target`` get the ``trigger``
  features set to the column maximum plus four standard deviations, and label ``target``.

Attack success: for flips, the test accuracy lost (clean minus poisoned); for a backdoor, the
share of test rows not of class ``target`` that the poisoned model sends to ``target`` once the
trigger is stamped on them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import float_array
from .influence import flip_influence, is_logistic
from .results import AttackResult

__all__ = ["PoisonResult", "poison"]


@dataclass(frozen=True)
class PoisonResult(AttackResult):
    """Accuracies and attack success without and with the screen, and what the screen caught."""

    kind: str
    n_poison: int
    clean_accuracy: float
    poisoned_accuracy: float
    screened_accuracy: float
    attack_success: float
    attack_success_screened: float
    screen_recall: float  # share of the poison rows the screen quarantined
    screen_quarantined: int  # rows quarantined in all
    selection: str = "random"  # how the poisoned rows were chosen: random, influence or confidence

    def summary(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in ("kind", "n_poison", "clean_accuracy", "poisoned_accuracy",
                                              "screened_accuracy", "attack_success",
                                              "attack_success_screened", "screen_recall",
                                              "screen_quarantined", "selection")}


def _stamp(X: np.ndarray, trigger: Sequence[int], value: np.ndarray) -> np.ndarray:
    out = X.copy()
    out[:, list(trigger)] = value
    return out


def poison(train_fn: Callable[[np.ndarray, np.ndarray], Any], X: Any, y: Any, X_test: Any, y_test: Any, *,
           kind: str = "random_flip", rate: float = 0.05, trigger: Sequence[int] = (0,),
           target: Any = None, seed: int | None = None) -> PoisonResult:
    """Poison ``(X, y)``, train with ``train_fn(X, y) -> model`` on it directly and after
    ``pw.screen`` quarantined what it flags, and score both on ``(X_test, y_test)``."""
    from ..outliers import screen  # noqa: PLC0415

    X = float_array(X, "X", ndim=2, finite=True)
    X_test = float_array(X_test, "X_test", ndim=2, finite=True)
    y, y_test = np.asarray(y), np.asarray(y_test)
    if y.shape != (X.shape[0],) or y_test.shape != (X_test.shape[0],):
        raise ValueError("y and y_test: expected one label per row of X and X_test")
    if not 0 < rate < 1:
        raise ValueError(f"rate: expected 0 < rate < 1, got {rate}")
    if kind not in ("random_flip", "targeted_flip", "backdoor"):
        raise ValueError(f"kind: expected 'random_flip', 'targeted_flip' or 'backdoor', got {kind!r}")
    rng = np.random.default_rng(seed)
    classes = np.unique(y)
    if classes.size < 2:
        raise ValueError("y: poisoning needs at least two classes")
    n_poison = max(1, int(round(rate * X.shape[0])))
    selection = "random"
    clean = train_fn(X, y)
    clean_acc = float(np.mean(clean.predict(X_test) == y_test))
    if kind == "backdoor":
        target = classes[-1] if target is None else target
        if target not in classes:
            raise ValueError(f"target: {target!r} is not among the labels {classes.tolist()}")
        value = X.max(axis=0)[list(trigger)] + 4.0 * X.std(axis=0)[list(trigger)]
        donors = rng.choice(np.flatnonzero(y != target), size=n_poison, replace=True)
        Xp = np.vstack([X, _stamp(X[donors], trigger, value)])
        yp = np.concatenate([y, np.full(n_poison, target, dtype=y.dtype)])
        poisoned_rows = np.arange(X.shape[0], Xp.shape[0])
        victims = X_test[y_test != target]

        def success(model: Any) -> float:
            return float(np.mean(model.predict(_stamp(victims, trigger, value)) == target))
    else:
        yp = y.copy()
        if kind == "random_flip":
            rows = rng.choice(X.shape[0], size=n_poison, replace=False)
        elif is_logistic(clean):
            gain, flipped_to = flip_influence(clean, X, y, X, y)
            rows = np.argsort(-gain, kind="stable")[:n_poison]
            yp[rows] = flipped_to[rows]
            selection = "influence"
        else:
            if not callable(getattr(clean, "predict_proba", None)):
                raise TypeError("kind='targeted_flip' needs a model with predict_proba from train_fn")
            proba = clean.predict_proba(X)
            own = proba[np.arange(X.shape[0]), np.searchsorted(clean.classes_, y)]
            rows = np.argsort(-own, kind="stable")[:n_poison]
            selection = "confidence"
        if selection != "influence":
            for i in rows:  # another class, drawn uniformly
                yp[i] = rng.choice(classes[classes != y[i]])
        Xp = X
        poisoned_rows = np.sort(rows)

        def success(model: Any) -> float:
            return clean_acc - float(np.mean(model.predict(X_test) == y_test))
    poisoned = train_fn(Xp, yp)
    report = screen(Xp, yp)
    keep = np.ones(Xp.shape[0], dtype=bool)
    keep[report.quarantine] = False
    screened = train_fn(Xp[keep], yp[keep])
    return PoisonResult(
        attack="poisoning", kind=kind, n_poison=n_poison, clean_accuracy=clean_acc,
        poisoned_accuracy=float(np.mean(poisoned.predict(X_test) == y_test)),
        screened_accuracy=float(np.mean(screened.predict(X_test) == y_test)),
        attack_success=success(poisoned), attack_success_screened=success(screened),
        screen_recall=float(np.mean(~keep[poisoned_rows])), screen_quarantined=int((~keep).sum()),
        selection=selection)
