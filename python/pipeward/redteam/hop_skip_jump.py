"""HopSkipJump (Chen, Jordan & Wainwright 2020), untargeted, L2: a decision-based attack that
needs only the victim's labels, so it runs against any ``predict`` callable (an HTTP client too).

Per row: start from a misclassified point (uniform noise in the data's box, or another row of
the batch, blended toward x by binary search onto the boundary), then repeat: estimate the boundary's normal from the signs
of ``n`` random probes at radius ``delta`` (their mean, baseline-corrected), step along it by a
geometrically shrinking size until still adversarial, and binary-search back to the boundary.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import float_array, positive_int
from .results import AttackResult

__all__ = ["HopSkipJumpResult", "hop_skip_jump"]


@dataclass(frozen=True)
class HopSkipJumpResult(AttackResult):
    """``x_adv`` (x itself where no adversarial point was found or x was already wrong),
    per-row L2 ``distance`` (0 if already misclassified, inf if the attack failed), ``queries``
    used per row."""

    x_adv: np.ndarray
    distance: np.ndarray
    queries: np.ndarray

    def robust_accuracy(self, eps: float) -> float:
        """Share of rows still correctly classified by every point within L2 distance eps
        (as far as the attack could tell: an upper bound on the true robust accuracy)."""
        return float(np.mean(self.distance > eps))

    def summary(self) -> dict[str, Any]:
        finite = self.distance[np.isfinite(self.distance)]
        return {"rows": int(self.distance.size), "queries": int(self.queries.sum()),
                "failed": int(np.isinf(self.distance).sum()),
                "median_distance": float(np.median(finite)) if finite.size else None,
                "curve": self.curve()}

    def curve(self, points: int = 12) -> list[list[float]]:
        """``[eps, robust_accuracy(eps)]`` from 0 to the largest distance found (L2); empty
        when the attack found no adversarial point."""
        finite = self.distance[np.isfinite(self.distance)]
        if not finite.size:
            return []
        top = float(finite.max())
        return [[float(e), self.robust_accuracy(float(e))] for e in np.linspace(0.0, top, points)]


def _boundary(is_adv: Callable[[np.ndarray], np.ndarray], x0: np.ndarray, x_adv: np.ndarray,
              tol: float) -> np.ndarray:
    lo, hi = 0.0, 1.0  # blend x0 -> x_adv; hi stays adversarial
    while hi - lo > tol:
        mid = (lo + hi) / 2
        if is_adv(((1 - mid) * x0 + mid * x_adv)[None])[0]:
            hi = mid
        else:
            lo = mid
    return (1 - hi) * x0 + hi * x_adv


def hop_skip_jump(predict: Callable[[np.ndarray], Any], X: Any, y: Any, *, max_iter: int = 20,
                  max_evals: int = 1000, init_evals: int = 100, init_tries: int = 100,
                  clip_values: tuple[float, float] | None = None, seed: int | None = None) -> HopSkipJumpResult:
    """Attack each row of ``X`` (true labels ``y``) with label-only queries of ``predict``."""
    if not callable(predict):
        raise TypeError(f"predict: expected a callable X -> labels, got {type(predict).__name__}")
    X = float_array(X, "X", ndim=2, finite=True)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y: expected {X.shape[0]} labels (one per row of X), got shape {y.shape}")
    max_iter = positive_int(max_iter, "max_iter")
    max_evals = positive_int(max_evals, "max_evals")
    init_evals = positive_int(init_evals, "init_evals")
    rng = np.random.default_rng(seed)
    lo, hi = (X.min(axis=0), X.max(axis=0)) if clip_values is None else clip_values
    d = X.shape[1]
    theta = d ** -1.5  # the paper's L2 choice (gamma = 1)
    x_adv = X.copy()
    distance = np.zeros(X.shape[0])
    queries = np.zeros(X.shape[0], dtype=np.int64)
    for i in range(X.shape[0]):
        x0, label = X[i].astype(np.float64), y[i]
        count = [0]

        def is_adv(Z: np.ndarray) -> np.ndarray:
            count[0] += Z.shape[0]
            Z = Z if clip_values is None else np.clip(Z, lo, hi)
            return np.asarray(predict(Z.astype(X.dtype))) != label

        if is_adv(x0[None])[0]:
            queries[i] = count[0]
            continue  # already misclassified: distance 0
        start = None
        for attempt in range(init_tries):
            # alternate uniform noise in the box with the batch's other rows (some other class)
            cand = rng.uniform(lo, hi, size=d) if attempt % 2 == 0 else X[rng.integers(X.shape[0])].astype(np.float64)
            if is_adv(cand[None])[0]:
                start = cand
                break
        if start is None:
            distance[i], queries[i] = np.inf, count[0]
            continue
        x = _boundary(is_adv, x0, start, theta)
        for t in range(max_iter):
            dist = np.linalg.norm(x - x0)
            delta = np.sqrt(d) * theta * dist
            n = int(min(init_evals * np.sqrt(t + 1), max_evals))
            u = rng.standard_normal((n, d))
            u /= np.linalg.norm(u, axis=1, keepdims=True)
            sign = np.where(is_adv(x + delta * u), 1.0, -1.0)
            if abs(sign.mean()) < 1:
                sign -= sign.mean()  # the baseline that makes the estimate unbiased near 0.5
            grad = sign @ u
            norm = np.linalg.norm(grad)
            if norm == 0:
                break
            grad /= norm
            step = dist / np.sqrt(t + 1)
            while step > 1e-12 * dist and not is_adv((x + step * grad)[None])[0]:
                step /= 2
            if step <= 1e-12 * dist:
                break  # no adversarial step along the estimate: keep the last boundary point
            x = _boundary(is_adv, x0, x + step * grad, theta)
        x_adv[i] = x if clip_values is None else np.clip(x, lo, hi)
        distance[i] = np.linalg.norm(x_adv[i].astype(np.float64) - x0)
        queries[i] = count[0]
    return HopSkipJumpResult(attack="hop_skip_jump", x_adv=x_adv, distance=distance, queries=queries)
