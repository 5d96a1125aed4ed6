"""The red team: attack a model before adversaries do, and record how far each attack got.

White-box evasion (:func:`fgsm`, :func:`pgd`) with exact gradients for scikit-learn and
PyTorch models, on ART's conventions; a partitioned ensemble (:class:`PartitionEnsemble`) that
certifies predictions against poisoning; black-box attacks (:func:`hop_skip_jump`,
:func:`extract`) take any ``predict`` callable, a guarded service's :class:`ServiceClient` too;
every result has ``.record(audit_log)``.
"""

from __future__ import annotations

from .client import QueryRefused, ServiceClient
from .dp_audit import DPAuditResult, audit_dp, draw_canaries
from .evasion import EvasionResult, fgsm, pgd
from .extraction import ExtractionResult, extract
from .hop_skip_jump import HopSkipJumpResult, hop_skip_jump
from .influence import flip_influence, removal_influence
from .membership import MembershipResult, membership_inference
from .poisoning import PoisonResult, poison
from .results import AttackResult

__all__ = ["AttackResult", "DPAuditResult", "EvasionResult", "ExtractionResult", "HopSkipJumpResult",
           "MembershipResult", "PartitionEnsemble", "PoisonResult", "QueryRefused", "ServiceClient",
           "audit_dp", "draw_canaries", "extract", "fgsm", "flip_influence", "hop_skip_jump",
           "membership_inference", "pgd", "poison", "removal_influence"]


def __getattr__(name: str) -> object:
    # The ensemble is a scikit-learn estimator: import scikit-learn only when it is used.
    if name == "PartitionEnsemble":
        from .ensemble import PartitionEnsemble  # noqa: PLC0415

        return PartitionEnsemble
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
