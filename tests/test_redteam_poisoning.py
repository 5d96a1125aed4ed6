"""Poisoning simulation: a backdoor that works until pw.screen removes it; flips that cost
accuracy, targeted ones more than random ones."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression
from sklearn.svm import LinearSVC

import pipeward as pw


@pytest.fixture(scope="module")
def data():
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    order = np.random.default_rng(0).permutation(len(X))
    return X[order[:400]], y[order[:400]], X[order[400:]], y[order[400:]]


def _train(X, y):
    return LogisticRegression(max_iter=1000).fit(X, y)


def test_backdoor_succeeds_and_the_screen_stops_it(data, tmp_path):
    res = pw.redteam.poison(_train, *data, kind="backdoor", rate=0.05, trigger=(0, 1, 2), target=1, seed=0)
    assert res.n_poison == 20
    assert res.attack_success > 0.8  # measured 0.91
    assert res.screen_recall == 1.0 and res.attack_success_screened < 0.1
    assert abs(res.poisoned_accuracy - res.clean_accuracy) < 0.03  # a backdoor hides in plain accuracy
    assert res.record(pw.AuditLog(tmp_path / "a.db")).payload["kind"] == "backdoor"


def test_targeted_flips_hurt_more_than_random_ones(data):
    rand = pw.redteam.poison(_train, *data, kind="random_flip", rate=0.2, seed=0)
    aimed = pw.redteam.poison(_train, *data, kind="targeted_flip", rate=0.2, seed=0)
    assert rand.n_poison == aimed.n_poison == 80
    assert aimed.attack_success > rand.attack_success + 0.1  # measured 0.28 vs 0.02
    assert aimed.attack_success == pytest.approx(aimed.clean_accuracy - aimed.poisoned_accuracy)


def test_bad_inputs(data):
    X, y, Xt, yt = data
    with pytest.raises(ValueError, match="rate"):
        pw.redteam.poison(_train, X, y, Xt, yt, rate=0.0)
    with pytest.raises(ValueError, match="kind"):
        pw.redteam.poison(_train, X, y, Xt, yt, kind="glitter")
    with pytest.raises(ValueError, match="target"):
        pw.redteam.poison(_train, X, y, Xt, yt, kind="backdoor", target=7)
    with pytest.raises(TypeError, match="predict_proba"):
        pw.redteam.poison(lambda A, b: LinearSVC().fit(A, b), X, y, Xt, yt, kind="targeted_flip")
    with pytest.raises(ValueError, match="one label per row"):
        pw.redteam.poison(_train, X, y[:-1], Xt, yt)
