"""Kernel SHAP (Lundberg & Lee, 2017) for many features: Shapley values by weighted regression.

Coalition sizes are drawn from the Shapley kernel's size distribution,
``p(s) ~ (k-1) / (s (k-s))``, members uniformly within a size, each coalition paired with its
complement (halving the variance); the values then solve the least-squares problem with equal
weights and the efficiency constraint ``sum(phi) = f(x) - E[f]``. When the budget covers every
coalition, they are all enumerated with the exact kernel weights and the result is the exact
Shapley value.
"""

from __future__ import annotations

from math import comb

import numpy as np

from .shapley import all_coalitions

__all__ = ["kernel_coalitions", "solve_kernel"]


def kernel_coalitions(k: int, n_samples: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``(coalitions, weights)``: every proper coalition with its kernel weight when
    ``n_samples >= 2**k - 2``, else ``n_samples`` paired draws with equal weights."""
    if k < 2:
        raise ValueError(f"Kernel SHAP needs at least 2 features, got {k}")
    if n_samples >= (1 << k) - 2:
        masks = all_coalitions(k)[1:-1]
        size = masks.sum(axis=1)
        weights = (k - 1) / (np.array([comb(k, s) for s in size], dtype=np.float64) * size * (k - size))
        return masks, weights
    sizes = np.arange(1, k)
    p = (k - 1) / (sizes * (k - sizes))
    half = max(1, n_samples // 2)
    drawn = rng.choice(sizes, size=half, p=p / p.sum())
    keys = rng.random((half, k))
    ranks = np.argsort(np.argsort(keys, axis=1), axis=1)
    masks = ranks < drawn[:, None]  # a uniform subset of each drawn size
    masks = np.concatenate([masks, ~masks])
    return masks, np.ones(masks.shape[0])


def solve_kernel(values: np.ndarray, base: np.ndarray, full: np.ndarray, coalitions: np.ndarray,
                 weights: np.ndarray) -> np.ndarray:
    """Shapley estimates for every row at once: ``values[i, c]`` is row i's coalition value,
    ``base``/``full`` its values with no feature / every feature."""
    z = coalitions.astype(np.float64)
    total = full - base  # (n,)
    # Eliminate the last feature through the constraint: phi_k = total - sum(phi_<k).
    design = z[:, :-1] - z[:, -1:]
    target = (values - base[:, None]) - z[None, :, -1] * total[:, None]  # (n, C)
    root = np.sqrt(weights)[:, None]
    head, *_ = np.linalg.lstsq(design * root, (target * root.T).T, rcond=None)  # (k-1, n)
    head = head.T
    return np.concatenate([head, (total - head.sum(axis=1))[:, None]], axis=1)
