"""Pure-NumPy reference for the aggregate family: the readable spec, float64 throughout.

Updates are a (K, P) array: K clients, P parameters each.
"""

from __future__ import annotations

import numpy as np


def mean(x: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
    """sum_i w_i x_i / sum_i w_i (Flower's ``aggregate`` with w_i = examples of client i)."""
    x = np.asarray(x, np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
    return (w @ x) / w.sum()


def rank_mean(x: np.ndarray, lo: int, hi: int) -> np.ndarray:
    """Per coordinate, the mean of the values ranked [lo, hi) (ascending, from 0)."""
    return np.sort(np.asarray(x, np.float64), axis=0)[lo:hi].mean(axis=0)


def median(x: np.ndarray) -> np.ndarray:
    """Coordinate-wise median: np.median(x, axis=0)."""
    k = len(x)
    return rank_mean(x, (k - 1) // 2, k // 2 + 1)


def trimmed_mean(x: np.ndarray, proportiontocut: float) -> np.ndarray:
    """scipy.stats.trim_mean(x, proportiontocut, axis=0): cut int(proportion * K) per end."""
    c = int(proportiontocut * len(x))
    return rank_mean(x, c, len(x) - c)


def sq_distances(x: np.ndarray) -> np.ndarray:
    """K x K squared Euclidean distances."""
    x = np.asarray(x, np.float64)
    return ((x[:, None, :] - x[None, :, :]) ** 2).sum(axis=2)


def krum_scores(d: np.ndarray, n_malicious: int) -> np.ndarray:
    """Krum score of each client: the sum of its K - f - 2 smallest distances to the others
    (at least 1), from the squared distance matrix ``d`` (Blanchard et al. 2017)."""
    k = len(d)
    closest = max(1, k - n_malicious - 2)
    return np.sort(d, axis=1)[:, 1:closest + 1].sum(axis=1)


def krum(x: np.ndarray, n_malicious: int, multi: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """(aggregate, selected indices): the update with the smallest score (multi = 1), or the
    mean of the ``multi`` smallest-scored updates (Multi-Krum); ties to the lower index."""
    scores = krum_scores(sq_distances(x), n_malicious)
    chosen = np.argsort(scores, kind="stable")[:multi]
    return np.asarray(x, np.float64)[chosen].mean(axis=0), chosen


def bulyan(x: np.ndarray, n_malicious: int) -> np.ndarray:
    """Bulyan (El Mhamdi et al. 2018): pick theta = K - 2f updates by repeated Krum, then per
    coordinate average the beta = theta - 2f values closest to their median."""
    x = np.asarray(x, np.float64)
    f = n_malicious
    remaining = list(range(len(x)))
    chosen = []
    for _ in range(len(x) - 2 * f):
        _, pick = krum(x[remaining], f)
        chosen.append(remaining.pop(int(pick[0])))
    sel = x[chosen]
    med = np.median(sel, axis=0)
    beta = len(sel) - 2 * f
    order = np.argsort(np.abs(sel - med), axis=0, kind="stable")[:beta]
    return np.take_along_axis(sel, order, axis=0).mean(axis=0)


def geometric_median(x: np.ndarray, weights: np.ndarray | None = None, *, eps: float = 1e-6,
                     max_iter: int = 100, tol: float = 1e-8) -> np.ndarray:
    """Smoothed Weiszfeld (RFA, Pillutla et al. 2022): z <- sum_i b_i x_i / sum_i b_i with
    b_i = w_i / max(eps, |z - x_i|), from the weighted mean, until the relative change is
    below ``tol`` or ``max_iter`` steps."""
    x = np.asarray(x, np.float64)
    w = np.ones(len(x)) if weights is None else np.asarray(weights, np.float64)
    z = (w @ x) / w.sum()
    for _ in range(max_iter):
        b = w / np.maximum(eps, np.linalg.norm(x - z, axis=1))
        nxt = (b @ x) / b.sum()
        done = np.linalg.norm(nxt - z) <= tol * max(1.0, np.linalg.norm(z))
        z = nxt
        if done:
            break
    return z


def centered_clip(x: np.ndarray, center: np.ndarray, tau: float, iters: int) -> np.ndarray:
    """Centered clipping (Karimireddy et al. 2021): v <- v + mean_i clip_tau(x_i - v)."""
    x = np.asarray(x, np.float64)
    v = np.asarray(center, np.float64).copy()
    for _ in range(iters):
        d = x - v
        n = np.linalg.norm(d, axis=1)
        scale = np.minimum(1.0, tau / np.where(n > 0, n, np.inf))
        v = v + (scale[:, None] * d).mean(axis=0)
    return v


def clip_updates(x: np.ndarray, max_norm: float) -> np.ndarray:
    """Each update scaled by min(1, C / |x_i|) (a zero update stays zero)."""
    x = np.asarray(x, np.float64)
    n = np.linalg.norm(x, axis=1)
    return x * np.minimum(1.0, max_norm / np.where(n > 0, n, np.inf))[:, None]
