"""pw.explain against shap (LinearExplainer, ExactExplainer, KernelExplainer) and against the
brute-force reference; permutation importance against scikit-learn; the spurious check."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward.accountability import permutation_importance, spurious_features
from pipeward.accountability.linear_model import sigmoid
from pipeward.reference.shapley import shapley_values

shap = pytest.importorskip("shap")
sklm = pytest.importorskip("sklearn.linear_model")


def _data(n=300, d=8, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d)) * rng.uniform(0.5, 3, d) + rng.normal(size=d)
    y = (X @ rng.normal(size=d) + rng.normal(size=n) > np.median(X @ rng.normal(size=d))).astype(int)
    return X, y


@pytest.fixture(scope="module")
def logreg():
    X, y = _data()
    return sklm.LogisticRegression(max_iter=1000).fit(X, y), X


def _masker(bg):
    return shap.maskers.Independent(bg, max_samples=len(bg))


def test_linear_equals_shap_linear_explainer(logreg):
    model, X = logreg
    bg, rows = X[:60], X[100:140]
    ours = pw.explain(model, rows, background=bg)
    theirs = shap.LinearExplainer(model, _masker(bg))(rows)
    assert ours.method == "linear" and ours.output == "log_odds"
    np.testing.assert_allclose(ours.values, theirs.values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.base_values, theirs.base_values, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ours.output_values, model.decision_function(rows), atol=1e-12)


def test_linear_regression_equals_shap_too():
    X, _ = _data(seed=3)
    y = X @ np.arange(X.shape[1]) + 1.5
    model = sklm.Ridge(alpha=0.1).fit(X, y)
    ours = pw.explain(model, X[:20], background=X[50:150])
    theirs = shap.LinearExplainer(model, _masker(X[50:150]))(X[:20])
    assert ours.method == "linear" and ours.output == "raw"
    np.testing.assert_allclose(ours.values, theirs.values, atol=1e-10)


def test_exact_probability_equals_shap_exact_explainer(logreg):
    """The GLM fast path (no model calls) and the black-box path, both against shap."""
    model, X = logreg
    bg, rows = X[:40], X[200:205]
    proba = lambda Z: model.predict_proba(Z)[:, 1]  # noqa: E731
    theirs = shap.ExactExplainer(proba, _masker(bg))(rows)
    fast = pw.explain(model, rows, background=bg, output="probability")
    black_box = pw.explain(proba, rows, background=bg)
    assert fast.method == black_box.method == "exact"
    for ours in (fast, black_box):
        np.testing.assert_allclose(ours.values, theirs.values, rtol=0, atol=1e-12)
        np.testing.assert_allclose(ours.base_values, theirs.base_values, rtol=0, atol=1e-12)


def test_exact_on_a_nonlinear_model_equals_shap():
    X, y = _data(n=200, d=6, seed=4)
    f = lambda Z: np.tanh(Z[:, 0] * Z[:, 1]) + np.maximum(Z[:, 2], 0) * Z[:, 3] - Z[:, 4] ** 2  # noqa: E731
    ours = pw.explain(f, X[:10], background=X[100:130])
    theirs = shap.ExactExplainer(f, _masker(X[100:130]))(X[:10])
    np.testing.assert_allclose(ours.values, theirs.values, rtol=0, atol=1e-12)


@settings(deadline=None, max_examples=25)
@given(st.integers(1, 6), st.integers(1, 8), st.integers(0, 2**32 - 1), st.booleans())
def test_exact_equals_the_brute_force_reference(k, m, seed, float32):
    rng = np.random.default_rng(seed)
    dtype = np.float32 if float32 else np.float64
    X, bg = rng.normal(size=(3, k)).astype(dtype), rng.normal(size=(m, k)).astype(dtype)
    w = rng.normal(size=k)

    def f(Z):
        Z = Z.astype(np.float64)  # float32 inputs reach the model as they are; it computes in float64
        return np.sin(Z @ w) + Z[:, 0] * Z[:, -1]

    ours = pw.explain(f, X, background=bg, method="exact")
    for i in range(3):
        phi, base = shapley_values(f, X[i].astype(np.float64), bg)
        np.testing.assert_allclose(ours.values[i], phi, rtol=0, atol=1e-10)
        assert abs(ours.base_values[i] - base) <= 1e-10
    np.testing.assert_allclose(ours.output_values, f(X), atol=1e-10)


def test_a_subset_of_features_keeps_the_rest_at_the_rows_values(logreg):
    model, X = logreg
    cols = [1, 4, 6]
    rows, bg = X[:5], X[50:80]
    proba = lambda Z: model.predict_proba(Z)[:, 1]  # noqa: E731
    ours = pw.explain(model, rows, background=bg, output="probability", features=cols)
    black_box = pw.explain(proba, rows, background=bg, features=cols)
    np.testing.assert_allclose(ours.values, black_box.values, atol=1e-12)
    for i, row in enumerate(rows):
        # the reference on a 3-feature function whose other inputs are this row's
        def g(Z, row=row):
            full = np.repeat(row[None, :], len(Z), axis=0)
            full[:, cols] = Z
            return proba(full)
        phi, base = shapley_values(g, row[cols], bg[:, cols])
        np.testing.assert_allclose(ours.values[i], phi, atol=1e-12)
        assert abs(ours.base_values[i] - base) <= 1e-12
    assert ours.feature_names == ("x1", "x4", "x6")


def test_kernel_with_a_full_budget_is_exact():
    X, _ = _data(n=100, d=7, seed=5)
    f = lambda Z: np.tanh(Z @ np.linspace(-1, 1, 7)) * Z[:, 0]  # noqa: E731
    exact = pw.explain(f, X[:6], background=X[50:70], method="exact")
    kernel = pw.explain(f, X[:6], background=X[50:70], method="kernel", n_samples=200)
    np.testing.assert_allclose(kernel.values, exact.values, atol=1e-10)


def test_kernel_sampling_error_shrinks_and_agrees_with_shap_kernel():
    rng = np.random.default_rng(1)
    d = 16
    X = rng.normal(size=(60, d))
    w = rng.normal(size=d)
    f = lambda Z: sigmoid(0.5 * Z @ w) + 0.3 * np.sin(Z[:, 0] * Z[:, 1])  # noqa: E731
    bg, rows = X[:12], X[40:43]
    exact = pw.explain(f, rows, background=bg, method="exact")
    errors = []
    for n_samples in (400, 6400):
        k = pw.explain(f, rows, background=bg, method="kernel", n_samples=n_samples, random_state=0)
        np.testing.assert_allclose(k.values.sum(axis=1), exact.values.sum(axis=1), atol=1e-12)  # efficiency
        errors.append(np.abs(k.values - exact.values).max())
    assert errors[1] < errors[0] / 2 and errors[1] < 0.01 * np.abs(exact.values).max() + 2e-3
    theirs = shap.KernelExplainer(f, bg).shap_values(rows, nsamples=6400, silent=True, l1_reg=False)
    assert np.abs(theirs - exact.values).max() < 0.05 * np.abs(exact.values).max()


def test_auto_picks_kernel_beyond_max_exact():
    rng = np.random.default_rng(2)
    X = rng.normal(size=(30, 18))
    f = lambda Z: np.tanh(Z.sum(axis=1))  # noqa: E731
    e = pw.explain(f, X[:2], background=X[10:15], n_samples=300, random_state=0)
    assert e.method == "kernel" and e.values.shape == (2, 18)
    np.testing.assert_allclose(e.output_values, f(X[:2]), atol=1e-12)


def test_dataframe_input_names_features_and_reaches_the_model_as_a_dataframe():
    X, y = _data(n=200, d=4, seed=6)
    frame = pd.DataFrame(X, columns=["age", "income", "tenure", "score"])
    model = sklm.LogisticRegression().fit(frame, y)  # warns on ndarray input: warnings are errors
    e = pw.explain(model, frame.iloc[:5], background=frame.iloc[100:150], output="probability",
                   method="exact")
    assert e.feature_names == ("age", "income", "tenure", "score")
    np.testing.assert_allclose(e.output_values, model.predict_proba(frame.iloc[:5])[:, 1], atol=1e-12)
    assert list(e.global_importance())[0] in e.feature_names
    assert e.top(0, 2)[0][0] in e.feature_names


@pytest.mark.parametrize(("kwargs", "error", "match"), [
    ({"method": "tree"}, ValueError, "method"),
    ({"output": "margin"}, ValueError, "output"),
    ({"output": "raw"}, ValueError, "regressors and functions"),
    ({"method": "linear", "output": "probability"}, ValueError, "linear"),
    ({"features": [0, 0]}, ValueError, "distinct"),
    ({"features": ["nope"]}, ValueError, "no column"),
    ({"background": np.zeros((5, 3))}, ValueError, "8 columns"),
    ({"background": np.zeros((5, 8), np.float32)}, TypeError, "float64 like X"),
    ({"max_exact": 40}, ValueError, "max_exact"),
])
def test_bad_arguments_are_named(logreg, kwargs, error, match):
    model, X = logreg
    args = {"background": X[:10], **kwargs}
    with pytest.raises(error, match=match):
        pw.explain(model, X[:2], **args)


def test_integer_input_and_multiclass_models_are_refused():
    X, y = _data(n=90, d=3)
    with pytest.raises(TypeError, match="float32 or float64"):
        pw.explain(lambda Z: Z[:, 0], X.astype(np.int64), background=X)
    multi = sklm.LogisticRegression().fit(X, np.arange(90) % 3)
    with pytest.raises(ValueError, match="binary classifiers"):
        pw.explain(multi, X[:2], background=X[:5])


def test_permutation_importance_equals_scikit_learn():
    inspection = pytest.importorskip("sklearn.inspection")
    X, y = _data(n=250, d=5, seed=8)
    model = sklm.LogisticRegression().fit(X, y)
    ours = permutation_importance(model, X, y, n_repeats=4, random_state=7)
    theirs = inspection.permutation_importance(model, X, y, n_repeats=4, random_state=7)
    np.testing.assert_array_equal(ours.importances, theirs.importances)
    reg = sklm.LinearRegression().fit(X, X @ np.ones(5))
    ours = permutation_importance(reg, X, X @ np.ones(5), n_repeats=3, random_state=1)
    theirs = inspection.permutation_importance(reg, X, X @ np.ones(5), n_repeats=3, random_state=1)
    np.testing.assert_allclose(ours.importances, theirs.importances, rtol=1e-12)


def test_spurious_check_names_a_planted_shortcut_and_nothing_on_clean_data():
    rng = np.random.default_rng(0)
    n = 800

    def draw(shortcut: bool):
        X = rng.normal(size=(n, 4))
        y = (X[:, 0] + 0.5 * X[:, 1] + 0.3 * rng.normal(size=n) > 0).astype(int)
        X[:, 3] = (y if shortcut else rng.integers(0, 2, n)) + 0.4 * rng.normal(size=n)
        return X, y

    X_train, y_train = draw(True)
    model = sklm.LogisticRegression().fit(X_train, y_train)
    X_shift, y_shift = draw(False)
    names = ["signal", "weak signal", "noise", "scanner tag"]
    report = spurious_features(model, X_train, y_train, X_shift, y_shift, feature_names=names)
    assert report.suspects == ("scanner tag",)
    assert "signal" not in report.suspects
    clean = sklm.LogisticRegression().fit(*draw(False))
    X_a, y_a = draw(False)
    X_b, y_b = draw(False)
    assert spurious_features(clean, X_a, y_a, X_b, y_b, feature_names=names).suspects == ()


@settings(deadline=None, max_examples=25)
@given(st.integers(2, 7), st.integers(0, 2**32 - 1), st.booleans())
def test_linear_closed_form_equals_enumeration_and_reference(d, seed, subset):
    """The closed form, the GLM enumeration and the black box agree on a linear model, also
    when only some features are explained."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(60, d)) * 3
    y = (X[:, 0] + rng.normal(size=60) > 0).astype(int)
    y[:2] = [0, 1]
    model = sklm.LogisticRegression().fit(X, y)
    cols = sorted(rng.choice(d, size=max(1, d // 2), replace=False).tolist()) if subset else None
    rows, bg = X[:4], X[20:35]
    closed = pw.explain(model, rows, background=bg, features=cols)
    enum = pw.explain(model, rows, background=bg, features=cols, method="exact")
    box = pw.explain(model.decision_function, rows, background=bg, features=cols)
    assert closed.method == "linear" and enum.method == box.method == "exact"
    for other in (enum, box):
        np.testing.assert_allclose(closed.values, other.values, atol=1e-10)
        np.testing.assert_allclose(closed.base_values, other.base_values, atol=1e-10)
    np.testing.assert_allclose(closed.output_values, model.decision_function(rows), atol=1e-10)


def test_log_odds_without_decision_function_and_saturated_probabilities():
    class Proba:
        classes_ = np.array([0, 1])

        def __init__(self, saturate):
            self.saturate = saturate

        def predict_proba(self, Z):
            p = sigmoid(Z[:, 0] - Z[:, 1])
            if self.saturate:
                p = (p > 0.5).astype(float)
            return np.column_stack([1 - p, p])

    X = np.random.default_rng(3).normal(size=(40, 2))
    e = pw.explain(Proba(False), X[:5], background=X[10:30])
    assert e.output == "log_odds"
    np.testing.assert_allclose(e.output_values, X[:5, 0] - X[:5, 1], atol=1e-12)
    with pytest.raises(ValueError, match="output='probability'"):
        pw.explain(Proba(True), X[:5], background=X[10:30])
    assert pw.explain(Proba(True), X[:5], background=X[10:30], output="probability").method == "exact"


def test_gpu_arrays_are_refused_not_copied():
    from fake_cupy import FakeArray  # noqa: PLC0415 - host memory posing as device memory

    gpu = np.zeros((4, 3)).view(FakeArray)
    with pytest.raises(TypeError, match="cupy.asnumpy"):
        pw.explain(lambda Z: Z[:, 0], gpu, background=np.zeros((4, 3)))
    with pytest.raises(TypeError, match="cupy.asnumpy"):
        pw.fairness.assess(np.zeros(4).view(FakeArray), np.zeros(4), ["a"] * 4)
