"""``pipeward audit ...`` and ``pipeward card``: outputs and exit codes (0 ok, 1 tampered, 2 input)."""

from __future__ import annotations

import json

import pytest

from pipeward import signing
from pipeward.audit import AuditLog, record_dp_training, record_model
from pipeward.cli import main

from audit_helpers import StepClock, rows, tamper


@pytest.fixture
def setup(tmp_path):
    key, pub = tmp_path / "audit.key", tmp_path / "audit.pub"
    signing.save_keypair(key, pub)
    path = tmp_path / "audit.db"
    with AuditLog(path, actor="ci", clock=StepClock()) as log:
        record_model(log, name="m", version="1", intended_use="testing")
        record_dp_training(log, noise_multiplier=1.0, sample_rate=0.1, steps=10, epsilon=3.0,
                           delta=1e-5, model="m")
    return path, key, pub


def test_verify_ok_then_tampered(setup, capsys):
    path, key, pub = setup
    assert main(["audit", "checkpoint", str(path), "--key", str(key)]) == 0
    assert "checkpoint: 2 records" in capsys.readouterr().out
    assert main(["audit", "verify", str(path), "--pubkey", str(pub)]) == 0
    assert capsys.readouterr().out.startswith("OK: 2 records, 1/1")
    body = rows(path)[1][1].replace(b'"epsilon":3.0', b'"epsilon":0.3')
    tamper(path, "UPDATE records SET body = ? WHERE seq = 1", params=(body,))
    assert main(["audit", "verify", str(path), "--pubkey", str(pub), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["ok"] is False and report["findings"][0]["kind"] == "edited"
    assert report["findings"][0]["seq"] == 1


def test_verify_warnings_and_strict(setup, capsys):
    path, _, _ = setup
    assert main(["audit", "verify", str(path)]) == 0  # no checkpoint: a warning only
    assert "no_checkpoint" in capsys.readouterr().out
    assert main(["audit", "verify", str(path), "--strict", "-q"]) == 1
    assert capsys.readouterr().out == ""


def test_verify_bad_input(tmp_path, capsys):
    assert main(["audit", "verify", str(tmp_path / "missing.db")]) == 2
    assert "no audit log" in capsys.readouterr().err
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not sqlite at all" * 100)
    # Changed by issue #20: not an SQLite file is an input error (2), not "TAMPERED" (1).
    assert main(["audit", "verify", str(junk)]) == 2
    assert "not an SQLite database" in capsys.readouterr().err


def test_show_export_import(setup, tmp_path, capsys):
    path, _, _ = setup
    assert main(["audit", "show", str(path)]) == 0
    out = capsys.readouterr().out.splitlines()
    heads = [line for line in out if line.startswith("#")]
    assert len(heads) == 2 and heads[1].startswith("#1  2026-01-01 00:00:00 UTC  ci  training.dp ")
    assert heads[1].endswith("[m]") and heads[0].index("3c") >= 0
    # aligned: every header's hash starts in the same column; the payload follows, one per line
    assert len({h.index(" [m]") for h in heads}) == 1
    assert "      epsilon:          3.0" in out
    assert main(["audit", "show", str(path), "--action", "training.dp", "--json", "--last", "1"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["payload"]["epsilon"] == 3.0
    export = tmp_path / "a.jsonl"
    assert main(["audit", "export", str(path), "-o", str(export)]) == 0
    capsys.readouterr()
    assert main(["audit", "verify", str(export)]) == 0
    capsys.readouterr()
    assert main(["audit", "import", str(export), "-o", str(tmp_path / "copy.db")]) == 0
    assert main(["audit", "verify", str(tmp_path / "copy.db")]) == 0
    capsys.readouterr()
    assert main(["audit", "import", str(export), "-o", str(tmp_path / "copy.db")]) == 2
    assert main(["audit", "export", str(path)]) == 0
    assert capsys.readouterr().out.splitlines()[1].startswith('{"action":"model.registered"')


def test_card(setup, tmp_path, capsys):
    path, _, pub = setup
    out = tmp_path / "MODEL_CARD.md"
    assert main(["card", str(path), "-o", str(out)]) == 0
    md = out.read_text()
    assert md.startswith("# Model card: m") and "| epsilon | 3.0 |" in md
    assert main(["card", str(path), "--model", "m", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sections"]["privacy"]["steps"]["value"] == 10
    body = rows(path)[1][1].replace(b'"steps":10', b'"steps":99')
    tamper(path, "UPDATE records SET body = ? WHERE seq = 1", params=(body,))
    assert main(["card", str(path), "-o", str(out)]) == 1
    assert "FAILED VERIFICATION" in out.read_text()
    assert main(["card", str(tmp_path / "none.db")]) == 2
