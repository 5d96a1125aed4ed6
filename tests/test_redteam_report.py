"""Red-team records in the model card's "Security testing" section and in the HTML report's
charts (robust accuracy against eps, membership ROC on a log FPR axis, extraction fidelity)."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import pipeward as pw
from pipeward.report import build_report
from pipeward.report.accountability import accountability_sections

SVG_NS = "{http://www.w3.org/2000/svg}"
MODEL = "bc-logreg"


@pytest.fixture(scope="module")
def attacked(tmp_path_factory):
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    member = np.random.default_rng(0).random(len(X)) < 0.5
    model = LogisticRegression(C=10.0, max_iter=2000).fit(X[member], y[member])
    path = tmp_path_factory.mktemp("rt") / "audit.db"
    log = pw.AuditLog(path)
    pw.audit.record_model(log, name=MODEL, version="1", intended_use="tests")
    results = [pw.redteam.pgd(model, X, y, eps, eps / 4, 10) for eps in (0.05, 0.1, 0.2)]
    results.append(pw.redteam.membership_inference(model, X, y, member, method="loss"))
    results.append(pw.redteam.extract(model.predict, X, budget=200, X_eval=X, y_eval=y, seed=0))
    rows = np.r_[np.flatnonzero(y == 0)[:2], np.flatnonzero(y == 1)[:2]]  # each finds the other class
    results.append(pw.redteam.hop_skip_jump(model.predict, X[rows], y[rows], max_iter=3, init_evals=20, seed=0))
    records = [r.record(log, subject=MODEL, model=MODEL) for r in results]
    log.close()
    return pw.AuditLog(path), results, records


def test_card_shows_each_attack_with_its_headline_numbers(attacked):
    log, results, records = attacked
    card = pw.ModelCard.from_audit(log, MODEL)
    rows = card.sections["security_testing"]["results"]
    assert [f.seq for f in rows] == [r.seq for r in records]
    assert rows[1].value["robust_accuracy"] == results[1].robust_accuracy and rows[1].value["eps"] == 0.1
    assert rows[3].value["auc"] == results[3].auc and "roc" not in rows[3].value  # headline only
    assert rows[4].value["fidelity"] == results[4].fidelity
    md = card.to_markdown()
    section = md.split("## Security testing")[1]
    assert f"auc: {results[3].auc}" in section and f"#{records[4].seq} `{records[4].hash[:12]}`" in section
    assert "security_testing.results" not in card.missing_fields()


def _charts(html):
    return {c.get("aria-label"): c for c in (ET.fromstring(part[:part.index("</svg>") + 6])
                                             for part in ("<svg" + p for p in html.split("<svg")[1:]))}


def test_report_draws_the_three_charts(attacked):
    log, results, _ = attacked
    html = build_report(accountability_sections(list(log.records())))
    charts = _charts(html)
    robust = charts["Robust accuracy against the attack budget eps"]
    lines = {ln.find(f"{SVG_NS}title").text: ln for ln in robust.iter(f"{SVG_NS}polyline")}
    assert set(lines) == {"pgd (Linf)", "hop_skip_jump (L2)"}
    pts = np.array([[float(v) for v in p.split(",")] for p in lines["pgd (Linf)"].get("points").split()])
    assert len(pts) == 4  # clean accuracy at eps 0, then the three budgets
    assert np.all(np.diff(pts[:, 0]) > 0) and np.all(np.diff(pts[:, 1]) >= 0)  # accuracy falls with eps
    roc = charts["Membership inference ROC (log FPR)"]
    ticks = [t.text for t in roc.iter(f"{SVG_NS}text") if t.get("class") == "tick"]
    assert "0.001" in ticks or "1.0e-03" in ticks or "0.01" in ticks
    chance = next(ln for ln in roc.iter(f"{SVG_NS}polyline") if ln.find(f"{SVG_NS}title").text == "chance")
    xy = np.array([[float(v) for v in p.split(",")] for p in chance.get("points").split()])
    # geometric FPR steps land at equal distances on a log axis
    np.testing.assert_allclose(np.diff(xy[:, 0]), np.diff(xy[:, 0])[0], atol=0.15)
    ext = charts["Model extraction: fidelity against queries"]
    (line,) = list(ext.iter(f"{SVG_NS}polyline"))
    assert len(line.get("points").split()) == len(results[4].curve)


def test_policy_checks_are_rows_with_a_verdict(attacked, tmp_path):
    log = pw.AuditLog(tmp_path / "a.db")
    pw.audit.record_model(log, name=MODEL, version="1", intended_use="tests")
    log.append("redteam.attack", {"attack": "pgd", "metric": "robust_accuracy", "value": 0.4,
                                  "threshold": 0.5, "passed": False, "model": MODEL})
    sections = accountability_sections(list(log.records()))
    assert sections["security"][0]["passed"] is False and sections["security"][0]["threshold"] == 0.5
    card = pw.ModelCard.from_audit(log, MODEL)
    assert card.sections["security_testing"]["results"][0].value == {
        "test": "redteam.attack", "attack": "pgd", "metric": "robust_accuracy", "value": 0.4,
        "threshold": 0.5, "passed": False}
    assert "failed" in build_report(sections)
