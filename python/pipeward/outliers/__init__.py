"""Mahalanobis outlier scoring: the poisoning screen at ingestion and the input guard at
inference, on one native kernel."""

from .class_conditional import ClassConditionalDetector
from .detector import CovarianceWarning, MahalanobisDetector
from .guard import GuardResult, InputGuard
from .kernel import CovarianceStats, mahalanobis
from .screen import ScreenReport, screen

__all__ = ["ClassConditionalDetector", "CovarianceStats", "CovarianceWarning", "GuardResult",
           "InputGuard", "MahalanobisDetector", "ScreenReport", "mahalanobis", "screen"]
