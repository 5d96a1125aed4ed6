"""``pw.fairness.assess``: group metrics, disparities and bootstrap intervals, equal to fairlearn.

One pass over the data builds :class:`GroupCounts` (mergeable across partitions, so NumPy,
pandas and Dask inputs take the same route); every number is then computed from the counts
with fairlearn's definitions (``MetricFrame``, ``demographic_parity_difference``,
``equalized_odds_difference``, ``equal_opportunity_difference`` and their ratios).
"""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import group_metrics as gm
from .bootstrap import bootstrap_cells, percentile_interval
from .dask_counts import is_dask, merged_counts
from .group_counts import GroupCounts
from .group_inputs import binary_labels, scores, sensitive_columns

__all__ = ["DISPARITIES", "FairnessAssessment", "GroupCounts", "assess", "count_groups"]

# name -> (metric, "difference" | "ratio"); equalized odds combine TPR and FPR (worst case).
DISPARITIES = {
    "demographic_parity_difference": ("selection_rate", "difference"),
    "demographic_parity_ratio": ("selection_rate", "ratio"),
    "equalized_odds_difference": (("true_positive_rate", "false_positive_rate"), "difference"),
    "equalized_odds_ratio": (("true_positive_rate", "false_positive_rate"), "ratio"),
    "equal_opportunity_difference": ("true_positive_rate", "difference"),
    "equal_opportunity_ratio": ("true_positive_rate", "ratio"),
}
_METHODS = ("between_groups", "to_overall")


def count_groups(y_true: Any, y_pred: Any, sensitive_features: Any,
                 y_score: Any = None) -> GroupCounts:
    """The confusion counts per group of one in-memory partition (NumPy, pandas or lists)."""
    t = binary_labels(y_true, "y_true")
    p = binary_labels(y_pred, "y_pred")
    if p.shape[0] != t.shape[0]:
        raise ValueError(f"y_pred: expected {t.shape[0]} predictions (as y_true), got {p.shape[0]}")
    names, cols = sensitive_columns(sensitive_features, t.shape[0])
    s = None if y_score is None else scores(y_score, "y_score", t.shape[0])
    return GroupCounts.from_arrays(names, cols, t, p, s)


def _disparities(table: Mapping[str, np.ndarray], overall: Mapping[str, np.ndarray],
                 method: str) -> dict[str, np.ndarray]:
    out = {}
    for name, (metric, kind) in DISPARITIES.items():
        fn = gm.difference if kind == "difference" else gm.ratio
        if isinstance(metric, tuple):
            first, second = (fn(table[m], overall[m], method) for m in metric)
            # fairlearn takes Python's max()/min() over (TPR, FPR): a NaN second value is
            # ignored, a NaN first value wins.
            better = second > first if kind == "difference" else second < first
            out[name] = np.where(better, second, first)
        else:
            out[name] = fn(table[metric], overall[metric], method)
    return out


def _overall(cells: np.ndarray) -> dict[str, np.ndarray]:
    return gm.metric_table(cells.sum(axis=-3))


@dataclass
class FairnessAssessment:
    """The result of :func:`assess`.

    ``groups`` are tuples of sensitive-feature values (one per feature); ``metrics[name]`` holds
    one value per group, ``overall[name]`` the value on all rows; the disparities are
    attributes (``demographic_parity_difference`` ...); ``intervals`` holds ``(low, high)``
    bootstrap percentiles for every group metric (arrays ``(G, 2)``) and every disparity.
    """

    counts: GroupCounts
    method: str
    metrics: dict[str, np.ndarray]
    overall: dict[str, float]
    disparities: dict[str, float]
    intervals: dict[str, np.ndarray] = field(default_factory=dict)
    confidence: float | None = None
    n_boot: int = 0

    @property
    def sensitive_feature_names(self) -> tuple[str, ...]:
        return self.counts.names

    @property
    def groups(self) -> tuple[tuple[Any, ...], ...]:
        return self.counts.groups

    @property
    def demographic_parity_difference(self) -> float:
        return self.disparities["demographic_parity_difference"]

    @property
    def demographic_parity_ratio(self) -> float:
        return self.disparities["demographic_parity_ratio"]

    @property
    def equalized_odds_difference(self) -> float:
        return self.disparities["equalized_odds_difference"]

    @property
    def equalized_odds_ratio(self) -> float:
        return self.disparities["equalized_odds_ratio"]

    @property
    def equal_opportunity_difference(self) -> float:
        return self.disparities["equal_opportunity_difference"]

    @property
    def equal_opportunity_ratio(self) -> float:
        return self.disparities["equal_opportunity_ratio"]

    @property
    def by_group(self) -> Any:
        """A pandas DataFrame with one row per group, indexed like fairlearn's
        ``MetricFrame.by_group`` (a MultiIndex over every combination for several features,
        NaN rows for combinations that never occur)."""
        try:
            import pandas as pd  # noqa: PLC0415
        except ImportError:
            raise ImportError("FairnessAssessment.by_group needs pandas (pip install "
                              "'pipeward[data]'); .rows() gives the same table as dicts") from None
        columns = dict(self.metrics)
        names = list(self.counts.names)
        if len(names) == 1:
            index = pd.Index([g[0] for g in self.groups], name=names[0])
            return pd.DataFrame(columns, index=index)
        index = pd.MultiIndex.from_tuples(self.groups, names=names)
        frame = pd.DataFrame(columns, index=index)
        levels = [sorted({g[i] for g in self.groups}) for i in range(len(names))]
        return frame.reindex(pd.MultiIndex.from_product(levels, names=names))

    def rows(self) -> list[dict[str, Any]]:
        """One dict per group: its feature values, metrics and (when bootstrapped) intervals."""
        out = []
        for i, group in enumerate(self.groups):
            row: dict[str, Any] = {"group": dict(zip(self.counts.names, group))}
            for name, values in self.metrics.items():
                row[name] = int(values[i]) if name == "count" else float(values[i])
                if name in self.intervals:
                    row[name + "_interval"] = [float(v) for v in self.intervals[name][i]]
            out.append(row)
        return out

    def within(self, limits: Mapping[str, float]) -> dict[str, bool]:
        """Each named disparity against its limit: differences must be <= the limit, ratios >=."""
        verdict = {}
        for name, limit in limits.items():
            if name not in self.disparities:
                raise ValueError(f"unknown disparity {name!r}; expected one of {sorted(DISPARITIES)}")
            value = self.disparities[name]
            verdict[name] = bool(value <= limit) if name.endswith("difference") else bool(value >= limit)
        return verdict

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "sensitive_features": list(self.counts.names), "method": self.method,
            "n_rows": self.counts.n_rows, "groups": self.rows(),
            "overall": dict(self.overall), "disparities": dict(self.disparities),
        }
        if self.n_boot:
            out["bootstrap"] = {"n_boot": self.n_boot, "confidence": self.confidence}
            out["disparity_intervals"] = {k: [float(v) for v in self.intervals[k]]
                                          for k in self.disparities if k in self.intervals}
        return out


