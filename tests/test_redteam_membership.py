"""Membership inference: ROC numbers equal scikit-learn's, LiRA scoring equal to a per-example
Gaussian fit (scipy), attacks that find an overfit model's members and nothing in an
independent one."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from scipy import stats
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score, roc_curve as sk_roc_curve
from sklearn.svm import LinearSVC

import pipeward as pw
from pipeward.redteam.membership import lira_scores
from pipeward.redteam.roc import auc, auc_difference, delong, roc_curve, tpr_at_fpr


@pytest.mark.parametrize("seed", range(5))
def test_roc_equals_scikit_learn(seed):
    rng = np.random.default_rng(seed)
    pos = rng.random(300) < 0.4
    scores = np.round(rng.normal(size=300) + pos, 1)  # rounding makes ties
    fpr, tpr = roc_curve(scores, pos)
    sk_fpr, sk_tpr, _ = sk_roc_curve(pos, scores, drop_intermediate=False)
    np.testing.assert_allclose(fpr, sk_fpr)
    np.testing.assert_allclose(tpr, sk_tpr)
    assert auc(scores, pos) == pytest.approx(roc_auc_score(pos, scores))
    assert tpr_at_fpr(scores, pos, 0.01) == pytest.approx(sk_tpr[sk_fpr <= 0.01].max())


@settings(deadline=None, max_examples=40)
@given(seed=st.integers(0, 2**31), n=st.integers(4, 80), digits=st.integers(0, 2))
def test_delong_aucs_equal_scikit_learn(seed, n, digits):
    rng = np.random.default_rng(seed)
    pos = np.arange(n) < max(2, n // 3)
    a = np.round(rng.normal(size=n) + pos, digits)  # few digits: many ties
    b = np.round(rng.normal(size=n), digits)
    aucs, cov = delong(pos, a, b)
    np.testing.assert_allclose(aucs, [roc_auc_score(pos, a), roc_auc_score(pos, b)], rtol=1e-12)
    assert cov.shape == (2, 2) and np.all(np.diag(cov) >= 0) and cov[0, 1] == pytest.approx(cov[1, 0])


@pytest.mark.parametrize("seed", range(3))
def test_delong_errors_match_a_bootstrap(seed):
    rng = np.random.default_rng(seed)
    n = 400
    pos = rng.random(n) < 0.5
    a = rng.normal(size=n) + 0.6 * pos
    b = a + rng.normal(size=n)  # correlated with a: the paired error is smaller than either
    aucs, cov = delong(pos, a, b)
    boot = []
    members, others = np.flatnonzero(pos), np.flatnonzero(~pos)
    for _ in range(1500):  # resample members and non-members separately, as DeLong conditions on both counts
        i = np.r_[rng.choice(members, members.size), rng.choice(others, others.size)]
        boot.append([auc(a[i], pos[i]), auc(b[i], pos[i])])
    boot = np.array(boot)
    np.testing.assert_allclose(np.sqrt(np.diag(cov)), boot.std(axis=0, ddof=1), rtol=0.12)
    diff, se = auc_difference(a, b, pos)
    assert diff == pytest.approx(aucs[0] - aucs[1])
    assert se == pytest.approx(np.std(boot[:, 0] - boot[:, 1], ddof=1), rel=0.12)
    assert se < min(np.sqrt(np.diag(cov)))


def test_delong_bad_inputs():
    with pytest.raises(ValueError, match="two members"):
        delong(np.array([True, False, False]), np.zeros(3))
    with pytest.raises(ValueError, match="shape"):
        delong(np.array([True, True, False, False]), np.zeros(5))


@pytest.mark.parametrize("pooled", [False, True])
def test_lira_scores_equal_a_per_example_gaussian_fit(pooled):
    rng = np.random.default_rng(0)
    n, s = 50, 8
    shadow = rng.normal(size=(n, s))
    inside = rng.random((n, s)).argsort(axis=1) < s // 2
    target = rng.normal(size=n)
    got_on = lira_scores(target, shadow, inside, online=True, global_variance=pooled)
    got_off = lira_scores(target, shadow, inside, online=False, global_variance=pooled)
    dev_in = np.concatenate([shadow[i, inside[i]] - shadow[i, inside[i]].mean() for i in range(n)])
    dev_out = np.concatenate([shadow[i, ~inside[i]] - shadow[i, ~inside[i]].mean() for i in range(n)])
    for i in range(n):
        a, b = shadow[i, inside[i]], shadow[i, ~inside[i]]
        sd_a = np.sqrt((dev_in ** 2).sum() / (dev_in.size - 1)) if pooled else a.std(ddof=1)
        sd_b = np.sqrt((dev_out ** 2).sum() / (dev_out.size - 1)) if pooled else b.std(ddof=1)
        want = stats.norm.logpdf(target[i], a.mean(), sd_a) - stats.norm.logpdf(target[i], b.mean(), sd_b)
        assert got_on[i] == pytest.approx(want, rel=1e-9, abs=1e-9)
        assert got_off[i] == pytest.approx((target[i] - b.mean()) / sd_b, rel=1e-9)


def _overfit_setup(seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(400, 60))
    y = (X[:, 0] + rng.normal(scale=2.0, size=400) > 0).astype(int)  # noisy labels: memorised
    member = rng.random(400) < 0.5

    def train(Xt, yt):
        return LogisticRegression(C=100.0, max_iter=2000).fit(Xt, yt)

    return X, y, member, train


def test_attacks_find_the_members_of_an_overfit_model(tmp_path):
    X, y, member, train = _overfit_setup()
    target = train(X[member], y[member])
    loss = pw.redteam.membership_inference(target, X, y, member, method="loss")
    online = pw.redteam.membership_inference(target, X, y, member, train_fn=train, n_shadows=8, seed=1)
    offline = pw.redteam.membership_inference(target, X, y, member, train_fn=train, n_shadows=8,
                                              online=False, seed=1)
    # fixed seeds: loss 0.66, LiRA online 0.69 / offline 0.69 (a guess: 0.5 +- 0.03)
    assert loss.auc > 0.6 and online.auc > loss.auc and offline.auc > 0.6
    assert online.tpr_at_1pct_fpr > 0.03  # a guess gets 1%
    assert online.method == "lira-online" and online.n_shadows == 8
    log = pw.AuditLog(tmp_path / "a.db")
    assert online.record(log).payload["auc"] == online.auc
    aucs, cov = delong(member, online.scores)
    assert online.auc_se == pytest.approx(np.sqrt(cov[0, 0])) and 0.01 < online.auc_se < 0.05
    assert online.record(log).payload["auc_se"] == online.auc_se


def test_an_independent_model_leaks_nothing():
    X, y, member, train = _overfit_setup(seed=2)
    rng = np.random.default_rng(3)
    X_other = rng.normal(size=(400, 60))
    y_other = (X_other[:, 0] + rng.normal(scale=2.0, size=400) > 0).astype(int)
    independent = train(X_other, y_other)
    res = pw.redteam.membership_inference(independent, X, y, member, method="loss")
    n1, n0 = member.sum(), (~member).sum()
    sd = np.sqrt((n1 + n0 + 1) / (12 * n1 * n0))  # AUC's standard deviation under no leak
    assert abs(res.auc - 0.5) < 4 * sd


def test_bad_inputs():
    X, y, member, train = _overfit_setup()
    with pytest.raises(TypeError, match="predict_proba"):
        pw.redteam.membership_inference(LinearSVC().fit(X, y), X, y, member, method="loss")
    model = train(X, y)
    with pytest.raises(ValueError, match="train_fn"):
        pw.redteam.membership_inference(model, X, y, member)
    with pytest.raises(ValueError, match="even"):
        pw.redteam.membership_inference(model, X, y, member, train_fn=train, n_shadows=3)
    with pytest.raises(TypeError, match="bool"):
        pw.redteam.membership_inference(model, X, y, member.astype(int), method="loss")
    with pytest.raises(ValueError, match="method"):
        pw.redteam.membership_inference(model, X, y, member, method="magic")
    with pytest.raises(ValueError, match="both classes"):
        pw.redteam.membership_inference(model, X, y, np.ones(400, dtype=bool), method="loss")
    with pytest.raises(ValueError, match="classes"):
        pw.redteam.membership_inference(model, X, y + 7, member, method="loss")
