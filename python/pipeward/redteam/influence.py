"""Influence functions (Koh & Liang 2017, "Understanding Black-box Predictions via Influence
Functions") for scikit-learn's L2-regularised ``LogisticRegression``, exact in the sense of the
paper: the Hessian of the regularised training objective, no approximation of it.

The objective scikit-learn minimises is ``C * sum_i loss_i(theta) + |w|^2 / 2`` (the intercept
unpenalised, except by liblinear, which penalises ``(b / intercept_scaling)^2 / 2``). Changing
training row i from ``z_i`` to ``z_i'`` moves the optimum by the Newton step
``-H^{-1} C (g(z_i') - g(z_i))``, ``H`` the objective's Hessian and ``g`` a row's loss gradient,
so the mean cross-entropy on an evaluation set changes by ``-C v . (g(z_i') - g(z_i))`` with
``v = H^{-1} grad L_eval``: one linear solve serves every row. Removing row i is the case
``g(z_i') = 0``; flipping its label replaces its one-hot label.

A ``Pipeline`` ending in a logistic regression is handled in the space its earlier steps map
to, those steps held fixed: exact when they ignore the labels (scalers, PCA), which a label flip
then leaves unchanged. Multinomial models are over-parametrised (adding one vector to every
class's weights changes nothing), so their Hessian is singular along the unpenalised intercept
shift; the least-squares solve picks the minimum-norm step, which moves no prediction
differently.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import float_array

__all__ = ["flip_influence", "is_logistic", "removal_influence"]


def _final_logistic(model: Any) -> tuple[Any, Any]:
    """``(preprocessing or None, LogisticRegression)``, or ``(None, None)`` when not one."""
    from sklearn.linear_model import LogisticRegression  # noqa: PLC0415
    from sklearn.pipeline import Pipeline  # noqa: PLC0415

    if isinstance(model, Pipeline) and len(model.steps) > 1:
        return model[:-1], (model[-1] if isinstance(model[-1], LogisticRegression) else None)
    return None, (model if isinstance(model, LogisticRegression) else None)


def is_logistic(model: Any) -> bool:
    """Whether :func:`flip_influence` can compute exact influence for ``model``."""
    _, lr = _final_logistic(model)
    return lr is not None and hasattr(lr, "coef_")


class _Logistic:
    """A fitted L2 logistic regression's per-row gradients and the objective's Hessian."""

    def __init__(self, model: Any) -> None:
        self.pre, lr = _final_logistic(model)
        if lr is None or not hasattr(lr, "coef_"):
            raise TypeError(f"model: influence functions need a fitted scikit-learn LogisticRegression (or a "
                            f"Pipeline ending in one), got {type(model).__name__}")
        if lr.l1_ratio not in (None, 0, 0.0) or lr.penalty not in ("deprecated", "l2"):
            raise TypeError("model: influence functions need an L2 (or no) penalty; an L1 penalty has no Hessian")
        if lr.class_weight is not None:
            raise TypeError("model: influence functions do not support class_weight")
        self.classes = lr.classes_
        bias = lr.intercept_[:, None] if lr.fit_intercept else np.zeros((lr.coef_.shape[0], 0))
        self.W = np.hstack([lr.coef_, bias])
        self.C = float(lr.C)
        self.intercept = bool(lr.fit_intercept)
        if lr.solver == "liblinear" and self.classes.size > 2:
            raise TypeError("model: a multiclass liblinear model is one-vs-rest, which has no single objective")
        self.b_penalty = 1.0 / lr.intercept_scaling ** 2 if lr.solver == "liblinear" else 0.0

    def design(self, X: np.ndarray) -> np.ndarray:
        Z = np.asarray(self.pre.transform(X), dtype=np.float64) if self.pre is not None else X
        return np.hstack([Z, np.ones((Z.shape[0], 1))]) if self.intercept else Z

    def index(self, y: np.ndarray) -> np.ndarray:
        idx = np.searchsorted(self.classes, y)
        if np.any(idx >= self.classes.size) or np.any(self.classes[np.minimum(idx, self.classes.size - 1)] != y):
            raise ValueError("y: labels that are not among the model's classes")
        return idx

    def residual(self, Xd: np.ndarray, y_index: np.ndarray) -> np.ndarray:
        """``p - onehot(y)`` per row: ``(n, K)``, or ``(n, 1)`` for a binary (sigmoid) model."""
        z = Xd @ self.W.T
        if self.W.shape[0] == 1:
            return 1.0 / (1.0 + np.exp(-z)) - (y_index == 1)[:, None]
        p = np.exp(z - z.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(y_index.size), y_index] -= 1.0
        return p

    def hessian(self, Xd: np.ndarray) -> np.ndarray:
        K, D = self.W.shape
        z = Xd @ self.W.T
        if K == 1:
            p = 1.0 / (1.0 + np.exp(-z[:, 0]))
            H = self.C * (Xd * (p * (1 - p))[:, None]).T @ Xd
        else:
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            H = np.empty((K, D, K, D))
            for k in range(K):
                for m in range(k, K):
                    w = p[:, k] * ((k == m) - p[:, m])
                    H[k, :, m, :] = H[m, :, k, :] = self.C * (Xd * w[:, None]).T @ Xd
            H = H.reshape(K * D, K * D)
        penalty = np.ones(D)
        if self.intercept:
            penalty[-1] = self.b_penalty
        return H + np.diag(np.tile(penalty, K))

    def eval_gradient(self, X_eval: np.ndarray, y_eval: np.ndarray) -> np.ndarray:
        """The gradient of the mean cross-entropy on ``(X_eval, y_eval)``, shaped like ``W``."""
        Xd = self.design(X_eval)
        return self.residual(Xd, self.index(y_eval)).T @ Xd / X_eval.shape[0]


def _inputs(X: Any, y: Any, name: str) -> tuple[np.ndarray, np.ndarray]:
    X = float_array(X, name, ndim=2, finite=True)
    y = np.asarray(y)
    if y.shape != (X.shape[0],):
        raise ValueError(f"y of {name}: expected {X.shape[0]} labels (one per row), got shape {y.shape}")
    return X, y


def _solve(model: Any, X: Any, y: Any, X_eval: Any,
           y_eval: Any) -> tuple[_Logistic, np.ndarray, np.ndarray, np.ndarray]:
    lr = _Logistic(model)
    X, y = _inputs(X, y, "X")
    X_eval, y_eval = _inputs(X_eval, y_eval, "X_eval")
    Xd = lr.design(X)
    grad = lr.eval_gradient(X_eval, y_eval)
    v = np.linalg.lstsq(lr.hessian(Xd), grad.ravel(), rcond=None)[0].reshape(lr.W.shape)
    return lr, Xd, lr.index(y), v


def removal_influence(model: Any, X: Any, y: Any, X_eval: Any, y_eval: Any) -> np.ndarray:
    """Per training row of ``(X, y)`` (the data ``model`` was fitted on): the predicted change of
    the mean cross-entropy on ``(X_eval, y_eval)`` when that row is left out and the model refit."""
    lr, Xd, y_index, v = _solve(model, X, y, X_eval, y_eval)
    # theta moves by +C H^{-1} g_i, so the eval loss by C v . g_i
    return lr.C * np.einsum("nk,nk->n", lr.residual(Xd, y_index), Xd @ v.T)


def flip_influence(model: Any, X: Any, y: Any, X_eval: Any, y_eval: Any) -> tuple[np.ndarray, np.ndarray]:
    """Per training row: the largest predicted increase of the mean cross-entropy on
    ``(X_eval, y_eval)`` from giving that row another label and refitting, and that label."""
    lr, Xd, y_index, v = _solve(model, X, y, X_eval, y_eval)
    proj = Xd @ v.T  # (n, K): v_k . x_i
    if lr.W.shape[0] == 1:  # binary: g(z') - g(z) = (y - y') x, so the loss moves by -C (y - y') v.x
        gain = lr.C * np.where(y_index == 1, -1.0, 1.0) * proj[:, 0]
        return gain, lr.classes[1 - y_index]
    # multinomial: flipping y to c changes g by (e_y - e_c) x, the loss by C (v_c - v_y) . x
    gains = lr.C * (proj - proj[np.arange(y_index.size), y_index][:, None])
    gains[np.arange(y_index.size), y_index] = -np.inf
    best = gains.argmax(axis=1)
    return gains[np.arange(y_index.size), best], lr.classes[best]
