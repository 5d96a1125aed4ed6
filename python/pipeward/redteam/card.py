"""How red-team records read in the model card and the report.

Two kinds of record: one per attack run (``redteam.fgsm``, ``redteam.pgd``, ...: the attack's
full summary) and one per policy line checked (``redteam.attack``, the kind
:mod:`pipeward.audit.kinds` names: attack, metric, value, threshold, passed). :func:`headline`
picks what a reader wants first from either; :func:`security_testing_markdown` renders the
card's "Security testing" section on its own. Every row names its record (``#seq``, hash).
"""

from __future__ import annotations

from typing import Any

from ..audit.kinds import REDTEAM_ATTACK

__all__ = ["REDTEAM_ACTIONS", "headline", "metric", "security_testing_markdown"]

REDTEAM_ACTIONS = ("redteam.fgsm", "redteam.pgd", "redteam.hop_skip_jump", "redteam.membership",
                   "redteam.dp_audit", "redteam.extraction", "redteam.poisoning", REDTEAM_ATTACK)

# the headline numbers of each attack, in the order a reader wants them
_HEADLINE = {
    "fgsm": ("eps", "norm", "robust_accuracy", "success_rate"),
    "pgd": ("eps", "norm", "max_iter", "robust_accuracy", "success_rate"),
    "hop_skip_jump": ("rows", "queries", "median_distance", "failed"),
    "membership": ("method", "auc", "auc_se", "tpr_at_0.1%_fpr", "tpr_at_1%_fpr"),
    "dp_audit": ("epsilon_lower_bound", "confidence", "delta", "guesses", "correct"),
    "extraction": ("strategy", "answers", "queries", "fidelity", "accuracy", "refused"),
    "poisoning": ("kind", "selection", "n_poison", "attack_success", "attack_success_screened", "screen_recall"),
    REDTEAM_ATTACK.removeprefix("redteam."): ("attack", "metric", "value", "threshold", "passed"),
}
# the one number that sums an attack up (what a policy line is drawn on)
_METRIC = {"fgsm": "robust_accuracy", "pgd": "robust_accuracy", "hop_skip_jump": "median_distance",
           "membership": "auc", "dp_audit": "epsilon_lower_bound", "extraction": "fidelity",
           "poisoning": "attack_success"}
_CHECK = _HEADLINE[REDTEAM_ATTACK.removeprefix("redteam.")]


def headline(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """The fields of a red-team record worth showing, in reading order (a record of an
    unknown attack: its policy fields if it has them, else all of it)."""
    keys = _HEADLINE.get(action.removeprefix("redteam."))
    if keys is None:
        keys = _CHECK if "metric" in payload else tuple(payload)
    return {k: payload[k] for k in keys if payload.get(k) is not None}


def metric(action: str, payload: dict[str, Any]) -> dict[str, Any]:
    """``attack``, ``metric``, ``value``, ``threshold``, ``passed`` of a red-team record (the
    last two None for an attack run, which draws no line)."""
    name = _METRIC.get(action.removeprefix("redteam."))
    if name is None:
        return {k: payload.get(k) for k in _CHECK}
    where = f" at eps {payload['eps']:g}" if "eps" in payload else ""
    return {"attack": payload.get("attack", action.removeprefix("redteam.")), "metric": name + where,
            "value": payload.get(name), "threshold": None, "passed": None}


def _value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def security_testing_markdown(log: Any, *, subject: str | None = None) -> str:
    """``## Security testing``: one row per red-team record in ``log`` (only those about
    ``subject`` when given), or a line saying the log holds none."""
    records = [r for r in log.records(action=REDTEAM_ACTIONS, skip_unreadable=True)
               if subject is None or r.subject == subject]
    lines = ["## Security testing", ""]
    if not records:
        return "\n".join(lines + ["*missing: the audit log holds no red-team results*", ""])
    lines += ["| attack | results | source |", "|---|---|---|"]
    for r in records:
        shown = ", ".join(f"{k} {_value(v)}" for k, v in headline(r.action, r.payload).items())
        lines.append(f"| {r.action.removeprefix('redteam.')} | {shown} | #{r.seq} `{r.hash[:12]}` |")
    return "\n".join(lines + [""])
