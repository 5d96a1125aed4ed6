"""record_* helpers and the model card read back from them: every value traced, nothing invented."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest

import pipeward as pw
from pipeward.audit import (
    AuditLog,
    ModelCard,
    indices_digest,
    record_dp_training,
    record_drift_check,
    record_evaluation,
    record_manifest,
    record_model,
    record_screen,
)

from audit_helpers import StepClock, keypair, rows, tamper

ROOT = "ab" * 32


@pytest.fixture
def log(tmp_path):
    with AuditLog(tmp_path / "audit.db", actor="ci", clock=StepClock()) as lg:
        yield lg


def fill(log):
    recs = {
        "model": record_model(log, name="churn", version="2.1", intended_use="rank churn risk",
                              owners=["ml-team"], limitations=["not calibrated for new markets"]),
        "manifest": record_manifest(log, manifest_root=ROOT, n_files=12, total_bytes=4096,
                                    dataset="customers-2026"),
        "screen": record_screen(log, n_samples=1000, n_outliers=7, n_label_suspects=3,
                                quarantined=[17, 3, 999], dataset="customers-2026"),
        "dp": record_dp_training(log, noise_multiplier=1.1, sample_rate=0.01, steps=5000,
                                 epsilon=2.5, delta=1e-5, max_grad_norm=1.0, model="churn"),
        "acc": record_evaluation(log, metric="accuracy", value=0.91, split="test", model="churn"),
        "auc": record_evaluation(log, metric="auc", value=np.float64(0.95), model="churn"),
        "drift": record_drift_check(log, verdicts={"age": False, "income": np.bool_(True)},
                                    pvalues={"age": 0.4, "income": 1e-6}, alpha=0.05, model="churn"),
        "other": record_evaluation(log, metric="accuracy", value=0.5, model="someone-else"),
    }
    return recs


def test_helpers_write_the_documented_payloads(log):
    recs = fill(log)
    assert recs["model"].action == "model.registered" and recs["model"].subject == "churn"
    assert recs["dp"].payload == {"noise_multiplier": 1.1, "sample_rate": 0.01, "steps": 5000,
                                  "epsilon": 2.5, "delta": 1e-5, "max_grad_norm": 1.0,
                                  "accountant": "rdp", "model": "churn"}
    assert recs["screen"].payload["quarantined_digest"] == hashlib.sha256(b"[3,17,999]").hexdigest()
    assert recs["screen"].payload["n_quarantined"] == 3
    assert indices_digest([999, 3, 17]) == recs["screen"].payload["quarantined_digest"]
    assert recs["drift"].payload["drifted"] == ["income"] and recs["drift"].payload["n_drifted"] == 1
    assert recs["auc"].payload["value"] == 0.95 and type(recs["auc"].payload["value"]) is float
    assert "dataset" not in recs["acc"].payload  # optional fields are left out, not guessed
    assert log.verify().ok


@pytest.mark.parametrize("call, error, match", [
    (lambda lg: record_dp_training(lg, noise_multiplier=1, sample_rate=0, steps=1, epsilon=1, delta=0),
     ValueError, "sample_rate"),
    (lambda lg: record_dp_training(lg, noise_multiplier=1, sample_rate=0.1, steps=1.5, epsilon=1, delta=0),
     TypeError, "steps"),
    (lambda lg: record_dp_training(lg, noise_multiplier=1, sample_rate=0.1, steps=1, epsilon=float("inf"),
                                   delta=0), ValueError, "finite"),
    (lambda lg: record_dp_training(lg, noise_multiplier=1, sample_rate=0.1, steps=1, epsilon=1, delta=1),
     ValueError, "delta"),
    (lambda lg: record_manifest(lg, manifest_root="xyz", n_files=1), ValueError, "64 hex"),
    (lambda lg: record_manifest(lg, manifest_root=ROOT, n_files=1, event="verified"), ValueError, "ok"),
    (lambda lg: record_screen(lg, n_samples=5, n_outliers=0, n_label_suspects=0, quarantined=[5]),
     ValueError, "< n_samples"),
    (lambda lg: record_drift_check(lg, verdicts={"a": 1}), TypeError, "bool"),
    (lambda lg: record_drift_check(lg, verdicts={"a": True}, pvalues={"b": 0.1}), ValueError, "same features"),
    (lambda lg: record_drift_check(lg, verdicts={"a": True}, ks_statistics={"a": 0.1, "b": 0.2}),
     ValueError, "ks_statistics: expected the same features"),
    (lambda lg: record_drift_check(lg, verdicts={"a": True}, ks_statistics={"a": "0.1"}), TypeError, "real number"),
    (lambda lg: record_evaluation(lg, metric="", value=1), ValueError, "non-empty"),
    (lambda lg: record_evaluation(lg, metric="acc", value=True), TypeError, "real number"),
    (lambda lg: record_model(lg, name="m", version="1", intended_use="x", owners="me"), TypeError, "list of str"),
    (lambda lg: record_model("not a log", name="m", version="1", intended_use="x"), TypeError, "AuditLog"),
])
def test_helpers_refuse_bad_values(log, call, error, match):
    with pytest.raises(error, match=match):
        call(log)
    assert len(log) == 0


def test_card_links_every_fact_to_its_record(log):
    recs = fill(log)
    card = ModelCard.from_audit(log, "churn")
    s = card.sections
    assert s["model_details"]["version"].value == "2.1"
    assert s["model_details"]["version"].hash == recs["model"].hash
    assert s["privacy"]["epsilon"].value == 2.5 and s["privacy"]["epsilon"].seq == recs["dp"].seq
    assert [f.value["metric"] for f in s["evaluation"]["metrics"]] == ["accuracy", "auc"]  # not someone-else
    assert s["training_data"]["manifests"][0].value["root"] == ROOT
    assert s["training_data"]["screens"][0].hash == recs["screen"].hash
    assert s["evaluation"]["drift"].value["drifted"] == ["income"]
    assert s["limitations"]["stated"].value == ["not calibrated for new markets"]
    # every fact's hash is a real record hash, at the seq it names
    by_seq = {r.seq: r.hash for r in log.records()}
    for fields in s.values():
        for entry in fields.values():
            for fact in entry if isinstance(entry, list) else [entry]:
                if not fact.missing:
                    assert by_seq[fact.seq] == fact.hash


def test_missing_facts_are_marked_not_invented(log):
    record_model(log, name="bare", version="0.1", intended_use="demo")
    card = ModelCard.from_audit(log)  # the model registered last
    assert card.model_name == "bare"
    missing = set(card.missing_fields())
    assert {"privacy.epsilon", "privacy.delta", "evaluation.metrics", "training_data.manifests",
            "model_details.license", "intended_use.out_of_scope_use", "limitations.stated"} <= missing
    assert "model_details.version" not in missing
    d = card.to_dict()
    assert d["sections"]["privacy"]["epsilon"] == {"value": None, "missing": True}
    md = card.to_markdown()
    assert "| epsilon | *missing: not in the audit log* | |" in md
    assert "0.91" not in md


def test_unknown_model_gives_an_all_missing_card(log):
    fill(log)
    card = ModelCard.from_audit(log, "never-registered")
    assert card.sections["model_details"]["name"].missing
    assert card.sections["model_details"]["version"].missing


def test_no_registered_model_needs_a_name(log):
    with pytest.raises(ValueError, match="registers no model"):
        ModelCard.from_audit(log)


def test_markdown_and_json_render(log):
    recs = fill(log)
    private, public = keypair()
    log.checkpoint(private)
    card = ModelCard.from_audit(log, "churn", public_key=public)
    md = card.to_markdown()
    for title in ("Model details", "Intended use", "Training data", "Evaluation", "Privacy", "Limitations"):
        assert f"## {title}" in md
    assert f"#{recs['dp'].seq} `{recs['dp'].hash[:12]}`" in md
    assert ": verified." in md and "1/1 signed checkpoints verified" in md
    d = json.loads(card.to_json())
    assert d["sections"]["privacy"]["epsilon"]["source"] == {"seq": recs["dp"].seq, "hash": recs["dp"].hash}
    assert d["audit"]["ok"] is True


def test_card_from_a_tampered_log_says_so(log, tmp_path):
    recs = fill(log)
    body = rows(log.path)[recs["dp"].seq][1].replace(b'"epsilon":2.5', b'"epsilon":0.5')
    tamper(log.path, f"UPDATE records SET body = ? WHERE seq = {recs['dp'].seq}", params=(body,))
    card = ModelCard.from_audit(log, "churn")
    assert card.audit["ok"] is False
    assert "FAILED VERIFICATION" in card.to_markdown()


def test_top_level_names():
    assert pw.AuditLog is AuditLog and pw.ModelCard is ModelCard
    assert pw.audit.record_dp_training is record_dp_training
    assert isinstance(pw.AuditReport(0).ok, bool)
