"""Exact input gradients of a classifier's loss, for the white-box attacks.

Each supported model becomes a :class:`Differentiable`: ``predict_index(X)`` (the predicted
class index) and ``loss_gradient(X, y_index)`` (d loss / d X, row by row). The losses follow
ART's estimators so that FGSM/PGD land on the same points:

* logistic regression (scikit-learn ``LogisticRegression``, ``SGDClassifier(loss="log_loss")``)
  and ``MLPClassifier``: the cross-entropy of ``predict_proba``. ART scales the multinomial
  gradient by ``1/n_classes``; a positive factor per row changes no attack direction.
* linear SVMs (``LinearSVC``, ``SGDClassifier`` with a margin loss): the negative margin of
  the true class, ``-f_y(x)`` (binary: ``-s f(x)`` with ``s = +-1``), as ART's
  ``ScikitlearnSVC`` does for ``LinearSVC``. The hinge loss itself has a zero gradient for
  every point outside the margin, which would stall an attack there.
* PyTorch modules returning logits: ``CrossEntropyLoss`` through autograd (torch is imported
  only when a torch module arrives).
* a scikit-learn ``Pipeline`` of ``StandardScaler``/``MinMaxScaler`` steps before one of the
  above: the chain rule through their per-feature affine maps.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

__all__ = ["Differentiable", "as_differentiable", "label_indices"]


class Differentiable(Protocol):
    classes_: np.ndarray

    def predict_index(self, X: np.ndarray) -> np.ndarray: ...

    def loss_gradient(self, X: np.ndarray, y_index: np.ndarray) -> np.ndarray: ...


def _softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))  # overflow-free logistic


class _Linear:
    """``z = X W^T + b`` with scikit-learn's ``coef_``/``intercept_`` layout."""

    def __init__(self, model: Any, loss: str) -> None:
        self.classes_ = np.asarray(model.classes_)
        self.W = np.asarray(model.coef_)
        self.b = np.asarray(model.intercept_)
        self.loss = loss  # "softmax", "ovr" (normalised one-vs-rest sigmoids) or "margin"

    def decision(self, X: np.ndarray) -> np.ndarray:
        return X @ self.W.T.astype(X.dtype, copy=False) + self.b.astype(X.dtype, copy=False)

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        z = self.decision(X)
        return (z[:, 0] > 0).astype(np.intp) if z.shape[1] == 1 else z.argmax(axis=1)

    def loss_gradient(self, X: np.ndarray, y_index: np.ndarray) -> np.ndarray:
        z = self.decision(X)
        W = self.W.astype(X.dtype, copy=False)
        rows = np.arange(X.shape[0])
        if z.shape[1] == 1:  # binary: one score for class 1
            if self.loss == "margin":
                s = np.where(y_index == 1, -1.0, 1.0).astype(X.dtype)
                return s[:, None] * W[0]
            err = _sigmoid(z[:, 0]) - (y_index == 1)
            return err[:, None].astype(X.dtype) * W[0]
        if self.loss == "margin":
            return -W[y_index]
        if self.loss == "softmax":
            err = _softmax(z)
            err[rows, y_index] -= 1.0
            return err @ W
        # One-vs-rest: p_k = s_k / S with s = sigmoid(z), S = sum s. For loss -log p_y:
        # d/dz_j = s_j (1 - s_j) / S - [j = y] (1 - s_y).
        s = _sigmoid(z)
        dz = s * (1.0 - s) / s.sum(axis=1, keepdims=True)
        dz[rows, y_index] -= 1.0 - s[rows, y_index]
        return dz @ W


_ACTIVATIONS = {
    "identity": (lambda z: z, lambda a: np.ones_like(a)),
    "relu": (lambda z: np.maximum(z, 0), lambda a: (a > 0).astype(a.dtype)),
    "tanh": (np.tanh, lambda a: 1.0 - a * a),
    "logistic": (_sigmoid, lambda a: a * (1.0 - a)),
}


