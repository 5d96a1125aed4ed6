"""pipeward: secure an ML pipeline at every stage.

Integrity of datasets and models, a poisoning screen, differentially private training, drift
and out-of-distribution monitoring, and a tamper-evident audit log, on a C++/CUDA core.
"""

from __future__ import annotations

from ._backend import GPUUnavailableError
from ._capabilities import capabilities
from ._core import __version__

# --- integrity ----------------------------------------------------------------------------
from .sha256 import Sha256, hash_file, hash_files, sha256

# --- drift --------------------------------------------------------------------------------

# --- privacy ------------------------------------------------------------------------------

# --- outliers -----------------------------------------------------------------------------

# --- governance ---------------------------------------------------------------------------
from . import audit
from .audit import AuditLog, AuditReport, ModelCard

__all__ = [
    "GPUUnavailableError",
    "__version__",
    "capabilities",
    # integrity
    "Sha256",
    "hash_file",
    "hash_files",
    "sha256",
    # drift
    # privacy
    # outliers
    # governance
    "AuditLog",
    "AuditReport",
    "ModelCard",
    "audit",
]
