"""Accountability facts in the audit log, under the names of :mod:`pipeward.audit.kinds`.

``fairness.assessment``: sensitive_features, method, n_rows, groups (per group: its values,
count, rates and intervals), overall, disparities, disparity_intervals, bootstrap, limits,
within_limits, note (e.g. how a synthetic attribute was made), dataset, model.

``explanation.global``: method, output, n_rows, n_background, importance (feature -> mean
|Shapley value|, largest first), spurious (collapsed, flipped, per-feature importance), dataset,
model.

``explanation.decision``: row, output, base_value, value, top (feature -> contribution), model.

``data.signature``: dataset, root, trusted, signer, key_id, roles, reason -- a manifest's
signature checked against a :class:`pipeward.TrustStore`.

Numbers that are undefined (a ratio over an all-zero group) are stored as null: the log holds
finite JSON only.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..audit import AuditLog, Record
from ..audit.kinds import (COMPLIANCE_CHECK, DATA_SIGNATURE, EXPLANATION_DECISION, EXPLANATION_GLOBAL,
                           FAIRNESS_ASSESSMENT)
from .explanations import Explanation
from .fairness import FairnessAssessment
from .spurious import SpuriousReport

__all__ = ["record_compliance", "record_decision", "record_explanations", "record_fairness",
           "record_signature_check"]


def plain(value: Any) -> Any:
    """A JSON value the log accepts: NumPy scalars unwrapped, NaN/inf as None, tuples as lists."""
    if isinstance(value, Mapping):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple, np.ndarray)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    return str(value)


def _log(log: Any) -> AuditLog:
    if not isinstance(log, AuditLog):
        raise TypeError(f"log: expected a pipeward AuditLog, got {type(log).__name__}")
    return log


def _context(payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    for k, v in fields.items():
        if v is not None:
            if not isinstance(v, str):
                raise TypeError(f"{k}: expected str, got {type(v).__name__}")
            payload[k] = v
    return payload


def record_fairness(log: AuditLog, assessment: FairnessAssessment, *, model: str | None = None,
                    dataset: str | None = None, limits: Mapping[str, float] | None = None,
                    note: str | None = None, actor: str | None = None) -> Record:
    """Append a ``fairness.assessment`` record; with ``limits`` (disparity -> limit) it also
    stores whether each gap is within its limit."""
    if not isinstance(assessment, FairnessAssessment):
        raise TypeError(f"assessment: expected a FairnessAssessment, got {type(assessment).__name__}")
    payload = plain(assessment.to_dict())
    if limits is not None:
        payload["limits"] = plain(dict(limits))
        payload["within_limits"] = assessment.within(limits)
    _context(payload, note=note, dataset=dataset, model=model)
    return _log(log).append(FAIRNESS_ASSESSMENT, payload, subject=model or dataset or "", actor=actor)


def record_explanations(log: AuditLog, explanation: Explanation, *, n_background: int,
                        spurious: SpuriousReport | None = None, top: int = 15,
                        model: str | None = None, dataset: str | None = None,
                        actor: str | None = None) -> Record:
    """Append an ``explanation.global`` record: the ``top`` features by mean |Shapley value|."""
    if not isinstance(explanation, Explanation):
        raise TypeError(f"explanation: expected an Explanation, got {type(explanation).__name__}")
    importance = dict(list(explanation.global_importance().items())[:top])
    payload: dict[str, Any] = {"method": explanation.method, "output": explanation.output,
                               "n_rows": int(explanation.values.shape[0]),
                               "n_background": int(n_background), "importance": plain(importance)}
    if spurious is not None:
        payload["spurious"] = plain(spurious.to_dict())
    _context(payload, dataset=dataset, model=model)
    return _log(log).append(EXPLANATION_GLOBAL, payload, subject=model or dataset or "", actor=actor)


def record_decision(log: AuditLog, explanation: Explanation, row: int, *, top: int = 5,
                    model: str | None = None, actor: str | None = None) -> Record:
    """Append an ``explanation.decision`` record for one explained row: its output, base value
    and the ``top`` contributions (GDPR art. 22's "meaningful information about the logic")."""
    n = explanation.values.shape[0]
    if isinstance(row, bool) or not isinstance(row, (int, np.integer)) or not 0 <= row < n:
        raise ValueError(f"row: expected an index in [0, {n}), got {row!r}")
    payload = _context(decision_payload(explanation, int(row), top), model=model)
    return _log(log).append(EXPLANATION_DECISION, payload, subject=model or "", actor=actor)


def decision_payload(explanation: Explanation, row: int, top: int) -> dict[str, Any]:
    """The ``explanation.decision`` fields of one explained row (also the service's answer)."""
    return {"row": row, "output": explanation.output,
            "base_value": plain(float(explanation.base_values[row])),
            "value": plain(float(explanation.output_values[row])),
            "top": plain(dict(explanation.top(row, top)))}


def record_compliance(log: AuditLog, report: Any, *, model: str | None = None,
                      actor: str | None = None) -> Record:
    """Append a ``compliance.check`` record from a :class:`ComplianceReport`."""
    payload = plain(report.to_dict())
    _context(payload, model=model)
    return _log(log).append(COMPLIANCE_CHECK, payload, subject=model or "", actor=actor)


def record_signature_check(log: AuditLog, manifest: Any, check: Any, *, dataset: str | None = None,
                           actor: str | None = None) -> Record:
    """Append a ``data.signature`` record: ``check`` is what ``manifest.verify_signature(trust_store)``
    returned (a :class:`pipeward.trust.SignatureCheck`); ``trusted`` is its verdict."""
    to_dict = getattr(check, "to_dict", None)
    if not callable(to_dict) or not hasattr(manifest, "root"):
        raise TypeError("record_signature_check: expected a Manifest and the SignatureCheck its "
                        "verify_signature(trust_store) returned")
    d = to_dict()
    payload = {"root": manifest.root, "trusted": bool(d.get("ok")),
               **{k: plain(d[k]) for k in ("signer", "key_id", "roles", "reason") if d.get(k)}}
    _context(payload, dataset=dataset)
    return _log(log).append(DATA_SIGNATURE, payload, subject=dataset or manifest.root, actor=actor)
