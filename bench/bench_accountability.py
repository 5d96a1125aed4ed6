"""Accountability speed: exact Shapley values against shap, fairness against fairlearn.

Target (issue 19): exact Shapley values for 12 features of a 30-feature logistic regression,
1,000 rows, 100 background rows: >= 10x shap's ``ExactExplainer`` on the same machine, in one
run. The model is scikit-learn's ``LogisticRegression`` on the standardised Breast Cancer
Wisconsin data (30 features); the 18 features not explained are held at their mean (0) in the
explained rows and the background, which is what shap sees through a 12-input wrapper. The
explained output is the probability (the log-odds are linear and take the closed form).

shap explains row by row, so its time on the first ``SHAP_ROWS`` rows is scaled to 1,000
(its per-row cost does not depend on the row); ``python bench/bench_accountability.py --full``
times shap on all 1,000 rows instead. Both results are compared value by value.

    pytest bench/bench_accountability.py --benchmark-min-rounds=3
    python bench/bench_accountability.py [--full]
"""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest

import pipeward as pw
from pipeward.datasets import load_breast_cancer

shap = pytest.importorskip("shap")
fm = pytest.importorskip("fairlearn.metrics")
sklm = pytest.importorskip("sklearn.linear_model")

N_ROWS, N_BACKGROUND, K = 1000, 100, 12
SHAP_ROWS = 20


def setup():
    X, y, _ = load_breast_cancer()
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    model = sklm.LogisticRegression(max_iter=5000).fit(X, y)
    rng = np.random.default_rng(0)
    rows = X[rng.integers(0, len(X), N_ROWS)].copy()
    background = X[rng.choice(len(X), N_BACKGROUND, replace=False)].copy()
    rows[:, K:] = 0.0
    background[:, K:] = 0.0

    def proba12(Z):
        full = np.zeros((len(Z), X.shape[1]))
        full[:, :K] = Z
        return model.predict_proba(full)[:, 1]

    return model, rows, background, proba12


def pipeward_exact(model, rows, background):
    return pw.explain(model, rows, background=background, output="probability", features=list(range(K)))


def shap_exact(proba12, rows, background):
    explainer = shap.ExactExplainer(proba12, shap.maskers.Independent(background[:, :K], max_samples=N_BACKGROUND))
    return explainer(rows[:, :K], silent=True)


@pytest.fixture(scope="module")
def data():
    return setup()


@pytest.mark.benchmark(group=f"explain-exact-{K}of30-{N_ROWS}x{N_BACKGROUND}")
def test_pipeward_exact_1000_rows(benchmark, data):
    model, rows, background, proba12 = data
    e = benchmark(pipeward_exact, model, rows, background)
    theirs = shap_exact(proba12, rows[:5], background)
    benchmark.extra_info["max_abs_diff_vs_shap"] = float(np.abs(e.values[:5] - theirs.values).max())
    assert e.method == "exact"


@pytest.mark.benchmark(group=f"explain-exact-{K}of30-{N_ROWS}x{N_BACKGROUND}")
def test_shap_exact_explainer_first_rows(benchmark, data):
    model, rows, background, proba12 = data
    benchmark(shap_exact, proba12, rows[:SHAP_ROWS], background)
    benchmark.extra_info["rows"] = SHAP_ROWS
    benchmark.extra_info["scaled_to_1000_rows_s"] = benchmark.stats.stats.median * N_ROWS / SHAP_ROWS


@pytest.mark.benchmark(group=f"explain-exact-{K}of30-{N_ROWS}x{N_BACKGROUND}")
def test_pipeward_exact_black_box_first_rows(benchmark, data):
    """The same values through the generic path (the model called on every masked row)."""
    model, rows, background, proba12 = data
    benchmark(pw.explain, proba12, rows[:SHAP_ROWS, :K], background=background[:, :K])


@pytest.mark.benchmark(group="explain-linear-30-1000x100")
def test_pipeward_linear(benchmark, data):
    model, rows, background, _ = data
    benchmark(pw.explain, model, rows, background=background)


