"""ROC summaries of an attack's scores (higher score = "member"): AUC and TPR at a low FPR, and
DeLong's standard errors of AUCs, alone or paired on the same examples."""

from __future__ import annotations

import numpy as np

__all__ = ["auc", "auc_difference", "delong", "roc_curve", "tpr_at_fpr"]


def roc_curve(scores: np.ndarray, positive: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(fpr, tpr) at every distinct threshold, from (0, 0) to (1, 1); tied scores move together
    (scikit-learn's ``roc_curve`` with ``drop_intermediate=False``)."""
    scores = np.asarray(scores, dtype=np.float64)
    positive = np.asarray(positive, dtype=bool)
    n_pos, n_neg = int(positive.sum()), int((~positive).sum())
    if n_pos == 0 or n_neg == 0:
        raise ValueError(f"ROC needs both classes: got {n_pos} members and {n_neg} non-members")
    order = np.argsort(-scores, kind="stable")
    s, p = scores[order], positive[order]
    last = np.r_[np.flatnonzero(np.diff(s)), s.size - 1]  # the end of each run of tied scores
    tp = np.cumsum(p)[last]
    fp = (last + 1) - tp
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos]


def auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """Area under the ROC curve (ties count one half: the Mann-Whitney statistic)."""
    fpr, tpr = roc_curve(scores, positive)
    return float(np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2))


def tpr_at_fpr(scores: np.ndarray, positive: np.ndarray, fpr_max: float) -> float:
    """The largest TPR among thresholds whose FPR is at most ``fpr_max``."""
    fpr, tpr = roc_curve(scores, positive)
    return float(tpr[fpr <= fpr_max].max())


def _midranks(values: np.ndarray) -> np.ndarray:
    """1-based ranks of ``values``, ties sharing the mean of their ranks."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    ends = np.cumsum(counts)
    return (ends - (counts - 1) / 2.0)[inverse]


def delong(positive: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """AUCs of several score sets on the same examples and DeLong's estimate of their covariance
    (DeLong, DeLong & Clarke-Pearson 1988, computed from midranks as in Sun & Xu 2014).

    Returns ``(aucs, cov)``: ``aucs[a]`` equals :func:`auc` of ``scores[a]``, and ``cov[a, b]``
    is the covariance of the two AUC estimates over draws of the examples.
    """
    positive = np.asarray(positive, dtype=bool)
    m, n = int(positive.sum()), int((~positive).sum())
    if m < 2 or n < 2:
        raise ValueError(f"delong: needs at least two members and two non-members, got {m} and {n}")
    aucs, v10, v01 = [], [], []
    for s in scores:
        s = np.asarray(s, dtype=np.float64)
        if s.shape != positive.shape:
            raise ValueError(f"delong: scores of shape {s.shape} for {positive.size} examples")
        both = _midranks(s)
        pos_rank = both[positive] - _midranks(s[positive])  # negatives below each positive
        neg_rank = both[~positive] - _midranks(s[~positive])  # positives below each negative
        aucs.append(pos_rank.sum() / (m * n))
        v10.append(pos_rank / n)  # each positive's share of negatives beaten
        v01.append(1.0 - neg_rank / m)  # each negative's share of positives above it
    cov = np.atleast_2d(np.cov(np.array(v10))) / m + np.atleast_2d(np.cov(np.array(v01))) / n
    return np.array(aucs), cov


def auc_difference(scores_a: np.ndarray, scores_b: np.ndarray, positive: np.ndarray) -> tuple[float, float]:
    """``AUC(a) - AUC(b)`` on the same examples and its DeLong standard error (paired: the
    shared examples' noise cancels, so the error is smaller than either AUC's alone)."""
    aucs, cov = delong(positive, scores_a, scores_b)
    return float(aucs[0] - aucs[1]), float(np.sqrt(max(cov[0, 0] + cov[1, 1] - 2 * cov[0, 1], 0.0)))
