"""``pw.explain``: Shapley values of a model's decisions, exact where that is affordable.

Methods (``method="auto"`` picks the first that applies):

- ``"linear"``: a model that is linear in the explained output (log-odds of a logistic
  regression, a linear regression): ``phi_j = w_j (x_j - mean_b b_j)``, equal to shap's
  ``LinearExplainer`` (interventional).
- ``"exact"``: every coalition enumerated (up to ``max_exact`` = 15 explained features), equal
  to shap's ``ExactExplainer`` with an independent masker. A generalised linear model (e.g.
  the probability of a logistic regression) is evaluated from its linear predictor without
  calling the model, which is where the speed comes from.
- ``"kernel"``: Kernel SHAP beyond that, within its sampling error.

``features`` limits the explanation to some columns; the others keep each row's own values
(in the coalitions and in the base value), so ``values`` always sum to
``f(x) - base_values``.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validate import describe, float_array
from .kernel_shap import kernel_coalitions, solve_kernel
from .linear_model import LinearModel, linear_structure
from .model_output import output_function
from .shapley import all_coalitions, coalition_values, linear_coalition_values, shapley_matrix

__all__ = ["METHODS", "Explanation", "explain"]

METHODS = ("auto", "linear", "exact", "kernel")


@dataclass(frozen=True)
class Explanation:
    """Shapley values: ``values[i, j]`` is feature ``feature_names[j]``'s contribution to row
    ``i``'s output above ``base_values[i]`` (the mean output over the background)."""

    values: np.ndarray
    base_values: np.ndarray
    data: np.ndarray
    feature_names: tuple[str, ...]
    method: str
    output: str

    @property
    def output_values(self) -> np.ndarray:
        """The explained outputs: ``base_values + values.sum(axis=1)``."""
        return self.base_values + self.values.sum(axis=1)

    def global_importance(self) -> dict[str, float]:
        """Mean absolute Shapley value per feature, largest first."""
        mean_abs = np.abs(self.values).mean(axis=0)
        order = np.argsort(-mean_abs, kind="stable")
        return {self.feature_names[j]: float(mean_abs[j]) for j in order}

    def top(self, row: int, n: int = 5) -> list[tuple[str, float]]:
        """The ``n`` largest contributions (by magnitude) to one row's decision."""
        phi = self.values[row]
        order = np.argsort(-np.abs(phi), kind="stable")[:n]
        return [(self.feature_names[j], float(phi[j])) for j in order]


def _table(x: Any, name: str) -> tuple[np.ndarray, list[str] | None]:
    if hasattr(x, "__cuda_array_interface__"):
        raise TypeError(f"{name}: pw.explain runs on the CPU and does not copy GPU memory silently; "
                        "pass a NumPy array (cupy.asnumpy)")
    columns = getattr(x, "columns", None)
    if columns is not None and hasattr(x, "to_numpy"):
        values = x.to_numpy()
        if values.dtype.kind != "f":
            raise TypeError(f"{name}: expected numeric float columns, got a DataFrame of {values.dtype}")
        return float_array(values, name, ndim=2), [str(c) for c in columns]
    return float_array(x, name, ndim=2), None


def _columns(features: Any, names: list[str], d: int) -> np.ndarray:
    if features is None:
        return np.arange(d)
    if isinstance(features, (str, bytes)) or not isinstance(features, Sequence | np.ndarray):
        raise TypeError(f"features: expected a list of column indices or names, got {type(features).__name__}")
    out = []
    for f in features:
        if isinstance(f, str):
            if f not in names:
                raise ValueError(f"features: no column named {f!r}")
            out.append(names.index(f))
        elif isinstance(f, numbers.Integral) and not isinstance(f, bool) and -d <= f < d:
            out.append(int(f) % d)
        else:
            raise ValueError(f"features: expected names or indices in [0, {d}), got {f!r}")
    if len(set(out)) != len(out) or not out:
        raise ValueError(f"features: expected distinct columns, got {list(features)}")
    return np.array(out, dtype=np.int64)


