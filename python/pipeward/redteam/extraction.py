"""Model extraction: train a surrogate from a victim's ``predict`` within a query budget.

Strategies: ``"random"`` (uniform queries in the box of the seed data), ``"data"`` (queries
are rows of the attacker's own data) and ``"jacobian"`` (Papernot et al. 2017: start from a
few seed rows, then each round adds ``x + lam * sign(grad_x loss(surrogate(x), label))`` for
every row queried so far, so the new queries land near the surrogate's decision boundary where
the victim's answers teach the most). Every call of ``predict`` on attack queries counts
against ``budget``; measuring fidelity on ``X_eval`` does not (pass ``victim_eval``, the
victim's own labels there, when asking the victim would spend a service's budget).

With ``predict_proba`` the attacker is answered class probabilities instead of labels and fits
the surrogate on them (each query once per class, weighted by its probability); a service that
answers labels only takes that away. When the victim refuses a query (:class:`QueryRefused`:
a rate limit, a budget, the input guard), the attack stops and keeps what it was answered.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._validate import float_array, positive_int
from .client import QueryRefused
from .gradients import as_differentiable
from .results import AttackResult

__all__ = ["ExtractionResult", "extract"]


@dataclass(frozen=True)
class ExtractionResult(AttackResult):
    """The ``surrogate``, ``queries`` answered, and per round ``(queries, fidelity, accuracy)``:
    fidelity is agreement with the victim on ``X_eval``, accuracy against ``y_eval`` (or None).
    ``answers``: "labels" or "probabilities"; ``refused``: the status of the refusal that
    stopped the attack (429, 422) or None; ``X_queries``: the rows the victim answered."""

    surrogate: Any
    strategy: str
    queries: int
    fidelity: float
    accuracy: float | None
    curve: list[tuple[int, float, float | None]] = field(default_factory=list)
    answers: str = "labels"
    refused: int | None = None
    X_queries: np.ndarray | None = field(default=None, repr=False)

    def summary(self) -> dict[str, Any]:
        return {"strategy": self.strategy, "answers": self.answers, "queries": self.queries,
                "fidelity": self.fidelity, "accuracy": self.accuracy, "refused": self.refused,
                "curve": [list(p) for p in self.curve]}


def extract(predict: Callable[[np.ndarray], Any], X_seed: Any, *, budget: int, X_eval: Any,
            y_eval: Any = None, strategy: str = "data", surrogate: Any = None, rounds: int = 4,
            lam: float = 0.1, seed: int | None = None, victim_eval: Any = None,
            predict_proba: Callable[[np.ndarray], Any] | None = None,
            classes: Any = None) -> ExtractionResult:
    """Spend at most ``budget`` queries of ``predict`` and return the fitted surrogate.

    ``surrogate`` is an unfitted scikit-learn classifier (default ``LogisticRegression``); with
    ``"jacobian"`` it must be one :func:`pw.redteam.fgsm` can differentiate. ``rounds``: how
    many times the surrogate is refitted as the budget is spent (the curve's points).
    ``classes``: the labels of ``predict_proba``'s columns (default: those of ``victim_eval``).
    """
    from sklearn.base import clone  # noqa: PLC0415
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415

    if not callable(predict):
        raise TypeError(f"predict: expected a callable X -> labels, got {type(predict).__name__}")
    if predict_proba is not None and not callable(predict_proba):
        raise TypeError(f"predict_proba: expected a callable X -> probabilities, got {type(predict_proba).__name__}")
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
    victim_eval = np.asarray(predict(X_eval) if victim_eval is None else victim_eval)
    if victim_eval.shape != (X_eval.shape[0],):
        raise ValueError(f"victim_eval: expected {X_eval.shape[0]} labels (one per row of X_eval), "
                         f"got shape {victim_eval.shape}")
    classes = np.unique(victim_eval) if classes is None else np.asarray(classes)
    used = 0
    refused: int | None = None

    def ask(Q: np.ndarray) -> np.ndarray:
        """The victim's answers to Q: labels, or one probability row per query."""
        nonlocal used, refused
        try:
            out = np.asarray(predict(Q) if predict_proba is None else predict_proba(Q))
        except QueryRefused as exc:
            refused, out = exc.status, np.asarray(exc.answers)
        used += out.shape[0]
        return out

    def fit(Q: np.ndarray, answers: np.ndarray) -> Any:
        if predict_proba is None:
            return clone(base).fit(Q, answers)
        if answers.shape[1] != classes.size:
            raise ValueError(f"predict_proba answered {answers.shape[1]} columns for {classes.size} classes")
        # soft labels: each query once per class, weighted by the victim's probability of it
        w = answers.T.reshape(-1)
        keep = w > 0
        model = clone(base)
        # a Pipeline routes the weights to its last step by name
        name = f"{model.steps[-1][0]}__sample_weight" if hasattr(model, "steps") else "sample_weight"
        return model.fit(np.tile(Q, (classes.size, 1))[keep], np.repeat(classes, Q.shape[0])[keep],
                         **{name: w[keep]})

    def score(model: Any) -> tuple[float, float | None]:
        pred = model.predict(X_eval)
        acc = None if y_eval is None else float(np.mean(pred == np.asarray(y_eval)))
        return float(np.mean(pred == victim_eval)), acc

    sizes = np.unique(np.linspace(budget / rounds, budget, rounds).astype(int).clip(2, budget))
    curve: list[tuple[int, float, float | None]] = []
    Q = np.empty((0, X_seed.shape[1]), dtype=X_seed.dtype)
    chunks: list[np.ndarray] = []
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
                labels = answers if predict_proba is None else classes[answers.argmax(axis=1)]
                grad = as_differentiable(model).loss_gradient(Q, np.searchsorted(model.classes_, labels))
                new = (Q + X_seed.dtype.type(lam) * np.sign(grad)).astype(X_seed.dtype)
                new = new[rng.permutation(new.shape[0])[:size - Q.shape[0]]]
        else:
            new = pool[Q.shape[0]:size]
        got = ask(new)
        if got.shape[0]:
            chunks.append(got)
            Q = np.vstack([Q, new[:got.shape[0]]])
            answers = np.concatenate(chunks)
            seen = answers if predict_proba is None else classes[answers.argmax(axis=1)]
        if got.shape[0] and np.unique(seen).size >= 2:  # with one class seen, nothing to fit yet
            model = fit(Q, answers)
            fid, acc = score(model)
            curve.append((used, fid, acc))
        if refused is not None:
            break  # the victim stopped answering: keep what was bought
    if model is None:
        why = f"the victim refused ({refused}) after {used} queries" if refused else "every answer was the same class"
        raise ValueError(f"extract: {why}; nothing to fit")
    fid, acc = curve[-1][1], curve[-1][2]
    return ExtractionResult(attack="extraction", surrogate=model, strategy=strategy, queries=used,
                            fidelity=fid, accuracy=acc, curve=curve,
                            answers="labels" if predict_proba is None else "probabilities",
                            refused=refused, X_queries=Q)
