"""Influence functions for logistic regression: equal to the derivative of the refit loss in a
row's weight (the paper's definition, by central differences of real refits), close to
leave-one-out and flip-one retraining, and clear errors for models they do not cover."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.datasets import make_classification
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier

from pipeward.redteam.influence import flip_influence, is_logistic, removal_influence


def _data(n, classes, seed):
    X, y = make_classification(n, 4, n_informative=3, n_redundant=0, n_classes=classes, n_clusters_per_class=1,
                               flip_y=0.1, random_state=seed)
    return X * [1.0, 3.0, 0.5, 2.0] + [0.0, 1.0, -2.0, 0.5], y  # unscaled columns, for the pipeline case


def _model(kind):
    if kind == "pipeline":
        return make_pipeline(StandardScaler(), LogisticRegression(C=0.5, solver="newton-cg", tol=1e-12,
                                                                max_iter=100_000))
    if kind == "liblinear":
        return LogisticRegression(C=1.0, solver="liblinear", intercept_scaling=2.0, tol=1e-12, max_iter=100_000)
    return LogisticRegression(C=1.0, solver="newton-cg", tol=1e-12, max_iter=100_000)  # converges tightly


def _fit(kind, X, y, weight=None):
    model = _model(kind)
    key = "logisticregression__sample_weight" if kind == "pipeline" else "sample_weight"
    return model.fit(X, y, **({key: weight} if weight is not None else {}))


@pytest.mark.parametrize(("kind", "classes"), [("plain", 2), ("plain", 3), ("pipeline", 2), ("pipeline", 3),
                                               ("liblinear", 2)])
def test_removal_influence_is_the_derivative_of_the_refit_loss(kind, classes):
    """Koh & Liang's influence is d(eval loss)/d(row weight); refit at weight 1 -+ eps."""
    X, y = _data(60, classes, 0)
    X_eval, y_eval = _data(200, classes, 1)
    got = removal_influence(_fit(kind, X, y), X, y, X_eval, y_eval)
    eps = 1e-3
    for i in range(0, 60, 12):
        weight = np.ones(60)
        weight[i] = 1 - eps
        less = log_loss(y_eval, _fit(kind, X, y, weight).predict_proba(X_eval))
        weight[i] = 1 + eps
        more = log_loss(y_eval, _fit(kind, X, y, weight).predict_proba(X_eval))
        assert got[i] == pytest.approx((less - more) / (2 * eps), rel=1e-3, abs=2e-6)


@pytest.mark.parametrize("classes", [2, 3])
def test_influence_predicts_leave_one_out_and_flip_one_retraining(classes):
    """First order in one row out of n: the error shrinks like 1/n; at n = 300 the predicted and
    the retrained changes correlate above 0.99."""
    n = 300
    X, y = _data(n, classes, 0)
    X_eval, y_eval = _data(200, classes, 1)
    model = _fit("plain", X, y)
    base = log_loss(y_eval, model.predict_proba(X_eval))
    removal = removal_influence(model, X, y, X_eval, y_eval)
    gain, flipped_to = flip_influence(model, X, y, X_eval, y_eval)
    rows = np.arange(0, n, 10)
    loo, flip = [], []
    for i in rows:
        loo.append(log_loss(y_eval, _fit("plain", np.delete(X, i, 0), np.delete(y, i)).predict_proba(X_eval)) - base)
        relabelled = y.copy()
        relabelled[i] = flipped_to[i]
        flip.append(log_loss(y_eval, _fit("plain", X, relabelled).predict_proba(X_eval)) - base)
    for predicted, actual in ((removal[rows], np.array(loo)), (gain[rows], np.array(flip))):
        assert np.corrcoef(predicted, actual)[0, 1] > 0.99
        assert np.abs(predicted - actual).max() < 0.2 * np.abs(actual).max()
    assert np.all(flipped_to != y)


def test_the_flip_label_is_the_most_harmful_one():
    X, y = _data(120, 3, 2)
    model = _fit("plain", X, y)
    gain, flipped_to = flip_influence(model, X, y, X, y)
    # the chosen label's gain is the largest over the other two, computed one label at a time
    from pipeward.redteam.influence import _Logistic

    lr = _Logistic(model)
    v = np.linalg.lstsq(lr.hessian(lr.design(X)), lr.eval_gradient(X, y).ravel(), rcond=None)[0].reshape(3, -1)
    proj = lr.design(X) @ v.T
    for i in range(0, 120, 7):
        others = [c for c in range(3) if c != y[i]]
        each = [lr.C * (proj[i, c] - proj[i, y[i]]) for c in others]
        assert gain[i] == pytest.approx(max(each)) and flipped_to[i] == others[int(np.argmax(each))]


def test_bad_inputs():
    X, y = _data(60, 2, 0)
    model = _fit("plain", X, y)
    assert is_logistic(model) and is_logistic(_fit("pipeline", X, y))
    tree = DecisionTreeClassifier().fit(X, y)
    assert not is_logistic(tree)
    with pytest.raises(TypeError, match="LogisticRegression"):
        removal_influence(tree, X, y, X, y)
    with pytest.raises(TypeError, match="LogisticRegression"):
        flip_influence(LogisticRegression(), X, y, X, y)  # not fitted
    with pytest.raises(TypeError, match="L2"):
        flip_influence(LogisticRegression(l1_ratio=1.0, solver="saga", tol=0.1).fit(X, y), X, y, X, y)
    with pytest.raises(TypeError, match="class_weight"):
        flip_influence(LogisticRegression(class_weight="balanced").fit(X, y), X, y, X, y)
    with pytest.raises(ValueError, match="classes"):
        flip_influence(model, X, y + 5, X, y)
    with pytest.raises(ValueError, match="one per row"):
        flip_influence(model, X, y[:-1], X, y)
    with pytest.raises(ValueError, match="non-empty"):
        flip_influence(model, X, y, X[:0], y[:0])
    bad = X.copy()
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN|finite"):
        flip_influence(model, bad, y, X, y)
