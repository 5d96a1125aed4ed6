"""A model card assembled only from facts recorded in an audit log.

Sections follow *Model Cards for Model Reporting* (Mitchell et al., 2019): model details,
intended use, training data, evaluation, privacy, limitations; then the accountability
sections: fairness (per group, with bootstrap intervals), explanations (global importance,
spurious features), compliance (the latest checklist) and security testing (red-team
results). Every value carries the ``seq`` and hash of the record it came from; a value the log
does not supply is marked missing and never filled in. The card also states whether the log verified, since a card is only as
trustworthy as its log.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from .. import signing
from .chain import Record
from .checkpoint import CheckpointLike
from .log import AuditLog
from .kinds import (
    COMPLIANCE_CHECK,
    DATA_MANIFEST,
    DATA_SCREEN,
    EXPLANATION_GLOBAL,
    FAIRNESS_ASSESSMENT,
    MODEL_EVALUATION,
    MODEL_REGISTERED,
    MONITOR_DRIFT,
    REDTEAM_ATTACK,
    TRAINING_DP,
)
from .verify import AuditReport

__all__ = ["Fact", "ModelCard"]

SECTIONS = ("model_details", "intended_use", "training_data", "evaluation", "privacy", "limitations",
            "fairness", "explanations", "compliance", "security_testing")
_TITLES = {"model_details": "Model details", "intended_use": "Intended use",
           "training_data": "Training data", "evaluation": "Evaluation", "privacy": "Privacy",
           "limitations": "Limitations", "fairness": "Fairness", "explanations": "Explanations",
           "compliance": "Compliance", "security_testing": "Security testing"}
_REDTEAM = REDTEAM_ATTACK.split(".")[0] + "."  # every red-team record kind


@dataclass(frozen=True)
class Fact:
    """A value and the record it came from; ``seq is None`` means the log does not supply it."""

    value: Any = None
    seq: int | None = None
    hash: str | None = None

    @property
    def missing(self) -> bool:
        return self.seq is None

    @classmethod
    def of(cls, record: Record, value: Any) -> Fact:
        return cls(value, record.seq, record.hash)

    def to_dict(self) -> dict[str, Any]:
        if self.missing:
            return {"value": None, "missing": True}
        return {"value": self.value, "source": {"seq": self.seq, "hash": self.hash}}


MISSING = Fact()
Entry = Fact | list[Fact]


def _field(record: Record | None, name: str) -> Fact:
    if record is None or name not in record.payload:
        return MISSING
    return Fact.of(record, record.payload[name])


def _pick(source: Record | dict[str, Any], names: Iterable[str]) -> dict[str, Any]:
    fields = source.payload if isinstance(source, Record) else source
    return {k: fields[k] for k in names if k in fields}


@dataclass
class ModelCard:
    """Model card for ``model_name``: ``sections[section][field]`` is a :class:`Fact` or a list
    of them; build one with :meth:`from_audit`."""

    model_name: str
    sections: dict[str, dict[str, Entry]]
    audit: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_audit(cls, log: AuditLog, model_name: str | None = None, *,
                   public_key: signing.KeyLike | None = None,
                   checkpoint: CheckpointLike | None = None) -> ModelCard:
        """Read the facts about ``model_name`` (default: the model registered last) from ``log``,
        after verifying it with ``public_key`` and a saved ``checkpoint`` (as :meth:`AuditLog.verify`).

        A fact belongs to the model when its payload names the model, or names no model at all
        (a pipeline-wide fact such as a manifest). The latest record wins for single values.
        """
        from ..redteam.card import headline  # noqa: PLC0415 - the red team reads its own records

        if not isinstance(log, AuditLog):
            raise TypeError(f"log: expected a pipeward AuditLog, got {type(log).__name__}")
        report = log.verify(public_key, checkpoint=checkpoint)
        wanted = (MODEL_REGISTERED, DATA_MANIFEST, DATA_SCREEN, TRAINING_DP, MONITOR_DRIFT,
                  MODEL_EVALUATION, FAIRNESS_ASSESSMENT, EXPLANATION_GLOBAL, COMPLIANCE_CHECK)
        records = [r for r in log.records(skip_unreadable=True)
                   if r.action in wanted or r.action.startswith(_REDTEAM)]
        registrations = [r for r in records if r.action == MODEL_REGISTERED]
        if model_name is None:
            if not registrations:
                raise ValueError("the log registers no model (record_model); pass model_name")
            model_name = str(registrations[-1].payload.get("name"))
        elif not isinstance(model_name, str):
            raise TypeError(f"model_name: expected str, got {type(model_name).__name__}")

        def about(action: str) -> list[Record]:
            hit = (lambda a: a.startswith(_REDTEAM)) if action == _REDTEAM else (lambda a: a == action)
            return [r for r in records if hit(r.action) and r.payload.get("model", model_name) == model_name]

        model = next((r for r in reversed(registrations) if r.payload.get("name") == model_name), None)
        dp = about(TRAINING_DP)[-1:] or [None]
        fair = about(FAIRNESS_ASSESSMENT)[-1:] or [None]
        expl = about(EXPLANATION_GLOBAL)[-1:] or [None]
        comply = about(COMPLIANCE_CHECK)[-1:] or [None]
        drift = about(MONITOR_DRIFT)[-1:] or [None]

        sections: dict[str, dict[str, Entry]] = {
            "model_details": {
                "name": _field(model, "name") if model else MISSING,
                "version": _field(model, "version"),
                "description": _field(model, "description"),
                "model_type": _field(model, "model_type"),
                "owners": _field(model, "owners"),
                "license": _field(model, "license"),
                "registered_by": Fact.of(model, model.actor) if model else MISSING,
                "registered_at": Fact.of(model, model.ts) if model else MISSING,
            },
            "intended_use": {
                "primary_use": _field(model, "intended_use"),
                "out_of_scope_use": _field(model, "out_of_scope_use"),
            },
            "training_data": {
                "manifests": [Fact.of(r, _pick(r, ("dataset", "event", "root", "n_files", "total_bytes",
                                                   "ok", "added", "removed", "modified")))
                              for r in about(DATA_MANIFEST)],
                "screens": [Fact.of(r, _pick(r, ("dataset", "method", "n_samples", "n_outliers",
                                                 "n_label_suspects", "n_quarantined",
                                                 "quarantined_digest")))
                            for r in about(DATA_SCREEN)],
            },
            "evaluation": {
                "metrics": [Fact.of(r, _pick(r, ("metric", "value", "dataset", "split")))
                            for r in about(MODEL_EVALUATION)],
                "drift": (Fact.of(drift[0], _pick(drift[0], ("dataset", "test", "alpha", "n_features",
                                                             "n_drifted", "drifted")))
                          if drift[0] else MISSING),
            },
            "privacy": {
                name: _field(dp[0], name)
                for name in ("noise_multiplier", "sample_rate", "steps", "max_grad_norm",
                             "accountant", "epsilon", "delta")
            },
            "limitations": {
                "stated": _field(model, "limitations"),
            },
            "fairness": {
                "sensitive_features": _field(fair[0], "sensitive_features"),
                "note": _field(fair[0], "note"),
                "groups": [Fact.of(fair[0], _group_row(g)) for g in fair[0].payload.get("groups", [])]
                          if fair[0] else [],
                "disparities": (Fact.of(fair[0], _disparities(fair[0].payload)) if fair[0] else MISSING),
                "within_limits": _field(fair[0], "within_limits"),
            },
            "explanations": {
                "method": (Fact.of(expl[0], f"{expl[0].payload.get('method')} Shapley values of the "
                                            f"{expl[0].payload.get('output')} over "
                                            f"{expl[0].payload.get('n_rows')} rows")
                           if expl[0] else MISSING),
                "global_importance": (Fact.of(expl[0], {k: round(v, 4) for k, v in sorted(
                    expl[0].payload.get("importance", {}).items(), key=lambda kv: -kv[1])})
                                      if expl[0] and "importance" in expl[0].payload else MISSING),
                "spurious_features": (Fact.of(expl[0], _pick(expl[0].payload["spurious"], ("collapsed", "flipped")))
                                      if expl[0] and "spurious" in expl[0].payload else MISSING),
            },
            "compliance": {
                "profile": (Fact.of(comply[0], f"{comply[0].payload.get('title') or comply[0].payload.get('profile')}: "
                                               + ", ".join(f"{v} {k}" for k, v in comply[0].payload.get("counts", {}).items()))
                            if comply[0] else MISSING),
                "requirements": [Fact.of(comply[0], _pick(q, ("id", "status", "evidence")))
                                 for q in comply[0].payload.get("requirements", [])] if comply[0] else [],
            },
            "security_testing": {
                "results": [Fact.of(r, {"test": r.action, **headline(r.action, r.payload)})
                            for r in about(_REDTEAM)],
            },
        }
        audit = {"path": log.path, "log_id": log.log_id, **_audit_summary(report)}
        return cls(model_name, sections, audit)

    # --- rendering ----------------------------------------------------------------------------
    def missing_fields(self) -> list[str]:
        """``section.field`` for every value the log did not supply."""
        out = []
        for section, fields in self.sections.items():
            for name, entry in fields.items():
                if (entry == []) or (isinstance(entry, Fact) and entry.missing):
                    out.append(f"{section}.{name}")
        return out

    def to_dict(self) -> dict[str, Any]:
        def entry(e: Entry) -> Any:
            if isinstance(e, list):
                return [f.to_dict() for f in e] if e else {"value": None, "missing": True}
            return e.to_dict()

        return {"model_name": self.model_name, "audit": self.audit,
                "sections": {s: {k: entry(v) for k, v in fields.items()}
                             for s, fields in self.sections.items()},
                "missing": self.missing_fields()}

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent, sort_keys=False, ensure_ascii=False)

    def to_markdown(self) -> str:
        a = self.audit
        warned = ", ".join(a.get("warnings", []))
        state = (f"verified{f' (warnings: {warned})' if warned else ''}" if a.get("ok") else
                 f"**FAILED VERIFICATION** ({a.get('n_failures', 0)} failing findings): "
                 "treat every value below as untrusted")
        lines = [f"# Model card: {self.model_name}", "",
                 f"Built from the audit log `{a.get('log_id', '')}` ({a.get('n_records', 0)} records, "
                 f"Merkle root `{a.get('root', '')}`, {a.get('checkpoints_verified', 0)}/"
                 f"{a.get('checkpoints_total', 0)} signed checkpoints verified): {state}.",
                 "Each value names the record (`#seq` and hash prefix) it was read from; "
                 "*missing* marks what the log does not supply.", ""]
        for section in SECTIONS:
            lines += [f"## {_TITLES[section]}", "", "| field | value | source |", "|---|---|---|"]
            for name, e in self.sections[section].items():
                facts = e if isinstance(e, list) else [e]
                if not facts or all(f.missing for f in facts):
                    lines.append(f"| {name} | *missing: not in the audit log* | |")
                    continue
                for f in facts:
                    lines.append(f"| {name} | {_md(f.value)} | #{f.seq} `{str(f.hash)[:12]}` |")
            lines.append("")
        return "\n".join(lines)


def _group_row(row: dict[str, Any]) -> dict[str, Any]:
    """One group's line: its values, size and rates, each rate with its interval if any."""
    out: dict[str, Any] = {"group": row.get("group"), "count": row.get("count")}
    for k in ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy"):
        if k in row:
            iv = row.get(k + "_interval")
            out[k] = _with_interval(row[k], iv)
    return out


