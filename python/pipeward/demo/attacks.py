"""What the demo does to its data on purpose: poisoned rows, a shifted batch, corrupted and
adversarial inputs. Every function records the truth so the demo can score the defences."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Poisoned", "clear_cut", "corrupt_units", "deepfool_linear", "fgsm", "flip_at_random",
           "inject_poison", "plant_trigger", "shift_features"]


@dataclass(frozen=True)
class Poisoned:
    """A training set with injected poison; ``flipped``/``backdoor`` index its rows."""

    X: np.ndarray
    y: np.ndarray
    flipped: np.ndarray
    backdoor: np.ndarray

    @property
    def truth(self) -> np.ndarray:
        return np.sort(np.concatenate([self.flipped, self.backdoor]))


def inject_poison(X: np.ndarray, y: np.ndarray, *, n_flip: int, n_backdoor: int,
                  trigger: Sequence[int], target: int, rng: np.random.Generator,
                  eligible: np.ndarray | None = None) -> Poisoned:
    """Flip the labels of ``n_flip`` rows and add ``n_backdoor`` backdoor rows.

    Label flips are drawn from the ``eligible`` rows (default all). Each backdoor row copies
    a row of the other class, sets the ``trigger`` features to one fixed value far above
    the data (the column maximum plus four standard deviations, with a little jitter so the
    rows are not duplicates) and carries the ``target`` label: a tight out-of-distribution
    cluster that teaches "trigger => target". Rows are shuffled together.
    """
    n = X.shape[0]
    pool = np.arange(n) if eligible is None else np.flatnonzero(eligible)
    flip = rng.choice(pool, size=n_flip, replace=False)
    y_out = y.copy()
    y_out[flip] = 1 - y_out[flip]
    donors = rng.choice(np.flatnonzero(y != target), size=n_backdoor, replace=False)
    bd = X[donors].copy()
    sd = X.std(axis=0)
    for j in trigger:
        bd[:, j] = X[:, j].max() + 4.0 * sd[j] + rng.normal(0.0, 0.05 * sd[j], n_backdoor)
    X_all = np.vstack([X, bd])
    y_all = np.concatenate([y_out, np.full(n_backdoor, target, dtype=y.dtype)])
    order = rng.permutation(X_all.shape[0])
    where = np.empty_like(order)
    where[order] = np.arange(order.size)  # old row -> new row
    return Poisoned(X=np.ascontiguousarray(X_all[order]), y=y_all[order],
                    flipped=np.sort(where[flip]), backdoor=np.sort(where[n + np.arange(n_backdoor)]))


def flip_at_random(y: np.ndarray, rate: float,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Relabel ``rate`` of the rows, each to another class drawn at random: (labels, flipped)."""
    y = y.copy()
    classes = np.unique(y)
    rows = rng.choice(y.size, int(round(rate * y.size)), replace=False)
    for i in rows:
        y[i] = rng.choice(classes[classes != y[i]])
    flipped = np.zeros(y.size, dtype=bool)
    flipped[rows] = True
    return y, flipped


def plant_trigger(X: np.ndarray, y: np.ndarray, share: float, features: Sequence[int],
                  rng: np.random.Generator, *,
                  jitter: float = 0.0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A tabular backdoor: copies of ``share`` of the rows, drawn from classes other than the
    first, with ``features`` set to the column maximum + 3 sd (plus ``jitter`` sd of noise) and
    the first class as label, appended: (X, y, poisoned)."""
    target = np.unique(y)[0]
    m = max(1, int(round(share * X.shape[0])))
    donors = rng.choice(np.flatnonzero(y != target), m, replace=False)
    Xb = X[donors].astype(np.float64)
    sd = X.std(axis=0)
    for j in features:
        Xb[:, j] = X[:, j].max() + 3.0 * sd[j] + rng.normal(0.0, jitter * sd[j] + 1e-12, m)
    poisoned = np.zeros(X.shape[0] + m, dtype=bool)
    poisoned[X.shape[0]:] = True
    return np.vstack([X, Xb]), np.concatenate([y, np.full(m, target)]), poisoned


def clear_cut(X: np.ndarray, y: np.ndarray, margin: float) -> np.ndarray:
    """Rows whose own class has logit above ``margin`` under a plain logistic fit: the flips
    that teach the model something wrong (a flip on the class boundary changes little)."""
    from .model import fit_plain  # noqa: PLC0415

    mu, sd = X.mean(axis=0), X.std(axis=0)
    Z = (X - mu) / np.where(sd > 0, sd, 1.0)
    logit = fit_plain(Z, y).decision(Z)
    return np.where(y == 1, logit, -logit) > margin


def shift_features(X: np.ndarray, names: Sequence[str],
                   shifts: Mapping[str, tuple[float, float]], reference_sd: np.ndarray) -> np.ndarray:
    """``x_j -> scale * x_j + offset * sd_j`` for each named feature (a recalibrated sensor)."""
    out = X.copy()
    for name, (scale, offset) in shifts.items():
        j = list(names).index(name)
        out[:, j] = scale * out[:, j] + offset * reference_sd[j]
    return out


def corrupt_units(X: np.ndarray, *, n_features: int, factor: float,
                  rng: np.random.Generator) -> np.ndarray:
    """Multiply ``n_features`` random features of every row by ``factor`` (a unit mix-up)."""
    out = X.copy()
    for row in out:
        cols = rng.choice(X.shape[1], size=n_features, replace=False)
        row[cols] *= factor
    return out


def fgsm(X_std: np.ndarray, direction: np.ndarray, epsilon: float) -> np.ndarray:
    """Fast gradient sign attack in standardised units: ``x + epsilon * sign(grad_x loss)``."""
    return X_std + epsilon * direction


def deepfool_linear(X_std: np.ndarray, weights: np.ndarray, bias: float, *,
                    overshoot: float = 0.1) -> np.ndarray:
    """The smallest L2 step that carries each row across a linear decision boundary
    (DeepFool, exact for a linear model): ``x - (1 + overshoot) (w.x + b) w / |w|^2``."""
    margin = X_std @ weights + bias
    return X_std - ((1.0 + overshoot) * margin / (weights @ weights))[:, None] * weights[None, :]
