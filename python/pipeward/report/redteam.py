"""The report's red-team charts, from the ``redteam.*`` records of the audit log: robust
accuracy against the attack budget eps, the membership attack's ROC on a log FPR axis (its
low-FPR end is what matters), and the extraction surrogate's fidelity against queries."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from . import svg

__all__ = ["security_charts"]


def _robustness(rows: Sequence[Mapping[str, Any]]) -> dict[str, tuple[list[float], list[float]]]:
    series: dict[str, list[tuple[float, float]]] = {}
    for r in rows:
        d, attack = r.get("detail") or {}, r["test"].removeprefix("redteam.")
        if attack in ("fgsm", "pgd") and d.get("robust_accuracy") is not None and not d.get("targeted"):
            points = series.setdefault(f"{attack} (L{d.get('norm')})", [])
            if d.get("clean_accuracy") is not None:
                points.append((0.0, float(d["clean_accuracy"])))
            points.append((float(d["eps"]), float(d["robust_accuracy"])))
        elif attack == "hop_skip_jump" and d.get("curve"):
            series.setdefault("hop_skip_jump (L2)", []).extend((float(e), float(a)) for e, a in d["curve"])
    out = {}
    for name, points in series.items():
        points = sorted(dict(points).items())  # one value per eps, in eps order
        if len(points) >= 2:
            out[name] = ([p[0] for p in points], [p[1] for p in points])
    return out


def security_charts(rows: Sequence[Mapping[str, Any]]) -> str:
    """The charts the rows (of :func:`pipeward.report.accountability.security_section`) support."""
    parts = []
    robust = _robustness(rows)
    if robust:
        parts.append(svg.line_chart(None, robust, title="Robust accuracy against the attack budget eps",
                                    x_label="eps", y_label="robust accuracy"))
    roc = {}
    for r in rows:
        d = r.get("detail") or {}
        if r["test"] == "redteam.membership" and d.get("roc"):
            fpr, tpr = (np.asarray(v, dtype=np.float64) for v in d["roc"])
            roc[f"{d.get('method')} (AUC {d.get('auc', float('nan')):.3f})"] = (fpr, tpr)
    if roc:
        smallest = min(float(f[f > 0].min()) for f, _ in roc.values() if np.any(f > 0))
        chance = np.geomspace(smallest, 1.0, 50)
        roc["chance"] = (chance, chance)
        parts.append(svg.line_chart(None, roc, title="Membership inference ROC (log FPR)", log_x=True,
                                    x_label="false-positive rate", y_label="true-positive rate"))
    extraction = {}
    for r in rows:
        d = r.get("detail") or {}
        if r["test"] == "redteam.extraction" and d.get("curve"):
            name = f"#{r.get('seq')} {d.get('strategy')}, {d.get('answers', 'labels')}"
            if d.get("refused"):
                name += f", refused {d['refused']}"
            extraction[name] = ([p[0] for p in d["curve"]], [p[1] for p in d["curve"]])
    if extraction:
        parts.append(svg.line_chart(None, extraction, title="Model extraction: fidelity against queries",
                                    x_label="queries answered", y_label="agreement with the victim"))
    return "".join(parts)
