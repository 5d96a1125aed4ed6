"""Differentially private training: DP-SGD aggregation (``clip_and_noise``), privacy
accounting (``RDPAccountant``, ``PLDAccountant``, ``epsilon``, ``noise_multiplier_for``) and
Poisson sampling (``poisson_batches``). Conventions and formulas: docs/privacy.md."""

from .accountant_pld import PLDAccountant
from .accountant_rdp import (
    DP_ACCOUNTING_ORDERS,
    OPACUS_ORDERS,
    RDPAccountant,
    epsilon,
    noise_multiplier_for,
)
from .clipping import ClipResult, clip_and_noise
from .sampling import poisson_batches

__all__ = [
    "DP_ACCOUNTING_ORDERS",
    "OPACUS_ORDERS",
    "ClipResult",
    "PLDAccountant",
    "RDPAccountant",
    "clip_and_noise",
    "epsilon",
    "noise_multiplier_for",
    "poisson_batches",
]