def _disparities(payload: dict[str, Any]) -> dict[str, Any]:
    ivs = payload.get("disparity_intervals", {})
    return {k: _with_interval(v, ivs.get(k)) for k, v in payload.get("disparities", {}).items()}


def _with_interval(value: Any, interval: Any) -> Any:
    if not isinstance(value, float):
        return value
    if isinstance(interval, list) and len(interval) == 2 and all(isinstance(x, float) for x in interval):
        return f"{value:.3f} [{interval[0]:.3f}, {interval[1]:.3f}]"
    return round(value, 6)


def _md(value: Any) -> str:
    if isinstance(value, dict):
        text = ", ".join(f"{k}: {_md(v)}" for k, v in value.items())
    elif isinstance(value, list):
        text = ", ".join(_md(v) for v in value) if value else "(none)"
    else:
        text = str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def _audit_summary(report: AuditReport) -> dict[str, Any]:
    return {"ok": report.ok, "n_records": report.n_records, "root": report.root,
            "head_hash": report.head_hash, "checkpoints_verified": report.checkpoints_verified,
            "checkpoints_total": report.checkpoints_total, "state": report.state,
            "n_tampering": len(report.tampering), "n_failures": len(report.failures),
            "warnings": sorted({f.kind for f in report.warnings}),
            "findings": [f"{f.kind} at #{f.seq}: {f.detail}" if f.seq is not None else
                         f"{f.kind}: {f.detail}" for f in report.findings]}
