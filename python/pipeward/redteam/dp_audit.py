"""Privacy auditing in one training run (Steinke, Nasr & Jagielski, NeurIPS 2023).

m canaries are each put in the training set independently with probability 1/2
(:func:`draw_canaries`); after one training run the auditor scores every canary (higher =
"was trained on"), guesses "in" for the ``k_plus`` highest scores and "out" for the
``k_minus`` lowest, and abstains on the rest. If training is (eps, delta)-DP, the number of
correct guesses ``v`` among ``r = k_plus + k_minus`` is, up to a delta term, no more likely to
be large than under Binomial(r, e^eps / (1 + e^eps)) (the paper's Theorem 3.1):

    p(eps) = P[Binomial(r, q) >= v] + 2 m delta * max_{1<=i<=v} P[v - i <= Binomial(r, q) < v] / i,
    q = 1 / (1 + e^-eps).

The lower bound at confidence 1 - beta is the largest eps with ``p(eps) < beta``: training
that were eps-DP for any smaller eps would have produced this many correct guesses with
probability below beta. ``k_plus``/``k_minus`` must be chosen before looking at the scores.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import float_array
from .results import AttackResult

__all__ = ["DPAuditResult", "audit_dp", "draw_canaries", "epsilon_lower_bound", "p_value"]


def _binomial_pmf(r: int, q: float) -> np.ndarray:
    k = np.arange(r + 1, dtype=np.float64)
    log_choose = np.concatenate([[0.0], np.cumsum(np.log((r - k[1:] + 1) / k[1:]))])
    with np.errstate(divide="ignore"):
        logq, log1q = np.log(q), np.log1p(-q)
    log_pmf = log_choose + k * logq + (r - k) * log1q if 0 < q < 1 else np.where(
        k == (r if q >= 1 else 0), 0.0, -np.inf)
    return np.exp(log_pmf)


def p_value(m: int, r: int, v: int, eps: float, delta: float = 0.0) -> float:
    """Probability of ``v`` or more correct guesses out of ``r`` (m canaries) if training
    were (eps, delta)-DP: the paper's Theorem 3.1."""
    if not 0 <= v <= r <= m:
        raise ValueError(f"expected 0 <= v <= r <= m, got v={v}, r={r}, m={m}")
    q = 1.0 / (1.0 + np.exp(-eps))
    pmf = _binomial_pmf(r, q)
    beta = float(pmf[v:].sum())
    if delta > 0 and v > 0:
        below = np.cumsum(pmf[:v][::-1])  # P[v - i <= B < v] for i = 1..v
        beta += 2 * m * delta * float((below / np.arange(1, v + 1)).max())
    return min(beta, 1.0)


def epsilon_lower_bound(m: int, r: int, v: int, *, delta: float = 0.0, confidence: float = 0.95) -> float:
    """The largest eps whose :func:`p_value` is below ``1 - confidence`` (0 if none is)."""
    alpha = 1.0 - confidence
    if p_value(m, r, v, 0.0, delta) >= alpha:
        return 0.0
    lo, hi = 0.0, 1.0
    while p_value(m, r, v, hi, delta) < alpha:
        lo, hi = hi, 2 * hi
        if hi > 1e3:  # every guess right with nothing to pay: no finite bound separates it
            return float(lo)
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if p_value(m, r, v, mid, delta) < alpha else (lo, mid)
    return lo


def draw_canaries(m: int, seed: int | None = None) -> np.ndarray:
    """Which of ``m`` canaries go into training: each independently with probability 1/2."""
    return np.random.default_rng(seed).random(m) < 0.5


@dataclass(frozen=True)
class DPAuditResult(AttackResult):
    """``epsilon_lower_bound`` at ``confidence``: training is not (eps, delta)-DP for any
    smaller eps, unless an event of probability ``1 - confidence`` happened."""

    epsilon_lower_bound: float
    confidence: float
    delta: float
    canaries: int
    guesses: int
    correct: int

    def summary(self) -> dict[str, Any]:
        return {"epsilon_lower_bound": self.epsilon_lower_bound, "confidence": self.confidence,
                "delta": self.delta, "canaries": self.canaries, "guesses": self.guesses,
                "correct": self.correct}


def audit_dp(scores: Any, included: Any, *, k_plus: int, k_minus: int | None = None, delta: float = 0.0,
             confidence: float = 0.95) -> DPAuditResult:
    """Turn one run's canary ``scores`` and the true ``included`` mask into an epsilon lower bound.

    Guesses "in" for the ``k_plus`` highest scores, "out" for the ``k_minus`` lowest (default
    ``k_plus``); ties are broken by position.
    """
    scores = float_array(scores, "scores", ndim=1, finite=True)
    included = np.asarray(included)
    if included.dtype != bool or included.shape != scores.shape:
        raise TypeError(f"included: expected a bool array of shape {scores.shape}, got "
                        f"{included.dtype} of shape {included.shape}")
    k_minus = k_plus if k_minus is None else k_minus
    m = scores.size
    for name, k in (("k_plus", k_plus), ("k_minus", k_minus)):
        if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or k < 0:
            raise ValueError(f"{name}: expected a non-negative integer, got {k!r}")
    if k_plus + k_minus > m or k_plus + k_minus == 0:
        raise ValueError(f"k_plus + k_minus: expected 1 to {m} (the canaries), got {k_plus + k_minus}")
    if not 0.0 <= delta < 1.0:
        raise ValueError(f"delta: expected 0 <= delta < 1, got {delta}")
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence: expected 0 < confidence < 1, got {confidence}")
    order = np.argsort(-scores, kind="stable")
    correct = int(included[order[:k_plus]].sum()) + int((~included[order[m - k_minus:]]).sum())
    r = int(k_plus + k_minus)
    eps = epsilon_lower_bound(m, r, correct, delta=delta, confidence=confidence)
    return DPAuditResult(attack="dp_audit", epsilon_lower_bound=eps, confidence=confidence, delta=delta,
                         canaries=m, guesses=r, correct=correct)
