"""The record kinds of pipeward.audit.kinds written by the stages themselves (PII scan,
tokenization, encryption, erasure, red team), read back by `pipeward comply check`: each
requirement answers pass or fail from them instead of "not recorded"."""

from __future__ import annotations

import json

import numpy as np
import pytest

import pipeward as pw
from pipeward.accountability import check_compliance
from pipeward.audit import kinds

pd = pytest.importorskip("pandas")

KEY = bytes(range(32))


def _people() -> pd.DataFrame:
    return pd.DataFrame({"email": [f"user{i}@example.org" for i in range(20)],
                         "phone": [f"+1 415 555 {1000 + i}" for i in range(20)],
                         "score": np.linspace(0.0, 1.0, 20)})


def _status(log, check: str) -> tuple[str, tuple[int, ...]]:
    report = check_compliance(log, "gdpr")
    (hit,) = [r for r in report.results if r.requirement.check == check]
    return hit.verdict.status, hit.verdict.evidence


def test_scan_and_tokenize_record_what_comply_reads(tmp_path):
    people = _people()
    with pw.AuditLog(tmp_path / "a.db") as log:
        assert _status(log, "personal_data_protected")[0] == "not recorded"
        report = pw.protect.scan(people, audit=log, dataset="people.csv")
        scan_rec = log.records(action=kinds.DATA_PII_SCAN)
        (scan_rec,) = list(scan_rec)
        assert scan_rec.payload["columns"] == sorted(c for c, _ in report.flagged()) == ["email", "phone"]
        tokens = pw.protect.tokenize(people["email"], KEY, audit=log, dataset="people.csv")
        assert list(tokens) == pw.protect.tokenize(people["email"].tolist(), KEY)
        (tok,) = list(log.records(action=kinds.DATA_TOKENIZED))
        assert tok.payload["columns"] == ["email"] and tok.payload["n_values"] == 20
        assert KEY.hex() not in json.dumps(tok.payload)
        status, evidence = _status(log, "personal_data_protected")
        assert status == "fail" and scan_rec.seq in evidence  # phone is neither tokenized nor encrypted
        pw.protect.tokenize(people["phone"].tolist(), KEY, audit=log, column="phone", dataset="people.csv")
        assert _status(log, "personal_data_protected")[0] == "pass"
        with pytest.raises(ValueError, match="column="):
            pw.protect.tokenize(["a@b.org"], KEY, audit=log)
        assert len(list(log.records(action=kinds.DATA_TOKENIZED))) == 2  # the refused call wrote nothing


def test_encrypt_records_the_file_and_comply_passes(tmp_path):
    people = _people()
    people.to_csv(tmp_path / "people.csv", index=False)
    identity = pw.protect.generate_identity()
    with pw.AuditLog(tmp_path / "a.db") as log:
        pw.protect.scan(people, audit=log, dataset="people.csv")
        result = pw.protect.encrypt_file(tmp_path / "people.csv", tmp_path / "people.csv.age",
                                         recipients=[identity.recipient], digests=True, audit=log,
                                         dataset="people.csv")
        (rec,) = list(log.records(action=kinds.DATA_ENCRYPTED))
        assert rec.payload["ciphertext_sha256"] == result.ciphertext_sha256
        assert rec.payload["scheme"] == "chacha20-poly1305/x25519"
        assert _status(log, "personal_data_protected")[0] == "pass"


def test_encrypt_cli_records_and_refuses_streams(tmp_path, capsys):
    from pipeward.cli import main

    (tmp_path / "d.csv").write_text("email\nuser@example.org\n")
    identity = pw.protect.generate_identity()
    db = tmp_path / "a.db"
    code = main(["encrypt", "-r", str(identity.recipient), "-o", str(tmp_path / "d.csv.age"),
                 "--audit", str(db), str(tmp_path / "d.csv")])
    assert code == 0
    with pw.AuditLog(db) as log:
        (rec,) = list(log.records(action=kinds.DATA_ENCRYPTED))
        assert rec.payload["dataset"] == "d.csv" and rec.payload["files"] == [str(tmp_path / "d.csv.age")]
    assert main(["encrypt", "-r", str(identity.recipient), "--audit", str(db), str(tmp_path / "d.csv")]) == 2
    assert "--audit" in capsys.readouterr().err


def test_red_team_results_answer_security_testing(tmp_path):
    """The red team's own records (redteam.<attack>, and redteam.attack for a policy line)."""
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 4))
    y = (X[:, 0] + 0.3 * rng.normal(size=120) > 0).astype(int)
    model = LogisticRegression().fit(X, y)
    with pw.AuditLog(tmp_path / "a.db") as log:
        pw.redteam.pgd(model, X, y, 0.1, 0.025, 10).record(log, subject="m")
        status, evidence = _status(log, "security_tested")
        assert status == "pass" and len(evidence) == 1
        log.append(kinds.REDTEAM_ATTACK, {"attack": "evasion", "metric": "robust_accuracy", "value": 0.2,
                                          "threshold": 0.5, "passed": False})
        assert _status(log, "security_tested")[0] == "fail"