@pytest.mark.benchmark(group="explain-linear-30-1000x100")
def test_shap_linear_explainer(benchmark, data):
    model, rows, background, _ = data
    benchmark(lambda: shap.LinearExplainer(model, shap.maskers.Independent(background, max_samples=N_BACKGROUND))(rows))


def fairness_data(n=200_000, seed=0):
    rng = np.random.default_rng(seed)
    import pandas as pd  # noqa: PLC0415

    sf = pd.DataFrame({"sex": rng.choice(["f", "m"], n), "age": rng.choice(["<30", "30-50", "50+"], n)})
    y_true = rng.integers(0, 2, n)
    y_pred = np.where(rng.random(n) < 0.8, y_true, 1 - y_true)
    return y_true, y_pred, sf


FAIRLEARN = (fm.demographic_parity_difference, fm.demographic_parity_ratio, fm.equalized_odds_difference,
             fm.equalized_odds_ratio, fm.equal_opportunity_difference, fm.equal_opportunity_ratio)


def fairlearn_all(y_true, y_pred, sf):
    metrics = {"selection_rate": fm.selection_rate, "true_positive_rate": fm.true_positive_rate,
               "false_positive_rate": fm.false_positive_rate}
    frame = fm.MetricFrame(metrics=metrics, y_true=y_true, y_pred=y_pred, sensitive_features=sf)
    return frame.by_group, [f(y_true, y_pred, sensitive_features=sf) for f in FAIRLEARN]


@pytest.mark.benchmark(group="fairness-200k-6-groups")
def test_pipeward_assess(benchmark):
    y_true, y_pred, sf = fairness_data()
    benchmark(pw.fairness.assess, y_true, y_pred, sf, n_boot=0)


@pytest.mark.benchmark(group="fairness-200k-6-groups")
def test_fairlearn_metricframe_and_disparities(benchmark):
    y_true, y_pred, sf = fairness_data()
    benchmark(fairlearn_all, y_true, y_pred, sf)


def main(full: bool) -> None:
    model, rows, background, proba12 = setup()
    pipeward_exact(model, rows[:10], background)  # warm
    shap_exact(proba12, rows[:2], background)
    times = []
    for _ in range(3):
        t = time.perf_counter()
        ours = pipeward_exact(model, rows, background)
        times.append(time.perf_counter() - t)
    n_shap = N_ROWS if full else SHAP_ROWS
    t = time.perf_counter()
    theirs = shap_exact(proba12, rows[:n_shap], background)
    t_shap = (time.perf_counter() - t) * N_ROWS / n_shap
    t_ours = float(np.median(times))
    diff = float(np.abs(ours.values[:n_shap] - theirs.values).max())
    print(f"exact Shapley, {K} of 30 features, {N_ROWS} rows x {N_BACKGROUND} background, probability:")
    print(f"  pipeward {t_ours:.2f} s (median of 3); shap ExactExplainer {t_shap:.1f} s "
          f"({'all rows' if full else f'{n_shap} rows scaled to {N_ROWS}'}): {t_shap / t_ours:.1f}x; "
          f"max |difference| {diff:.2e}")
    y_true, y_pred, sf = fairness_data()
    t = time.perf_counter()
    a = pw.fairness.assess(y_true, y_pred, sf, n_boot=0)
    t_a = time.perf_counter() - t
    t = time.perf_counter()
    _, peer = fairlearn_all(y_true, y_pred, sf)
    t_f = time.perf_counter() - t
    err = max(abs(getattr(a, f.__name__) - v) for f, v in zip(FAIRLEARN, peer))
    print(f"fairness, 200k rows, 6 intersectional groups: pipeward {t_a * 1e3:.0f} ms, fairlearn "
          f"{t_f * 1e3:.0f} ms: {t_f / t_a:.1f}x; max |difference| {err:.1e}")


if __name__ == "__main__":
    main("--full" in sys.argv)
