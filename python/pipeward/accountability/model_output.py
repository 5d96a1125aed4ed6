"""What number of a model is explained: log-odds, probability or its raw output.

``pw.explain`` explains one real number per row. For a binary classifier that is the log-odds
of the positive class by default (``decision_function`` where the model has one -- the
log-odds of a logistic model, a margin for others such as an SVM -- else the logit of
``predict_proba``), or the probability with ``output="probability"``; for a regressor or a
plain function it is the raw output.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

__all__ = ["OUTPUTS", "is_classifier", "output_function"]

OUTPUTS = ("log_odds", "probability", "raw")


def is_classifier(model: Any) -> bool:
    return callable(getattr(model, "predict_proba", None))


def _column(values: Any, what: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim == 2 and arr.shape[1] == 1:
        arr = arr[:, 0]
    if arr.ndim != 1:
        raise ValueError(f"{what}: expected one number per row, got shape {arr.shape}; "
                         "explain a binary classifier, a regressor or a function returning a 1-d array")
    return arr


def _positive_proba(model: Any) -> Callable[[np.ndarray], np.ndarray]:
    classes = getattr(model, "classes_", None)
    if classes is not None and len(classes) != 2:
        raise ValueError(f"model: pw.explain handles binary classifiers; this one has {len(classes)} "
                         "classes (explain one class's probability through a function instead)")

    def proba(X: np.ndarray) -> np.ndarray:
        p = np.asarray(model.predict_proba(X), dtype=np.float64)
        return p[:, 1] if p.ndim == 2 else p

    return proba


def output_function(model: Any, output: str | None) -> tuple[Callable[[np.ndarray], np.ndarray], str]:
    """``(f, output)`` where ``f(X)`` gives the explained number for each row of ``X``."""
    if output is not None and output not in OUTPUTS:
        raise ValueError(f"output: expected one of {OUTPUTS} or None, got {output!r}")
    if is_classifier(model):
        output = output or "log_odds"
        if output == "raw":
            raise ValueError("output='raw' is for regressors and functions; a classifier's output "
                             "is 'log_odds' (default) or 'probability'")
        proba = _positive_proba(model)
        if output == "probability":
            return (lambda X: _column(proba(X), "predict_proba")), output
        decision = getattr(model, "decision_function", None)
        if callable(decision):
            return (lambda X: _column(decision(X), "decision_function")), output

        def log_odds(X: np.ndarray) -> np.ndarray:
            p = proba(X)
            with np.errstate(divide="ignore"):
                z = np.log(p) - np.log1p(-p)
            if not np.isfinite(z).all():
                raise ValueError("the model gives probabilities of exactly 0 or 1, whose log-odds are "
                                 "infinite; explain output='probability' instead")
            return z

        return log_odds, output
    if output not in (None, "raw"):
        raise ValueError(f"output={output!r} needs a classifier with predict_proba; this model "
                         f"({type(model).__name__}) has a raw output only")
    predict = getattr(model, "predict", None)
    if callable(predict) and not isinstance(model, type):
        return (lambda X: _column(predict(X), "predict")), "raw"
    if callable(model):
        return (lambda X: _column(model(X), "model(X)")), "raw"
    raise TypeError(f"model: expected an estimator (predict / predict_proba) or a function of X, "
                    f"got {type(model).__name__}")
