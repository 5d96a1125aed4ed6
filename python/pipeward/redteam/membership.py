"""Membership inference: the loss-threshold attack (Yeom et al. 2018) and LiRA (Carlini et al.
2022, "Membership Inference Attacks From First Principles"), online and offline.

LiRA trains shadow models with the user's ``train_fn(X, y) -> model`` on halves of the audit
set (each example in exactly half of the shadows), and models the logit-scaled confidence
``phi = log p_y - log(1 - p_y)`` of each example as Gaussian when it was in a shadow's
training set and when it was out. Online, an example's score is the likelihood ratio
``log N(phi; mu_in, sd_in) - log N(phi; mu_out, sd_out)``; offline (no shadow trained on the
example) it is the one-sided ``(phi - mu_out) / sd_out``. With fewer than 64 shadows the
variances are pooled over examples, as the paper advises.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import float_array, positive_int
from .results import AttackResult
from .roc import auc, delong, roc_curve, tpr_at_fpr

__all__ = ["MembershipResult", "confidence_logit", "lira_scores", "membership_inference"]


@dataclass(frozen=True)
class MembershipResult(AttackResult):
    """Per-example ``scores`` (higher = member), the truth, and the ROC summary."""

    scores: np.ndarray
    is_member: np.ndarray
    auc: float
    tpr_at_0_1pct_fpr: float
    tpr_at_1pct_fpr: float
    method: str
    n_shadows: int
    auc_se: float | None = None  # DeLong's standard error of the AUC (None below two of a kind)

    def summary(self) -> dict[str, Any]:
        return {"method": self.method, "n_shadows": self.n_shadows, "examples": int(self.scores.size),
                "auc": self.auc, "auc_se": self.auc_se, "tpr_at_0.1%_fpr": self.tpr_at_0_1pct_fpr,
                "tpr_at_1%_fpr": self.tpr_at_1pct_fpr, "roc": self.roc(points=120)}

    def roc(self, points: int | None = None) -> list[list[float]]:
        """``[fpr, tpr]`` of the attack's ROC; with ``points``, at most about that many,
        spaced evenly in log FPR (the low-FPR end is where a membership attack matters)."""
        fpr, tpr = roc_curve(self.scores, self.is_member)
        if points is not None and fpr.size > points:
            smallest = fpr[fpr > 0].min()
            at = np.searchsorted(fpr, np.geomspace(smallest, 1.0, points))
            keep = np.unique(np.r_[0, np.minimum(at, fpr.size - 1), fpr.size - 1])
            fpr, tpr = fpr[keep], tpr[keep]
        return [np.round(fpr, 7).tolist(), np.round(tpr, 7).tolist()]


def _proba(model: Any, X: np.ndarray) -> np.ndarray:
    if not callable(getattr(model, "predict_proba", None)):
        raise TypeError(f"model: membership inference needs predict_proba, and {type(model).__name__} "
                        "has none")
    return np.asarray(model.predict_proba(X), dtype=np.float64)


def confidence_logit(proba: np.ndarray, y_index: np.ndarray) -> np.ndarray:
    """``log p_y - log(sum_{j != y} p_j)``, stable near 0 and 1."""
    rows = np.arange(proba.shape[0])
    p_y = proba[rows, y_index]
    rest = proba.sum(axis=1) - p_y
    tiny = np.finfo(np.float64).tiny
    return np.log(np.maximum(p_y, tiny)) - np.log(np.maximum(rest, tiny))


def _log_normal(x: np.ndarray, mu: np.ndarray, sd: np.ndarray) -> np.ndarray:
    z = (x - mu) / sd
    return -0.5 * z * z - np.log(sd)


def lira_scores(target: np.ndarray, shadow: np.ndarray, shadow_in: np.ndarray, *, online: bool = True,
                global_variance: bool = True) -> np.ndarray:
    """LiRA scores from ``target`` (n,) confidences, ``shadow`` (n, S) confidences and
    ``shadow_in`` (n, S) masks of which shadows trained on each example."""
    shadow_in = np.asarray(shadow_in, dtype=bool)
    out = ~shadow_in
    n_out = out.sum(axis=1)
    if np.any(n_out == 0) or (online and np.any(shadow_in.sum(axis=1) == 0)):
        raise ValueError("lira_scores: every example needs shadows without it (and, online, with it)")
    mu_out = np.where(out, shadow, 0.0).sum(axis=1) / n_out
    dev_out = np.where(out, shadow - mu_out[:, None], 0.0)
    floor = 1e-6  # a shadow set with identical confidences must not divide by zero
    if global_variance:
        sd_out = np.full_like(mu_out, np.sqrt((dev_out ** 2).sum() / max(out.sum() - 1, 1)))
    else:
        sd_out = np.sqrt((dev_out ** 2).sum(axis=1) / np.maximum(n_out - 1, 1))
    sd_out = np.maximum(sd_out, floor)
    if not online:
        return (target - mu_out) / sd_out
    n_in = shadow_in.sum(axis=1)
    mu_in = np.where(shadow_in, shadow, 0.0).sum(axis=1) / n_in
    dev_in = np.where(shadow_in, shadow - mu_in[:, None], 0.0)
    if global_variance:
        sd_in = np.full_like(mu_in, np.sqrt((dev_in ** 2).sum() / max(shadow_in.sum() - 1, 1)))
    else:
        sd_in = np.sqrt((dev_in ** 2).sum(axis=1) / np.maximum(n_in - 1, 1))
    sd_in = np.maximum(sd_in, floor)
    return _log_normal(target, mu_in, sd_in) - _log_normal(target, mu_out, sd_out)


def membership_inference(model: Any, X: Any, y: Any, is_member: Any, *, method: str = "lira",
                         train_fn: Callable[[np.ndarray, np.ndarray], Any] | None = None,
                         n_shadows: int = 16, online: bool = True, global_variance: bool | None = None,
                         seed: int | None = None) -> MembershipResult:
    """Attack ``model`` on the audit set ``(X, y)`` whose true membership is ``is_member``.

    ``method="loss"``: score = -cross-entropy of the target model. ``method="lira"``: needs
    ``train_fn`` (trains a fresh model like the target's); ``n_shadows`` (even) shadows,
    online or offline.
    """
    X = float_array(X, "X", ndim=2, finite=True)
    y = np.asarray(y)
    member = np.asarray(is_member)
    if y.shape != (X.shape[0],) or member.shape != (X.shape[0],):
        raise ValueError(f"y and is_member: expected {X.shape[0]} values each (one per row of X), got "
                         f"shapes {y.shape} and {member.shape}")
    if member.dtype != bool:
        raise TypeError(f"is_member: expected a bool array, got {member.dtype}")
    proba = _proba(model, X)
    classes = np.asarray(getattr(model, "classes_", np.arange(proba.shape[1])))
    y_index = np.searchsorted(classes, y)
    if np.any(y_index >= classes.size) or np.any(classes[np.minimum(y_index, classes.size - 1)] != y):
        raise ValueError("y: labels that are not among the model's classes")
    if method == "loss":
        scores = np.log(np.maximum(proba[np.arange(X.shape[0]), y_index], np.finfo(np.float64).tiny))
        shadows = 0
    elif method == "lira":
        if train_fn is None:
            raise ValueError("membership_inference: method='lira' needs train_fn(X, y) -> model")
        shadows = positive_int(n_shadows, "n_shadows")
        if shadows < 2 or shadows % 2:
            raise ValueError(f"n_shadows: expected an even number >= 2, got {shadows}")
        rng = np.random.default_rng(seed)
        # each example in exactly half of the shadows
        shadow_in = rng.random((X.shape[0], shadows)).argsort(axis=1) < shadows // 2
        phi = np.empty((X.shape[0], shadows))
        for s in range(shadows):
            rows = shadow_in[:, s]
            phi[:, s] = confidence_logit(_proba(train_fn(X[rows], y[rows]), X), y_index)
        pooled = shadows < 64 if global_variance is None else bool(global_variance)
        scores = lira_scores(confidence_logit(proba, y_index), phi, shadow_in, online=online,
                             global_variance=pooled)
        method = f"lira-{'online' if online else 'offline'}"
    else:
        raise ValueError(f"method: expected 'lira' or 'loss', got {method!r}")
    auc_se = float(np.sqrt(delong(member, scores)[1][0, 0])) if min(member.sum(), (~member).sum()) >= 2 else None
    return MembershipResult(attack="membership", scores=scores, is_member=member,
                            auc=auc(scores, member), tpr_at_0_1pct_fpr=tpr_at_fpr(scores, member, 0.001),
                            tpr_at_1pct_fpr=tpr_at_fpr(scores, member, 0.01), method=method,
                            n_shadows=shadows, auc_se=auc_se)
