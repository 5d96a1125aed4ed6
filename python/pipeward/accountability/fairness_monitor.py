"""Fairness over time: the same group metrics over a rolling window of labelled batches.

Labels arrive late and in batches; each batch is reduced to :class:`GroupCounts` once, and the
window's assessment is the merge of its last ``window`` batches (exact, as for partitions). An
alert names every disparity past its limit; ``crossed`` the ones that were within it in the
previous window, so a gate or a pager fires once per crossing.
"""

from __future__ import annotations

import logging
import numbers
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..audit.kinds import MONITOR_FAIRNESS
from .fairness import DISPARITIES, FairnessAssessment, assessment_from_counts, count_groups
from .group_counts import GroupCounts

__all__ = ["FairnessMonitor", "FairnessWindow"]

log = logging.getLogger("pipeward.accountability")


@dataclass(frozen=True)
class FairnessWindow:
    assessment: FairnessAssessment
    batches: int
    alerts: tuple[str, ...]
    crossed: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.alerts


class FairnessMonitor:
    """Rolling fairness over the last ``window`` batches, against ``limits`` (disparity ->
    limit: differences must stay <= it, ratios >= it)."""

    def __init__(self, limits: Mapping[str, float], *, window: int = 10, method: str = "between_groups") -> None:
        unknown = set(limits) - set(DISPARITIES)
        if not limits or unknown:
            raise ValueError(f"limits: expected a dict over {sorted(DISPARITIES)}, got {sorted(limits) or 'nothing'}")
        if isinstance(window, bool) or not isinstance(window, numbers.Integral) or window < 1:
            raise ValueError(f"window: expected a number of batches >= 1, got {window!r}")
        self.limits = dict(limits)
        self.method = method
        self._batches: deque[GroupCounts] = deque(maxlen=int(window))
        self._alerts: tuple[str, ...] = ()

    def update(self, y_true: Any, y_pred: Any, sensitive_features: Any, *, audit: Any = None,
               model: str | None = None) -> FairnessWindow:
        """Add one labelled batch; the window's assessment and alerts (recorded as
        ``monitor.fairness`` when ``audit`` is an AuditLog)."""
        counts = count_groups(y_true, y_pred, sensitive_features)
        if self._batches and counts.names != self._batches[0].names:
            raise ValueError(f"sensitive features {counts.names} differ from the window's {self._batches[0].names}")
        self._batches.append(counts)
        assessment = assessment_from_counts(GroupCounts.merge_all(self._batches), method=self.method, n_boot=0)
        verdict = assessment.within(self.limits)
        alerts = tuple(k for k, ok in verdict.items() if not ok)
        crossed = tuple(k for k in alerts if k not in self._alerts)
        self._alerts = alerts
        window = FairnessWindow(assessment, len(self._batches), alerts, crossed)
        if crossed:
            log.warning("fairness: %s crossed the limit over the last %d batches (%d rows)%s",
                        ", ".join(f"{k} {assessment.disparities[k]:.4g} vs {self.limits[k]}" for k in crossed),
                        window.batches, assessment.counts.n_rows, f" of model {model}" if model else "")
        if audit is not None:
            from .records import plain  # noqa: PLC0415

            payload = {"batches": window.batches, "n_rows": assessment.counts.n_rows,
                       "sensitive_features": list(assessment.sensitive_feature_names),
                       "disparities": plain(assessment.disparities), "limits": plain(self.limits),
                       "alerts": list(alerts), "crossed": list(crossed)}
            if model is not None:
                payload["model"] = model
            audit.append(MONITOR_FAIRNESS, payload, subject=model or "")
        return window
