"""One self-contained HTML page from plain pipeline results.

The page needs nothing but itself: inline CSS, inline SVG charts, no script, and a
Content-Security-Policy that forbids every fetch, so opening it offline shows all of it and a
stray external reference would show up as a blocked request rather than a silent leak.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping, Sequence
from html import escape
from pathlib import Path
from typing import Any

import numpy as np

from . import svg
from .markdown import markdown_to_html

__all__ = ["CSP", "build_report", "write_report"]

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"

_CSS = """
:root { --fg:#1d2430; --muted:#5b6472; --line:#d7dce3; --bar:#5b8def; --alert:#d9534f;
        --mark:#f0a202; --ok:#2e8b57; --bg:#ffffff; --panel:#f6f8fa; --violet:#8e5bd9; }
* { box-sizing: border-box; }
body { margin: 0 auto; max-width: 980px; padding: 24px; color: var(--fg); background: var(--bg);
       font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "DejaVu Sans", sans-serif; }
h1 { font-size: 24px; margin: 0 0 4px; } h2 { font-size: 18px; margin: 32px 0 8px;
     border-bottom: 1px solid var(--line); padding-bottom: 4px; } h3 { font-size: 15px; margin: 18px 0 6px; }
p.lead { color: var(--muted); margin: 0 0 16px; }
table { border-collapse: collapse; margin: 8px 0; }
th, td { text-align: left; padding: 3px 10px 3px 0; vertical-align: top; border-bottom: 1px solid var(--line); }
th { color: var(--muted); font-weight: 600; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
code, .hash { font-family: ui-monospace, "DejaVu Sans Mono", monospace; font-size: 12px; word-break: break-all; }
.badge { display: inline-block; padding: 0 8px; border-radius: 10px; font-size: 12px; font-weight: 600; color: #fff; }
.badge.ok { background: var(--ok); } .badge.fail { background: var(--alert); } .badge.info { background: var(--muted); }
.cards { display: grid; grid-template-columns: repeat(auto-fill, minmax(210px, 1fr)); gap: 10px; }
.card { background: var(--panel); border: 1px solid var(--line); border-radius: 6px; padding: 8px 10px; }
.card .stage { font-weight: 600; } .card .summary { color: var(--muted); font-size: 13px; }
svg.chart { display: block; max-width: 100%; height: auto; margin: 6px 0 12px; font-size: 11px; }
svg.chart text { fill: var(--fg); } svg.chart text.tick { fill: var(--muted); }
svg.chart .grid { stroke: var(--line); stroke-width: 1; }
svg.chart .axis { stroke: var(--fg); stroke-width: 1; }
svg.chart .bar { fill: var(--bar); } svg.chart .bar.alert { fill: var(--alert); } svg.chart .bar.marked { fill: var(--mark); }
svg.chart .bar.g0 { fill: var(--bar); } svg.chart .bar.g1 { fill: var(--mark); }
svg.chart .bar.g2 { fill: var(--alert); } svg.chart .bar.g3 { fill: var(--violet); }
svg.chart .threshold { stroke: var(--alert); stroke-width: 1.5; stroke-dasharray: 5 3; }
svg.chart .line { fill: none; stroke-width: 2; } svg.chart .s0 { stroke: var(--bar); } svg.chart .s1 { stroke: var(--mark); }
svg.chart .s2 { stroke: var(--ok); } svg.chart .s3 { stroke: var(--alert); }
svg.chart .point { fill: var(--alert); }
svg.chart .whisker { stroke: var(--fg); stroke-width: 1.5; fill: none; }
.badge.na { background: var(--mark); }
.src { color: var(--muted); font-size: 12px; }
details { margin: 8px 0; } summary { cursor: pointer; color: var(--muted); }
pre { background: var(--panel); border: 1px solid var(--line); padding: 10px; overflow-x: auto; font-size: 12px; }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
td.time { white-space: nowrap; }
td.detail { overflow-wrap: anywhere; }
.card-md { background: var(--panel); border: 1px solid var(--line); padding: 4px 14px; overflow-wrap: break-word; }
.card-md table { width: 100%; } .card-md td, .card-md th { font-size: 13px; }
.card-md td:first-child, .card-md td:last-child { white-space: nowrap; }
"""


def _num(v: Any, digits: int = 3) -> str:
    if v is None:
        return "n/a"
    if isinstance(v, (bool, np.bool_)):
        return "yes" if v else "no"
    if isinstance(v, (int, np.integer)):
        return f"{int(v):,}"
    f = float(v)
    if f != f:
        return "n/a"
    if f != 0 and (abs(f) < 1e-3 or abs(f) >= 1e6):
        return f"{f:.{digits}g}"
    text = f"{f:.{digits}f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _badge(ok: bool | None, yes: str = "ok", no: str = "failed") -> str:
    if ok is None:
        return '<span class="badge info">n/a</span>'
    return f'<span class="badge {"ok" if ok else "fail"}">{escape(yes if ok else no)}</span>'


def _kv_table(rows: Sequence[tuple[str, str]]) -> str:
    body = "".join(f"<tr><th>{escape(k)}</th><td>{v}</td></tr>" for k, v in rows)
    return f"<table>{body}</table>"


def _table(header: Sequence[str], rows: Sequence[Sequence[str]], numeric: Sequence[int] = ()) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(
            f'<td class="num">{c}</td>' if i in numeric else f"<td>{c}</td>" for i, c in enumerate(r)
        ) + "</tr>"
        for r in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _paths(items: Sequence[str]) -> str:
    return ", ".join(f"<code>{escape(str(p))}</code>" for p in items) or "none"


def _section_checks(checks: Sequence[Mapping[str, Any]]) -> str:
    cards = "".join(
        f'<div class="card"><div class="stage">{escape(str(c["stage"]))} '
        f'{_badge(c.get("ok"), c.get("yes", "ok"), c.get("no", "failed"))}</div>'
        f'<div class="summary">{escape(str(c.get("summary", "")))}</div></div>'
        for c in checks
    )
    return f'<section id="summary"><div class="cards">{cards}</div></section>'


def _section_integrity(d: Mapping[str, Any], number: str) -> str:
    rows = [("files", _num(d.get("files"))), ("bytes", _num(d.get("bytes")))]
    if d.get("root"):
        rows.append(("Merkle root (RFC 6962)", f'<span class="hash">{escape(d["root"])}</span>'))
    if "signature" in d:
        sig = d["signature"]
        rows.append(("Ed25519 signature", _badge(sig == "valid", "valid", str(sig))))
    if d.get("public_key"):
        rows.append(("public key", f'<span class="hash">{escape(d["public_key"])}</span>'))
    parts = [f'<section id="integrity"><h2>{number}Ingestion integrity</h2>',
             "<p>Every file of the dataset is hashed (SHA-256), the digests go into a manifest "
             "whose Merkle root is signed; verification re-hashes the files and names any change.</p>",
             "<h3>Manifest</h3>", _kv_table(rows)]
    entries = d.get("entries") or []
    if entries:
        parts.append(_table(["file", "bytes", "sha256"],
                            [[f"<code>{escape(e['path'])}</code>", _num(e.get("size")),
                              f'<span class="hash">{escape(e.get("sha256", ""))}</span>'] for e in entries],
                            numeric=(1,)))
    t = d.get("tamper")
    if t:
        parts.append("<h3>Verification after tampering</h3>")
        parts.append(_kv_table([
            ("verification", _badge(t.get("ok"), "unchanged", "changes found")),
            ("modified", _paths(t.get("modified", []))),
            ("added", _paths(t.get("added", []))),
            ("removed", _paths(t.get("removed", []))),
            *([("tampered by the demo", _paths(t["tampered"]))] if t.get("tampered") else []),
        ]))
    parts.append("</section>")
    return "".join(parts)


def _section_screen(d: Mapping[str, Any], number: str) -> str:
    chart = ""
    n_rows = d.get("n_rows")
    injected = None
    if d.get("scores") is not None:
        scores = np.asarray(d["scores"], dtype=np.float64)
        n_rows = scores.size
        injected = np.zeros(scores.size, bool)
        if d.get("injected") is not None:
            injected[np.asarray(d["injected"], dtype=np.int64)] = True
        chart = svg.histogram(
            scores, marked=injected if injected.any() else None, cutoff=d.get("cutoff"),
            title="Outlier scores of the training rows",
            value_label=d.get("score_label", "outlier score"),
            marked_label="injected poison", unmarked_label="clean rows",
        )
    rows = [("rows screened", _num(n_rows)), ("quarantined", _num(len(d.get("quarantined", []))))]
    for key, label in (("n_outliers", "flagged as outliers"), ("n_label_suspects", "flagged as label-flip suspects"),
                       ("n_backdoor_suspects", "flagged by spectral signature (backdoor)")):
        if key in d:
            rows.append((label, _num(d[key])))
    if d.get("fdr_note"):
        rows.append(("label false-discovery rate", escape(d["fdr_note"])))
    if d.get("injected") is not None:
        rows.append(("injected poison", _num(len(d["injected"]))))
    for key in ("precision", "recall"):
        if d.get(key) is not None:
            rows.append((key + " vs the injected truth", _num(d[key])))
    for kind, counts in (d.get("per_kind") or {}).items():
        found = f"{_num(counts['found'])} found, {_num(counts['quarantined'])} quarantined"
        if counts.get("trigger features"):
            found += " (trigger: " + escape(", ".join(counts["trigger features"])) + ")"
        rows.append((f"{kind}: planted {_num(counts['planted'])}", found))
    return (f'<section id="screen"><h2>{number}Poisoning screen</h2>'
            "<p>The screen scores every training row by its robust Mahalanobis distance, checks "
            "each label against the class model and the row's neighbours, and looks for a "
            "backdoor's spectral signature; flagged rows are quarantined before training.</p>"
            + chart + _kv_table(rows) + "</section>")


def _section_privacy(d: Mapping[str, Any], number: str) -> str:
    parts = [f'<section id="privacy"><h2>{number}Private training (DP-SGD)</h2>',
             "<p>Per-sample gradients are clipped to norm C and Gaussian noise of standard deviation "
             "&sigma;&middot;C is added to their sum; the RDP accountant turns the steps taken into "
             "(&epsilon;, &delta;).</p>"]
    if d.get("steps") is not None and d.get("epsilon") is not None:
        steps = np.asarray(d["steps"], dtype=np.float64)
        eps = np.asarray(d["epsilon"], dtype=np.float64)
        final = (float(steps[-1]), float(eps[-1])) if steps.size else None
        parts.append(svg.line_chart(
            steps, {f"epsilon at delta={_num(d.get('delta'), 2)}": eps},
            title="Privacy spent: epsilon against training steps", x_label="training steps",
            y_label="epsilon", point=final))
    rows = []
    for key, label in (("accuracy", "test accuracy, DP-SGD"), ("baseline_accuracy", "test accuracy, non-private"),
                       ("epsilon_final", "epsilon"), ("delta", "delta"),
                       ("noise_multiplier", "noise multiplier sigma"), ("max_grad_norm", "clipping norm C"),
                       ("sample_rate", "sample rate q"), ("steps_total", "steps"), ("epochs", "epochs"),
                       ("model", "model")):
        if d.get(key) is not None:
            rows.append((label, escape(str(d[key])) if isinstance(d[key], str) else _num(d[key], 4)))
    parts.append(_kv_table(rows) + "</section>")
    return "".join(parts)


def _section_drift(checks: Sequence[Mapping[str, Any]], guard: Mapping[str, Any] | None,
                   number: str) -> str:
    parts = [f'<section id="drift"><h2>{number}Inference monitoring</h2>',
             "<p>A drift monitor fitted on the training data compares each incoming batch feature by "
             "feature; the input guard scores each incoming row by its Mahalanobis distance to the "
             "training data.</p>"]
    # One scale per statistic across the checks, so a calm and a shifted split compare by eye.
    scale: dict[str, float] = {}
    for c in checks:
        label = c.get("statistic_label", "statistic")
        scale[label] = max(scale.get(label, 0.0), _largest(c["statistic"], c.get("threshold")))
        if c.get("ks") is not None:
            scale["ks"] = max(scale.get("ks", 0.0), _largest(c["ks"], None))
    for c in checks:
        feats = list(c["features"])
        stat = np.asarray(c["statistic"], dtype=np.float64)
        drifted = np.asarray(c.get("drifted", np.zeros(stat.size, bool)), bool)
        names = [f for f, x in zip(feats, drifted) if x]
        label = c.get("statistic_label", "statistic")
        parts.append(f"<h3>{escape(str(c['name']))}: "
                     f"{_badge(not drifted.any(), 'no drift', f'drift in {len(names)} features')}</h3>")
        panels = [svg.BarPanel(stat, label, c.get("threshold"), drifted, x_max=scale[label])]
        if c.get("ks") is not None:
            panels.append(svg.BarPanel(np.asarray(c["ks"], dtype=np.float64),
                                       "KS statistic (largest CDF gap)", None, drifted,
                                       x_max=scale["ks"]))
        what = " and ".join(p.value_label.split(" (")[0] for p in panels)
        parts.append(svg.bar_panels(feats, panels, title=f"{what} per feature: {c['name']} "
                                                         "(red: drifted)",
                                    width=920 if len(panels) > 1 else 640))
        if names:
            parts.append(f"<p>Drifted features: {', '.join(escape(n) for n in names)}</p>")
    if guard:
        parts.append("<h3>Input guard</h3>")
        rows = [[escape(str(r["name"])), _num(r["n"]), _num(r["flagged"]), _pct(r["flagged"] / max(r["n"], 1))]
                for r in guard["rows"]]
        parts.append(_table(["inputs", "rows", "flagged", "rate"], rows, numeric=(1, 2, 3)))
        if guard.get("cutoff") is not None:
            parts.append(f"<p>Cut-off: squared Mahalanobis distance {_num(guard['cutoff'])}"
                         f"{escape(guard.get('cutoff_note', ''))}.</p>")
        if guard.get("scores"):
            parts.append(svg.stacked_histogram(
                _at_most_four(guard["scores"]), cutoff=guard.get("cutoff"),
                title="Input guard scores per batch", value_label="squared Mahalanobis distance",
                count_label="inputs"))
    parts.append("</section>")
    return "".join(parts)


def _largest(values: Any, threshold: float | None) -> float:
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    return max([0.0, float(v.max()) if v.size else 0.0,
                *([float(threshold)] if threshold is not None else [])])


def _pct(rate: float) -> str:
    """A rate as the cards say it: a percentage (0.006 -> 0.6%)."""
    pct = 100 * float(rate)
    return f"{pct:.0f}%" if pct == round(pct) or pct >= 10 else f"{pct:.1f}%"


def _at_most_four(groups: Mapping[str, Any]) -> dict[str, Any]:
    """The guard's batches as histogram groups; past four colours, the rest share the last."""
    items = list(groups.items())
    if len(items) <= 4:
        return dict(items)
    rest = np.concatenate([np.asarray(v, np.float64) for _, v in items[3:]])
    return dict(items[:3]) | {"other batches": rest}


def _section_audit(d: Mapping[str, Any] | None, card: Mapping[str, Any] | None, number: str) -> str:
    parts = [f'<section id="governance"><h2>{number}Governance</h2>']
    if d:
        # A key mismatch or a missing checkpoint is not a broken chain: say which it is.
        chain_ok = d.get("chain_ok", d.get("ok"))
        rows = [("verdict", _badge(d.get("ok"), "verified", "not verified")),
                ("hash chain", _badge(chain_ok, "intact", "broken"))]
        if d.get("signatures") is not None:
            rows.append(("checkpoint signatures",
                         _badge(d["signatures"] == "verified", "verified", "not verified")
                         + ("" if d["signatures"] == "verified" else f" {escape(str(d['signatures']))}")))
        rows.append(("entries", _num(d.get("entries"))))
        if d.get("head"):
            rows.append(("head hash", f'<span class="hash">{escape(str(d["head"]))}</span>'))
        if d.get("path"):
            rows.append(("log", f"<code>{escape(str(d['path']))}</code>"))
        if d.get("problem"):
            rows.append(("problem", escape(str(d["problem"]))))
        parts.append("<h3>Audit log</h3>" + _kv_table(rows))
        events = d.get("events") or []
        if events:
            body = "".join(
                f'<tr><td class="num">{_num(e.get("seq", i))}</td>'
                f'<td class="time">{escape(_time(str(e.get("time", ""))))}</td>'
                f'<td>{escape(str(e.get("event", "")))}</td>'
                f'<td class="detail" title="{escape(str(e.get("full", e.get("detail", ""))))}">'
                f'{escape(str(e.get("detail", "")))}</td></tr>'
                for i, e in enumerate(events))
            parts.append("<table><thead><tr><th>#</th><th>time (UTC)</th><th>event</th>"
                         f"<th>detail (hover for all of it)</th></tr></thead><tbody>{body}</tbody></table>")
    if card:
        parts.append("<h3>Model card</h3>")
        if card.get("path"):
            parts.append(f'<p>Written to <a href="{escape(str(card["path"]))}">'
                         f"{escape(str(card['path']))}</a>, built from the audit log.</p>")
        if card.get("text"):
            parts.append('<details open><summary>model card</summary><div class="card-md">'
                         f"{markdown_to_html(str(card['text']), heading_offset=2)}</div></details>")
    parts.append("</section>")
    return "".join(parts)


def _time(ts: str) -> str:
    """``2026-11-26T01:00:00.123456Z`` as ``2026-11-26 01:00:00`` (the column says UTC)."""
    if len(ts) >= 19 and ts[10] == "T":
        return f"{ts[:10]} {ts[11:19]}"
    return ts


def _section_lineage(d: Mapping[str, Any], number: str) -> str:
    """The signed lineage chain: pipeline.lineage.verify's report (LineageReport.to_dict())."""
    rows = [[escape("model"), "", f'<span class="hash">{escape(str(d.get("model_root", "")))}</span>', ""]]
    for step in d.get("chain") or []:
        inputs = ", ".join(f"{escape(str(n))} <span class=\"hash\">{escape(str(r))[:16]}</span>"
                           for n, r in (step.get("inputs") or {}).items())
        rows.append([f"&larr; step <code>{escape(str(step.get('step')))}</code>",
                     escape(str(step.get("signer"))), inputs or "none",
                     escape(", ".join(f"{k}={v}" for k, v in (step.get("parameters") or {}).items()))])
    for src in d.get("sources") or []:
        rows.append([f"&larr; dataset ({escape(str(src.get('name')))})", escape(str(src.get("signer"))),
                     f'<span class="hash">{escape(str(src.get("root")))}</span>', "signed by a trusted provider"])
    verdict = _badge(d.get("ok"), "chain complete", "chain broken")
    parts = [f'<section id="lineage"><h2>{number}Signed lineage</h2>',
             "<p>Each step is an in-toto Statement v1 in an Ed25519 DSSE envelope; the walk goes "
             "from the model back to datasets signed by trusted providers.</p>",
             _kv_table([("verification", verdict)]
                       + ([("broken at", escape(str(d["broken"])))] if d.get("broken") else [])),
             _table(["", "signed by", "inputs / root", "parameters"], rows)]
    parts.append("</section>")
    return "".join(parts)


def build_report(results: Mapping[str, Any]) -> str:
    """Render pipeline results as one self-contained HTML page.

    ``results`` holds plain data; every section is optional:

    - ``title``, ``meta`` (mapping shown under the title), ``checks`` (list of
      ``{stage, ok, summary}`` cards)
    - ``integrity``: ``files``, ``bytes``, ``root``, ``signature`` ("valid" or a problem),
      ``entries`` (``{path, size, sha256}``), ``tamper`` (``{ok, modified, added, removed}``)
    - ``screen``: ``scores`` (one per row), ``cutoff``, ``quarantined`` and ``injected``
      (row indices), ``precision``, ``recall``, ``fdr_note`` (whether a label fdr= is
      guaranteed, from :func:`pipeward.report.inputs.screen_section`)
    - ``privacy``: ``steps`` and ``epsilon`` (the curve), ``delta``, ``accuracy``,
      ``baseline_accuracy``, ``epsilon_final``, ``noise_multiplier``, ``max_grad_norm``, ...
    - ``drift``: list of ``{name, features, statistic, threshold, drifted, statistic_label}``
    - ``guard``: ``rows`` (``{name, n, flagged}``), ``cutoff``, ``scores`` (name -> scores)
    - ``fairness``, ``explanations``, ``compliance``, ``security``: as
      :func:`pipeward.report.accountability.accountability_sections` builds them from the log
    - ``audit``: ``ok``, ``entries``, ``head``, ``events`` (``{seq, time, event, detail}``)
    - ``model_card``: ``path`` and/or ``text``
    - ``lineage``: ``pipeward.lineage.verify(...).to_dict()`` (the chain from the model back)
    """
    title = str(results.get("title", "pipeward report"))
    meta = dict(results.get("meta") or {})
    meta.setdefault("generated", _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"))
    lead = " &middot; ".join(f"{escape(str(k))}: {escape(str(v))}" for k, v in meta.items())
    body = [f"<h1>{escape(title)}</h1>", f'<p class="lead">{lead}</p>']
    if results.get("checks"):
        body.append(_section_checks(results["checks"]))
    from .html_accountability import accountability_html  # noqa: PLC0415 - it uses this module's helpers

    # Numbered in the order shown, so an absent section leaves no gap.
    sections = [
        ("integrity", lambda n: _section_integrity(results["integrity"], n)),
        ("screen", lambda n: _section_screen(results["screen"], n)),
        ("privacy", lambda n: _section_privacy(results["privacy"], n)),
        (("drift", "guard"), lambda n: _section_drift(results.get("drift") or [],
                                                      results.get("guard"), n)),
        ("lineage", lambda n: _section_lineage(results["lineage"], n)),
        (("fairness", "explanations", "compliance", "security"),
         lambda n: accountability_html(results, n)),
        (("audit", "model_card"), lambda n: _section_audit(results.get("audit"),
                                                           results.get("model_card"), n)),
    ]
    number = 0
    for keys, render in sections:
        if any(results.get(k) for k in ((keys,) if isinstance(keys, str) else keys)):
            number += 1
            body.append(render(f"{number}. "))
    body.append("<footer>Generated by pipeward. This file is self-contained: no script, no network.</footer>")
    return (
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
        f'<meta http-equiv="Content-Security-Policy" content="{CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{escape(title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n"
        + "\n".join(body) + "\n</body>\n</html>\n"
    )


def write_report(results: Mapping[str, Any], path: str | Path) -> Path:
    """Write :func:`build_report` to ``path`` (UTF-8) and return the path."""
    path = Path(path)
    path.write_text(build_report(results), encoding="utf-8")
    return path
