"""Interoperability with the real age: the Go ``age`` command (Debian package ``age``) and
rage through ``pyrage``, both directions, for X25519 recipients and passphrases."""

from __future__ import annotations

import io
import os
import pty
import shutil
import subprocess
import time

import pytest

from pipeward import protect
from pipeward.protect import DecryptError, Identity

CHUNK = 64 * 1024
SIZES = [0, 1, CHUNK, 2 * CHUNK + 7]
AGE = shutil.which("age")
needs_age = pytest.mark.skipif(AGE is None, reason="the `age` command is not installed "
                                                    "(Debian: apt-get install age)")


@pytest.fixture(scope="module")
def keyfile(tmp_path_factory):
    """An identity written by ``age-keygen`` when it is there (else by pipeward)."""
    path = tmp_path_factory.mktemp("keys") / "key.txt"
    if shutil.which("age-keygen"):
        subprocess.run(["age-keygen", "-o", str(path)], check=True, capture_output=True)
    else:
        protect.generate_identity(path)
    return path


def _age_on_a_terminal(args: list[str], passphrase: bytes, prompts: int) -> int:
    """Run ``age`` with a pseudo-terminal and type the passphrase at each prompt (age reads
    passphrases from the terminal only)."""
    pid, fd = pty.fork()
    if pid == 0:  # pragma: no cover - the child
        os.execv(AGE, ["age", *args])
    seen, typed = b"", 0
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            got = os.read(fd, 1024)
        except OSError:
            break
        if not got:
            break
        seen += got
        if typed < prompts and seen.lower().count(b"passphrase") > typed:
            os.write(fd, passphrase + b"\n")
            typed += 1
    os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status)


@needs_age
@pytest.mark.parametrize("size", SIZES)
def test_age_decrypts_what_pipeward_encrypts(keyfile, tmp_path, size):
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    ident = protect.load_identities(keyfile)[0]
    protect.encrypt_file(tmp_path / "plain", tmp_path / "x.age", recipients=ident.recipient)
    run = subprocess.run([AGE, "-d", "-i", str(keyfile), str(tmp_path / "x.age")],
                         capture_output=True, check=False)
    assert run.returncode == 0, run.stderr
    assert run.stdout == data


@needs_age
@pytest.mark.parametrize("size", SIZES)
def test_pipeward_decrypts_what_age_encrypts(keyfile, tmp_path, size):
    data = os.urandom(size)
    (tmp_path / "plain").write_bytes(data)
    recipient = str(protect.load_identities(keyfile)[0].recipient)
    subprocess.run([AGE, "-r", recipient, "-o", str(tmp_path / "x.age"), str(tmp_path / "plain")],
                   check=True)
    assert protect.decrypt_file(tmp_path / "x.age", tmp_path / "back", identity=keyfile) == size
    assert (tmp_path / "back").read_bytes() == data


@needs_age
def test_passphrases_both_ways_with_age(tmp_path):
    data = os.urandom(CHUNK + 3)
    (tmp_path / "plain").write_bytes(data)
    secret = "tr0ub4dor & 3"
    protect.encrypt_file(tmp_path / "plain", tmp_path / "ours.age", passphrase=secret, work_factor=12)
    assert _age_on_a_terminal(["-d", "-o", str(tmp_path / "by-age"), str(tmp_path / "ours.age")],
                              secret.encode(), prompts=1) == 0
    assert (tmp_path / "by-age").read_bytes() == data
    assert _age_on_a_terminal(["-p", "-o", str(tmp_path / "theirs.age"), str(tmp_path / "plain")],
                              secret.encode(), prompts=2) == 0
    protect.decrypt_file(tmp_path / "theirs.age", tmp_path / "by-us", passphrase=secret)  # N = 2**18
    assert (tmp_path / "by-us").read_bytes() == data


@needs_age
def test_age_rejects_what_we_reject(keyfile, tmp_path):
    """A tampered file and the AES-256-GCM variant: age refuses both (no silent success)."""
    ident = protect.load_identities(keyfile)[0]
    (tmp_path / "plain").write_bytes(os.urandom(3 * CHUNK))
    protect.encrypt_file(tmp_path / "plain", tmp_path / "x.age", recipients=ident.recipient)
    blob = bytearray((tmp_path / "x.age").read_bytes())
    blob[-100] ^= 1
    (tmp_path / "bad.age").write_bytes(bytes(blob))
    protect.encrypt_file(tmp_path / "plain", tmp_path / "gcm.age", recipients=ident.recipient,
                         cipher="aes-256-gcm")
    for name in ("bad.age", "gcm.age"):
        run = subprocess.run([AGE, "-d", "-i", str(keyfile), "-o", str(tmp_path / "out"),
                              str(tmp_path / name)], capture_output=True, check=False)
        assert run.returncode != 0, name
    with pytest.raises(DecryptError, match="chunk 2"):
        protect.decrypt_file(tmp_path / "bad.age", tmp_path / "out2", identity=keyfile)


# --- rage, through pyrage --------------------------------------------------------------------

@pytest.mark.parametrize("size", SIZES)
def test_rage_both_ways(size):
    pyrage = pytest.importorskip("pyrage", reason="pyrage (rage's bindings) is not installed")
    data = os.urandom(size)
    ident = Identity.generate()
    theirs = pyrage.x25519.Identity.from_str(str(ident))
    out = io.BytesIO()
    protect.encrypt_stream(io.BytesIO(data), out, recipients=ident.recipient)
    assert pyrage.decrypt(out.getvalue(), [theirs]) == data
    sealed = pyrage.encrypt(data, [pyrage.x25519.Recipient.from_str(str(ident.recipient))])
    back = io.BytesIO()
    protect.decrypt_stream(io.BytesIO(sealed), back, identity=ident)
    assert back.getvalue() == data


def test_rage_reads_our_passphrase_files():
    """(The other direction is covered with `age -p` above: rage picks a work factor worth
    ~1 s of its own time, too slow for the test suite.)"""
    pyrage = pytest.importorskip("pyrage", reason="pyrage (rage's bindings) is not installed")
    data = os.urandom(CHUNK + 1)
    out = io.BytesIO()
    protect.encrypt_stream(io.BytesIO(data), out, passphrase="pw", work_factor=10)
    assert pyrage.passphrase.decrypt(out.getvalue(), "pw") == data
