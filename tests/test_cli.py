"""The ``pipeward`` command line, run as a user runs it: a subprocess per call.

Every subcommand has ``--help`` with an example, rejects an unknown flag with exit 2, and a
missing input file is exit 2 with a message that names the file.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from pipeward.cli import EXIT_USAGE, build_parser


def _subcommands() -> list[str]:
    parser = build_parser()
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return sorted(action.choices)


SUBCOMMANDS = _subcommands()
EXPECTED = {"demo", "hash", "manifest", "drift", "screen", "privacy", "audit", "card", "report"}

# For each subcommand: an argument list whose input file does not exist ({missing} is filled in).
MISSING_FILE = {
    "hash": ["hash", "{missing}"],
    "manifest": ["manifest", "verify", "{missing}", "--dir", "."],
    "report": ["report", "--audit", "{missing}"],
    "audit": ["audit", "verify", "{missing}"],
    "card": ["card", "{missing}"],
    "drift": ["drift", "{missing}", "{missing}"],
    "screen": ["screen", "{missing}"],
}


def pipeward(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "pipeward", *args], capture_output=True, text=True,
                          timeout=300, cwd=cwd, check=False)


def test_the_main_job_subcommands_exist():
    assert {"demo", "report"} <= set(SUBCOMMANDS)


def test_top_level_help_lists_every_subcommand():
    run = pipeward("--help")
    assert run.returncode == 0
    for name in SUBCOMMANDS:
        assert name in run.stdout
    assert "Exit codes" in run.stdout


def test_no_subcommand_is_a_usage_error():
    run = pipeward()
    assert run.returncode == EXIT_USAGE
    assert "required" in run.stderr


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_help_has_an_example(name):
    run = pipeward(name, "--help")
    assert run.returncode == 0, run.stderr
    assert "example" in run.stdout.lower() and f"pipeward {name}" in run.stdout


@pytest.mark.parametrize("name", SUBCOMMANDS)
def test_unknown_flag_is_exit_2(name):
    run = pipeward(name, "--no-such-flag")
    assert run.returncode == EXIT_USAGE
    assert "--no-such-flag" in run.stderr or "required" in run.stderr


@pytest.mark.parametrize("name", sorted(set(MISSING_FILE) & set(SUBCOMMANDS)))
def test_missing_file_is_exit_2_naming_it(name, tmp_path):
    missing = tmp_path / "no-such-file.bin"
    args = [a.format(missing=missing) for a in MISSING_FILE[name]]
    run = pipeward(*args, cwd=tmp_path)
    assert run.returncode == EXIT_USAGE, (run.stdout, run.stderr)
    assert "no-such-file.bin" in run.stderr
    assert "Traceback" not in run.stderr


# --- demo and report --------------------------------------------------------------------------

def test_demo_out_must_be_a_folder(tmp_path):
    file = tmp_path / "taken"
    file.write_text("x")
    run = pipeward("demo", "--out", str(file), "--fast")
    assert run.returncode == EXIT_USAGE
    assert "is a file" in run.stderr


def test_report_needs_an_input(tmp_path):
    run = pipeward("report", "-o", str(tmp_path / "r.html"))
    assert run.returncode == EXIT_USAGE
    assert "nothing to report" in run.stderr


@pytest.mark.parametrize("flag", ["--results", "--drift", "--screen"])
def test_report_rejects_files_that_are_not_json(flag, tmp_path):
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    run = pipeward("report", flag, str(bad), "-o", str(tmp_path / "r.html"))
    assert run.returncode == EXIT_USAGE
    assert "bad.json" in run.stderr and "Traceback" not in run.stderr


def test_report_rejects_a_file_that_is_not_an_audit_log(tmp_path):
    bad = tmp_path / "log.db"
    bad.write_bytes(b"this is not sqlite" * 100)
    run = pipeward("report", "--audit", str(bad), "-o", str(tmp_path / "r.html"))
    assert run.returncode == EXIT_USAGE
    assert "log.db" in run.stderr and "Traceback" not in run.stderr


def test_report_from_drift_json(tmp_path):
    drift = {"psi_threshold": 0.2, "features": [
        {"feature": "a", "psi": 0.05, "drifted": False},
        {"feature": "b", "psi": 0.9, "drifted": True}]}
    (tmp_path / "today.json").write_text(json.dumps(drift))
    run = pipeward("report", "--drift", str(tmp_path / "today.json"), "-o", str(tmp_path / "r.html"),
                   "--json")
    assert run.returncode == 0, run.stderr
    summary = json.loads(run.stdout)
    assert summary["sections"] == ["drift"]
    page = (tmp_path / "r.html").read_text()
    assert page.count("<svg") == 1 and "today" in page and "drift in 1 features" in page


def test_report_from_screen_json(tmp_path):
    """The JSON of ``pipeward screen --json`` (ScreenReport.to_dict()) without per-row scores."""
    screen = {"counts": {"rows": 50, "outliers": 2, "label_suspects": 1, "backdoor_suspects": 0,
                         "quarantine": 3},
              "outliers": [4, 9], "label_suspects": [17], "backdoor_suspects": [], "quarantine": [4, 9, 17]}
    (tmp_path / "screen.json").write_text(json.dumps(screen))
    run = pipeward("report", "--screen", str(tmp_path / "screen.json"), "-o", str(tmp_path / "r.html"))
    assert run.returncode == 0, run.stderr
    page = (tmp_path / "r.html").read_text()
    assert "<svg" not in page
    assert re.search(r"rows screened</th><td>50<", page) and re.search(r"quarantined</th><td>3<", page)
    assert re.search(r"flagged as label-flip suspects</th><td>1<", page)


def test_report_rejects_screen_json_of_another_shape(tmp_path):
    (tmp_path / "s.json").write_text(json.dumps({"rows": [1, 2]}))
    run = pipeward("report", "--screen", str(tmp_path / "s.json"), "-o", str(tmp_path / "r.html"))
    assert run.returncode == EXIT_USAGE
    assert "quarantine" in run.stderr and "Traceback" not in run.stderr


def test_report_fails_when_the_manifest_signature_does_not_verify(tmp_path):
    """The report showed "invalid" for a manifest signed by another key, and exited 0."""
    import pipeward as pw

    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "a.txt").write_text("a\n")
    m = pw.Manifest.build(tmp_path / "data")
    signer, _ = pw.generate_keypair()
    m.sign(signer)
    m.save(tmp_path / "m.json")
    pw.save_keypair(tmp_path / "other.pem", tmp_path / "other.pub")
    run = pipeward("report", "--manifest", str(tmp_path / "m.json"), "--pubkey",
                   str(tmp_path / "other.pub"), "-o", str(tmp_path / "r.html"))
    assert run.returncode == 1 and "signature INVALID" in run.stdout, run.stderr
    assert (tmp_path / "r.html").exists()
    m.save(tmp_path / "m.json")
    run = pipeward("report", "--manifest", str(tmp_path / "m.json"), "-o", str(tmp_path / "r.html"))
    assert run.returncode == 0, run.stderr  # no key given: shown as not checked
