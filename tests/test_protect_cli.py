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
    return subprocess.run([sys.executable, "-m", "pipeward", *args], input=stdin,
                          capture_output=True, timeout=300, check=False)


@pytest.fixture
def keyfile(tmp_path):
    path = tmp_path / "key.txt"
    protect.generate_identity(path)
    return path


def recipient_of(keyfile) -> str:
    return str(protect.load_identities(keyfile)[0].recipient)


def test_encrypt_then_decrypt_files(tmp_path, keyfile):
    data = os.urandom(100_000)
    (tmp_path / "d.csv").write_bytes(data)
    run = pipeward("encrypt", "-r", recipient_of(keyfile), "-o", str(tmp_path / "d.age"),
                   str(tmp_path / "d.csv"), "--json")
    assert run.returncode == 0, run.stderr
    info = json.loads(run.stdout)
    assert info["plaintext_size"] == len(data) and len(info["ciphertext_sha256"]) == 64
    run = pipeward("decrypt", "-i", str(keyfile), "-o", str(tmp_path / "back"), str(tmp_path / "d.age"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "back").read_bytes() == data


def test_pipes_and_a_recipients_file(tmp_path, keyfile):
    (tmp_path / "recipients.txt").write_text(f"# team\n{recipient_of(keyfile)}\n")
    sealed = pipeward("encrypt", "-R", str(tmp_path / "recipients.txt"), stdin=b"hello pipes")
    assert sealed.returncode == 0 and sealed.stdout.startswith(b"age-encryption.org/v1\n")
    opened = pipeward("decrypt", "-i", str(keyfile), stdin=sealed.stdout)
    assert opened.returncode == 0 and opened.stdout == b"hello pipes"


def test_passphrase_file_and_the_gcm_variant(tmp_path):
    (tmp_path / "pw").write_text("s3cret\n")
    (tmp_path / "p").write_bytes(b"x" * 70_000)
    run = pipeward("encrypt", "--passphrase-file", str(tmp_path / "pw"), "--work-factor", "4",
                   "--cipher", "aes-256-gcm", "-o", str(tmp_path / "p.enc"), str(tmp_path / "p"))
    assert run.returncode == 0, run.stderr
    assert (tmp_path / "p.enc").read_bytes().startswith(b"pipeward.aes-256-gcm/v1\n")
    run = pipeward("decrypt", "--passphrase-file", str(tmp_path / "pw"), "-o", str(tmp_path / "out"),
                   str(tmp_path / "p.enc"))
    assert run.returncode == 0 and (tmp_path / "out").read_bytes() == b"x" * 70_000


def test_tampering_and_wrong_keys_are_exit_1_with_no_output(tmp_path, keyfile):
    (tmp_path / "p").write_bytes(os.urandom(200_000))
    assert pipeward("encrypt", "-r", recipient_of(keyfile), "-o", str(tmp_path / "x.age"),
                    str(tmp_path / "p")).returncode == 0
    blob = bytearray((tmp_path / "x.age").read_bytes())
    blob[-5] ^= 1
    (tmp_path / "bad.age").write_bytes(bytes(blob))
    other = tmp_path / "other.txt"
    protect.generate_identity(other)
    for key, src in ((keyfile, "bad.age"), (other, "x.age")):
        run = pipeward("decrypt", "-i", str(key), "-o", str(tmp_path / "out"), str(tmp_path / src))
        assert run.returncode == 1
        err = run.stderr.decode()
        assert err.count("\n") == 1 and "Traceback" not in err
        assert ("chunk 3" if src == "bad.age" else "wrong key") in err
        assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (["encrypt"], "give recipients"),
    (["encrypt", "-r", "age1xyz", "--passphrase-file", "/dev/null"], "passphrase file is empty"),
    (["encrypt", "-r", "age1xyz"], "not an age X25519 recipient"),
    (["decrypt"], "give identity files"),
    (["decrypt", "-i", "/no/such/key.txt"], "key.txt"),
])
def test_usage_errors_are_exit_2(args, message):
    run = pipeward(*args, stdin=b"data")
    assert run.returncode == 2, run.stderr
    assert message in run.stderr.decode() and "Traceback" not in run.stderr.decode()


@pytest.mark.skipif(shutil.which("age") is None, reason="the `age` command is not installed")
def test_the_age_cli_reads_what_the_pipeward_cli_writes(tmp_path, keyfile):
    sealed = pipeward("encrypt", "-r", recipient_of(keyfile), stdin=b"interop")
    run = subprocess.run(["age", "-d", "-i", str(keyfile)], input=sealed.stdout,
                         capture_output=True, check=False)
    assert run.returncode == 0 and run.stdout == b"interop"
