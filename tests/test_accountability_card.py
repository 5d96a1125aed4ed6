"""The model card's and the report's accountability sections, read from the audit log."""

from __future__ import annotations

import numpy as np

import pipeward as pw
from pipeward.accountability import check_compliance, record_compliance, record_decision
from pipeward.audit import kinds
from pipeward.report import build_report
from pipeward.report.accountability import accountability_sections
from test_comply import GOOD, MODEL, _pipeline


def test_card_sections_name_their_records(tmp_path):
    path, public, _ = _pipeline(tmp_path, extra=GOOD)
    with pw.AuditLog(path) as log:
        record_compliance(log, check_compliance(log, "hipaa"), model=MODEL)
        card = pw.ModelCard.from_audit(log, MODEL)
        seqs = {r.action: r.seq for r in log.records()}
    f = card.sections["fairness"]
    assert f["sensitive_features"].value == ["sensitive_feature_0"]
    assert f["sensitive_features"].seq == seqs[kinds.FAIRNESS_ASSESSMENT]
    assert [g.value["group"] for g in f["groups"]] == [{"sensitive_feature_0": "u"}, {"sensitive_feature_0": "v"}]
    assert f["within_limits"].value == {"demographic_parity_difference": True}
    assert f["disparities"].value["equalized_odds_difference"] == 0.0  # y_pred == y_true
    e = card.sections["explanations"]
    importance = list(e["global_importance"].value.values())
    assert importance == sorted(importance, reverse=True)
    assert e["global_importance"].seq == seqs[kinds.EXPLANATION_GLOBAL]
    c = card.sections["compliance"]
    assert c["profile"].seq == seqs[kinds.COMPLIANCE_CHECK]
    assert {q.value["id"] for q in c["requirements"]} >= {"audit-log", "fairness", "phi-protected"}
    sec = card.sections["security_testing"]["results"]
    assert [s.seq for s in sec] == [seqs["redteam.membership_inference"]]
    md = card.to_markdown()
    assert "## Fairness" in md and "## Security testing" in md and "redteam.membership_inference" in md


def test_sections_absent_from_the_log_are_marked_missing(tmp_path):
    path = tmp_path / "a.db"
    with pw.AuditLog(path) as log:
        pw.audit.record_model(log, name=MODEL, version="1", intended_use="x")
        card = pw.ModelCard.from_audit(log)
    missing = set(card.missing_fields())
    assert {"fairness.groups", "fairness.disparities", "explanations.global_importance",
            "compliance.requirements", "security_testing.results"} <= missing


def test_report_sections_from_the_log(tmp_path):
    path, _, _ = _pipeline(tmp_path, extra=GOOD)
    with pw.AuditLog(path) as log:
        rng = np.random.default_rng(1)
        X = rng.normal(size=(10, 3))
        record_decision(log, pw.explain(lambda Z: Z @ np.arange(3.0), X, background=X), 2, model=MODEL)
        record_compliance(log, check_compliance(log, "gdpr"), model=MODEL)
        sections = accountability_sections(list(log.records()))
        seqs = {r.action: r.seq for r in log.records()}
    assert set(sections) == {"fairness", "explanations", "compliance", "security"}
    assert sections["fairness"]["seq"] == seqs[kinds.FAIRNESS_ASSESSMENT]
    page = build_report(sections)
    assert page.count("<svg") == 2 and 'class="whisker"' not in page  # no bootstrap in that record
    assert f"audit record #{seqs[kinds.COMPLIANCE_CHECK]}" in page and "Art. 32(1)(d)" in page
    assert "Security testing" in page and "mia" in page