class _MLP:
    """scikit-learn's ``MLPClassifier``: forward pass, then backpropagation of the log loss."""

    def __init__(self, model: Any) -> None:
        self.classes_ = np.asarray(model.classes_)
        self.coefs = [np.asarray(w) for w in model.coefs_]
        self.intercepts = [np.asarray(b) for b in model.intercepts_]
        self.act, self.dact = _ACTIVATIONS[model.activation]

    def _forward(self, X: np.ndarray) -> tuple[list[np.ndarray], np.ndarray]:
        hidden = [X]
        a = X
        for W, b in zip(self.coefs[:-1], self.intercepts[:-1]):
            a = self.act(a @ W.astype(X.dtype, copy=False) + b.astype(X.dtype, copy=False))
            hidden.append(a)
        z = a @ self.coefs[-1].astype(X.dtype, copy=False) + self.intercepts[-1].astype(X.dtype, copy=False)
        return hidden, z

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        z = self._forward(X)[1]
        return (z[:, 0] > 0).astype(np.intp) if z.shape[1] == 1 else z.argmax(axis=1)

    def loss_gradient(self, X: np.ndarray, y_index: np.ndarray) -> np.ndarray:
        hidden, z = self._forward(X)
        if z.shape[1] == 1:
            delta = _sigmoid(z) - (y_index == 1)[:, None]
        else:
            delta = _softmax(z)
            delta[np.arange(X.shape[0]), y_index] -= 1.0
        delta = delta.astype(X.dtype, copy=False)
        for layer in range(len(self.coefs) - 1, 0, -1):
            delta = (delta @ self.coefs[layer].T.astype(X.dtype, copy=False)) * self.dact(hidden[layer])
        return delta @ self.coefs[0].T.astype(X.dtype, copy=False)


class _Torch:
    """A ``torch.nn.Module`` mapping a batch to logits; gradients by autograd, in eval mode."""

    def __init__(self, module: Any) -> None:
        import torch  # noqa: PLC0415

        self.torch = torch
        self.module = module
        param = next(module.parameters(), None)
        self.dtype = param.dtype if param is not None else torch.float32
        self.device = param.device if param is not None else torch.device("cpu")
        self.classes_ = None  # set from the first forward pass

    def _tensor(self, X: np.ndarray) -> Any:
        t = self.torch.from_numpy(np.ascontiguousarray(X))
        if t.dtype != self.dtype:
            raise TypeError(f"X: the module's parameters are {self.dtype}, got a {X.dtype} array; "
                            "pass X in the module's dtype")
        return t.to(self.device)

    def _logits(self, t: Any) -> Any:
        out = self.module(t)
        if self.classes_ is None:
            self.classes_ = np.arange(out.shape[1])
        return out

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        was_training = self.module.training
        self.module.eval()
        try:
            with self.torch.no_grad():
                return self._logits(self._tensor(X)).argmax(dim=1).cpu().numpy()
        finally:
            self.module.train(was_training)

    def loss_gradient(self, X: np.ndarray, y_index: np.ndarray) -> np.ndarray:
        torch = self.torch
        was_training = self.module.training
        self.module.eval()
        try:
            x = self._tensor(X).requires_grad_(True)
            target = torch.from_numpy(np.asarray(y_index, dtype=np.int64)).to(self.device)
            loss = torch.nn.functional.cross_entropy(self._logits(x), target, reduction="sum")
            (grad,) = torch.autograd.grad(loss, x)
        finally:
            self.module.train(was_training)
        return grad.cpu().numpy()


def _is_torch_module(model: Any) -> bool:
    return any(c.__module__ == "torch.nn.modules.module" and c.__name__ == "Module"
               for c in type(model).__mro__)


class _Affine:
    """A scikit-learn ``Pipeline`` of per-feature affine scalers (``StandardScaler``,
    ``MinMaxScaler``) before a supported model: ``z = x * a + c``, so the input gradient is the
    model's gradient at ``z`` times ``a`` (the chain rule, exactly)."""

    def __init__(self, scalers: list[Any], inner: Differentiable) -> None:
        self.inner, self.classes_ = inner, inner.classes_
        self.a, self.c = 1.0, 0.0
        for s in scalers:
            if type(s).__name__ == "StandardScaler":
                scale = s.scale_ if s.with_std else 1.0
                mean = s.mean_ if s.with_mean else 0.0
                a, c = 1.0 / np.asarray(scale, dtype=np.float64), -np.asarray(mean, dtype=np.float64) / scale
            else:  # MinMaxScaler (its clip option is refused before)
                a, c = np.asarray(s.scale_, dtype=np.float64), np.asarray(s.min_, dtype=np.float64)
            self.a, self.c = self.a * a, self.c * a + c

    def _z(self, X: np.ndarray) -> np.ndarray:
        return (X * self.a + self.c).astype(X.dtype, copy=False)

    def predict_index(self, X: np.ndarray) -> np.ndarray:
        return self.inner.predict_index(self._z(X))

    def loss_gradient(self, X: np.ndarray, y_index: np.ndarray) -> np.ndarray:
        return (self.inner.loss_gradient(self._z(X), y_index) * self.a).astype(X.dtype, copy=False)


