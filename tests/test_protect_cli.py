"""``pipeward encrypt`` / ``pipeward decrypt`` as a user runs them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from pipeward import protect


def pipeward(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    """As a user runs it: a subprocess (for pipes)."""
    return subprocess.run([sys.executable, "-m", "pipeward", *args], input=stdin,
                          capture_output=True, timeout=300, check=False)


def in_process(capsys, *args: str) -> tuple[int, str, str]:
    """The CLI in this process (fast), for calls that read and write named files only."""
    from pipeward.cli import main

    code = main(list(args))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def keyfile(tmp_path):
    path = tmp_path / "key.txt"
    protect.generate_identity(path)
    return path


def recipient_of(keyfile) -> str:
    return str(protect.load_identities(keyfile)[0].recipient)


def test_encrypt_then_decrypt_files(tmp_path, keyfile, capsys):
    data = os.urandom(100_000)
    (tmp_path / "d.csv").write_bytes(data)
    code, out, err = in_process(capsys, "encrypt", "-r", recipient_of(keyfile), "-o",
                                str(tmp_path / "d.age"), str(tmp_path / "d.csv"), "--json")
    assert code == 0, err
    info = json.loads(out)
    assert info["plaintext_size"] == len(data) and len(info["ciphertext_sha256"]) == 64
    code, _, err = in_process(capsys, "decrypt", "-i", str(keyfile), "-o", str(tmp_path / "back"),
                              str(tmp_path / "d.age"))
    assert code == 0, err
    assert (tmp_path / "back").read_bytes() == data


def test_pipes_and_a_recipients_file(tmp_path, keyfile):
    (tmp_path / "recipients.txt").write_text(f"# team\n{recipient_of(keyfile)}\n")
    sealed = pipeward("encrypt", "-R", str(tmp_path / "recipients.txt"), stdin=b"hello pipes")
    assert sealed.returncode == 0 and sealed.stdout.startswith(b"age-encryption.org/v1\n")
    opened = pipeward("decrypt", "-i", str(keyfile), stdin=sealed.stdout)
    assert opened.returncode == 0 and opened.stdout == b"hello pipes"


def test_passphrase_file_and_the_gcm_variant(tmp_path, capsys):
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "p").write_bytes(b"x" * 70_000)
    code, _, err = in_process(capsys, "encrypt", "--passphrase-file", str(tmp_path / "pw"),
                              "--work-factor", "4", "--cipher", "aes-256-gcm", "-o",
                              str(tmp_path / "p.enc"), str(tmp_path / "p"))
    assert code == 0, err
    assert (tmp_path / "p.enc").read_bytes().startswith(b"pipeward.aes-256-gcm/v1\n")
    code, _, _ = in_process(capsys, "decrypt", "--passphrase-file", str(tmp_path / "pw"), "-o",
                            str(tmp_path / "out"), str(tmp_path / "p.enc"))
    assert code == 0 and (tmp_path / "out").read_bytes() == b"x" * 70_000


def test_tampering_and_wrong_keys_are_exit_1_with_no_output(tmp_path, keyfile, capsys):
    (tmp_path / "p").write_bytes(os.urandom(200_000))
    assert in_process(capsys, "encrypt", "-r", recipient_of(keyfile), "-o", str(tmp_path / "x.age"),
                      str(tmp_path / "p"))[0] == 0
    blob = bytearray((tmp_path / "x.age").read_bytes())
    blob[-5] ^= 1
    (tmp_path / "bad.age").write_bytes(bytes(blob))
    other = tmp_path / "other.txt"
    protect.generate_identity(other)
    for key, src in ((keyfile, "bad.age"), (other, "x.age")):
        code, _, err = in_process(capsys, "decrypt", "-i", str(key), "-o", str(tmp_path / "out"),
                                  str(tmp_path / src))
        assert code == 1
        assert err.count("\n") == 1
        assert ("chunk 3" if src == "bad.age" else "wrong key") in err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["encrypt", "-o", "x.age", "in.bin"], "give recipients"),
    (["encrypt", "-r", "age1xyz", "--passphrase-file", "/dev/null", "-o", "x.age", "in.bin"],
     "passphrase file is empty"),
    (["encrypt", "-r", "age1xyz", "-o", "x.age", "in.bin"], "not an age X25519 recipient"),
    (["encrypt", "-r", "age1xyz", "-o", "x.age", "missing.bin"], "missing.bin"),
    (["decrypt", "-o", "out", "x.age"], "give identity files"),
    (["decrypt", "-i", "/no/such/key.txt", "-o", "out", "in.bin"], "key.txt"),
])
def test_usage_errors_are_exit_2(args, message, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.bin").write_bytes(b"data")
    code, _, err = in_process(capsys, *args)
    assert code == 2, err
    assert message in err and err.count("\n") == 1


def test_a_usage_error_from_the_command_has_no_traceback():
    run = pipeward("decrypt", stdin=b"data")
    assert run.returncode == 2 and "give identity files" in run.stderr.decode()
    assert "Traceback" not in run.stderr.decode()


@pytest.mark.skipif(shutil.which("age") is None, reason="the `age` command is not installed")
def test_the_age_cli_reads_what_the_pipeward_cli_writes(tmp_path, keyfile):
    sealed = pipeward("encrypt", "-r", recipient_of(keyfile), stdin=b"interop")
    run = subprocess.run(["age", "-d", "-i", str(keyfile)], input=sealed.stdout,
                         capture_output=True, check=False)
    assert run.returncode == 0 and run.stdout == b"interop"
