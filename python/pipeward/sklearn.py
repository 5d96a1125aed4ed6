"""pipeward's detectors as real scikit-learn estimators (needs scikit-learn).

``pw.MahalanobisDetector`` and ``pw.ClassConditionalDetector`` speak scikit-learn's protocol
without importing it (:mod:`pipeward._estimator`), because scikit-learn is not a core
dependency and ``import pipeward`` must stay light. The classes here are the same detectors,
every method and attribute the core one's, that also subclass ``sklearn.base.OutlierMixin``
and ``BaseEstimator``: ``isinstance`` checks, scikit-learn's repr and HTML display, metadata
routing and ``check_estimator`` with no "does not inherit from BaseEstimator" warning::

    from pipeward.sklearn import MahalanobisDetector

A core detector becomes one of these with :func:`as_sklearn` (its fitted state is kept).
"""

from __future__ import annotations

from typing import Any

try:
    from sklearn.base import BaseEstimator, OutlierMixin
except ImportError as exc:  # pragma: no cover - the test extra has scikit-learn
    raise ImportError("pipeward.sklearn needs scikit-learn (pip install scikit-learn); the "
                      "core detectors, pipeward.MahalanobisDetector and "
                      "pipeward.ClassConditionalDetector, work without it") from exc

from .outliers import class_conditional, detector

__all__ = ["ClassConditionalDetector", "MahalanobisDetector", "as_sklearn"]


class MahalanobisDetector(OutlierMixin, BaseEstimator, detector.MahalanobisDetector):
    __doc__ = detector.MahalanobisDetector.__doc__


class ClassConditionalDetector(MahalanobisDetector, class_conditional.ClassConditionalDetector):
    __doc__ = class_conditional.ClassConditionalDetector.__doc__

    # OutlierMixin's fit_predict drops y, which gives this model its classes.
    fit_predict = class_conditional.ClassConditionalDetector.fit_predict


_SKLEARN_CLASS = {detector.MahalanobisDetector: MahalanobisDetector,
                  class_conditional.ClassConditionalDetector: ClassConditionalDetector}


def as_sklearn(det: Any) -> Any:
    """A copy of a core detector (fitted or not) as this module's class of the same model."""
    cls = _SKLEARN_CLASS.get(type(det))
    if cls is None:
        if isinstance(det, MahalanobisDetector):
            return det  # already one of these
        raise TypeError(f"expected a pipeward.MahalanobisDetector or ClassConditionalDetector, "
                        f"got {type(det).__name__}")
    copy = cls.__new__(cls)
    copy.__dict__.update(det.__dict__)
    return copy
