"""The model card's "Security testing" section, read from the ``redteam.*`` audit records.

Kept apart from :class:`pipeward.ModelCard` so the card can include it when it is ready: every
row names the record (``#seq`` and hash prefix) it came from, like the rest of the card.
"""

from __future__ import annotations

from typing import Any

__all__ = ["REDTEAM_ACTIONS", "security_testing_markdown"]

REDTEAM_ACTIONS = ("redteam.fgsm", "redteam.pgd", "redteam.hop_skip_jump", "redteam.membership",
                   "redteam.dp_audit", "redteam.extraction", "redteam.poisoning")

# the headline numbers of each attack, in the order a reader wants them
_HEADLINE = {
    "fgsm": ("eps", "norm", "robust_accuracy", "success_rate"),
    "pgd": ("eps", "norm", "max_iter", "robust_accuracy", "success_rate"),
    "hop_skip_jump": ("rows", "queries", "median_distance", "failed"),
    "membership": ("method", "auc", "tpr_at_0.1%_fpr", "tpr_at_1%_fpr"),
    "dp_audit": ("epsilon_lower_bound", "confidence", "delta", "guesses", "correct"),
    "extraction": ("strategy", "queries", "fidelity", "accuracy"),
    "poisoning": ("kind", "n_poison", "attack_success", "attack_success_screened", "screen_recall"),
}


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
        attack = r.action.removeprefix("redteam.")
        keys = _HEADLINE.get(attack, tuple(r.payload))
        shown = ", ".join(f"{k} {_value(r.payload[k])}" for k in keys if r.payload.get(k) is not None)
        lines.append(f"| {attack} | {shown} | #{r.seq} `{r.hash[:12]}` |")
    return "\n".join(lines + [""])
