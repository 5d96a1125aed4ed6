"""``pipeward demo`` end to end (fast mode), with its reported numbers checked independently."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import pipeward as pw
from pipeward.demo import Settings, run_demo


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    """One fast demo through the real command line; its results.json and output lines."""
    out = tmp_path_factory.mktemp("demo") / "out"
    run = subprocess.run([sys.executable, "-m", "pipeward", "demo", "--fast", "--out", str(out), "--json"],
                         capture_output=True, text=True, timeout=300, check=False)
    results = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    return run, out, results


def test_demo_exits_0_with_one_line_per_stage(demo):
    run, out, results = demo
    assert run.returncode == 0, run.stdout + run.stderr
    printed = json.loads(run.stdout)  # --json: the numbers and checks, not the plot data
    assert "report" not in printed and printed["numbers"] == results["numbers"]
    serving = ["serve"] if importlib.util.find_spec("fastapi") else []  # the serve extra
    lines = [ln for ln in printed["lines"] if re.match(rf"\[\d/{8 + len(serving)}\]", ln)]
    assert [ln.split()[1] for ln in lines] == ["integrity", "screen", "training", "monitoring",
                                                *serving, "redteam", "accountability", "governance",
                                                "report"]
    assert results["ok"] is True and all(results["checks"].values())


def test_serve_step_counts_outcomes_and_finds_the_watermark(demo):
    pytest.importorskip("fastapi", reason="the serve step needs pipeward[serve]")
    _, out, results = demo
    served = results["numbers"]["serve"]
    assert served["status_codes"] == {"200": 25 + 30 + 10, "429": 10, "422": 7}
    assert (served["served"], served["limited"], served["rejected"]) == (65, 10, 7)
    assert served["watermark_copy_pvalue"] < 1e-6 < 0.01 < served["watermark_model_pvalue"]
    with pw.AuditLog(out / "audit.db", readonly=True) as log:
        requests = [r for r in log.records(action="serve.request")]
    assert len(requests) == 82 and {r.payload["status"] for r in requests} == {200, 422, 429}


def test_tampering_is_found_and_named(demo):
    _, out, results = demo
    assert results["numbers"]["tampered_found"] == ["train.csv"]
    # The manifest on disk still verifies the restored data, signature included.
    manifest = pw.Manifest.load(out / "manifest.json")
    assert manifest.verify(out / "data").ok
    assert manifest.verify_signature((out / "keys" / "demo_ed25519.pem.pub").read_bytes())
    (out / "data" / "test.csv").write_text("changed\n")
    assert manifest.verify(out / "data").modified == ("test.csv",)


def test_the_demo_key_is_private_and_announced(demo):
    """The private key sits next to the data: owner-only, and the output says what it is."""
    _, out, results = demo
    key = out / "keys" / "demo_ed25519.pem"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE((out / "keys").stat().st_mode) == 0o700
    assert results["paths"]["private_key"] == str(key)
    integrity = next(ln for ln in results["lines"] if " integrity " in ln)
    assert str(key) in integrity and "DEMO key" in integrity


def test_a_rerun_replaces_a_planted_key_link_without_following_it(tmp_path):
    out = tmp_path / "out"
    (out / "keys").mkdir(parents=True)
    target = tmp_path / "elsewhere.pem"
    target.write_text("not a key\n")
    target.chmod(0o644)
    (out / "keys" / "demo_ed25519.pem").symlink_to(target)
    run = subprocess.run([sys.executable, "-m", "pipeward", "demo", "--fast", "--out", str(out)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert "throwaway DEMO signing key" in run.stdout and "mode 0600" in run.stdout
    key = out / "keys" / "demo_ed25519.pem"
    assert not key.is_symlink() and stat.S_IMODE(key.stat().st_mode) == 0o600
    assert target.read_text() == "not a key\n"


def test_poison_screen_meets_its_bar(demo):
    n = demo[2]["numbers"]
    assert n["poison_injected"] == Settings().n_flip + Settings().n_backdoor
    assert n["poison_recall"] >= 0.9
    assert n["poison_precision"] >= 0.8
    assert n["backdoor_recall"] == 1.0
    kinds = n["poison_per_kind"]  # planted vs found, per kind, as the report shows them
    assert kinds["flipped labels"]["planted"] == Settings().n_flip
    assert kinds["flipped labels"]["found"] >= 0.9 * Settings().n_flip
    assert kinds["backdoor rows"]["found"] == Settings().n_backdoor
    assert sorted(kinds["backdoor rows"]["trigger features"]) == sorted(Settings().trigger)


def test_dp_training_accuracy_and_epsilon(demo):
    n = demo[2]["numbers"]
    s = Settings.fast()
    assert n["accuracy_baseline"] >= 0.93
    assert n["accuracy_dp"] >= 0.88
    assert n["accuracy_dp"] >= n["accuracy_baseline"] - 0.06
    # epsilon: at most the target, and what the accountant says for the recorded run
    assert s.target_epsilon - 0.05 <= n["epsilon"] <= s.target_epsilon
    again = pw.epsilon(n["noise_multiplier"], n["sample_rate"], n["steps"], n["delta"])
    assert again == pytest.approx(n["epsilon"], rel=1e-9)
    curve = demo[2]["report"]["privacy"]["epsilon"]
    assert curve[0] == 0 and np.all(np.diff(curve) > 0) and curve[-1] == pytest.approx(n["epsilon"])


def test_drift_found_on_the_shifted_split_only(demo):
    n = demo[2]["numbers"]
    assert n["drift_held_out"] == []
    assert sorted(n["drift_shifted"]) == sorted(f for f, _, _ in Settings().shift)


def test_input_guard_flags_corrupted_inputs(demo):
    rates = list(demo[2]["numbers"]["guard_rates"].values())
    held_out, corrupted = rates[:2]
    assert held_out <= 0.10 and corrupted >= 0.9
    # The attacks do what they claim; the guard's rate on them is reported, not promised.
    flips = demo[2]["numbers"]["adversarial_prediction_flips"]
    assert flips["fgsm"] >= 0.5 and flips["deepfool"] == 1.0
    assert all(0 <= r <= 1 for r in rates[2:])


def test_audit_log_and_model_card(demo):
    _, out, results = demo
    public = (out / "keys" / "demo_ed25519.pem.pub").read_bytes()
    with pw.AuditLog(out / "audit.db", readonly=True) as log:
        report = log.verify(public)
        actions = [r.action for r in log.records()]
    assert report.ok and report.n_records == results["numbers"]["audit_records"]
    for action in ("model.registered", "data.manifest", "data.screen", "training.dp",
                   "model.evaluation", "monitor.drift"):
        assert action in actions
    card = (out / "model_card.md").read_text()
    assert f"{results['numbers']['epsilon']}"[:4] in card


def test_report_is_written_and_self_contained(demo):
    _, out, _ = demo
    page = (out / "report.html").read_text()
    assert page.count("<svg") >= 5
    assert set(re.findall(r"https?://[^\s\"'<>)]+", page)) == {"http://www.w3.org/2000/svg"}
    assert "<script" not in page


def test_pipeward_report_rebuilds_it_from_the_artefacts(demo, tmp_path):
    _, out, _ = demo
    target = tmp_path / "again.html"
    run = subprocess.run([sys.executable, "-m", "pipeward", "report", "--results", str(out / "results.json"),
                          "--audit", str(out / "audit.db"),
                          "--pubkey", str(out / "keys" / "demo_ed25519.pem.pub"), "-o", str(target)],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr
    assert target.read_text().count("<svg") >= 5


def _report(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeward", "report", *args], capture_output=True,
                          text=True, timeout=300, check=False)


def test_pipeward_report_from_the_audit_log_alone(demo, tmp_path):
    _, out, _ = demo
    run = _report("--audit", str(out / "audit.db"), "-o", str(tmp_path / "r.html"), "--json")
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["sections"] == ["drift", "fairness", "explanations", "compliance",
                                                  "security", "audit", "model_card"]
    page = (tmp_path / "r.html").read_text()
    # the two drift checks, the fairness chart and the global importance the log recorded, and
    # the red team's robust-accuracy curve, membership ROC and (with scikit-learn) extraction curve
    redteam = ["Robust accuracy against the attack budget eps", "Membership inference ROC (log FPR)"]
    if importlib.util.find_spec("sklearn"):
        redteam.append("Model extraction: fidelity against queries")
    assert page.count("<svg") == 4 + len(redteam) and all(f'aria-label="{t}"' in page for t in redteam)
    assert "Model card: pipeward-demo-logreg" in page and "verified" in page


def test_pipeward_report_exits_1_on_a_tampered_audit_log(demo, tmp_path):
    _, out, _ = demo
    log = tmp_path / "audit.db"
    shutil.copy(out / "audit.db", log)
    con = sqlite3.connect(log)
    con.execute("DROP TRIGGER records_append_only_u")
    (seq, body), = con.execute("SELECT seq, body FROM records WHERE CAST(body AS TEXT) LIKE "
                               "'%model.evaluation%' ORDER BY seq LIMIT 1").fetchall()
    forged = bytes(body).replace(b"accuracy", b"accurate", 1)
    assert forged != bytes(body)
    con.execute("UPDATE records SET body = ? WHERE seq = ?", (forged, seq))
    con.commit()
    con.close()
    run = _report("--audit", str(log), "-o", str(tmp_path / "r.html"))
    assert run.returncode == 1, run.stdout + run.stderr
    assert "FAILED verification" in run.stdout
    assert "broken" in (tmp_path / "r.html").read_text()


def test_the_demo_is_fast(demo):
    assert demo[2]["numbers"]["seconds"] < 60


@pytest.mark.parametrize("seed", [1, 2])
def test_the_checks_hold_for_other_seeds(seed, tmp_path, capsys):
    result = run_demo(tmp_path, settings=Settings.fast(seed))
    assert result.ok, {k: v for k, v in result.checks.items() if not v}
    stages = 9 if importlib.util.find_spec("fastapi") else 8  # the serve stage needs its extra
    assert capsys.readouterr().out.splitlines() == result.lines and len(result.lines) == stages


OPTIONAL = ("scipy", "sklearn", "pandas", "pyarrow", "torch", "opacus", "dp_accounting", "dask", "cupy",
            "fastapi", "uvicorn", "httpx", "limits", "redis", "prometheus_client", "jwt", "skops",
            "onnxruntime")

# Run the demo in a fresh interpreter where importing any optional package fails.
_HIDDEN_RUN = """
import sys
from importlib.abc import MetaPathFinder

class Hidden(MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {hidden!r}:
            raise ImportError(f"{{name}} is not installed (hidden by the test)")
        return None

sys.meta_path.insert(0, Hidden())
from pipeward.cli import main
sys.exit(main(["demo", "--fast", "-q", "--out", {out!r}]))
"""


def test_the_demo_needs_only_the_core_dependencies(tmp_path):
    """`pip install . && pipeward demo` installs NumPy and cryptography only: the import of
    pipeward and the whole demo must work with every optional package missing."""
    code = _HIDDEN_RUN.format(hidden=set(OPTIONAL), out=str(tmp_path / "out"))
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300,
                         check=False)
    assert run.returncode == 0, run.stderr[-3000:]
    assert (tmp_path / "out" / "report.html").is_file()
