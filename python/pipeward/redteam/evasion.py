"""White-box evasion: FGSM and PGD with exact gradients, on ART's conventions.

One step is ART's ``FastGradientMethod._compute``: the loss gradient (negated when targeted,
NaN set to 0) is normalised for the norm (L-inf: its sign; L2: ``g / ||g||_2``, 0 for a zero
gradient; L1: the sign at the largest ``|g|``), scaled by the step, added, clipped to
``clip_values`` only when they are given, then the total perturbation is projected back on the
eps-ball (L-inf: ``sign(d) min(|d|, eps)``; L1/L2: rescaled). FGSM is one step of size eps;
PGD repeats it ``max_iter`` times from ``x`` (or from a uniform point of the ball with
``random_start``). ART's "minimal" search is not done. Arithmetic stays in ``X``'s dtype.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import float_array, positive_int
from .gradients import Differentiable, as_differentiable, label_indices
from .results import AttackResult

__all__ = ["EvasionResult", "fgsm", "pgd"]

_ROW_BUDGET = 1 << 22  # values per chunk: keeps the work arrays of a big batch in cache-sized pieces


@dataclass(frozen=True)
class EvasionResult(AttackResult):
    """``x_adv``; ``success_rate``: untargeted, the share of rows the model classified
    correctly that are now misclassified; targeted, the share that reach their target.
    ``robust_accuracy``: untargeted, accuracy on ``x_adv``; targeted, the share of rows whose
    prediction did not move. ``clean_accuracy`` is measured on ``X`` against ``y`` (untargeted)."""

    x_adv: np.ndarray
    success_rate: float
    robust_accuracy: float
    clean_accuracy: float | None
    eps: float
    norm: float
    targeted: bool
    max_iter: int

    def summary(self) -> dict[str, Any]:
        return {"eps": self.eps, "norm": "inf" if self.norm == np.inf else self.norm,
                "targeted": self.targeted, "max_iter": self.max_iter, "rows": int(self.x_adv.shape[0]),
                "success_rate": self.success_rate, "robust_accuracy": self.robust_accuracy,
                "clean_accuracy": self.clean_accuracy}


def _check_norm(norm: Any) -> float:
    if norm in (np.inf, "inf"):
        return np.inf
    if norm in (1, 2) and not isinstance(norm, bool):
        return float(norm)
    raise ValueError(f"norm: expected np.inf, 1 or 2, got {norm!r}")


def _check_eps(value: Any, name: str, *, positive: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name}: expected a number, got {type(value).__name__}")
    value = float(value)
    if not np.isfinite(value) or value < 0 or (positive and value == 0):
        raise ValueError(f"{name}: expected a finite number {'> 0' if positive else '>= 0'}, got {value}")
    return value


def _check_clip(clip_values: Any) -> tuple[float, float] | None:
    if clip_values is None:
        return None
    try:
        lo, hi = (float(v) for v in clip_values)
    except (TypeError, ValueError):
        raise TypeError(f"clip_values: expected (lo, hi), got {clip_values!r}") from None
    if not lo < hi:
        raise ValueError(f"clip_values: expected lo < hi, got ({lo}, {hi})")
    return lo, hi


def _direction(grad: np.ndarray, norm: float) -> np.ndarray:
    """The unit-norm step that maximises <grad, step> (ART's ``_apply_norm``)."""
    g = grad.reshape(len(grad), -1)
    if norm == np.inf:
        out = np.sign(g)
    elif norm == 1:
        out = np.zeros_like(g)
        i = np.abs(g).argmax(axis=1)
        out[np.arange(len(g)), i] = np.sign(g[np.arange(len(g)), i])
    else:
        n2 = np.linalg.norm(g, axis=1, keepdims=True)
        out = g / np.where(n2 > 0, n2, np.inf)
    return out.reshape(grad.shape)


def _project(delta: np.ndarray, eps: float, norm: float) -> np.ndarray:
    if norm == np.inf:  # ART's sign(d) * min(|d|, eps), in place (equal but for the sign of a zero)
        e = delta.dtype.type(eps)
        return np.clip(delta, -e, e, out=delta)
    d = delta.reshape(len(delta), -1)
    size = np.linalg.norm(d, ord=norm, axis=1, keepdims=True)
    with np.errstate(divide="ignore"):
        scale = np.where(size > 0, np.minimum(1, eps / size), 0)
    return (d * scale).astype(delta.dtype, copy=False).reshape(delta.shape)


def _random_ball(shape: tuple[int, ...], eps: float, norm: float, rng: np.random.Generator,
                 dtype: np.dtype) -> np.ndarray:
    n, d = shape[0], int(np.prod(shape[1:]))
    if norm == np.inf:
        r = rng.uniform(-eps, eps, size=(n, d))
    else:  # uniform in the L1/L2 ball: a uniform direction, radius eps * U^(1/d)
        v = rng.laplace(size=(n, d)) if norm == 1 else rng.standard_normal((n, d))
        v /= np.linalg.norm(v, ord=norm, axis=1, keepdims=True)
        r = v * eps * rng.uniform(size=(n, 1)) ** (1.0 / d)
    return r.reshape(shape).astype(dtype)


def _attack(m: Differentiable, X: np.ndarray, y_index: np.ndarray, eps: float, step: float,
            iters: int, norm: float, targeted: bool, clip: tuple[float, float] | None,
            rng: np.random.Generator | None) -> np.ndarray:
    step_t = X.dtype.type(step)
    out = np.empty_like(X)
    chunk = max(1, _ROW_BUDGET // max(1, X[0].size))
    for start in range(0, X.shape[0], chunk):
        x0 = X[start:start + chunk]
        yb = y_index[start:start + chunk]
        x = x0  # never written in place: the first step makes a new array
        if rng is not None:
            x = x + _random_ball(x.shape, eps, norm, rng, X.dtype)
            if clip is not None:
                x = np.clip(x, *clip).astype(X.dtype, copy=False)
        for _ in range(iters):
            grad = np.asarray(m.loss_gradient(x, yb), dtype=X.dtype)
            if targeted:
                grad = -grad
            nan = np.isnan(grad)
            if nan.any():
                grad = np.where(nan, 0, grad).astype(X.dtype, copy=False)
            x = x + step_t * _direction(grad, norm)
            if clip is not None:
                x = np.clip(x, *clip).astype(X.dtype, copy=False)
            x -= x0
            x = _project(x, eps, norm)
            x += x0
        out[start:start + chunk] = x
    return out


def _run(name: str, model: Any, X: Any, y: Any, eps: Any, step: Any, iters: int, norm: Any, targeted: bool,
         clip_values: Any, random_start: bool, seed: Any) -> EvasionResult:
    X = float_array(X, "X", finite=True)
    if X.ndim < 2:
        raise ValueError(f"X: expected a batch of rows (2-d or more), got shape {X.shape}")
    eps = _check_eps(eps, "eps")
    step = _check_eps(step, "eps_step", positive=True)
    norm = _check_norm(norm)
    clip = _check_clip(clip_values)
    m = as_differentiable(model)
    pred_clean = m.predict_index(X)
    y_index = label_indices(m, y, X.shape[0])
    rng = np.random.default_rng(seed) if random_start else None
    x_adv = _attack(m, X, y_index, eps, step, iters, norm, bool(targeted), clip, rng)
    pred_adv = m.predict_index(x_adv)
    if targeted:
        success = float(np.mean(pred_adv == y_index))
        robust = float(np.mean(pred_adv == pred_clean))
        clean = None
    else:
        correct = pred_clean == y_index
        success = float(np.mean(pred_adv[correct] != y_index[correct])) if correct.any() else 0.0
        robust = float(np.mean(pred_adv == y_index))
        clean = float(np.mean(correct))
    return EvasionResult(attack=name,
                         x_adv=x_adv, success_rate=success, robust_accuracy=robust,
                         clean_accuracy=clean, eps=eps, norm=norm, targeted=bool(targeted),
                         max_iter=iters)


def fgsm(model: Any, X: Any, y: Any, eps: float, *, norm: float = np.inf, targeted: bool = False,
         clip_values: tuple[float, float] | None = None) -> EvasionResult:
    """Fast gradient (sign) method: ``x + eps * direction(grad loss)``, equal to ART's
    ``FastGradientMethod(eps=eps, norm=norm, targeted=targeted)`` on the same model.

    ``y`` holds the true labels (untargeted) or the targets (``targeted=True``), spelled as
    the model's ``classes_`` (class indices for a torch module).
    """
    return _run("fgsm", model, X, y, eps, eps, 1, norm, targeted, clip_values, False, None)


def pgd(model: Any, X: Any, y: Any, eps: float, eps_step: float, max_iter: int, *,
        norm: float = np.inf, random_start: bool = False, targeted: bool = False,
        clip_values: tuple[float, float] | None = None, seed: int | None = None) -> EvasionResult:
    """Projected gradient descent (Madry et al. 2018): ``max_iter`` steps of ``eps_step``,
    each projected back on the eps-ball; without ``random_start`` equal to ART's
    ``ProjectedGradientDescent`` (numpy variant) with the same arguments and ``num_random_init=0``.
    """
    iters = positive_int(max_iter, "max_iter")
    return _run("pgd", model, X, y, eps, eps_step, iters, norm, targeted, clip_values, random_start, seed)
