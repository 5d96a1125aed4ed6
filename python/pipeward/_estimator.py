"""The scikit-learn estimator protocol without importing scikit-learn.

scikit-learn is not a core dependency (``import pipeward`` must not load it), so pipeward's
estimators cannot inherit ``sklearn.base.BaseEstimator`` / ``OutlierMixin``. They inherit
this instead, which gives what those bases give and ``check_estimator`` relies on:
``get_params`` / ``set_params`` read from ``__init__``'s signature (so ``clone``,
``GridSearchCV`` and ``Pipeline`` work), a repr of the changed parameters, ``fit_predict``,
and ``__sklearn_tags__`` (scikit-learn is imported there: only scikit-learn calls it).
:mod:`pipeward.sklearn` subclasses the detectors with scikit-learn's real base classes.
"""

from __future__ import annotations

import inspect
from typing import Any

import numpy as np


class OutlierDetectorBase:
    """``BaseEstimator`` + ``OutlierMixin``'s protocol for an unsupervised outlier detector."""

    _estimator_type = "outlier_detector"

    @classmethod
    def _get_param_names(cls) -> list[str]:
        signature = inspect.signature(cls.__init__)
        return sorted(p.name for p in signature.parameters.values()
                      if p.name != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD))

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self._get_param_names()}

    def set_params(self, **params: Any) -> Any:
        valid = self._get_param_names()
        for name, value in params.items():
            if name not in valid:
                raise ValueError(f"invalid parameter {name!r} for {type(self).__name__}; "
                                 f"valid parameters: {', '.join(valid)}")
            setattr(self, name, value)
        return self

    def __repr__(self) -> str:
        defaults = type(self)()
        changed = [f"{k}={v!r}" for k, v in self.get_params().items()
                   if not _same(v, getattr(defaults, k))]
        return f"{type(self).__name__}({', '.join(changed)})"

    def __sklearn_tags__(self) -> Any:
        from sklearn.utils import InputTags, Tags, TargetTags  # noqa: PLC0415 - sklearn asks

        return Tags(estimator_type="outlier_detector",
                    target_tags=TargetTags(required=False),
                    input_tags=InputTags(two_d_array=True, allow_nan=False))

    def fit(self, X: Any, y: Any = None) -> Any:  # pragma: no cover - every detector has one
        raise NotImplementedError

    def predict(self, X: Any) -> Any:  # pragma: no cover - every detector has one
        raise NotImplementedError

    def fit_predict(self, X: Any, y: Any = None) -> Any:
        """``fit(X).predict(X)``: +1 for inliers, -1 for outliers (``y`` is ignored)."""
        return self.fit(X, y).predict(X)


def _same(a: Any, b: Any) -> bool:
    if a is b:
        return True
    try:
        return bool(np.all(a == b)) and type(a) is type(b)
    except (TypeError, ValueError):
        return False
