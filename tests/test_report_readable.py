"""The report reads right the first time: axis labels, shared scales, KS beside PSI, one colour
per kind of input, audit details kept whole, rates as percentages, the model card as HTML,
section numbers without gaps, and a key mismatch not called a broken chain."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import numpy as np
import pytest
from report_sample import sample_results

import pipeward as pw
from pipeward.audit import AuditLog, record_drift_check, record_model
from pipeward.report import build_report, inputs, svg
from pipeward.report.markdown import markdown_to_html

from audit_helpers import StepClock

SVG_NS = "{http://www.w3.org/2000/svg}"


def _svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, flags=re.S)]


def _chart(page: str, prefix: str) -> ET.Element:
    return next(c for c in _svgs(page) if c.get("aria-label").startswith(prefix))


def _texts(chart: ET.Element, cls: str) -> list[str]:
    return [t.text for t in chart.iter(f"{SVG_NS}text") if t.get("class") == cls]


@pytest.fixture(scope="module")
def page() -> str:
    return build_report(sample_results())


def test_histograms_name_their_count_axis(page):
    for prefix, label in (("Outlier scores", "rows"), ("Input guard scores", "inputs")):
        chart = _chart(page, prefix)
        rotated = [t for t in chart.iter(f"{SVG_NS}text") if "rotate(-90" in (t.get("transform") or "")]
        assert [t.text for t in rotated] == [label]


def test_the_two_psi_charts_share_one_scale(page):
    calm, shifted = (_chart(page, f"PSI per feature: {n}") for n in ("held-out split", "shifted split"))
    # the calm split alone would stop at 0.2 (its threshold); it shares the shifted one's axis
    assert _texts(calm, "tick") == _texts(shifted, "tick")
    assert float(_texts(calm, "tick")[-1]) >= 1.0
    calm_bars = [float(r.get("width")) for r in calm.iter(f"{SVG_NS}rect")]
    shifted_bars = [float(r.get("width")) for r in shifted.iter(f"{SVG_NS}rect")]
    results = sample_results()
    ratio = max(results["drift"][0]["statistic"]) / max(results["drift"][1]["statistic"])
    assert max(calm_bars) / max(shifted_bars) == pytest.approx(ratio, rel=0.02)


def _shifted_b() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    ref = rng.normal(size=(400, 3))
    return ref, ref + np.array([0.0, 1.0, 0.0])


def _assert_psi_and_ks_panels(chart: ET.Element, report) -> None:
    labels = _texts(chart, "axis-label")
    assert labels[0].startswith("PSI") and labels[1].startswith("KS statistic")
    bars = [r for r in chart.iter(f"{SVG_NS}rect")]
    assert len(bars) == 6  # three features, two panels
    psi_widths = np.array([float(r.get("width")) for r in bars[:3]])
    ks_widths = np.array([float(r.get("width")) for r in bars[3:]])
    np.testing.assert_allclose(psi_widths / psi_widths.max(), report.psi / report.psi.max(), atol=0.01)
    np.testing.assert_allclose(ks_widths / ks_widths.max(),
                               report.ks_statistic / report.ks_statistic.max(), atol=0.01)
    assert [("alert" in r.get("class")) for r in bars] == [False, True, False] * 2


def test_drift_charts_show_ks_beside_psi():
    ref, cur = _shifted_b()
    report = pw.DriftMonitor(ref, feature_names=["a", "b", "c"]).check(cur)
    section = inputs.drift_section(report.to_dict(), "today")
    np.testing.assert_allclose(section["ks"], report.ks_statistic)
    np.testing.assert_allclose(section["statistic"], report.psi)
    _assert_psi_and_ks_panels(
        _chart(build_report({"drift": [section]}), "PSI and KS statistic per feature: today"), report)


def _report_from_log(db, out) -> str:
    from pipeward.cli import main

    assert main(["report", "--audit", str(db), "-o", str(out), "-q"]) == 0
    return out.read_text(encoding="utf-8")


def test_the_report_from_an_audit_log_shows_ks_beside_psi(tmp_path):
    """``pipeward report --audit`` drew PSI only: monitor.drift records held no KS statistics."""
    ref, cur = _shifted_b()
    with AuditLog(tmp_path / "a.db", actor="ci", clock=StepClock()) as log:
        report = pw.DriftMonitor(ref, feature_names=["a", "b", "c"]).check(cur, audit=log)
        payload = next(log.records()).payload
    assert list(payload["ks_statistics"]) == ["a", "b", "c"]
    np.testing.assert_allclose(list(payload["ks_statistics"].values()), report.ks_statistic)
    page = _report_from_log(tmp_path / "a.db", tmp_path / "r.html")
    _assert_psi_and_ks_panels(_chart(page, "PSI and KS statistic per feature: drift (audit #0)"), report)


def test_a_ks_only_drift_record_draws_its_ks_statistic(tmp_path):
    ref, cur = _shifted_b()
    with AuditLog(tmp_path / "a.db", actor="ci", clock=StepClock()) as log:
        report = pw.DriftMonitor(ref, feature_names=["a", "b", "c"], tests=("ks",)).check(cur, audit=log)
    page = _report_from_log(tmp_path / "a.db", tmp_path / "r.html")
    chart = _chart(page, "KS statistic per feature: drift (audit #0)")
    widths = np.array([float(r.get("width")) for r in chart.iter(f"{SVG_NS}rect")])
    np.testing.assert_allclose(widths / widths.max(), report.ks_statistic / report.ks_statistic.max(),
                               atol=0.01)


def test_an_old_drift_record_without_ks_still_draws_psi(tmp_path):
    with AuditLog(tmp_path / "a.db", actor="ci", clock=StepClock()) as log:
        # what a monitor and the demo wrote before ks_statistics existed
        record_drift_check(log, verdicts={"a": False, "b": True}, statistics={"a": 0.02, "b": 0.8},
                           pvalues={"a": 0.9, "b": 0.0}, test="ks+psi", dataset="old")
    page = _report_from_log(tmp_path / "a.db", tmp_path / "r.html")
    chart = _chart(page, "PSI per feature: old (audit #0)")
    assert [t for t in _texts(chart, "axis-label") if t.startswith("KS")] == []
    widths = [float(r.get("width")) for r in chart.iter(f"{SVG_NS}rect")]
    assert len(widths) == 2 and widths[1] / widths[0] == pytest.approx(40, rel=0.02)


def test_each_kind_of_input_has_its_own_colour():
    scores = {"held-out": np.full(10, 5.0), "corrupted": np.full(20, 500.0),
              "FGSM": np.full(30, 50.0), "DeepFool": np.full(40, 20.0)}
    page = build_report({"guard": {"rows": [{"name": k, "n": len(v), "flagged": 1}
                                            for k, v in scores.items()],
                                   "cutoff": 30.0, "scores": scores}})
    chart = _chart(page, "Input guard scores")
    counts: dict[str, int] = {}
    for r in chart.iter(f"{SVG_NS}rect"):
        title = r.find(f"{SVG_NS}title")
        if title is not None:
            counts[r.get("class")] = counts.get(r.get("class"), 0) + int(title.text.rsplit(":", 1)[1])
    assert counts == {"bar g0": 10, "bar g1": 20, "bar g2": 30, "bar g3": 40}
    for cls, colour in (("g1", "--mark"), ("g2", "--alert"), ("g3", "--violet")):
        assert f"svg.chart .bar.{cls} {{ fill: var({colour}); }}" in page


def test_rates_are_percentages(page):
    rows = re.findall(r"<tr><td>([^<]+)</td><td class=\"num\">[^<]+</td><td class=\"num\">[^<]+"
                      r"</td><td class=\"num\">([^<]+)</td></tr>", page)
    assert dict(rows) == {"held-out": "3%", "corrupted": "99%"}
    assert "0.006" not in build_report({"guard": {"rows": [{"name": "x", "n": 1000, "flagged": 6}]}})
    assert ">0.6%<" in build_report({"guard": {"rows": [{"name": "x", "n": 1000, "flagged": 6}]}})


def test_audit_details_keep_everything_and_times_do_not_wrap(tmp_path):
    with AuditLog(tmp_path / "a.db", actor="ci", clock=StepClock()) as log:
        record_model(log, name="m", version="1", intended_use="x" * 300)
        section = inputs.audit_section(log)
    event = section["events"][0]
    assert event["detail"].endswith("...") and "x" * 300 in event["full"]
    page = build_report({"audit": section})
    cell = re.search(r'<td class="detail" title="([^"]*)">([^<]*)</td>', page)
    assert cell and "x" * 300 in cell.group(1) and cell.group(2).endswith("...")
    time = re.search(r'<td class="time">([^<]*)</td>', page).group(1)
    assert time == "2026-01-01 00:00:00"
    assert "td.time { white-space: nowrap; }" in page


def test_a_key_mismatch_is_not_a_broken_chain(tmp_path):
    signer, _ = pw.generate_keypair()
    _, other = pw.generate_keypair()
    with AuditLog(tmp_path / "a.db", actor="ci", clock=StepClock()) as log:
        record_model(log, name="m", version="1", intended_use="x")
        log.checkpoint(signer)
        section = inputs.audit_section(log, other)
    assert section["ok"] is False and section["chain_ok"] is True
    assert "not the given key" in section["signatures"]
    page = build_report({"audit": section})
    assert "hash chain</th><td><span class=\"badge ok\">intact" in page
    assert "broken" not in page
    assert "checkpoint signatures</th><td><span class=\"badge fail\">not verified" in page


def test_section_numbers_do_not_skip():
    results = sample_results()
    del results["integrity"], results["privacy"]
    page = build_report(results)
    numbers = [int(n) for n in re.findall(r"<h2>(\d+)\. ", page)]
    assert numbers == list(range(1, len(numbers) + 1)) and len(numbers) == 3
    assert "<h2>1. Poisoning screen</h2>" in page


def test_the_model_card_is_html_not_raw_markdown(page):
    assert "<pre>" not in page  # it was raw Markdown in a <pre>, cut off at the right edge
    text = "# Model card: m\n\n## Model details\n\n| field | value |\n|---|---|\n| name | m |\n"
    card = build_report({"model_card": {"text": text}})
    card = card[card.index('<div class="card-md">'):]
    assert card.startswith('<div class="card-md"><h3>Model card: m</h3>\n<h4>Model details</h4>')
    assert "<th>field</th><th>value</th>" in card and "<td>name</td><td>m</td>" in card


def test_markdown_conversion_is_small_and_safe():
    text = ("# Card <script>alert(1)</script>\n\nBuilt from `log <id>` (**18** records): *verified*.\n"
            "Second line.\n\n| field | value |\n|---|---|\n| name | a \\| b <img src=x> |\n\n"
            "- one\n- two `x`\n")
    html = markdown_to_html(text, heading_offset=2)
    assert html.splitlines() == [
        "<h3>Card &lt;script&gt;alert(1)&lt;/script&gt;</h3>",
        "<p>Built from <code>log &lt;id&gt;</code> (<strong>18</strong> records): <em>verified</em>. "
        "Second line.</p>",
        "<table><thead><tr><th>field</th><th>value</th></tr></thead><tbody><tr><td>name</td>"
        "<td>a | b &lt;img src=x&gt;</td></tr></tbody></table>",
        "<ul><li>one</li><li>two <code>x</code></li></ul>",
    ]
    assert markdown_to_html("2*3*4 and snake_case_name") == "<p>2*3*4 and snake_case_name</p>"
    with pytest.raises(TypeError, match="expects str"):
        markdown_to_html(b"# x")  # type: ignore[arg-type]


def test_legends_wrap_instead_of_leaving_the_chart():
    long = {f"a rather long batch name number {i}": np.arange(1.0, 10.0) for i in range(4)}
    chart = ET.fromstring(svg.stacked_histogram(long, title="t"))
    xs = [float(t.get("x")) for t in chart.iter(f"{SVG_NS}text") if t.get("class") == "tick"]
    assert min(xs) >= 0
    ys = {float(r.get("y")) for r in chart.iter(f"{SVG_NS}rect") if r.find(f"{SVG_NS}title") is None}
    assert len(ys) >= 2  # the swatches sit on more than one line