def explain(model: Any, X: Any, *, background: Any, method: str = "auto", output: str | None = None,
            features: Sequence[int | str] | None = None, feature_names: Sequence[str] | None = None,
            n_samples: int | None = None, max_exact: int = 15,
            random_state: int | np.random.Generator | None = None) -> Explanation:
    """Shapley values of ``model``'s output for each row of ``X`` against ``background`` rows.

    ``model`` is a fitted estimator (binary classifier: log-odds by default,
    ``output="probability"`` for the probability; regressor: its prediction) or a function
    ``f(X) -> one number per row``. ``X`` and ``background`` are 2-d float arrays (or pandas
    DataFrames, whose column names name the features). Cost grows with ``len(background)``;
    100 rows is shap's default. ``n_samples`` is Kernel SHAP's coalition budget (default
    ``2 k + 2048``). See the module docstring for the methods.
    """
    if method not in METHODS:
        raise ValueError(f"method: expected one of {METHODS}, got {method!r}")
    data, x_names = _table(X, "X")
    bg, bg_names = _table(background, "background")
    if data.dtype != bg.dtype:
        raise TypeError(f"background: expected {data.dtype} like X, got a {describe(bg)}")
    d = data.shape[1]
    if bg.shape[1] != d:
        raise ValueError(f"background: expected {d} columns like X, got a {describe(bg)}")
    if x_names and bg_names and x_names != bg_names:
        raise ValueError("background: expected the same columns as X, in the same order")
    if not (np.isfinite(data).all() and np.isfinite(bg).all()):
        raise ValueError("X and background must be finite (no NaN or infinity)")
    names = list(feature_names) if feature_names is not None else (x_names or [f"x{j}" for j in range(d)])
    if len(names) != d:
        raise ValueError(f"feature_names: expected {d} names, got {len(names)}")
    columns = _columns(features, names, d)
    k = columns.size
    if isinstance(max_exact, bool) or not isinstance(max_exact, numbers.Integral) or not 1 <= max_exact <= 20:
        raise ValueError(f"max_exact: expected an integer in [1, 20], got {max_exact!r}")

    f, output = output_function(model, output)
    if x_names is not None:
        f = _with_columns(f, x_names)
    linear = linear_structure(model, f, output, bg[: min(len(bg), 64)])
    if method == "auto":
        method = ("linear" if linear is not None and linear.link == "identity"
                  else "exact" if k <= max_exact else "kernel")
    if method == "linear" and (linear is None or linear.link != "identity"):
        raise ValueError("method='linear' needs a model linear in the explained output (coef_ and "
                         "intercept_, log-odds or raw output); use 'exact' or 'kernel'")
    if method == "exact" and k > 20:
        raise ValueError(f"method='exact' enumerates 2**k coalitions; {k} features is too many (<= 20); "
                         "use 'kernel'")

    if method == "linear":
        phi, base = _linear(linear, data, bg, columns)
    elif method == "exact":
        phi, base = _exact(f, linear, data, bg, columns)
    else:
        phi, base = _kernel(f, linear, data, bg, columns, n_samples, random_state)
    return Explanation(values=phi, base_values=base, data=data[:, columns].copy(),
                       feature_names=tuple(names[j] for j in columns), method=method, output=output)


def _with_columns(f: Any, columns: list[str]) -> Any:
    import pandas as pd  # noqa: PLC0415 - only reached when X was a DataFrame

    return lambda Z: f(pd.DataFrame(Z, columns=columns))


def _values(f: Any, linear: LinearModel | None, data: np.ndarray, bg: np.ndarray,
            columns: np.ndarray, coalitions: np.ndarray) -> np.ndarray:
    if linear is not None:
        return linear_coalition_values(linear, data, bg, columns, coalitions)
    return coalition_values(f, data, bg, columns, coalitions)


def _exact(f: Any, linear: LinearModel | None, data: np.ndarray, bg: np.ndarray,
           columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    coalitions = all_coalitions(columns.size)
    weights = shapley_matrix(coalitions)
    phi = np.empty((data.shape[0], columns.size))
    base = np.empty(data.shape[0])
    step = max(1, (1 << 22) // coalitions.shape[0])  # rows whose coalition values fit in 32 MiB
    for start in range(0, data.shape[0], step):
        v = _values(f, linear, data[start:start + step], bg, columns, coalitions)
        phi[start:start + step] = v @ weights
        base[start:start + step] = v[:, 0]
    return phi, base


def _linear(model: LinearModel, data: np.ndarray, bg: np.ndarray,
            columns: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = model.weights
    mean = bg.mean(axis=0, dtype=np.float64)
    phi = (data[:, columns] - mean[columns]) * w[columns]
    held = np.ones(data.shape[1], bool)
    held[columns] = False
    base = data[:, held].astype(np.float64) @ w[held] + mean[columns] @ w[columns] + model.intercept
    return phi, base


def _kernel(f: Any, linear: LinearModel | None, data: np.ndarray, bg: np.ndarray, columns: np.ndarray,
            n_samples: int | None, random_state: Any) -> tuple[np.ndarray, np.ndarray]:
    k = columns.size
    if n_samples is None:
        n_samples = 2 * k + 2048
    if isinstance(n_samples, bool) or not isinstance(n_samples, numbers.Integral) or n_samples < 2:
        raise ValueError(f"n_samples: expected an integer >= 2, got {n_samples!r}")
    rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
    masks, weights = kernel_coalitions(k, int(n_samples), rng)
    ends = np.zeros((2, k), bool)
    ends[1] = True
    v = _values(f, linear, data, bg, columns, np.concatenate([ends, masks]))
    base, full = v[:, 0], v[:, 1]
    return solve_kernel(v[:, 2:], base, full, masks, weights), base
