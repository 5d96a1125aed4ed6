"""Ed25519 keys and signatures: round trips, wrong keys, tampering, bad key files."""

from __future__ import annotations

import os
import stat

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from pipeward import signing


def test_sign_verify_round_trip_with_pem_and_objects():
    private_pem, public_pem = signing.generate_keypair()
    sig = signing.sign(private_pem, b"message")
    assert len(sig) == 64
    assert signing.verify(public_pem, b"message", sig)
    with pytest.raises(ValueError, match="is a private key, where a public key is needed"):
        signing.verify(signing.load_private_key(private_pem), b"message", sig)
    assert not signing.verify(public_pem, b"messagf", sig)
    assert not signing.verify(public_pem, b"message", sig[:-1] + bytes([sig[-1] ^ 1]))


def test_a_private_key_is_refused_wherever_a_public_key_is_read(tmp_path):
    """It used to stand in for its public half, so a verifier holding the private key (who could
    have signed anything) was told "signature valid"."""
    private_pem, public_pem = signing.generate_keypair()
    (tmp_path / "k.pem").write_bytes(private_pem)
    for given in (private_pem, private_pem.decode(), tmp_path / "k.pem", str(tmp_path / "k.pem"),
                  signing.load_private_key(private_pem)):
        with pytest.raises(ValueError, match="is a private key, where a public key is needed"):
            signing.load_public_key(given)
    assert signing.key_id(tmp_path / "k.pem") == signing.key_id(public_pem)  # naming is fine


def test_wrong_key_does_not_verify():
    a_priv, _ = signing.generate_keypair()
    _, b_pub = signing.generate_keypair()
    assert not signing.verify(b_pub, b"m", signing.sign(a_priv, b"m"))


def test_save_keypair_protects_the_private_key(tmp_path):
    priv, pub = tmp_path / "k.pem", tmp_path / "k.pub"
    kid = signing.save_keypair(priv, pub)
    assert stat.S_IMODE(os.stat(priv).st_mode) == 0o600
    assert kid == signing.key_id(pub) == signing.key_id(priv)
    assert len(kid) == 64
    with pytest.raises(FileExistsError):
        signing.save_keypair(priv, pub)
    signing.save_keypair(priv, pub, overwrite=True)
    assert signing.key_id(pub) != kid


def test_bad_keys_are_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="PEM"):
        signing.load_private_key(b"-----BEGIN PRIVATE KEY-----\ngarbage\n-----END PRIVATE KEY-----\n")
    with pytest.raises(FileNotFoundError):
        signing.load_public_key(tmp_path / "missing.pem")
    with pytest.raises(TypeError, match="public key"):
        signing.load_private_key(signing.load_public_key(signing.generate_keypair()[1]))
    ec_key = ec.generate_private_key(ec.SECP256R1())
    pem = ec_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                               serialization.NoEncryption())
    with pytest.raises(TypeError, match="Ed25519"):
        signing.load_private_key(pem)
    with pytest.raises(TypeError):
        signing.load_public_key(12345)


def test_save_keypair_never_writes_through_a_planted_link(tmp_path):
    """keygen --force once followed a link and wrote the private key into its target at 0644."""
    target = tmp_path / "victim.txt"
    target.write_text("precious\n")
    target.chmod(0o644)
    priv, pub = tmp_path / "k.pem", tmp_path / "k.pub"
    priv.symlink_to(target)
    with pytest.raises(FileExistsError):
        signing.save_keypair(priv, pub)  # a link counts as an existing file, even dangling
    assert not pub.exists()
    signing.save_keypair(priv, pub, overwrite=True)
    assert target.read_text() == "precious\n"
    assert not priv.is_symlink() and stat.S_IMODE(priv.stat().st_mode) == 0o600
    signing.load_private_key(priv)
    dangling = tmp_path / "d.pem"
    dangling.symlink_to(tmp_path / "nowhere.pem")
    with pytest.raises(FileExistsError):
        signing.save_keypair(dangling, tmp_path / "d.pub")
    assert not (tmp_path / "nowhere.pem").exists()


def test_save_keypair_force_does_not_keep_an_old_mode(tmp_path):
    priv, pub = tmp_path / "k.pem", tmp_path / "k.pub"
    priv.write_text("old\n")
    priv.chmod(0o644)
    pub.write_text("old\n")
    with pytest.raises(FileExistsError):
        signing.save_keypair(tmp_path / "new.pem", pub)  # the public file counts too
    assert not (tmp_path / "new.pem").exists()
    signing.save_keypair(priv, pub, overwrite=True)
    assert stat.S_IMODE(priv.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["k.pem", "k.pub"]  # no temp files left
