"""Every kind of audit record that governance reads, in one place.

The first group (and the lineage, erasure and vault records) is written by
:mod:`pipeward.audit.records`; the accountability group by
:mod:`pipeward.accountability.records`. The stages write the rest when given an audit log:
``pw.protect.scan`` / ``tokenize`` / ``encrypt_file`` (:mod:`pipeward.protect.records`), the
red team's results, and the guarded service (``model.artifact``, ``serve.started``,
``serve.stopped``, ``explanation.decision``, ``monitor.fairness``:
:mod:`pipeward.serve.accountability`). ``pipeward comply check`` reads them under these names
and answers "not recorded" while a log has none. The payload fields listed are the ones the
checks read; other fields are kept and shown.

================================  ===========================================================
action                            payload fields read
================================  ===========================================================
``data.signature``                dataset, root, key_id, signer, trusted (bool), reason (a
                                  manifest signature checked against a TrustStore:
                                  :func:`pipeward.accountability.record_signature_check`)
``data.pii_scan``                 dataset, columns (list: columns found to hold personal data)
``data.tokenized``                dataset, columns (list)
``data.encrypted``                dataset, files or n_files, scheme
``data.consent``                  dataset, column, n_rows, n_without_consent, n_excluded
``data.erased``                   column, n_subjects, rows_removed, models (written by
                                  :func:`pipeward.audit.records.record_erasure`)
``lineage.attested``              step, key_id, inputs, outputs (written by
                                  :func:`pipeward.audit.records.record_attestation`)
``redteam.<attack>``              attack and the result's summary (each red-team result's
                                  ``.record(log)``; a ``passed: false`` one fails the check)
``redteam.attack``                attack, metric, value, passed (bool), threshold (a policy line)
``serve.started``                 model, auth (bool), roles, rate_limit, jwt (bool), guard
``serve.stopped``                 model, pid
``model.artifact``                model, root (Merkle root of the signed model folder), format
``fairness.assessment``           see :func:`pipeward.accountability.record_fairness`
``explanation.global``            see :func:`pipeward.accountability.record_explanations`
``explanation.decision``          model, row, output, base_value, value, top (feature ->
                                  contribution); from the service also request_id, model_root
``compliance.check``              profile, requirements (id -> status and evidence)
``monitor.fairness``              batches, n_rows, sensitive_features, disparities, limits,
                                  alerts, crossed, model (a rolling fairness window)
================================  ===========================================================
"""

from __future__ import annotations

from .records import (
    DATA_ERASED,
    DATA_MANIFEST,
    DATA_SCREEN,
    LINEAGE_ATTESTED,
    MODEL_EVALUATION,
    MODEL_REGISTERED,
    MONITOR_DRIFT,
    PII_VAULT_LOOKUP,
    TRAINING_DP,
)

__all__ = [
    "COMPLIANCE_CHECK", "DATA_CONSENT", "DATA_ENCRYPTED", "DATA_ERASED", "DATA_MANIFEST",
    "DATA_PII_SCAN", "DATA_SCREEN", "DATA_SIGNATURE", "DATA_TOKENIZED", "EXPLANATION_DECISION",
    "EXPLANATION_GLOBAL", "FAIRNESS_ASSESSMENT", "KINDS", "LINEAGE_ATTESTED", "MODEL_ARTIFACT",
    "MODEL_EVALUATION", "MODEL_REGISTERED", "MONITOR_DRIFT", "MONITOR_FAIRNESS", "PII_VAULT_LOOKUP",
    "REDTEAM_ATTACK", "SERVE_STARTED", "SERVE_STOPPED", "TRAINING_DP",
]

# -- written by other stages (read here; "not recorded" until they are) ----------------------
DATA_SIGNATURE = "data.signature"
DATA_PII_SCAN = "data.pii_scan"
DATA_TOKENIZED = "data.tokenized"
DATA_ENCRYPTED = "data.encrypted"
DATA_CONSENT = "data.consent"
REDTEAM_ATTACK = "redteam.attack"
SERVE_STARTED = "serve.started"
SERVE_STOPPED = "serve.stopped"
MODEL_ARTIFACT = "model.artifact"

# -- written by accountability -------------------------------------------------------------
FAIRNESS_ASSESSMENT = "fairness.assessment"
EXPLANATION_GLOBAL = "explanation.global"
EXPLANATION_DECISION = "explanation.decision"
COMPLIANCE_CHECK = "compliance.check"
MONITOR_FAIRNESS = "monitor.fairness"

KINDS = (MODEL_REGISTERED, DATA_MANIFEST, DATA_SCREEN, TRAINING_DP, MONITOR_DRIFT, MODEL_EVALUATION,
         DATA_SIGNATURE, DATA_PII_SCAN, DATA_TOKENIZED, DATA_ENCRYPTED, DATA_CONSENT, DATA_ERASED,
         LINEAGE_ATTESTED, PII_VAULT_LOOKUP, REDTEAM_ATTACK, SERVE_STARTED, SERVE_STOPPED, MODEL_ARTIFACT, FAIRNESS_ASSESSMENT,
         EXPLANATION_GLOBAL, EXPLANATION_DECISION, COMPLIANCE_CHECK, MONITOR_FAIRNESS)
