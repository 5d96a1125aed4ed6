"""Governance: a tamper-evident audit log and a model card built from what it recorded.

``AuditLog`` appends hash-chained records to SQLite, signs Merkle checkpoints and verifies;
``record_*`` write the pipeline's facts under fixed action names; ``ModelCard`` reads them back.
"""

from __future__ import annotations

from .canonical import canonical_json, canonical_text
from .card import Fact, ModelCard
from .chain import Record
from .checkpoint import Checkpoint, verify_consistency
from .jsonl import verify_jsonl
from .log import AuditLog, verify_file
from .records import (
    ACTIONS,
    DATA_MANIFEST,
    DATA_SCREEN,
    MODEL_EVALUATION,
    MODEL_REGISTERED,
    MONITOR_DRIFT,
    TRAINING_DP,
    indices_digest,
    record_dp_training,
    record_drift_check,
    record_evaluation,
    record_manifest,
    record_model,
    record_screen,
)
from .redaction import REDACTION_KEY_ENV, RedactionWarning
from .verify import TAMPER_KINDS, UNVERIFIED_KINDS, WARNING_KINDS, AuditReport, Finding, VerificationError

__all__ = [
    "ACTIONS",
    "DATA_MANIFEST",
    "DATA_SCREEN",
    "MODEL_EVALUATION",
    "MODEL_REGISTERED",
    "MONITOR_DRIFT",
    "REDACTION_KEY_ENV",
    "TAMPER_KINDS",
    "TRAINING_DP",
    "UNVERIFIED_KINDS",
    "WARNING_KINDS",
    "AuditLog",
    "AuditReport",
    "Checkpoint",
    "Fact",
    "Finding",
    "ModelCard",
    "Record",
    "RedactionWarning",
    "VerificationError",
    "canonical_json",
    "canonical_text",
    "indices_digest",
    "record_dp_training",
    "record_drift_check",
    "record_evaluation",
    "record_manifest",
    "record_model",
    "record_screen",
    "verify_consistency",
    "verify_file",
    "verify_jsonl",
]
