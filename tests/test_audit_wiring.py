"""Each stage writes its facts to an audit log when given one (``audit=log``), and the model
card reads them back."""

from __future__ import annotations

import numpy as np
import pytest

import pipeward as pw
from pipeward.audit import record_model


@pytest.fixture
def log(tmp_path):
    with pw.AuditLog(tmp_path / "audit.db") as lg:
        yield lg


def test_manifest_build_and_verify_are_recorded(tmp_path, log):
    data = tmp_path / "data"
    data.mkdir()
    (data / "a.csv").write_text("x\n1\n")
    (data / "b.csv").write_text("x\n2\n")
    m = pw.Manifest.build(data, audit=log)
    (data / "b.csv").write_text("x\n3\n")
    assert not m.verify(data, audit=log).ok
    built, verified = [r.payload for r in log.records(action="data.manifest")]
    assert built["event"] == "built" and built["root"] == m.root and built["n_files"] == 2
    assert verified["event"] == "verified" and verified["ok"] is False
    assert verified["modified"] == ["b.csv"]
    assert log.verify().ok


def test_screen_is_recorded(log):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(400, 5))
    X[:5] += 30.0
    y = (X[:, 1] > 0).astype(int)
    report = pw.screen(X, y, audit=log)
    (rec,) = log.records(action="data.screen")
    assert rec.payload["n_samples"] == 400
    assert rec.payload["n_quarantined"] == report.quarantine.size
    assert rec.payload["n_outliers"] == report.outliers.size
    assert rec.payload["quarantined_digest"] == pw.audit.indices_digest(report.quarantine.tolist())


def test_drift_check_is_recorded(log):
    rng = np.random.default_rng(1)
    ref = rng.normal(size=(1000, 3))
    cur = rng.normal(size=(800, 3))
    cur[:, 2] += 1.0
    report = pw.DriftMonitor(ref, feature_names=["a", "b", "c"]).check(cur, audit=log)
    (rec,) = log.records(action="monitor.drift")
    assert rec.payload["verdicts"] == {"a": False, "b": False, "c": True}
    assert rec.payload["drifted"] == ["c"]
    assert rec.payload["pvalues"]["c"] == pytest.approx(float(report.ks_pvalue_adjusted[2]))


@pytest.mark.parametrize("accountant", [pw.RDPAccountant, pw.PLDAccountant])
def test_dp_training_is_recorded_and_reaches_the_model_card(log, accountant):
    record_model(log, name="clf", version="1", intended_use="tests")
    acc = accountant()
    acc.step(noise_multiplier=1.5, sample_rate=0.04, steps=50)
    eps = acc.record(log, delta=1e-5, max_grad_norm=1.0, model="clf")
    assert eps == pytest.approx(acc.get_epsilon(1e-5))
    (rec,) = log.records(action="training.dp")
    assert rec.payload["epsilon"] == pytest.approx(eps) and rec.payload["steps"] == 50
    assert rec.payload["accountant"] == acc.mechanism
    card = pw.ModelCard.from_audit(log, model_name="clf")
    assert f"{eps:.4g}"[:4] in card.to_markdown()


def test_a_history_with_two_settings_is_refused(log):
    acc = pw.RDPAccountant()
    acc.step(noise_multiplier=1.0, sample_rate=0.01, steps=10)
    acc.step(noise_multiplier=2.0, sample_rate=0.01, steps=10)
    with pytest.raises(ValueError, match="exactly one"):
        acc.record(log, delta=1e-5)
    assert len(log) == 0