def _pipeline(model: Any) -> Differentiable:
    steps = [s for _, s in model.steps if s is not None and s != "passthrough"]
    scalers, last = steps[:-1], steps[-1]
    for s in scalers:
        kind = type(s).__name__
        if kind not in ("StandardScaler", "MinMaxScaler") or getattr(s, "clip", False):
            raise TypeError(f"model: a Pipeline is differentiated through StandardScaler and MinMaxScaler "
                            f"(without clip) steps only, got {kind}")
        if not hasattr(s, "scale_"):
            raise ValueError(f"model: this Pipeline's {kind} is not fitted; call fit(X, y) first")
    return _Affine(scalers, as_differentiable(last))


def as_differentiable(model: Any) -> Differentiable:
    """Wrap ``model`` for exact gradients, or raise ``TypeError`` naming what is supported."""
    if _is_torch_module(model):
        return _Torch(model)
    name = type(model).__name__
    if name == "Pipeline" and getattr(model, "steps", None):
        return _pipeline(model)
    if name in {"LogisticRegression", "LinearSVC", "SGDClassifier", "MLPClassifier"}:
        fitted = "coefs_" if name == "MLPClassifier" else "coef_"
        if not hasattr(model, fitted):
            raise ValueError(f"model: this {name} is not fitted; call fit(X, y) first")
    if name == "MLPClassifier":
        return _MLP(model)
    if name == "LogisticRegression":
        # multinomial whenever there are more than two classes (liblinear refuses those)
        return _Linear(model, "softmax")
    if name == "LinearSVC":
        return _Linear(model, "margin")
    if name == "SGDClassifier":
        return _Linear(model, "ovr" if model.loss == "log_loss" else "margin")
    if _is_logistic(model):
        return _Linear(model, "softmax")
    raise TypeError("model: expected a torch.nn.Module, a fitted scikit-learn LogisticRegression, "
                    "LinearSVC, SGDClassifier or MLPClassifier, or a logistic model (coef_, intercept_, "
                    f"classes_ and a predict_proba that is the softmax of X coef_^T + intercept_), got {name}")


def _is_logistic(model: Any) -> bool:
    """Whether ``model`` has scikit-learn's linear attributes and its ``predict_proba`` is the
    softmax (one row of ``coef_``: the sigmoid) of its linear scores, checked on random
    probes: only then is the softmax cross-entropy its exact loss."""
    if not (all(hasattr(model, a) for a in ("coef_", "intercept_", "classes_"))
            and callable(getattr(model, "predict_proba", None))):
        return False
    linear = _Linear(model, "softmax")
    if linear.W.ndim != 2 or linear.classes_.size < 2:
        return False
    probes = np.random.default_rng(0).normal(size=(8, linear.W.shape[1]))
    z = linear.decision(probes)
    want = _softmax(np.hstack([np.zeros_like(z), z]) if z.shape[1] == 1 else z)
    got = np.asarray(model.predict_proba(probes), dtype=np.float64)
    return got.shape == want.shape and bool(np.allclose(got, want, rtol=1e-6, atol=1e-9))


def label_indices(model: Differentiable, y: Any, n: int, name: str = "y") -> np.ndarray:
    """Class labels (as ``model.classes_`` spells them) -> row indices into ``classes_``."""
    y = np.asarray(y)
    if y.shape != (n,):
        raise ValueError(f"{name}: expected {n} labels (one per row of X), got shape {y.shape}")
    classes = model.classes_
    if classes is None:  # a torch module before its first forward pass: labels are indices
        return y.astype(np.intp)
    order = np.argsort(classes)
    pos = np.searchsorted(classes, y, sorter=order)
    pos = np.clip(pos, 0, len(classes) - 1)
    idx = order[pos]
    bad = classes[idx] != y
    if bad.any():
        raise ValueError(f"{name}: labels {np.unique(y[bad])[:5].tolist()} are not among the "
                         f"model's classes {classes.tolist()[:10]}")
    return idx.astype(np.intp)
