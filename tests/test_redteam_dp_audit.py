"""One-run DP audit: p-values equal scipy's binomial, the bound covers a known epsilon
(randomized response), stays below the accountant on DP-SGD and rises without privacy."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

import pipeward as pw
from pipeward.redteam.dp_audit import draw_canaries, epsilon_lower_bound, p_value


@pytest.mark.parametrize(("m", "r", "v", "eps", "delta"),
                         [(1000, 100, 70, 0.5, 0.0), (1000, 100, 70, 0.5, 1e-5), (50, 50, 50, 2.0, 1e-3),
                          (200, 40, 0, 1.0, 1e-5), (5000, 4000, 2500, 0.3, 1e-6)])
def test_p_value_is_the_theorem_with_scipy_binomials(m, r, v, eps, delta):
    q = 1 / (1 + np.exp(-eps))
    want = stats.binom.sf(v - 1, r, q)
    if v:
        i = np.arange(1, v + 1)
        below = stats.binom.cdf(v - 1, r, q) - stats.binom.cdf(v - 1 - i, r, q)  # P[v-i <= B < v]
        want += 2 * m * delta * np.max(below / i)
    assert p_value(m, r, v, eps, delta) == pytest.approx(min(want, 1.0), rel=1e-9, abs=1e-15)


def test_bound_is_the_edge_of_rejection():
    eps = epsilon_lower_bound(1000, 200, 150, delta=1e-5)
    assert p_value(1000, 200, 150, eps, 1e-5) < 0.05 <= p_value(1000, 200, 150, eps + 1e-6, 1e-5)
    assert epsilon_lower_bound(1000, 200, 100) == 0.0  # a coin's accuracy proves nothing


def test_coverage_on_randomized_response():
    """eps-DP randomized response on each canary's bit: the 95% bound must exceed eps in at
    most ~5% of runs (it is conservative, so far fewer), and still be informative."""
    eps, m, runs = 1.0, 1000, 200
    rng = np.random.default_rng(0)
    keep = 1 / (1 + np.exp(-eps))
    bounds = []
    for _ in range(runs):
        included = draw_canaries(m, seed=int(rng.integers(2**32)))
        released = np.where(rng.random(m) < keep, included, ~included)
        scores = released + rng.uniform(0, 0.1, m)  # the release, ties broken at random
        bounds.append(pw.redteam.audit_dp(scores, included, k_plus=m // 2).epsilon_lower_bound)
    bounds = np.array(bounds)
    assert np.sum(bounds > eps) <= stats.binom.ppf(0.999, runs, 0.05)
    assert bounds.mean() > 0.6 * eps


def _dp_sgd_canary_run(private: bool, seed: int = 0):
    """Logistic regression whose last m features are one indicator per canary: a canary's
    weight only moves if the canary was trained on."""
    rng = np.random.default_rng(seed)
    n, d0, m = 400, 8, 200
    X = np.zeros((n + m, d0 + m))
    X[:n, :d0] = rng.normal(size=(n, d0))
    y = np.zeros(n + m)
    y[:n] = X[:n, :d0] @ rng.normal(size=d0) > 0
    X[n:, d0:] = np.eye(m) * 2.0
    y[n:] = rng.random(m) < 0.5
    included = draw_canaries(m, seed=seed + 1)
    rows = np.concatenate([np.arange(n), n + np.flatnonzero(included)])
    Xt, yt = X[rows], y[rows]
    w = np.zeros(d0 + m)
    q, steps, sigma, clip, lr = 0.1, 150, 4.0, 1.0, 2.0
    for t in range(steps):
        if private:
            batch = rng.random(len(rows)) < q
            g = (1 / (1 + np.exp(-Xt[batch] @ w)) - yt[batch])[:, None] * Xt[batch]
            w -= lr * pw.clip_and_noise(np.ascontiguousarray(g), clip, sigma, reduction="mean",
                                        expected_batch_size=int(q * len(rows)), seed=seed * 1000 + t)
        else:
            g = (1 / (1 + np.exp(-Xt @ w)) - yt)[:, None] * Xt
            w -= lr * g.mean(axis=0) * 20
    sign = np.where(y[n:] == 1, 1.0, -1.0)
    scores = sign * (X[n:] @ w)  # the canary's margin: high when it was learnt
    acc_eps = pw.epsilon(sigma, q, steps, 1e-5)
    return pw.redteam.audit_dp(scores, included, k_plus=20, delta=1e-5), acc_eps


def test_dp_sgd_bound_stays_below_the_accountant_and_non_private_training_exceeds_it(tmp_path):
    private, acc_eps = _dp_sgd_canary_run(private=True)
    leaky, _ = _dp_sgd_canary_run(private=False)
    assert acc_eps == pytest.approx(1.338, abs=1e-3)
    assert private.epsilon_lower_bound < acc_eps
    assert leaky.correct == leaky.guesses == 40
    assert leaky.epsilon_lower_bound > max(acc_eps, 2.0)
    rec = leaky.record(pw.AuditLog(tmp_path / "a.db"))
    assert rec.action == "redteam.dp_audit" and rec.payload["correct"] == 40


def test_bad_inputs():
    scores = np.zeros(10)
    inc = np.zeros(10, dtype=bool)
    with pytest.raises(ValueError, match="k_plus"):
        pw.redteam.audit_dp(scores, inc, k_plus=6)
    with pytest.raises(ValueError, match="k_plus"):
        pw.redteam.audit_dp(scores, inc, k_plus=-1)
    with pytest.raises(TypeError, match="bool"):
        pw.redteam.audit_dp(scores, inc.astype(int), k_plus=2)
    with pytest.raises(ValueError, match="NaN"):
        pw.redteam.audit_dp(np.full(10, np.nan), inc, k_plus=2)
    with pytest.raises(ValueError, match="delta"):
        pw.redteam.audit_dp(scores, inc, k_plus=2, delta=1.0)
    with pytest.raises(ValueError, match="confidence"):
        pw.redteam.audit_dp(scores, inc, k_plus=2, confidence=1.0)
