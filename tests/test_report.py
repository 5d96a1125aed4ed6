"""The HTML report: self-contained, well-formed, and its charts draw the data they are given."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest
from report_sample import DRIFTED, N_CLEAN, N_POISON, sample_results

from pipeward.report import CSP, build_report, write_report
from pipeward.report import svg

SVG_NS = "{http://www.w3.org/2000/svg}"


class _Collect(HTMLParser):
    """Every start tag with its attributes, and whether tags balance."""

    VOID = {"meta", "br", "img", "input", "link", "hr", "rect", "line", "polyline", "circle"}

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.stack: list[str] = []
        self.unbalanced: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag in self.VOID and (not self.stack or self.stack[-1] != tag):
            return
        if not self.stack or self.stack[-1] != tag:
            self.unbalanced.append(tag)
        else:
            self.stack.pop()


@pytest.fixture(scope="module")
def page() -> str:
    return build_report(sample_results())


def _svgs(page: str) -> list[ET.Element]:
    return [ET.fromstring(m) for m in re.findall(r"<svg\b.*?</svg>", page, flags=re.S)]


def test_page_is_well_formed_html(page):
    p = _Collect()
    p.feed(page)
    p.close()
    assert page.startswith("<!DOCTYPE html>")
    assert p.unbalanced == [] and p.stack == []
    assert [t for t, _ in p.tags].count("title") >= 1


def test_page_needs_nothing_outside_itself(page):
    p = _Collect()
    p.feed(page)
    tags = [t for t, _ in p.tags]
    assert "script" not in tags and "link" not in tags and "iframe" not in tags
    csp = [a for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert len(csp) == 1 and csp[0]["content"] == CSP
    assert "default-src 'none'" in CSP
    for tag, attrs in p.tags:
        for key in ("src", "href", "action", "xlink:href"):
            value = attrs.get(key)
            if value is not None:
                assert not re.match(r"^[a-z][a-z0-9+.-]*:|^//", value), (tag, key, value)
    # The only URL is the SVG namespace name, which nothing fetches.
    urls = set(re.findall(r"https?://[^\s\"'<>)]+", page))
    assert urls == {"http://www.w3.org/2000/svg"}
    assert "url(" not in page and "@import" not in page


def test_every_chart_is_valid_svg_with_a_title(page):
    charts = _svgs(page)
    # screen histogram, epsilon curve, two drift bar charts, guard histogram
    assert len(charts) == 5
    for chart in charts:
        assert chart.get("role") == "img" and chart.get("aria-label")
        assert chart.find(f"{SVG_NS}title") is not None


def test_drift_bars_one_per_feature_and_drifted_in_alert_colour(page):
    results = sample_results()
    drift_charts = [c for c in _svgs(page) if "per feature" in c.get("aria-label")]
    assert len(drift_charts) == 2
    for chart, check in zip(drift_charts, results["drift"]):
        bars = [r for r in chart.iter(f"{SVG_NS}rect") if "bar" in r.get("class", "")]
        assert len(bars) == len(check["features"])
        alert = {r.find(f"{SVG_NS}title").text.split(":")[0] for r in bars if "alert" in r.get("class")}
        assert alert == {f for f, d in zip(check["features"], check["drifted"]) if d}
        thresholds = [ln for ln in chart.iter(f"{SVG_NS}line") if ln.get("class") == "threshold"]
        assert len(thresholds) == 1
    assert alert == set(DRIFTED)
    # bar lengths are proportional to the statistic
    bars = [r for r in drift_charts[1].iter(f"{SVG_NS}rect") if "bar" in r.get("class", "")]
    widths = np.array([float(r.get("width")) for r in bars])
    stat = np.asarray(results["drift"][1]["statistic"])
    np.testing.assert_allclose(widths / widths.max(), stat / stat.max(), atol=0.01)


def test_histogram_counts_every_row_and_marks_the_poison(page):
    chart = next(c for c in _svgs(page) if c.get("aria-label").startswith("Outlier scores"))
    counts = {"bar g0": 0, "bar g1": 0}
    for r in chart.iter(f"{SVG_NS}rect"):
        title = r.find(f"{SVG_NS}title")
        if title is not None:
            counts[r.get("class")] += int(title.text.rsplit(":", 1)[1])
    assert counts == {"bar g0": N_CLEAN, "bar g1": N_POISON}
    cut = [ln for ln in chart.iter(f"{SVG_NS}line") if ln.get("class") == "threshold"]
    assert len(cut) == 1 and "70" in cut[0].find(f"{SVG_NS}title").text


def test_epsilon_curve_passes_through_its_points():
    steps = np.array([0, 50, 100, 150, 200])
    eps = np.array([0.0, 1.0, 1.5, 1.8, 2.0])
    chart = ET.fromstring(svg.line_chart(steps, {"eps": eps}, title="t", point=(200, 2.0)))
    line = next(chart.iter(f"{SVG_NS}polyline"))
    pts = np.array([[float(v) for v in p.split(",")] for p in line.get("points").split()])
    assert len(pts) == 5
    # x increases with steps, y (screen coordinates) decreases as epsilon grows
    assert np.all(np.diff(pts[:, 0]) > 0) and np.all(np.diff(pts[:, 1]) < 0)
    slope = np.diff(pts[:, 1]) / np.diff(eps)
    np.testing.assert_allclose(slope, slope[0], rtol=1e-2)


def test_text_is_escaped(page):
    assert "sample &lt;report&gt; &amp; co" in page
    assert "<b>not bold</b>" not in page and "&lt;b&gt;not bold&lt;/b&gt;" in page


def test_sections_are_optional():
    page = build_report({"audit": {"ok": False, "entries": 3, "problem": "hash mismatch at #2"}})
    assert "broken" in page and "hash mismatch at #2" in page
    assert "<svg" not in page
    assert "Poisoning screen" not in page


def test_write_report(tmp_path):
    path = write_report(sample_results(), tmp_path / "r.html")
    assert path.read_text(encoding="utf-8") .count("<svg") == 5


def test_nan_statistics_are_gaps_not_zeros():
    chart = ET.fromstring(svg.bar_chart(["a", "b"], [0.5, np.nan], title="t", threshold=0.2))
    bars = [r for r in chart.iter(f"{SVG_NS}rect")]
    assert len(bars) == 1
    assert any(t.text == "n/a" for t in chart.iter(f"{SVG_NS}text"))


@pytest.mark.parametrize("lo,hi", [(0, 1), (0, 0.37), (3.2, 977.0), (-5, 5), (0, 1e-4), (2, 2)])
def test_nice_ticks_cover_the_range_in_round_steps(lo, hi):
    ticks = svg.nice_ticks(lo, hi)
    assert ticks[0] <= lo and ticks[-1] >= hi
    steps = np.diff(ticks)
    np.testing.assert_allclose(steps, steps[0], rtol=1e-9)
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert any(np.isclose(mantissa, m) for m in (1, 2, 2.5, 5))
    assert 2 <= len(ticks) <= 12


def test_chart_input_errors_say_what_is_wrong():
    with pytest.raises(ValueError, match="2 labels for 3 values"):
        svg.bar_chart(["a", "b"], [1, 2, 3], title="t")
    with pytest.raises(ValueError, match="marked has shape"):
        svg.histogram([1.0, 2.0], marked=[True], title="t")
    with pytest.raises(ValueError, match="at least one finite value"):
        svg.histogram([np.nan], title="t")
    with pytest.raises(ValueError, match="series 'e' has 2 values for 3 x values"):
        svg.line_chart([1, 2, 3], {"e": [1, 2]}, title="t")
    with pytest.raises(ValueError, match="finite"):
        svg.nice_ticks(0, np.inf)
