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


@pytest.mark.parametrize(("rate", "margin"), [(0.1, 0.05), (0.2, 0.1)])
def test_flips_aimed_by_influence_hurt_more_than_random_ones(data, rate, margin):
    rand = [pw.redteam.poison(_train, *data, kind="random_flip", rate=rate, seed=s) for s in range(3)]
    aimed = pw.redteam.poison(_train, *data, kind="targeted_flip", rate=rate, seed=0)
    assert aimed.selection == "influence" and rand[0].selection == "random"
    assert aimed.n_poison == rand[0].n_poison == round(400 * rate)
    # measured: 10%: 0.142 against 0.006-0.053 for random seeds; 20%: 0.272 against 0.006-0.083
    assert aimed.attack_success > max(r.attack_success for r in rand) + margin
    assert aimed.attack_success == pytest.approx(aimed.clean_accuracy - aimed.poisoned_accuracy)


def test_influence_flips_raise_the_clean_loss_more_than_confidence_flips(data):
    """The flips influence picks are the ones that most raise the loss the attacker aims at (the
    refit model's cross-entropy on the clean training labels), above the confidence stand-in's."""
    from sklearn.metrics import log_loss

    from pipeward.redteam.influence import flip_influence

    X, y, _, _ = data
    model = _train(X, y)
    gain, flipped_to = flip_influence(model, X, y, X, y)
    own = model.predict_proba(X)[np.arange(len(y)), y]
    for k in (20, 40, 80):
        losses = []
        for rows in (np.argsort(-gain)[:k], np.argsort(-own)[:k]):
            flipped = y.copy()
            flipped[rows] = 1 - flipped[rows]
            losses.append(log_loss(y, _train(X, flipped).predict_proba(X)))
        assert losses[0] > losses[1]  # measured 0.257/0.233, 0.371/0.356, 0.621/0.559
    assert np.all(flipped_to != y)


def test_other_models_are_aimed_by_confidence(data):
    from sklearn.neighbors import KNeighborsClassifier

    res = pw.redteam.poison(lambda A, b: KNeighborsClassifier(15).fit(A, b), *data, kind="targeted_flip",
                            rate=0.1, seed=0)
    assert res.selection == "confidence" and res.summary()["selection"] == "confidence"


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
