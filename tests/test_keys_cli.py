"""Keys across the CLI: several ``--pubkey`` (a key rotation) or a trust store for the audit
log, a private key refused wherever a public key is read (exit 2), one file naming scheme."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from pipeward import signing
from pipeward.audit import AuditLog, record_model
from pipeward.cli import main
from pipeward.trust import TrustStore

from audit_helpers import StepClock


@pytest.fixture
def rotated(tmp_path):
    """A log checkpointed by an old key, then (after a rotation) by a new one."""
    old, new = tmp_path / "old.pem", tmp_path / "new.pem"
    signing.save_keypair(old, tmp_path / "old.pem.pub")
    signing.save_keypair(new, tmp_path / "new.pem.pub")
    path = tmp_path / "audit.db"
    with AuditLog(path, actor="ci", clock=StepClock()) as log:
        record_model(log, name="m", version="1", intended_use="testing")
        log.checkpoint(old)
        record_model(log, name="m", version="2", intended_use="testing")
        log.checkpoint(new)
    return path, tmp_path


def test_several_pubkeys_accept_a_key_rotation(rotated, capsys):
    path, d = rotated
    both = ["--pubkey", str(d / "old.pem.pub"), "--pubkey", str(d / "new.pem.pub")]
    assert main(["audit", "verify", str(path), *both, "--strict"]) == 0
    assert capsys.readouterr().out.startswith("OK: 2 records, 2/2")
    # one key alone: the other checkpoint is named as signed by a key not given (the old CLI
    # kept only the last --pubkey, so a rotation read as tampering)
    assert main(["audit", "verify", str(path), "--pubkey", str(d / "new.pem.pub"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert [f["kind"] for f in report["findings"]] == ["bad_signature"]
    assert "not the given key" in report["findings"][0]["detail"]
    stranger = d / "x.pem"
    signing.save_keypair(stranger, d / "x.pem.pub")
    assert main(["audit", "verify", str(path), "--pubkey", str(d / "x.pem.pub"),
                 "--pubkey", str(d / "old.pem.pub"), "--json"]) == 1
    msg = json.loads(capsys.readouterr().out)["findings"][0]["detail"]
    assert "not one of the 2 given keys" in msg


def test_library_takes_a_list_of_keys(rotated):
    path, d = rotated
    with AuditLog(path, readonly=True) as log:
        assert log.verify([d / "old.pem.pub", d / "new.pem.pub"], require="head").ok
        assert not log.verify([d / "new.pem.pub"]).ok
        with pytest.raises(ValueError, match="at least one public key"):
            log.verify([])


def test_trust_store_pins_the_audit_keys(rotated, capsys):
    path, d = rotated
    store = TrustStore()
    store.add("ops-2025", d / "old.pem.pub", roles=["audit"])
    store.add("ops-2026", d / "new.pem.pub", roles=["audit"])
    store.save(d / "trust.json")
    assert main(["audit", "verify", str(path), "--trust-store", str(d / "trust.json"),
                 "--strict", "-q"]) == 0
    store.revoke("ops-2025", reason="laptop lost")
    store.save(d / "trust.json")
    assert main(["audit", "verify", str(path), "--trust-store", str(d / "trust.json"),
                 "--json"]) == 1
    msg = json.loads(capsys.readouterr().out)["findings"][0]["detail"]
    assert "not trusted" in msg and "revoked" in msg and "laptop lost" in msg
    assert main(["audit", "verify", str(path), "--trust-store", str(d / "trust.json"),
                 "--pubkey", str(d / "new.pem.pub")]) == 2
    assert "not both" in capsys.readouterr().err


def _signed_manifest(tmp_path: Path, key: Path) -> Path:
    """A manifest of a one-file tree, signed with the private key ``key``."""
    data = tmp_path / "data"
    data.mkdir()
    (data / "a").write_bytes(b"a")
    assert main(["manifest", "build", str(data), "-o", str(tmp_path / "m.json"), "--sign", str(key), "-q"]) == 0
    return tmp_path / "m.json"


def test_a_private_key_as_pubkey_is_an_input_error_everywhere(rotated, tmp_path, capsys):
    """It used to print "signature valid": the private key stood in for its public half."""
    path, d = rotated
    manifest = _signed_manifest(tmp_path, d / "new.pem")
    commands = [
        ["audit", "verify", str(path), "--pubkey", str(d / "new.pem")],
        ["audit", "verify", str(path), "--pubkey", str(d / "old.pem.pub"), "--pubkey",
         str(d / "new.pem")],
        ["manifest", "verify", str(manifest), "--pubkey", str(d / "new.pem")],
        ["card", str(path), "--model", "m", "--pubkey", str(d / "new.pem")],
        ["report", "--audit", str(path), "--manifest", str(manifest), "--pubkey", str(d / "old.pem.pub"),
         "--pubkey", str(d / "new.pem"), "-o", str(tmp_path / "r.html")],
        ["trust", "add", str(tmp_path / "t.json"), "--name", "x", "--key", str(d / "new.pem")],
    ]
    for argv in commands:
        capsys.readouterr()
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert "is a private key, where a public key is needed" in err, (argv, err)
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_one_key_file_naming_scheme(tmp_path, capsys):
    """keygen, its help, the demo and the docs: NAME.pem (private) beside NAME.pem.pub."""
    assert main(["keygen", "-o", str(tmp_path / "release.pem"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["public_key"] == str(tmp_path / "release.pem.pub")
    from pipeward.demo import pipeline

    source = Path(pipeline.__file__).read_text()
    assert '"demo_ed25519.pem"' in source and '"demo_ed25519.pem.pub"' in source
    root = Path(__file__).resolve().parents[1]
    docs = "\n".join(p.read_text() for p in [root / "README.md", *sorted((root / "docs").glob("*.md"))])
    assert "demo_ed25519.pub.pem" not in docs and "audit.pub " not in docs
    assert "NAME.pem.pub" in (root / "docs" / "security.md").read_text()


def test_card_and_comply_take_the_same_keys(rotated, capsys):
    path, d = rotated
    both = ["--pubkey", str(d / "old.pem.pub"), "--pubkey", str(d / "new.pem.pub")]
    assert main(["card", str(path), "--model", "m", *both, "-o", str(d / "card.md")]) == 0
    assert main(["card", str(path), "--model", "m", "--pubkey", str(d / "new.pem.pub"),
                 "-o", str(d / "card.md")]) == 1
    capsys.readouterr()
    assert main(["comply", "check", str(path), *both, "--json"]) in (0, 1)
    report = json.loads(capsys.readouterr().out)
    tamper = next(r for r in report["requirements"] if "audit log" in r["title"].lower())
    assert tamper["status"] == "pass", tamper
    assert main(["comply", "check", str(path), "--pubkey", str(d / "new.pem.pub"), "--json"]) == 1
    report = json.loads(capsys.readouterr().out)
    tamper = next(r for r in report["requirements"] if "audit log" in r["title"].lower())
    assert tamper["status"] == "fail", tamper


def test_report_takes_the_same_keys_for_the_log_and_the_manifest(rotated, tmp_path, capsys):
    """``pipeward report --pubkey`` took one key for both, so a rotated log (or a manifest
    signed by the other key) failed the report."""
    path, d = rotated
    report = ["report", "--audit", str(path), "--manifest", str(_signed_manifest(tmp_path, d / "old.pem")),
              "-o", str(tmp_path / "r.html"), "--json"]

    def run(*keys: str) -> dict:
        code = main([*report, *keys])
        out = json.loads(capsys.readouterr().out)
        assert code == (0 if out["audit_ok"] and out["signature_ok"] else 1)
        return out

    both = run("--pubkey", str(d / "old.pem.pub"), "--pubkey", str(d / "new.pem.pub"))
    assert (both["audit_ok"], both["signature_ok"]) == (True, True)
    new = run("--pubkey", str(d / "new.pem.pub"))  # the log's old checkpoint, the manifest: not by it
    assert (new["audit_ok"], new["signature_ok"]) == (False, False)
    store = TrustStore()
    store.add("ops-2025", d / "old.pem.pub")
    store.add("ops-2026", d / "new.pem.pub")
    store.save(d / "trust.json")
    trusted = run("--trust-store", str(d / "trust.json"))
    assert (trusted["audit_ok"], trusted["signature_ok"]) == (True, True)
    store.revoke("ops-2025", reason="laptop lost")
    store.save(d / "trust.json")
    assert main([*report[:-1], "--trust-store", str(d / "trust.json")]) == 1
    out = capsys.readouterr().out
    assert "signature INVALID with trust store" in out and "laptop lost" in out
    assert "not trusted" in (tmp_path / "r.html").read_text(encoding="utf-8")
    assert main([*report, "--trust-store", str(d / "trust.json"), "--pubkey", str(d / "new.pem.pub")]) == 2
    assert "not both" in capsys.readouterr().err
