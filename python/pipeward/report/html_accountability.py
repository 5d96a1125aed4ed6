"""The report's accountability section: fairness, explanations, compliance, security testing.

Every number is shown with the audit record it came from (``#seq``), as the model card does.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from html import escape
from typing import Any

from . import svg
from .html import _badge, _num, _table
from .redteam import security_charts

__all__ = ["accountability_html"]

_STATUS = {"pass": "ok", "fail": "fail", "not recorded": "na"}


def _src(seq: Any) -> str:
    return f'<span class="src">audit record #{escape(str(seq))}</span>' if seq is not None else ""


def _interval(value: Any) -> tuple[float, float] | None:
    if isinstance(value, (list, tuple)) and len(value) == 2 and all(isinstance(v, (int, float)) for v in value):
        return float(value[0]), float(value[1])
    return None


def _with_interval(value: Any, interval: Any) -> str:
    text = _num(value)
    if isinstance(interval, (list, tuple)) and len(interval) == 2 and None not in interval:
        text += f' <span class="src">[{_num(interval[0])}, {_num(interval[1])}]</span>'
    return text


def _fairness(d: Mapping[str, Any]) -> str:
    groups = d.get("groups") or []
    boot = d.get("bootstrap") or {}
    level = f"{boot.get('confidence', 0.95):.0%}" if boot else ""
    parts = [f"<h3>Fairness across groups of {escape(', '.join(d.get('sensitive_features', [])))}</h3>",
             f"<p>{_src(d.get('seq'))}; {_num(d.get('n_rows'))} rows"
             + (f"; intervals: {level} bootstrap percentiles over {_num(boot.get('n_boot'))} resamples"
                if boot else "") + ".</p>"]
    if d.get("note"):
        parts.append(f"<p><strong>Note:</strong> {escape(str(d['note']))}</p>")
    if groups:
        parts.append(svg.bar_chart(
            [g["label"] for g in groups],
            [float("nan") if g.get("selection_rate") is None else g["selection_rate"] for g in groups],
            intervals=[_interval(g.get("selection_rate_interval")) for g in groups],
            title="Selection rate per group, with its bootstrap interval",
            value_label="selection rate (share predicted positive)"))
        parts.append(_table(
            ["group", "rows", "selection rate", "true positive rate", "false positive rate", "accuracy"],
            [[escape(g["label"]), _num(g.get("count"))]
             + [_with_interval(g.get(k), g.get(k + "_interval")) for k in
                ("selection_rate", "true_positive_rate", "false_positive_rate", "accuracy")]
             for g in groups], numeric=(1, 2, 3, 4, 5)))
    rows = [[escape(x["name"].replace("_", " ")), _with_interval(x.get("value"), x.get("interval")),
             _num(x.get("limit")) if x.get("limit") is not None else "",
             _badge(x.get("ok"), "within", "over the limit") if x.get("limit") is not None else ""]
            for x in d.get("disparities", [])]
    if rows:
        parts.append(_table(["disparity", "value [interval]", "limit", ""], rows, numeric=(1, 2)))
    return "".join(parts)


def _explanations(d: Mapping[str, Any]) -> str:
    importance = d.get("importance") or {}
    parts = ["<h3>Explanations</h3>",
             f"<p>{_src(d.get('seq'))}: {escape(str(d.get('method')))} Shapley values of the model's "
             f"{escape(str(d.get('output', '')).replace('_', '-'))} over {_num(d.get('n_rows'))} rows against "
             f"{_num(d.get('n_background'))} background rows; each feature's mean |contribution|.</p>"]
    if importance:
        parts.append(svg.bar_chart(list(importance), list(importance.values()),
                                   title="Global importance: mean |Shapley value| per feature",
                                   value_label=f"mean |Shapley value| ({str(d.get('output', '')).replace('_', '-')})"))
    spurious = d.get("spurious")
    if spurious is not None:
        named = sorted(set(spurious.get("collapsed", [])) | set(spurious.get("flipped", [])))
        verdict = (f"importance collapses or flips on held-out data for: {', '.join(map(escape, named))}"
                   if named else "no feature's importance collapses or flips between the training "
                                 "and held-out data")
        parts.append(f"<p>Spurious-correlation check (permutation importance, training vs held-out): "
                     f"{_badge(not named, 'none found', f'{len(named)} suspect')} {verdict}.</p>")
    return "".join(parts)


def _compliance(d: Mapping[str, Any]) -> str:
    counts = d.get("counts") or {}
    parts = [f"<h3>Compliance: {escape(str(d.get('title')))}</h3>",
             f"<p>{_src(d.get('seq'))}: {', '.join(f'{_num(v)} {escape(k)}' for k, v in counts.items())}. "
             "'not recorded' means the log holds no evidence either way.</p>"]
    rows = []
    for q in d.get("requirements", []):
        status = str(q.get("status"))
        evidence = ", ".join(f"#{s}" for s in q.get("evidence", [])[:8])
        rows.append([f'<span class="badge {_STATUS.get(status, "info")}">{escape(status)}</span>',
                     escape(str(q.get("title", q.get("id")))), escape(str(q.get("detail", ""))),
                     escape(evidence), escape("; ".join(q.get("cites", [])))])
    parts.append(_table(["status", "requirement", "finding", "evidence", "cites"], rows))
    return "".join(parts)


def _security(rows: Sequence[Mapping[str, Any]]) -> str:
    body = [[_src(r.get("seq")), escape(str(r.get("attack") or r.get("test"))), escape(str(r.get("metric", ""))),
             _num(r.get("value")), _num(r.get("threshold")),
             _badge(r.get("passed"), "passed", "failed")] for r in rows]
    return ("<h3>Security testing</h3><p>Results of the red-team records in the audit log.</p>"
            + _table(["record", "attack", "metric", "value", "threshold", ""], body, numeric=(3, 4))
            + security_charts(rows))


def accountability_html(results: Mapping[str, Any], number: str = "") -> str:
    """The section's HTML, headed ``{number}Accountability`` (empty when ``results`` holds none
    of its parts)."""
    renderers = (("fairness", _fairness), ("explanations", _explanations), ("compliance", _compliance),
                 ("security", _security))
    parts = [render(results[key]) for key, render in renderers if results.get(key)]
    if not parts:
        return ""
    return (f'<section id="accountability"><h2>{escape(number)}Accountability</h2>' + "".join(parts)
            + "</section>")
