"""Accountability: fairness across groups, explanations of decisions, compliance checks.

- :func:`pipeward.fairness.assess` (module :mod:`pipeward.accountability.fairness`): group
  metrics and disparities equal to fairlearn's, with bootstrap intervals; NumPy, pandas, Dask.
- :func:`explain`: Shapley values equal to shap's Linear/Exact explainers, Kernel SHAP beyond;
  :func:`permutation_importance` and :func:`spurious_features` for the global view.
- :func:`check_compliance` (``pipeward comply check``): a profile's requirements from the log.
- ``record_*``: the facts the model card, the report and the compliance checks read.
"""

from __future__ import annotations

from . import fairness
from .comply import ComplianceReport, check_compliance, load_profile
from .consent import exclude_without_consent
from .explanations import Explanation, explain
from .fairness import FairnessAssessment, GroupCounts, assess
from .fairness_monitor import FairnessMonitor, FairnessWindow
from .permutation import PermutationImportance, permutation_importance
from .records import (record_compliance, record_decision, record_explanations, record_fairness,
                      record_signature_check)
from .spurious import SpuriousReport, spurious_features

__all__ = [
    "ComplianceReport",
    "Explanation",
    "FairnessAssessment",
    "FairnessMonitor",
    "FairnessWindow",
    "GroupCounts",
    "PermutationImportance",
    "SpuriousReport",
    "assess",
    "check_compliance",
    "exclude_without_consent",
    "explain",
    "fairness",
    "load_profile",
    "permutation_importance",
    "record_compliance",
    "record_decision",
    "record_explanations",
    "record_fairness",
    "record_signature_check",
    "spurious_features",
]
