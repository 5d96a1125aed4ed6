"""Recognising a generalised linear model, so its Shapley values need no model calls.

A model with ``coef_`` and ``intercept_`` (scikit-learn's linear models) is taken as linear in
the explained output only after checking it numerically on the background rows: the log-odds
or raw output must equal ``X @ w + b``, the probability ``sigmoid(X @ w + b)``. Anything else
(a wrapped pipeline, a calibrated classifier) is explained as a black box.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

__all__ = ["LinearModel", "linear_structure", "sigmoid"]


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # no overflow for large |z|


@dataclass(frozen=True)
class LinearModel:
    """``link(X @ weights + intercept)``; ``link`` is ``"identity"`` or ``"logistic"``."""

    weights: np.ndarray
    intercept: float
    link: str


def linear_structure(model: Any, f: Callable[[np.ndarray], np.ndarray], output: str,
                     probe: np.ndarray) -> LinearModel | None:
    coef, intercept = getattr(model, "coef_", None), getattr(model, "intercept_", None)
    if coef is None or intercept is None:
        return None
    w = np.asarray(coef, dtype=np.float64)
    w = w.reshape(-1) if w.ndim == 2 and w.shape[0] == 1 else w
    b = np.asarray(intercept, dtype=np.float64).reshape(-1)
    if w.ndim != 1 or w.size != probe.shape[1] or b.size != 1:
        return None
    link = "logistic" if output == "probability" else "identity"
    z = probe.astype(np.float64) @ w + b[0]
    expected = sigmoid(z) if link == "logistic" else z
    try:
        actual = f(probe)
    except Exception:  # noqa: BLE001 - a model that cannot take the probe is no GLM to us
        return None
    scale = max(float(np.max(np.abs(expected))), 1.0)
    if actual.shape != expected.shape or not np.allclose(actual, expected, rtol=1e-9, atol=1e-12 * scale):
        return None
    return LinearModel(w, float(b[0]), link)
