"""``pipeward redteam``: attacks a skops model, records to the audit log, gates with exit 1."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer
from sklearn.linear_model import LogisticRegression

import pipeward as pw
from pipeward.cli import main

sio = pytest.importorskip("skops.io", reason="skops loads the model: pip install .[redteam]")
pd = pytest.importorskip("pandas")


@pytest.fixture()
def saved(tmp_path):
    X, y = load_breast_cancer(return_X_y=True)
    X = (X - X.mean(axis=0)) / X.std(axis=0)
    rng = np.random.default_rng(0)
    member = rng.random(len(X)) < 0.5
    model = LogisticRegression(C=10.0, max_iter=2000).fit(X[member], y[member])
    sio.dump(model, tmp_path / "model.skops")
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    df["target"] = y
    df["trained"] = member.astype(int)
    df.to_csv(tmp_path / "data.csv", index=False)
    return tmp_path, model, X, y


def test_json_results_match_the_api_and_go_to_the_audit_log(saved, capsys):
    tmp, model, X, y = saved
    code = main(["redteam", str(tmp / "model.skops"), "--data", str(tmp / "data.csv"), "--labels", "target",
                 "--members", "trained", "--attacks", "evasion,membership,extraction", "--eps", "0.2",
                 "--budget", "100", "--audit", str(tmp / "audit.db"), "--json"])
    out = json.loads(capsys.readouterr().out)
    assert code == 0 and out["failures"] == []
    evasion = next(r for r in out["results"] if r["attack"] == "pgd")
    want = pw.redteam.pgd(model, X, y, 0.2, 0.05, 20)
    assert evasion["robust_accuracy"] == pytest.approx(want.robust_accuracy, abs=1e-12)
    assert {r["attack"] for r in out["results"]} == {"pgd", "membership", "extraction"}
    log = pw.AuditLog(tmp / "audit.db")
    assert [r.action for r in log.records()] == ["redteam.pgd", "redteam.membership", "redteam.extraction"]


def test_policy_lines_exit_1(saved, capsys):
    tmp, *_ = saved
    code = main(["redteam", str(tmp / "model.skops"), "--data", str(tmp / "data.csv"), "--labels", "target",
                 "--members", "trained", "--attacks", "evasion", "--eps", "0.5",
                 "--min-robust-accuracy", "0.99"])
    out = capsys.readouterr().out
    assert code == 1 and "FAILED: robust accuracy" in out


def test_usage_errors_exit_2(saved, capsys, tmp_path):
    tmp, *_ = saved
    base = ["--data", str(tmp / "data.csv"), "--labels", "target", "--members", "trained"]
    assert main(["redteam", str(tmp / "missing.skops"), *base]) == 2
    assert main(["redteam", str(tmp / "model.skops"), *base, "--attacks", "voodoo"]) == 2
    assert main(["redteam", str(tmp / "model.skops"), *base[:4], "--attacks", "membership"]) == 2
    assert main(["redteam", str(tmp / "model.skops"), *base, "--eps", "-1"]) == 2
    err = capsys.readouterr().err
    assert err.count("pipeward redteam: error:") == 4 and "Traceback" not in err


def test_security_testing_section_reads_the_records(saved, tmp_path):
    from pipeward.redteam.card import security_testing_markdown

    tmp, model, X, y = saved
    log = pw.AuditLog(tmp_path / "card.db")
    assert "missing" in security_testing_markdown(log)
    res = pw.redteam.pgd(model, X, y, 0.2, 0.05, 5)
    rec = res.record(log, subject="model-a")
    pw.redteam.fgsm(model, X, y, 0.1).record(log, subject="model-b")
    text = security_testing_markdown(log, subject="model-a")
    assert f"robust_accuracy {res.robust_accuracy:.4g}" in text and f"#{rec.seq} `{rec.hash[:12]}`" in text
    assert "fgsm" not in text and text.startswith("## Security testing")
