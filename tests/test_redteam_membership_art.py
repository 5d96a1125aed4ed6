"""Membership inference against ART on one shadow setup: the same target, the same audit set and
the same shadow models (trained by ART's ``ShadowModels``), and AUCs that agree within their
sampling error.

The sampling error is DeLong's: both attacks score the same audit examples, so the difference
of their AUCs has the paired standard error of :func:`pipeward.redteam.roc.auc_difference`
(checked against a bootstrap in tests/test_redteam_membership.py). "Agree" means within
``Z = 3`` of those standard errors (a two-sided 0.3% test; the seeds are fixed).
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import pipeward as pw
from pipeward.redteam.membership import confidence_logit, lira_scores
from pipeward.redteam.roc import auc_difference

art = pytest.importorskip("art", reason="ART (adversarial-robustness-toolbox) is the peer; pip install .[test]")
from art.attacks.inference.membership_inference import (  # noqa: E402
    MembershipInferenceBlackBox,
    MembershipInferenceBlackBoxRuleBased,
    ShadowModels,
)
from art.estimators.classification import SklearnClassifier  # noqa: E402

Z = 3.0


def _train(X, y):
    return LogisticRegression(C=100.0, max_iter=2000).fit(X, y)  # overfits: 60 features, noisy labels


def _setup(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(2000, 60))
    y = (X[:, 0] + rng.normal(scale=2.0, size=2000) > 0).astype(int)
    X_audit, y_audit, X_shadow, y_shadow = X[:400], y[:400], X[400:], y[400:]
    member = rng.random(400) < 0.5
    target = _train(X_audit[member], y_audit[member])
    # ART's shadow models: 4, each on its own quarter of the shadow pool, half in and half out (which no
    # audit row is in); ART's scikit-learn wrapper takes one-hot labels and a fitted template
    shadows = ShadowModels(SklearnClassifier(_train(X_shadow, y_shadow)), num_shadow_models=4,
                           disjoint_datasets=True, random_state=seed)
    shadow_sets = shadows.generate_shadow_dataset(X_shadow, np.eye(2)[y_shadow])
    return X_audit, y_audit, member, target, shadows, shadow_sets


@pytest.mark.parametrize("seed", [0, 1])
def test_membership_auc_agrees_with_art_on_the_same_shadow_models(seed):
    X, y, member, target, shadows, ((mx, my, mp), (nx, ny, npred)) = _setup(seed)
    # ART: the shadow-model attack (Shokri et al. 2017), a random forest on the shadow models'
    # prediction vectors and labels, then applied to the target's predictions on the audit set
    art_attack = MembershipInferenceBlackBox(SklearnClassifier(target), input_type="prediction",
                                             attack_model_type="rf")
    art_attack.fit(x=mx, y=my, test_x=nx, test_y=ny, pred=mp, test_pred=npred)
    art_scores = np.asarray(art_attack.infer(X, y, probabilities=True)).reshape(X.shape[0], -1)[:, -1]

    # pipeward's loss threshold learns the same statistic without shadows: for a binary model
    # the prediction vector and the label fix the loss, which is what the forest can use
    loss = pw.redteam.membership_inference(target, X, y, member, method="loss")
    diff, se = auc_difference(loss.scores, art_scores, member)
    assert abs(diff) <= Z * se, (loss.auc, loss.auc - diff, se)

    # LiRA offline on ART's own shadow models: no audit row is in any of them, which is the
    # offline setting; it is a stronger attack, so it must not fall below ART's beyond the noise
    shadow_phi = np.column_stack([confidence_logit(m.predict(X), y) for m in shadows.get_shadow_models()])
    lira = lira_scores(confidence_logit(target.predict_proba(X), y), shadow_phi,
                       np.zeros_like(shadow_phi, dtype=bool), online=False)
    diff, se = auc_difference(lira, art_scores, member)
    assert diff >= -Z * se, (diff, se)
    assert loss.auc > 0.55  # there is a leak to find (a guess scores 0.5 +- 0.03)


def test_rule_based_attack_is_the_loss_threshold_at_one_half():
    X, y, member, target, _, _ = _setup(0)
    art_guess = MembershipInferenceBlackBoxRuleBased(SklearnClassifier(target)).infer(X, y).astype(bool)
    loss = pw.redteam.membership_inference(target, X, y, member, method="loss")
    # "member when the prediction is right" is, for two classes, "p_y > 1/2": a point on our ROC
    ours = loss.scores > np.log(0.5)
    np.testing.assert_array_equal(art_guess, ours)
    fpr, tpr = np.asarray(loss.roc())
    assert any(np.isclose(f, np.mean(ours[~member])) and np.isclose(t, np.mean(ours[member]))
               for f, t in zip(fpr, tpr))
