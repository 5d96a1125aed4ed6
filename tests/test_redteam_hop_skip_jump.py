"""HopSkipJump: label-only, always adversarial, and close to the exact minimal L2 distance of a
linear model, |w x + b| / ||w||, which no attack can beat."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import pipeward as pw


@pytest.fixture(scope="module")
def linear():
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = LogisticRegression(max_iter=1000).fit(X, y)
    rows = np.r_[0:6, 19:25]  # both classes
    return model, X[rows], y[rows]


def test_adversarial_and_near_the_exact_distance(linear, tmp_path):
    model, X, y = linear
    calls = []

    def predict(Z):  # labels only, counted
        calls.append(len(Z))
        return model.predict(Z)

    res = pw.redteam.hop_skip_jump(predict, X, y, max_iter=15, seed=0)
    exact = np.abs(model.decision_function(X)) / np.linalg.norm(model.coef_)
    right = model.predict(X) == y
    assert np.all(model.predict(res.x_adv[right]) != y[right])  # every point is adversarial
    np.testing.assert_allclose(res.distance[right], np.linalg.norm(res.x_adv[right] - X[right], axis=1))
    assert np.all(res.distance[right] >= exact[right] * (1 - 1e-6))
    assert np.max(res.distance[right] / exact[right]) < 1.1  # measured 1.005-1.016
    assert res.queries.sum() == sum(calls)
    assert res.robust_accuracy(0.0) == pytest.approx(np.mean(right))
    assert res.robust_accuracy(np.inf) == 0.0
    assert res.record(pw.AuditLog(tmp_path / "a.db")).payload["queries"] == sum(calls)


def test_bad_inputs(linear):
    model, X, y = linear
    with pytest.raises(TypeError, match="callable"):
        pw.redteam.hop_skip_jump(model, X, y)
    with pytest.raises(ValueError, match="one per row"):
        pw.redteam.hop_skip_jump(model.predict, X, y[:-1])
    with pytest.raises(ValueError, match="max_iter"):
        pw.redteam.hop_skip_jump(model.predict, X, y, max_iter=0)
