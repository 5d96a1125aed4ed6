"""Manifests of encrypted trees: ciphertext and plaintext digests in one read, key-less verify."""

from __future__ import annotations

import hashlib
import json
import os

import pytest

import pipeward as pw
from pipeward import protect
from pipeward.manifest import ManifestError
from pipeward.protect import DecryptError, Identity


@pytest.fixture
def tree(tmp_path):
    """An encrypted dataset: two age files, one AES-256-GCM file, one plain README."""
    ident = Identity.generate()
    src, enc = tmp_path / "src", tmp_path / "enc"
    src.mkdir()
    (enc / "part").mkdir(parents=True)
    plain = {"a.csv": os.urandom(70_000), "part/b.csv": b"", "part/c.bin": os.urandom(65536)}
    for name, data in plain.items():
        (src / name.replace("/", "_")).write_bytes(data)
        protect.encrypt_file(src / name.replace("/", "_"), enc / (name + ".age"),
                             recipients=ident.recipient,
                             cipher="aes-256-gcm" if name.endswith(".bin") else "chacha20-poly1305")
    (enc / "README").write_text("encrypted with age\n")
    return enc, ident, plain


def test_build_records_both_digests_in_one_read(tree):
    enc, ident, plain = tree
    m = pw.Manifest.build(enc, decrypt_with=ident)
    plain_m = pw.Manifest.build(enc)
    assert m.root == plain_m.root  # the entries are the ciphertext digests, as without a key
    got = {p.raw_path.decode(): (p.size, p.digest) for p in m.plaintext}
    assert got == {name + ".age": (len(data), hashlib.sha256(data).hexdigest())
                   for name, data in plain.items()}
    for name in got:
        assert m[name].digest == hashlib.sha256((enc / name).read_bytes()).hexdigest()


def test_plaintext_digests_are_signed_and_survive_a_save(tree, tmp_path):
    enc, ident, _ = tree
    m = pw.Manifest.build(enc, decrypt_with=ident)
    private, public = pw.generate_keypair()
    m.sign(private)
    m.save(tmp_path / "m.json")
    back = pw.Manifest.load(tmp_path / "m.json")
    assert back == m and back.verify_signature(public)
    data = json.loads((tmp_path / "m.json").read_text())
    data["plaintext"][0]["sha256"] = "0" * 64  # swap in another plaintext digest
    (tmp_path / "forged.json").write_text(json.dumps(data))
    assert not pw.Manifest.load(tmp_path / "forged.json").verify_signature(public)
    data["plaintext"][0]["path"] = "not-there.age"
    (tmp_path / "stray.json").write_text(json.dumps(data))
    with pytest.raises(ManifestError, match="not a file entry"):
        pw.Manifest.load(tmp_path / "stray.json")


def test_verify_an_encrypted_tree_without_any_key(tree):
    enc, ident, _ = tree
    m = pw.Manifest.build(enc, decrypt_with=ident)
    assert m.verify(enc).ok
    blob = bytearray((enc / "a.csv.age").read_bytes())
    blob[-1] ^= 1
    (enc / "a.csv.age").write_bytes(bytes(blob))
    result = m.verify(enc)
    assert not result.ok and result.modified == ("a.csv.age",)


def test_a_file_that_does_not_decrypt_names_itself(tree, tmp_path):
    enc, ident, _ = tree
    with pytest.raises(DecryptError, match=r"a\.csv\.age: no identity matched"):
        pw.Manifest.build(enc, decrypt_with=Identity.generate())
    with pytest.raises(ValueError, match="cannot be combined with decrypt_with"):
        pw.Manifest.build(enc, decrypt_with=ident, cache=tmp_path / "cache")
