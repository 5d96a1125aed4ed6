"""Model extraction: the budget is honoured, fidelity grows with queries, data beats random."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.exceptions import ConvergenceWarning
from sklearn.neural_network import MLPClassifier

import pipeward as pw


@pytest.fixture(scope="module")
def victim():
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    rng = np.random.default_rng(0)
    order = rng.permutation(len(X))
    train, attacker, evaluation = order[:250], order[250:450], order[450:]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model = MLPClassifier((16,), max_iter=300, random_state=0).fit(X[train], y[train])
    return model, X[attacker], X[evaluation], y[evaluation]


@pytest.mark.parametrize("strategy", ["data", "jacobian"])
def test_budget_is_honoured_and_fidelity_is_measured(victim, strategy, tmp_path):
    model, X_att, X_eval, y_eval = victim
    calls = []

    def predict(Q):
        calls.append(len(Q))
        return model.predict(Q)

    res = pw.redteam.extract(predict, X_att, budget=120, X_eval=X_eval, y_eval=y_eval, strategy=strategy,
                             seed=0)
    assert res.queries == sum(calls) - len(X_eval) <= 120  # evaluation queries are not attack queries
    assert res.fidelity == pytest.approx(np.mean(res.surrogate.predict(X_eval) == model.predict(X_eval)))
    assert [q for q, _, _ in res.curve] == sorted(q for q, _, _ in res.curve)
    assert res.record(pw.AuditLog(tmp_path / "a.db")).payload["queries"] == res.queries
    assert res.fidelity > 0.9


def test_random_queries_teach_little(victim):
    model, X_att, X_eval, _ = victim
    # uniform queries in the 30-d box of standardised data all fall in one class of this victim
    with pytest.raises(ValueError, match="same class"):
        pw.redteam.extract(model.predict, X_att, budget=60, X_eval=X_eval, strategy="random", seed=1)
    from sklearn.datasets import make_classification
    from sklearn.linear_model import LogisticRegression

    X, y = make_classification(600, 3, n_informative=3, n_redundant=0, random_state=0)
    low = LogisticRegression().fit(X[:300], y[:300])
    rand = pw.redteam.extract(low.predict, X[300:450], budget=40, X_eval=X[450:], strategy="random", seed=1)
    data = pw.redteam.extract(low.predict, X[300:450], budget=40, X_eval=X[450:], strategy="data", seed=1)
    assert rand.fidelity > 0.8 and data.fidelity > 0.8 and rand.queries == data.queries == 40


def test_bad_inputs(victim):
    model, X_att, X_eval, _ = victim
    with pytest.raises(TypeError, match="callable"):
        pw.redteam.extract(model, X_att, budget=10, X_eval=X_eval)
    with pytest.raises(ValueError, match="budget"):
        pw.redteam.extract(model.predict, X_att, budget=10_000, X_eval=X_eval)
    with pytest.raises(ValueError, match="budget"):
        pw.redteam.extract(model.predict, X_att, budget=0, X_eval=X_eval)
    with pytest.raises(ValueError, match="strategy"):
        pw.redteam.extract(model.predict, X_att, budget=10, X_eval=X_eval, strategy="psychic")
    with pytest.raises(ValueError, match="same class"):
        pw.redteam.extract(lambda Q: np.zeros(len(Q)), X_att, budget=10, X_eval=X_eval)
