"""``DriftReport``: what ``DriftMonitor.check`` found, per feature and overall."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True)
class DriftReport:
    """Per-feature drift statistics and the verdict.

    ``ks_pvalue_adjusted`` is corrected across features with ``correction``; a feature drifted
    when its adjusted KS p-value is below ``alpha`` or its PSI reaches ``psi_threshold``
    (for the tests that were run). Categorical features have no KS test (NaN).
    """

    feature_names: list[str]
    kind: list[str]                     # "numeric" or "categorical"
    ks_statistic: np.ndarray
    ks_pvalue: np.ndarray
    ks_pvalue_adjusted: np.ndarray
    psi: np.ndarray
    nan_reference: np.ndarray           # NaN counts per feature
    nan_current: np.ndarray
    drifted: np.ndarray                 # bool per feature
    alpha: float
    correction: str
    psi_threshold: float
    tests: tuple[str, ...]
    excluded: dict[str, str] = field(default_factory=dict)  # column -> why it was not tested

    @property
    def any_drift(self) -> bool:
        """The overall verdict: did any feature drift?"""
        return bool(self.drifted.any())

    @property
    def drifted_features(self) -> list[str]:
        return [n for n, d in zip(self.feature_names, self.drifted) if d]

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready dict: settings, verdict and one record per feature (NaN -> None)."""
        def num(v: float) -> float | None:
            return None if np.isnan(v) else float(v)

        features = []
        for i, name in enumerate(self.feature_names):
            features.append({
                "feature": name,
                "kind": self.kind[i],
                "ks_statistic": num(self.ks_statistic[i]),
                "ks_pvalue": num(self.ks_pvalue[i]),
                "ks_pvalue_adjusted": num(self.ks_pvalue_adjusted[i]),
                "psi": num(self.psi[i]),
                "nan_reference": int(self.nan_reference[i]),
                "nan_current": int(self.nan_current[i]),
                "drifted": bool(self.drifted[i]),
            })
        return {
            "drift": self.any_drift,
            "n_drifted": int(self.drifted.sum()),
            "n_features": len(self.feature_names),
            "alpha": self.alpha,
            "correction": self.correction,
            "psi_threshold": self.psi_threshold,
            "tests": list(self.tests),
            "features": features,
            "excluded": dict(self.excluded),
        }

    def to_frame(self) -> Any:
        """A pandas DataFrame, one row per feature (needs pandas)."""
        try:
            import pandas as pd  # noqa: PLC0415
        except ImportError as exc:  # pragma: no cover - pandas is in the test extras
            raise ImportError("DriftReport.to_frame needs pandas: pip install pipeward[data]") from exc
        return pd.DataFrame(self.to_dict()["features"]).set_index("feature")

    def __str__(self) -> str:
        head = (f"drift: {'YES' if self.any_drift else 'no'} "
                f"({int(self.drifted.sum())}/{len(self.feature_names)} features; "
                f"alpha={self.alpha}, correction={self.correction}, psi>={self.psi_threshold})")
        lines = [head]
        for r in self.to_dict()["features"]:
            p = "n/a" if r["ks_pvalue_adjusted"] is None else f"{r['ks_pvalue_adjusted']:.3g}"
            v = "n/a" if r["psi"] is None else f"{r['psi']:.4f}"
            mark = "!" if r["drifted"] else " "
            lines.append(f"  {mark} {r['feature']:<24} ks p_adj={p:<10} psi={v}")
        if self.excluded:
            lines.append("  not tested: " + ", ".join(f"{n} ({why})"
                                                      for n, why in self.excluded.items()))
        return "\n".join(lines)
