"""TrustStore: who signed a manifest, or exactly why the signature is not trusted."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

import pipeward as pw


@pytest.fixture
def signed(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("a,b\n1,2\n")
    private, public = pw.generate_keypair()
    m = pw.Manifest.build(tmp_path / "data")
    m.sign(private)
    return m, private, public


def test_a_trusted_signer_is_named(signed):
    m, _, public = signed
    store = pw.TrustStore()
    store.add("acme-data", public, roles=["data-provider"], not_after="2999-01-01")
    check = m.verify_signature(store, role="data-provider")
    assert check and check.signer == "acme-data" and check.roles == ("data-provider",)
    assert m.verify_signature(store)  # no role asked: any role will do


@pytest.mark.parametrize("case, reason", [
    ("unknown", "unknown key"),
    ("revoked", "was revoked on 2026-03-01T00:00:00Z: key leaked"),
    ("expired", "expired on 2020-01-01T00:00:00Z"),
    ("early", "is not valid before 2999-01-01T00:00:00Z"),
    ("role", "does not hold the role 'data-provider' (it holds: model-publisher)"),
    ("altered", "does not verify"),
    ("unsigned", "not signed"),
])
def test_each_failure_names_why(signed, case, reason):
    m, _, public = signed
    store = pw.TrustStore()
    other_private, other_public = pw.generate_keypair()
    kw = {"expired": {"not_after": "2020-01-01"}, "early": {"not_before": "2999-01-01"},
          "role": {"roles": ["model-publisher"]}}.get(case, {})
    store.add("acme", other_public if case == "unknown" else public, **kw)
    if case == "revoked":
        store.revoke("acme", reason="key leaked", at="2026-03-01T00:00:00Z")
    if case == "altered":
        m.metadata["note"] = "changed after signing"
    if case == "unsigned":
        m.signature = None
    check = m.verify_signature(store, role="data-provider")
    assert not check and reason in check.reason
    if case not in ("unknown", "unsigned"):
        assert check.signer == "acme"


def test_the_store_round_trips_and_rejects_tampering(tmp_path, signed):
    _, _, public = signed
    store = pw.TrustStore()
    store.add("acme", public, roles=["data-provider", "auditor"], not_before="2026-01-01T00:00:00Z")
    store.revoke("acme", reason="rotated")
    store.save(tmp_path / "trust.json")
    back = pw.TrustStore.load(tmp_path / "trust.json")
    assert back.keys == store.keys
    data = json.loads((tmp_path / "trust.json").read_text())
    data["keys"][0]["key_id"] = "0" * 64
    (tmp_path / "bad.json").write_text(json.dumps(data))
    with pytest.raises(ValueError, match="key_id does not match"):
        pw.TrustStore.load(tmp_path / "bad.json")
    with pytest.raises(ValueError, match="two keys with the name"):
        store.add("acme", pw.generate_keypair()[1])
    with pytest.raises(ValueError, match="two keys with the key_id"):
        store.add("acme-again", public)
    with pytest.raises(KeyError, match="no key named"):
        store.revoke("nobody")
    with pytest.raises(ValueError, match="ISO 8601"):
        store.add("x", pw.generate_keypair()[1], not_after="next tuesday")
    with pytest.raises(ValueError, match="not after not_before"):
        store.add("y", pw.generate_keypair()[1], not_before="2027-01-01", not_after="2026-01-01")


def pipeward(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in-process (fast): exit code, stdout, stderr."""
    from pipeward.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_cli_trust_and_manifest_verify_with_a_store(tmp_path, capsys):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "x.csv").write_text("1\n")
    assert pipeward(capsys, "keygen", "-o", str(tmp_path / "k.pem"), "-q")[0] == 0
    assert pipeward(capsys, "manifest", "build", str(tmp_path / "data"), "-o", str(tmp_path / "m.json"),
                    "--sign", str(tmp_path / "k.pem"), "-q")[0] == 0
    store = str(tmp_path / "trust.json")
    code, _, err = pipeward(capsys, "trust", "add", store, "--name", "acme", "--key",
                            str(tmp_path / "k.pem.pub"), "--role", "data-provider")
    assert code == 0, err
    verify = ["manifest", "verify", str(tmp_path / "m.json"), "--dir", str(tmp_path / "data"),
              "--trust", store, "-q"]
    code, out, err = pipeward(capsys, *verify, "--role", "data-provider")
    assert code == 0 and "signed by 'acme' (trusted)" in out, out + err
    code, out, _ = pipeward(capsys, *verify, "--role", "model-publisher")
    assert code == 1 and "does not hold the role 'model-publisher'" in out
    assert pipeward(capsys, "trust", "revoke", store, "acme", "--reason", "leaked")[0] == 0
    code, out, _ = pipeward(capsys, *verify, "--json")
    assert code == 1
    data = json.loads(out)
    assert data["signer"]["signer"] == "acme" and "revoked" in data["signer"]["reason"]
    code, out, _ = pipeward(capsys, "trust", "list", store)
    assert "acme" in out and "REVOKED" in out
    code, _, err = pipeward(capsys, "trust", "revoke", store, "nobody")
    assert code == 2 and "no key named" in err
    code, _, err = pipeward(capsys, "trust", "list", str(tmp_path / "data" / "x.csv"))
    assert code == 2 and "not a pipeward trust store" in err


def test_the_trust_cli_runs_as_a_command(tmp_path):
    run = subprocess.run([sys.executable, "-m", "pipeward", "trust", "list", str(tmp_path / "none.json")],
                         capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 2 and "none.json" in run.stderr and "Traceback" not in run.stderr
