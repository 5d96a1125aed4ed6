"""Report sections from the accountability records of an audit log.

Each function turns records (``fairness.assessment``, ``explanation.global``,
``compliance.check``, ``redteam.*``) into the plain dict one report section takes, keeping the
record's ``seq`` so the page names where every number came from.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..audit.kinds import COMPLIANCE_CHECK, EXPLANATION_GLOBAL, FAIRNESS_ASSESSMENT, REDTEAM_ATTACK

__all__ = ["accountability_sections"]

_REDTEAM = REDTEAM_ATTACK.split(".")[0] + "."
_RATES = ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")


def _label(group: Any) -> str:
    if isinstance(group, dict):
        return ", ".join(f"{k}={v}" for k, v in group.items())
    return str(group)


def fairness_section(record: Any) -> dict[str, Any]:
    p = record.payload
    limits = p.get("limits", {})
    ivs = p.get("disparity_intervals", {})
    groups = []
    for row in p.get("groups", []):
        g = {"label": _label(row.get("group")), "count": row.get("count")}
        for k in _RATES:
            g[k] = row.get(k)
            g[k + "_interval"] = row.get(k + "_interval")
        groups.append(g)
    disparities = [{"name": k, "value": v, "interval": ivs.get(k), "limit": limits.get(k),
                    "ok": p.get("within_limits", {}).get(k)} for k, v in p.get("disparities", {}).items()]
    return {"seq": record.seq, "sensitive_features": p.get("sensitive_features", []),
            "note": p.get("note"), "n_rows": p.get("n_rows"), "bootstrap": p.get("bootstrap"),
            "groups": groups, "disparities": disparities, "dataset": p.get("dataset")}


def explanations_section(record: Any) -> dict[str, Any]:
    p = record.payload
    return {"seq": record.seq, "method": p.get("method"), "output": p.get("output"),
            "n_rows": p.get("n_rows"), "n_background": p.get("n_background"),
            "importance": by_value(p.get("importance", {})), "spurious": p.get("spurious")}


def by_value(importance: dict[str, Any]) -> dict[str, Any]:
    """Largest first: the log stores objects with sorted keys, so the order is restored here."""
    return dict(sorted(importance.items(), key=lambda kv: -(kv[1] if isinstance(kv[1], (int, float)) else 0.0)))


def compliance_section(record: Any) -> dict[str, Any]:
    p = record.payload
    return {"seq": record.seq, "title": p.get("title") or p.get("profile"), "counts": p.get("counts", {}),
            "requirements": list(p.get("requirements", []))}


def security_section(records: Sequence[Any]) -> list[dict[str, Any]]:
    """One row per red-team record: its headline metric (:func:`pipeward.redteam.card.metric`)
    and, as ``detail``, the whole payload the charts read."""
    from ..redteam.card import metric  # noqa: PLC0415 - the red team reads its own records

    return [{"seq": r.seq, "test": r.action, **metric(r.action, r.payload), "detail": dict(r.payload)}
            for r in records]


def accountability_sections(records: Sequence[Any]) -> dict[str, Any]:
    """``fairness``, ``explanations``, ``compliance`` (latest record of each) and ``security``
    (every red-team record), for those the log holds."""
    latest: dict[str, Any] = {}
    redteam = []
    for r in records:
        if r.action in (FAIRNESS_ASSESSMENT, EXPLANATION_GLOBAL, COMPLIANCE_CHECK):
            latest[r.action] = r
        elif r.action.startswith(_REDTEAM):
            redteam.append(r)
    out: dict[str, Any] = {}
    if FAIRNESS_ASSESSMENT in latest:
        out["fairness"] = fairness_section(latest[FAIRNESS_ASSESSMENT])
    if EXPLANATION_GLOBAL in latest:
        out["explanations"] = explanations_section(latest[EXPLANATION_GLOBAL])
    if COMPLIANCE_CHECK in latest:
        out["compliance"] = compliance_section(latest[COMPLIANCE_CHECK])
    if redteam:
        out["security"] = security_section(redteam)
    return out
