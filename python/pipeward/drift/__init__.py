"""Drift statistics: batched KS (scipy's numbers), PSI, and a fitted monitor."""

from __future__ import annotations

from .corrections import adjust_pvalues
from .ks import KsResult, SmallSampleWarning, ks_2samp
from .monitor import DriftMonitor
from .psi import PsiProfile, psi
from .report import DriftReport

__all__ = ["DriftMonitor", "DriftReport", "KsResult", "PsiProfile", "SmallSampleWarning",
           "adjust_pvalues", "ks_2samp", "psi"]
