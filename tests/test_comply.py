"""pipeward comply check: every requirement answered pass / fail / not recorded from the log,
naming its evidence; exit codes 0 / 1 / 2."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pipeward as pw
from pipeward.accountability import check_compliance, load_profile, record_explanations, record_fairness
from pipeward.accountability.comply import CHECKS, FAIL, NOT_RECORDED, PASS
from pipeward.audit import kinds
from pipeward.cli import main

MODEL = "clf"


def _pipeline(tmp_path: Path, *, epsilon: float = 1.0, extra=()) -> tuple[Path, bytes, Path]:
    """A log with the facts this session's stages record, plus ``extra`` (action, payload)."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "train.csv").write_text("a,b\n1,2\n")
    private, public = pw.generate_keypair()
    path = tmp_path / "audit.db"
    with pw.AuditLog(path) as log:
        pw.audit.record_model(log, name=MODEL, version="1", intended_use="tests", out_of_scope_use="all else",
                              description="d", model_type="logreg", owners=["me"], license="MIT",
                              limitations=["toy"])
        manifest = pw.Manifest.build(data)
        pw.audit.record_manifest(log, manifest_root=manifest.root, n_files=1, total_bytes=8, dataset="d")
        pw.audit.record_manifest(log, manifest_root=manifest.root, n_files=1, event="verified", ok=True, dataset="d")
        pw.audit.record_screen(log, n_samples=10, n_outliers=0, n_label_suspects=0, quarantined=[], dataset="d")
        pw.audit.record_dp_training(log, noise_multiplier=1.0, sample_rate=0.1, steps=10, epsilon=epsilon,
                                    delta=1e-6, model=MODEL)
        pw.audit.record_evaluation(log, metric="accuracy", value=0.9, model=MODEL)
        pw.audit.record_drift_check(log, verdicts={"a": False}, model=MODEL)
        rng = np.random.default_rng(0)
        y = rng.integers(0, 2, 400)
        fair = pw.fairness.assess(y, y, rng.choice(["u", "v"], 400), n_boot=0)
        record_fairness(log, fair, model=MODEL, limits={"demographic_parity_difference": 0.2})
        X = rng.normal(size=(20, 3))
        expl = pw.explain(lambda Z: Z @ np.ones(3), X, background=X, method="exact")
        record_explanations(log, expl, n_background=20, model=MODEL)
        for action, payload in extra:
            log.append(action, payload, subject=MODEL)
        log.checkpoint(private)
    return path, public, data


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    """``pipeward comply ARGS`` in this process (the console entry point is tested once below)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["comply", *args])
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


def test_the_console_command_runs(tmp_path):
    path, _, _ = _pipeline(tmp_path)
    run = subprocess.run([sys.executable, "-m", "pipeward", "comply", "check", "--profile", "hipaa", str(path)],
                         capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    assert "45 CFR 164.312(b)" in run.stdout and run.stdout.rstrip().endswith("not recorded")


def _verdicts(path: Path, profile="gdpr", **kw) -> dict[str, tuple[str, tuple[int, ...]]]:
    with pw.AuditLog(path, readonly=True) as log:
        report = check_compliance(log, profile, **kw)
    return {r.requirement.id: (r.status, r.verdict.evidence) for r in report.results}


@pytest.mark.parametrize("name", ["gdpr", "ccpa", "hipaa"])
def test_shipped_profiles_cite_their_articles(name):
    profile = load_profile(name)
    assert profile.note and profile.requirements
    for q in profile.requirements:
        assert q.cites and all(c.strip() for c in q.cites), q.id
        assert q.check in CHECKS
    checks = {q.check for q in profile.requirements}
    assert {"audit_verified", "dp_within", "fairness_within", "explanations_available",
            "model_card_complete", "personal_data_protected", "consent_honoured"} <= checks


def test_what_was_not_built_answers_not_recorded_and_the_rest_passes(tmp_path):
    path, public, data = _pipeline(tmp_path)
    v = _verdicts(path, public_key=public, data_dir=data)
    with pw.AuditLog(path, readonly=True) as log:
        seq = {r.action: r.seq for r in log.records()}  # the last record of each action
    assert v["audit-log"][0] == PASS
    assert v["data-integrity"] == (PASS, (1,))  # the "built" manifest the folder re-hashes to
    assert v["differential-privacy"] == (PASS, (seq[kinds.TRAINING_DP],))
    assert v["fairness"] == (PASS, (seq[kinds.FAIRNESS_ASSESSMENT],))
    assert v["explanations"] == (PASS, (seq[kinds.EXPLANATION_GLOBAL],))
    assert v["model-card"] == (PASS, (0,))
    for rid in ("trusted-provider", "personal-data-protected", "consent", "erasure", "lineage",
                "security-testing", "access-control"):
        assert v[rid] == (NOT_RECORDED, ()), rid
    run = _run("check", str(path), "--data", str(data), "--pubkey", str(_key(tmp_path, public)))
    assert run.returncode == 0, run.stderr
    assert "NOT RECORDED  consent" in run.stdout and "Art. 17" in run.stdout
    strict = _run("check", "--strict", str(path))
    assert strict.returncode == 1


def _key(tmp_path: Path, public: bytes) -> Path:
    key = tmp_path / "audit.pub"
    key.write_bytes(public)
    return key


GOOD = [(kinds.DATA_SIGNATURE, {"dataset": "d", "trusted": True, "key_id": "k"}),
        (kinds.DATA_PII_SCAN, {"dataset": "d", "columns": ["email"]}),
        (kinds.DATA_TOKENIZED, {"dataset": "d", "columns": ["email"]}),
        (kinds.DATA_CONSENT, {"dataset": "d", "n_rows": 100, "n_without_consent": 7, "n_excluded": 7}),
        (kinds.DATA_ERASED, {"dataset": "d", "column": "email", "n_subjects": 2, "rows_removed": 3,
                             "models": ["model"]}),
        (kinds.LINEAGE_ATTESTED, {"step": "train"}),
        ("redteam.membership_inference", {"attack": "mia", "metric": "auc", "value": 0.52, "passed": True}),
        (kinds.SERVE_STARTED, {"auth": True})]


def test_facts_from_other_stages_are_read_when_present(tmp_path):
    path, public, _ = _pipeline(tmp_path, extra=GOOD)
    v = _verdicts(path)
    assert all(status == PASS for status, _ in v.values()), v
    with pw.AuditLog(path, readonly=True) as log:
        seqs = {r.action: r.seq for r in log.records()}
    assert v["consent"][1] == (seqs[kinds.DATA_CONSENT],)
    assert v["security-testing"][1] == (seqs["redteam.membership_inference"],)
    assert v["erasure"][1] == (seqs[kinds.DATA_ERASED],)
    assert v["personal-data-protected"][1] == (seqs[kinds.DATA_PII_SCAN], seqs[kinds.DATA_TOKENIZED])


@pytest.mark.parametrize(("rid", "bad"), [
    ("trusted-provider", (kinds.DATA_SIGNATURE, {"dataset": "d", "trusted": False})),
    ("personal-data-protected", (kinds.DATA_PII_SCAN, {"dataset": "d", "columns": ["ssn"]})),
    ("consent", (kinds.DATA_CONSENT, {"n_rows": 10, "n_without_consent": 3, "n_excluded": 1})),
    ("security-testing", ("redteam.evasion", {"attack": "fgsm", "passed": False})),
    ("access-control", (kinds.SERVE_STARTED, {"auth": False})),
])
def test_a_failed_fact_fails_its_requirement_and_the_gate(tmp_path, rid, bad):
    path, _, _ = _pipeline(tmp_path, extra=[bad])
    with pw.AuditLog(path, readonly=True) as log:
        bad_seq = log.head().seq
    assert _verdicts(path)[rid] == (FAIL, (bad_seq,))
    run = _run("check", str(path), "--json")
    assert run.returncode == 1
    out = json.loads(run.stdout)
    assert out["ok"] is False and next(q for q in out["requirements"] if q["id"] == rid)["status"] == FAIL


def test_epsilon_over_the_profile_limit_fails_and_a_copied_profile_sets_its_own(tmp_path):
    path, _, _ = _pipeline(tmp_path, epsilon=5.0)
    assert _verdicts(path, "gdpr")["differential-privacy"][0] == FAIL  # limit 3
    assert _verdicts(path, "ccpa")["differential-privacy"][0] == PASS  # limit 8
    mine = json.loads(_run("profile", "gdpr").stdout)
    next(q for q in mine["requirements"] if q["id"] == "differential-privacy")["params"]["max_epsilon"] = 6
    (tmp_path / "mine.json").write_text(json.dumps(mine))
    assert _run("check", "--profile", str(tmp_path / "mine.json"), str(path)).returncode == 0


def test_changed_data_and_a_tampered_log_fail(tmp_path):
    path, public, data = _pipeline(tmp_path)
    (data / "train.csv").write_text("a,b\n1,3\n")
    assert _verdicts(path, data_dir=data)["data-integrity"][0] == FAIL
    con = sqlite3.connect(path)
    con.execute("DROP TRIGGER records_append_only_u")
    (body,), = con.execute("SELECT body FROM records WHERE seq = 4").fetchall()
    con.execute("UPDATE records SET body = ? WHERE seq = 4", (bytes(body).replace(b"1.0", b"0.1", 1),))
    con.commit()
    con.close()
    status, evidence = _verdicts(path)["audit-log"]
    assert status == FAIL and 4 in evidence
    assert _run("check", str(path)).returncode == 1


def test_a_log_without_a_signed_checkpoint_fails_the_audit_requirement(tmp_path):
    path = tmp_path / "a.db"
    with pw.AuditLog(path) as log:
        pw.audit.record_model(log, name=MODEL, version="1", intended_use="x")
    status, _ = _verdicts(path)["audit-log"]
    assert status == FAIL
    assert _verdicts(path)["model-card"][0] == FAIL  # description, owners ... missing


def test_bad_input_exits_2_with_one_line(tmp_path):
    path, _, _ = _pipeline(tmp_path)
    (tmp_path / "bad.json").write_text(json.dumps({"requirements": [{"id": "x", "title": "x", "check": "vibes"}]}))
    for args in (["check", str(tmp_path / "none.db")],
                 ["check", "--profile", "sox", str(path)],
                 ["check", "--profile", str(tmp_path / "bad.json"), str(path)],
                 ["check", str(path), "--data", str(tmp_path / "nowhere")]):
        run = _run(*args)
        assert run.returncode == 2, args
        assert len(run.stderr.strip().splitlines()) == 1 and "Traceback" not in run.stderr
    assert "unknown check 'vibes'" in _run("check", "--profile", str(tmp_path / "bad.json"), str(path)).stderr


def test_a_consent_column_is_honoured_counted_and_passes_the_check(tmp_path):
    import pandas as pd

    from pipeward.accountability import exclude_without_consent

    path, _, _ = _pipeline(tmp_path)
    table = pd.DataFrame({"x": range(6), "consent": ["yes", "no", "Yes", None, "1", "false"]})
    with pw.AuditLog(path) as log:
        keep, record = exclude_without_consent(table["consent"], log=log, dataset="d", column="consent")
    assert keep.tolist() == [0, 2, 4]
    assert record.payload == {"column": "consent", "dataset": "d", "n_rows": 6, "n_without_consent": 3,
                              "n_excluded": 3}
    assert _verdicts(path)["consent"] == (PASS, (record.seq,))
    with pytest.raises(ValueError, match="yes/no"):
        exclude_without_consent(["yes", "maybe"])
    with pytest.raises(ValueError, match="0 or 1"):
        exclude_without_consent(np.array([0, 2]))


def test_a_rolled_back_log_fails_against_a_saved_checkpoint(tmp_path):
    import shutil

    path, public, _ = _pipeline(tmp_path)
    shutil.copy(path, tmp_path / "old.db")  # the log as it was
    private, public2 = pw.generate_keypair()
    with pw.AuditLog(path) as log:
        log.append("model.evaluation", {"metric": "accuracy", "value": 0.5, "model": MODEL})
        log.checkpoint(private).save(tmp_path / "witness.json")
    assert _run("check", str(path), "--checkpoint", str(tmp_path / "witness.json")).returncode == 0
    run = _run("check", str(tmp_path / "old.db"), "--checkpoint", str(tmp_path / "witness.json"), "--json")
    assert run.returncode == 1
    audit = next(q for q in json.loads(run.stdout)["requirements"] if q["id"] == "audit-log")
    assert audit["status"] == FAIL and "rolled_back" in audit["detail"]


def test_a_manifest_signature_checked_against_the_trust_store(tmp_path):
    from pipeward.accountability import record_signature_check

    path, _, data = _pipeline(tmp_path)
    provider_key, provider_pub = pw.generate_keypair()
    stranger_key, _ = pw.generate_keypair()
    trust = pw.TrustStore()
    trust.add("hospital", provider_pub, roles=["data-provider"])
    good, bad = pw.Manifest.build(data), pw.Manifest.build(data)
    good.sign(provider_key)
    bad.sign(stranger_key)
    with pw.AuditLog(path) as log:
        ok = record_signature_check(log, good, good.verify_signature(trust, role="data-provider"), dataset="d")
    assert ok.payload["trusted"] is True and ok.payload["signer"] == "hospital"
    assert _verdicts(path)["trusted-provider"] == (PASS, (ok.seq,))
    with pw.AuditLog(path) as log:
        no = record_signature_check(log, bad, bad.verify_signature(trust, role="data-provider"), dataset="d")
    status, evidence = _verdicts(path)["trusted-provider"]
    assert status == FAIL and evidence == (no.seq,) and no.payload["reason"]
