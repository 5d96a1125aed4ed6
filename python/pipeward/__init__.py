"""pipeward: secure an ML pipeline at every stage.

Integrity of datasets and models, a poisoning screen, differentially private training, drift
and out-of-distribution monitoring, and a tamper-evident audit log, on a C++/CUDA core.
"""

from __future__ import annotations

from ._backend import GPUUnavailableError
from ._capabilities import capabilities
from ._core import __version__

# --- integrity ----------------------------------------------------------------------------

# --- drift --------------------------------------------------------------------------------
from .drift import DriftMonitor, DriftReport, KsResult, PsiProfile, ks_2samp, psi

# --- privacy ------------------------------------------------------------------------------

# --- outliers -----------------------------------------------------------------------------

# --- governance ---------------------------------------------------------------------------

__all__ = [
    "GPUUnavailableError",
    "__version__",
    "capabilities",
    # integrity
    # drift
    "DriftMonitor",
    "DriftReport",
    "KsResult",
    "PsiProfile",
    "ks_2samp",
    "psi",
    # privacy
    # outliers
    # governance
]
