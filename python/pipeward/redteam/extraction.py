"""Model extraction: train a surrogate from a victim's ``predict`` within a query budget.

Strategies: ``"random"`` (uniform queries in the box of the seed data), ``"data"`` (queries
are rows of the attacker's own data) and ``"jacobian"`` (Papernot et al. 2017: start from a
few seed rows, then each round adds ``x + lam * sign(grad_x loss(surrogate(x), label))`` for
every row queried so far, so the new queries land near the surrogate's decision boundary where
the victim's answers teach the most). Every call of ``predict`` on attack queries counts
against ``budget``; measuring fidelity on ``X_eval`` does not.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import float_array, positive_int
from .gradients import as_differentiable
from .results import AttackResult

__all__ = ["ExtractionResult", "extract"]


@dataclass(frozen=True)
class ExtractionResult(AttackResult):
    """The ``surrogate``, ``queries`` used, and per round ``(queries, fidelity, accuracy)``:
    fidelity is agreement with the victim on ``X_eval``, accuracy against ``y_eval`` (or None)."""

    surrogate: Any
    strategy: str
    queries: int
    fidelity: float
    accuracy: float | None
    curve: list[tuple[int, float, float | None]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "queries": self.queries, "fidelity": self.fidelity,
                "accuracy": self.accuracy, "curve": [list(p) for p in self.curve]}


def extract(predict: Callable[[np.ndarray], Any], X_seed: Any, *, budget: int, X_eval: Any,
            y_eval: Any = None, strategy: str = "data", surrogate: Any = None, rounds: int = 4,
            lam: float = 0.1, seed: int | None = None) -> ExtractionResult:
    """Spend at most ``budget`` queries of ``predict`` and return the fitted surrogate.

    ``surrogate`` is an unfitted scikit-learn classifier (default ``LogisticRegression``); with
    ``"jacobian"`` it must be one :func:`pw.redteam.fgsm` can differentiate. ``rounds``: how
    many times the surrogate is refitted as the budget is spent (the curve's points).
    """
    from sklearn.base import clone  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    if not callable(predict):
        raise TypeError(f"predict: expected a callable X -> labels, got {type(predict).__name__}")
    X_seed = float_array(X_seed, "X_seed", ndim=2, finite=True)
    X_eval = float_array(X_eval, "X_eval", ndim=2, finite=True)
    budget = positive_int(budget, "budget")
    rounds = positive_int(rounds, "rounds")
    if strategy not in ("random", "data", "jacobian"):
        raise ValueError(f"strategy: expected 'random', 'data' or 'jacobian', got {strategy!r}")
    if strategy == "data" and budget > X_seed.shape[0]:
        raise ValueError(f"budget: the 'data' strategy queries rows of X_seed, so at most "
                         f"{X_seed.shape[0]}, got {budget}")
    base = LogisticRegression(max_iter=1000) if surrogate is None else surrogate
    rng = np.random.default_rng(seed)
    victim_eval = np.asarray(predict(X_eval))
    used = 0

    def ask(Q: np.ndarray) -> np.ndarray:
        nonlocal used
        used += Q.shape[0]
        return np.asarray(predict(Q))

    def score(model: Any) -> tuple[float, float | None]:
        pred = model.predict(X_eval)
        acc = None if y_eval is None else float(np.mean(pred == np.asarray(y_eval)))
        return float(np.mean(pred == victim_eval)), acc

    sizes = np.unique(np.linspace(budget / rounds, budget, rounds).astype(int).clip(2, budget))
    curve: list[tuple[int, float, float | None]] = []
    Q = np.empty((0, X_seed.shape[1]), dtype=X_seed.dtype)
    labels = np.empty(0, dtype=victim_eval.dtype)
    model = None
    if strategy == "data":
        pool = X_seed[rng.permutation(X_seed.shape[0])[:budget]]
    elif strategy == "random":
        lo, hi = X_seed.min(axis=0), X_seed.max(axis=0)
        pool = rng.uniform(lo, hi, size=(budget, X_seed.shape[1])).astype(X_seed.dtype)
    for size in sizes:
        if strategy == "jacobian":
            if model is None:
                new = X_seed[rng.permutation(X_seed.shape[0])[:size]]
            else:  # push every queried row toward the surrogate's boundary, as many as fit
                grad = as_differentiable(model).loss_gradient(Q, np.searchsorted(model.classes_, labels))
                new = (Q + X_seed.dtype.type(lam) * np.sign(grad)).astype(X_seed.dtype)
                new = new[rng.permutation(new.shape[0])[:size - Q.shape[0]]]
        else:
            new = pool[Q.shape[0]:size]
        Q = np.vstack([Q, new])
        labels = np.concatenate([labels, ask(new)])
        if np.unique(labels).size < 2:
            continue  # one class seen so far: nothing to fit yet
        model = clone(base).fit(Q, labels)
        fid, acc = score(model)
        curve.append((used, fid, acc))
    if model is None:
        raise ValueError("extract: every answer was the same class; raise the budget")
    fid, acc = curve[-1][1], curve[-1][2]
    return ExtractionResult(attack="extraction", surrogate=model, strategy=strategy, queries=used,
                            fidelity=fid, accuracy=acc, curve=curve)
