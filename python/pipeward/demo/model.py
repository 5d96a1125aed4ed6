"""A NumPy logistic-regression classifier, trained plainly or with DP-SGD.

Small on purpose: the demo needs a model whose per-sample gradients are one line, so DP-SGD
runs through ``pipeward.clip_and_noise`` with no deep-learning framework installed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["LogisticModel", "fit_dp_sgd", "fit_plain", "per_sample_gradients"]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic function


@dataclass
class LogisticModel:
    """``p(y=1 | x) = sigmoid(x . w + b)``; ``params`` is ``[w..., b]``."""

    params: np.ndarray

    @classmethod
    def zeros(cls, n_features: int) -> LogisticModel:
        return cls(np.zeros(n_features + 1))

    @property
    def weights(self) -> np.ndarray:
        return self.params[:-1]

    # scikit-learn's names for a binary linear classifier, so pw.explain reads it as one
    @property
    def coef_(self) -> np.ndarray:
        return self.params[None, :-1]

    @property
    def intercept_(self) -> np.ndarray:
        return self.params[-1:]

    @property
    def classes_(self) -> np.ndarray:
        return np.array([0, 1])

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        return self.decision(X)

    def predict_proba(self, X: np.ndarray) -> np.ndarray:
        p = _sigmoid(self.decision(X))
        return np.column_stack([1.0 - p, p])

    def decision(self, X: np.ndarray) -> np.ndarray:
        return X @ self.params[:-1] + self.params[-1]

    def predict(self, X: np.ndarray) -> np.ndarray:
        return (self.decision(X) > 0).astype(np.int64)

    def accuracy(self, X: np.ndarray, y: np.ndarray) -> float:
        return float(np.mean(self.predict(X) == y))

    def input_gradient_sign(self, X: np.ndarray, y: np.ndarray) -> np.ndarray:
        """sign of d(log-loss)/dx per row: the fast-gradient-sign attack direction."""
        residual = _sigmoid(self.decision(X)) - y
        return np.sign(residual[:, None] * self.weights[None, :])


def per_sample_gradients(model: LogisticModel, X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """(B, P) gradients of the log-loss, one row per sample: ``(p_i - y_i) [x_i, 1]``."""
    residual = _sigmoid(model.decision(X)) - y
    grads = np.empty((X.shape[0], X.shape[1] + 1))
    np.multiply(residual[:, None], X, out=grads[:, :-1])
    grads[:, -1] = residual
    return grads


def fit_plain(X: np.ndarray, y: np.ndarray, *, steps: int = 300, lr: float = 0.5,
              l2: float = 1e-3) -> LogisticModel:
    """Full-batch gradient descent: the non-private baseline."""
    model = LogisticModel.zeros(X.shape[1])
    for _ in range(steps):
        grad = per_sample_gradients(model, X, y).mean(axis=0)
        grad[:-1] += l2 * model.params[:-1]
        model.params -= lr * grad
    return model


@dataclass
class DPRun:
    """What a DP-SGD run did: the model, the steps taken and the batch sizes drawn."""

    model: LogisticModel
    steps: int
    batch_sizes: list[int] = field(default_factory=list)
    clipped_fraction: float = 0.0


def fit_dp_sgd(X: np.ndarray, y: np.ndarray, batches: Iterable[np.ndarray], *,
               clip_and_noise: Callable[..., Any], noise_multiplier: float,
               max_grad_norm: float, expected_batch_size: int, lr: float, seed: int,
               on_step: Callable[[int], None] | None = None) -> DPRun:
    """DP-SGD over the given index ``batches`` (Poisson-sampled, as the accountant assumes):
    every step clips each per-sample gradient to ``max_grad_norm``, adds Gaussian noise of
    std ``noise_multiplier * max_grad_norm`` and divides by the expected batch size
    (Opacus' rule), all inside ``clip_and_noise``."""
    rng = np.random.default_rng(seed)
    model = LogisticModel.zeros(X.shape[1])
    run = DPRun(model=model, steps=0)
    clipped = 0.0
    for rows in batches:
        grads = per_sample_gradients(model, X[rows], y[rows])
        result = clip_and_noise(grads, max_grad_norm, noise_multiplier, reduction="mean",
                                expected_batch_size=expected_batch_size, return_stats=True,
                                seed=int(rng.integers(2**63)))
        model.params -= lr * result.grads
        clipped += result.clipped_fraction
        run.steps += 1
        run.batch_sizes.append(int(rows.size))
        if on_step is not None:
            on_step(run.steps)
    run.clipped_fraction = clipped / max(run.steps, 1)
    return run
