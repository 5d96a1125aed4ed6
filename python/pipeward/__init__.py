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

# --- privacy ------------------------------------------------------------------------------
from .privacy import (
    ClipResult,
    PLDAccountant,
    RDPAccountant,
    clip_and_noise,
    epsilon,
    noise_multiplier_for,
    poisson_batches,
)

# --- outliers -----------------------------------------------------------------------------

# --- governance ---------------------------------------------------------------------------

__all__ = [
    "GPUUnavailableError",
    "__version__",
    "capabilities",
    # integrity
    # drift
    # privacy
    "ClipResult",
    "PLDAccountant",
    "RDPAccountant",
    "clip_and_noise",
    "epsilon",
    "noise_multiplier_for",
    "poisson_batches",
    # outliers
    # governance
]
