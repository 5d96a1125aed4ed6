"""ROC summaries of an attack's scores (higher score = "member"): AUC and TPR at a low FPR."""

from __future__ import annotations

import numpy as np

__all__ = ["auc", "roc_curve", "tpr_at_fpr"]


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