def assess(y_true: Any, y_pred: Any, sensitive_features: Any, *, y_score: Any = None,
           method: str = "between_groups", n_boot: int = 1000, confidence: float = 0.95,
           random_state: int | np.random.Generator | None = None) -> FairnessAssessment:
    """Fairness of binary predictions across groups.

    Per group: selection rate, accuracy, true and false positive rates, base rate, count and,
    with ``y_score`` (probability of the positive label), calibration: the mean score, its gap
    to the base rate and the Brier score. Disparities (``method`` as fairlearn's
    ``between_groups`` / ``to_overall``): demographic parity, equalized odds (worst of TPR and
    FPR) and equal opportunity (TPR), each as a difference and a ratio. Several sensitive
    features give their intersections as groups. ``n_boot`` bootstrap resamples (0 for none)
    give percentile intervals at ``confidence`` for every count-based number.

    Inputs are NumPy arrays, lists, pandas Series/DataFrames or Dask collections (aligned
    partitions, counted in one pass and merged).
    """
    if method not in _METHODS:
        raise ValueError(f"method: expected one of {_METHODS}, got {method!r}")
    if isinstance(n_boot, bool) or not isinstance(n_boot, numbers.Integral) or n_boot < 0:
        raise ValueError(f"n_boot: expected an integer >= 0, got {n_boot!r}")
    if isinstance(confidence, bool) or not isinstance(confidence, numbers.Real) or not 0 < confidence < 1:
        raise ValueError(f"confidence: expected a number in (0, 1), got {confidence!r}")
    if is_dask(y_true, y_pred, sensitive_features, y_score):
        counts = merged_counts(count_groups, y_true, y_pred, sensitive_features, y_score)
    else:
        counts = count_groups(y_true, y_pred, sensitive_features, y_score)
    if counts.n_rows == 0:
        raise ValueError("y_true: expected at least one row, got none")
    return assessment_from_counts(counts, method=method, n_boot=int(n_boot),
                                  confidence=float(confidence), random_state=random_state)


def assessment_from_counts(counts: GroupCounts, *, method: str = "between_groups",
                           n_boot: int = 1000, confidence: float = 0.95,
                           random_state: int | np.random.Generator | None = None
                           ) -> FairnessAssessment:
    """:func:`assess` on counts already gathered (e.g. merged from partitions)."""
    table = gm.metric_table(counts.cells)
    overall_t = _overall(counts.cells)
    metrics = {k: table[k] for k in ("count", *gm.COUNT_METRICS)}
    metrics["count"] = counts.cells.sum(axis=(1, 2)).astype(np.int64)
    overall = {k: float(overall_t[k]) for k in gm.COUNT_METRICS}
    if counts.score_sum is not None:
        n = counts.cells.sum(axis=(1, 2)).astype(np.float64)
        pos = counts.cells[:, 1, :].sum(axis=1).astype(np.float64)
        total, squares, pos_sum = counts.score_sum.sum(axis=1), counts.score_sq.sum(axis=1), counts.score_sum[:, 1]
        metrics["mean_score"] = total / n
        metrics["calibration_gap"] = (total - pos) / n
        metrics["brier_score"] = (squares - 2.0 * pos_sum + pos) / n
        N = n.sum()
        overall.update(mean_score=float(total.sum() / N), calibration_gap=float((total.sum() - pos.sum()) / N),
                       brier_score=float((squares.sum() - 2.0 * pos_sum.sum() + pos.sum()) / N))
    disparities = {k: float(v) for k, v in _disparities(table, overall_t, method).items()}
    result = FairnessAssessment(counts, method, metrics, overall, disparities)
    if n_boot:
        rng = random_state if isinstance(random_state, np.random.Generator) else np.random.default_rng(random_state)
        draws = bootstrap_cells(counts.cells, n_boot, rng)
        t_b, o_b = gm.metric_table(draws), _overall(draws)
        for k in gm.COUNT_METRICS:
            result.intervals[k] = percentile_interval(t_b[k], confidence).T
        for k, v in _disparities(t_b, o_b, method).items():
            result.intervals[k] = percentile_interval(v, confidence)
        result.n_boot, result.confidence = n_boot, confidence
    return result
