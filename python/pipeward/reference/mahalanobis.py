"""Pure-NumPy reference for the Mahalanobis kernels: the readable spec, float64 throughout."""

from __future__ import annotations

import numpy as np


def squared_distances(X: np.ndarray, location: np.ndarray, precision: np.ndarray) -> np.ndarray:
    """d2_i = (x_i - mu)^T P (x_i - mu), as sklearn's ``EmpiricalCovariance.mahalanobis``."""
    centred = np.asarray(X, dtype=np.float64) - np.asarray(location, dtype=np.float64)
    return np.einsum("ij,jk,ik->i", centred, np.asarray(precision, dtype=np.float64), centred)


def comoment(X: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    """(n, mean, M2) with M2 = sum_i (x_i - mean)(x_i - mean)^T, by two passes."""
    X = np.asarray(X, dtype=np.float64)
    mean = X.mean(axis=0)
    centred = X - mean
    return X.shape[0], mean, centred.T @ centred


def merge_comoments(a: tuple[int, np.ndarray, np.ndarray],
                    b: tuple[int, np.ndarray, np.ndarray]) -> tuple[int, np.ndarray, np.ndarray]:
    """Chan, Golub & LeVeque's exact merge of two (n, mean, M2) summaries."""
    na, mean_a, m2_a = a
    nb, mean_b, m2_b = b
    n = na + nb
    if nb == 0:
        return a
    if na == 0:
        return b
    delta = mean_b - mean_a
    return n, mean_a + delta * (nb / n), m2_a + m2_b + np.outer(delta, delta) * (na * nb / n)
