"""``pipeward manifest build|verify`` and ``pipeward keygen``: outputs and exit codes."""

from __future__ import annotations

import io
import json
import os
import stat
import subprocess
import sys

import pytest

import pipeward as pw
from pipeward.cli import main

from _manifest_trees import make_tree


@pytest.fixture
def data(tmp_path):
    return make_tree(tmp_path / "data", {b"a.csv": b"1,2\n", b"img/x.png": b"\x89PNG", b"new\nline": b"n"})


@pytest.fixture
def key(tmp_path, capsys):
    assert main(["keygen", "-o", str(tmp_path / "k.pem"), "-q"]) == 0
    capsys.readouterr()
    return tmp_path / "k.pem"


def test_keygen_writes_a_protected_key_pair(tmp_path, capsys):
    assert main(["keygen", "-o", str(tmp_path / "release.pem"), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert stat.S_IMODE(os.stat(tmp_path / "release.pem").st_mode) == 0o600
    assert out["key_id"] == pw.signing.key_id(tmp_path / "release.pem.pub")
    assert main(["keygen", "-o", str(tmp_path / "release.pem")]) == 2
    assert "exists; pass --force" in capsys.readouterr().err
    assert main(["keygen", "-o", str(tmp_path / "release.pem"), "--force", "-q"]) == 0


def test_build_sign_verify_intact(data, key, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["manifest", "build", os.fsdecode(data), "-o", str(out), "--sign", str(key)]) == 0
    printed = capsys.readouterr().out
    m = pw.Manifest.load(out)
    assert printed.startswith(m.root) and "3 entries" in printed
    assert main(["manifest", "verify", str(out), "--dir", os.fsdecode(data),
                 "--pubkey", str(key) + ".pub"]) == 0
    assert "OK: 3 entries intact, signature valid" in capsys.readouterr().out


def test_verify_lists_changes_and_exits_1(data, tmp_path, capsys):
    out = tmp_path / "m.json"
    assert main(["manifest", "build", os.fsdecode(data), "-o", str(out), "-q"]) == 0
    with open(os.path.join(data, b"a.csv"), "ab") as f:
        f.write(b"3,4\n")
    os.rename(os.path.join(data, b"img/x.png"), os.path.join(data, b"img/y.png"))
    os.remove(os.path.join(data, b"new\nline"))
    capsys.readouterr()
    assert main(["manifest", "verify", str(out), "--dir", os.fsdecode(data)]) == 1
    text = capsys.readouterr()
    assert "modified  a.csv  (size 4 -> 8)" in text.out
    assert "renamed   img/x.png -> img/y.png" in text.out
    assert "removed   new\\nline" in text.out  # control characters escaped on the terminal
    assert "FAILED" in text.err
    assert main(["manifest", "verify", str(out), "--dir", os.fsdecode(data), "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert doc["ok"] is False and doc["removed"] == ["new\nline"]
    assert doc["modified"] == [{"path": "a.csv", "reason": "size 4 -> 8"}]


def test_wrong_key_and_unsigned_manifest_fail_with_1(data, key, tmp_path, capsys):
    signed, unsigned = tmp_path / "s.json", tmp_path / "u.json"
    main(["manifest", "build", os.fsdecode(data), "-o", str(signed), "--sign", str(key), "-q"])
    main(["manifest", "build", os.fsdecode(data), "-o", str(unsigned), "-q"])
    main(["keygen", "-o", str(tmp_path / "other.pem"), "-q"])
    capsys.readouterr()
    d = ["--dir", os.fsdecode(data)]
    assert main(["manifest", "verify", str(signed), *d, "--pubkey", str(tmp_path / "other.pem.pub")]) == 1
    assert "signature: INVALID" in capsys.readouterr().out
    assert main(["manifest", "verify", str(unsigned), *d, "--pubkey", str(key) + ".pub"]) == 1
    assert "not signed" in capsys.readouterr().out
    assert main(["manifest", "verify", str(signed), *d, "--json", "--pubkey", str(key) + ".pub"]) == 0
    assert json.loads(capsys.readouterr().out)["signature"] is True
    # a tampered signature value
    doc = json.loads(signed.read_text())
    doc["metadata"]["note"] = "added later"
    signed.write_text(json.dumps(doc))
    assert main(["manifest", "verify", str(signed), *d, "--pubkey", str(key) + ".pub"]) == 1


def test_several_pubkeys_verify_a_rotation_and_refuse_a_private_key(data, key, tmp_path, capsys):
    """A manifest signed before a key rotation and one signed after both verify with
    --pubkey OLD --pubkey NEW (it took one key, the last, before); a private key among the
    keys is refused, even when another key would verify."""
    main(["keygen", "-o", str(tmp_path / "new.pem"), "-q"])
    main(["keygen", "-o", str(tmp_path / "stranger.pem"), "-q"])
    old_m, new_m = tmp_path / "old.json", tmp_path / "new.json"
    main(["manifest", "build", os.fsdecode(data), "-o", str(old_m), "--sign", str(key), "-q"])
    main(["manifest", "build", os.fsdecode(data), "-o", str(new_m), "--sign",
          str(tmp_path / "new.pem"), "-q"])
    capsys.readouterr()
    d = ["--dir", os.fsdecode(data)]
    both = ["--pubkey", str(key) + ".pub", "--pubkey", str(tmp_path / "new.pem.pub")]
    for m in (old_m, new_m):
        assert main(["manifest", "verify", str(m), *d, *both]) == 0
        assert "signature valid" in capsys.readouterr().out
        assert main(["manifest", "verify", str(m), *d, "--json", *both]) == 0
        assert json.loads(capsys.readouterr().out)["signature"] is True
    others = ["--pubkey", str(tmp_path / "stranger.pem.pub"), "--pubkey", str(tmp_path / "new.pem.pub")]
    assert main(["manifest", "verify", str(old_m), *d, *others]) == 1
    assert "does not verify with any of the 2 keys" in capsys.readouterr().out
    assert main(["manifest", "verify", str(new_m), *d, "--pubkey", str(tmp_path / "new.pem.pub"),
                 "--pubkey", str(key)]) == 2  # the old key's private half
    err = capsys.readouterr().err
    assert "is a private key, where a public key is needed" in err and len(err.splitlines()) == 1
    # the library takes the same list
    m = pw.Manifest.load(old_m)
    assert m.verify_signature([str(tmp_path / "new.pem.pub"), str(key) + ".pub"]) is True
    assert m.verify_signature([str(tmp_path / "new.pem.pub")]) is False
    with pytest.raises(ValueError, match="at least one"):
        m.verify_signature([])


def test_input_errors_exit_2(data, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('{"format": "pipeward-manifest", "version": 1, "root"')
    assert main(["manifest", "verify", str(bad), "--dir", os.fsdecode(data)]) == 2
    assert "truncated" in capsys.readouterr().err
    assert main(["manifest", "verify", str(tmp_path / "missing.json")]) == 2
    assert main(["manifest", "build", str(tmp_path / "nodir"), "-o", str(tmp_path / "m.json")]) == 2
    assert "not a directory" in capsys.readouterr().err
    assert main(["manifest", "build", os.fsdecode(data), "-o", str(tmp_path / "m.json"),
                 "--workers", "0"]) == 2
    assert main(["manifest", "build", os.fsdecode(data), "-o", str(tmp_path / "m.json"),
                 "--sign", str(tmp_path / "nokey.pem")]) == 2
    assert "cannot read the private key" in capsys.readouterr().err


def test_checkfile_output_and_verify_from_a_check_file(data, tmp_path, capsys):
    out = tmp_path / "m.json"
    sums = os.path.join(os.fsdecode(data), "SHA256SUMS")
    assert main(["manifest", "build", os.fsdecode(data), "-o", str(out), "--checkfile", sums, "-q"]) == 0
    assert "SHA256SUMS" not in pw.Manifest.load(out)  # our own output is never recorded
    assert main(["manifest", "verify", sums, "--dir", os.fsdecode(data)]) == 0
    with open(os.path.join(data, b"a.csv"), "wb") as f:
        f.write(b"9,9\n")
    assert main(["manifest", "verify", sums, "--dir", os.fsdecode(data)]) == 1
    assert main(["manifest", "verify", sums, "--dir", os.fsdecode(data), "--pubkey", "k"]) == 2


def test_output_inside_the_tree_is_excluded_so_rebuilds_are_stable(data, capsys):
    out = os.path.join(os.fsdecode(data), "manifest.json")
    main(["manifest", "build", os.fsdecode(data), "-o", out, "--json"])
    first = json.loads(capsys.readouterr().out)["root"]
    main(["manifest", "build", os.fsdecode(data), "-o", out, "--json"])
    assert json.loads(capsys.readouterr().out)["root"] == first
    assert main(["manifest", "verify", out, "--dir", os.fsdecode(data), "-q"]) == 0


def test_console_script_runs(data, tmp_path):
    proc = subprocess.run([sys.executable, "-m", "pipeward", "manifest", "build", os.fsdecode(data),
                           "-o", str(tmp_path / "m.json")], capture_output=True, text=True, check=False)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""  # no progress bar when stderr is not a terminal


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_bar_only_on_a_terminal(data, monkeypatch):
    tty = _Terminal()
    monkeypatch.setattr(sys, "stderr", tty)
    pw.Manifest.build(data, progress=True)
    assert "hashing [" in tty.getvalue() and "3/3" in tty.getvalue()
    pipe = io.StringIO()
    monkeypatch.setattr(sys, "stderr", pipe)
    pw.Manifest.build(data, progress=True)
    assert pipe.getvalue() == ""
    monkeypatch.setattr(sys, "stderr", tty)
    tty.truncate(0)
    pw.Manifest.build(data, progress=False)
    assert tty.getvalue() == ""
