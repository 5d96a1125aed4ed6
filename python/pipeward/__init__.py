"""pipeward: secure an ML pipeline at every stage.

Integrity of datasets and models, a poisoning screen, differentially private training, drift
and out-of-distribution monitoring, and a tamper-evident audit log, on a C++/CUDA core.
"""

from __future__ import annotations

from ._backend import GPUUnavailableError
from ._capabilities import capabilities
from ._core import __version__

# --- integrity ----------------------------------------------------------------------------
from ._sha256_batch import sha256_batch
from .manifest import Manifest, Verification, verify_inclusion
from .hashing import FileChangedError, Sha256, hash_file, hash_files, sha256
from .signing import generate_keypair, save_keypair

# --- drift --------------------------------------------------------------------------------
from .drift import DriftMonitor, DriftReport, KsResult, PsiProfile, ks_2samp, psi

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
from .outliers import (ClassConditionalDetector, CovarianceStats, InputGuard,
                       MahalanobisDetector, ScreenReport, mahalanobis, screen)
from .nearest import nearest_distances

# --- data protection and trust -----------------------------------------------------------
from . import lineage, protect
from .trust import SignatureCheck, TrustedKey, TrustStore

# --- governance ---------------------------------------------------------------------------
from . import aggregate, audit, secagg
from .audit import AuditLog, AuditReport, ModelCard

# --- accountability -----------------------------------------------------------------------
from . import accountability
from .accountability import explain, fairness
# --- red team -----------------------------------------------------------------------------
from . import redteam

__all__ = [
    "aggregate",
    "secagg",
    "GPUUnavailableError",
    "__version__",
    "capabilities",
    # integrity
    "FileChangedError",
    "Manifest",
    "Sha256",
    "Verification",
    "generate_keypair",
    "hash_file",
    "hash_files",
    "save_keypair",
    "sha256",
    "sha256_batch",
    "verify_inclusion",
    # drift
    "DriftMonitor",
    "DriftReport",
    "KsResult",
    "PsiProfile",
    "ks_2samp",
    "psi",
    # privacy
    "ClipResult",
    "PLDAccountant",
    "RDPAccountant",
    "clip_and_noise",
    "epsilon",
    "noise_multiplier_for",
    "poisson_batches",
    # outliers
    "ClassConditionalDetector",
    "CovarianceStats",
    "InputGuard",
    "MahalanobisDetector",
    "ScreenReport",
    "mahalanobis",
    "nearest_distances",
    "screen",
    # data protection and trust
    "SignatureCheck",
    "TrustStore",
    "TrustedKey",
    "lineage",
    "protect",
    # governance
    "AuditLog",
    "AuditReport",
    "ModelCard",
    "audit",
    # accountability
    "accountability",
    "explain",
    "fairness",
    # red team
    "redteam",
]


def __getattr__(name: str):  # noqa: ANN202 - subpackages of optional extras load on first use
    if name == "serve":  # needs pipeward[serve]
        import importlib  # noqa: PLC0415

        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
