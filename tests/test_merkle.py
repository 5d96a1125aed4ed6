"""RFC 6962 Merkle trees against the recursive definition, and proofs that must fail."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeward import merkle


def mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, written as the RFC states it."""
    n = len(leaves)
    if n == 0:
        return hashlib.sha256(b"").digest()
    if n == 1:
        return leaves[0]
    k = 1
    while k * 2 < n:
        k *= 2
    return hashlib.sha256(b"\x01" + mth(leaves[:k]) + mth(leaves[k:])).digest()


def make_leaves(n: int, salt: bytes = b"") -> list[bytes]:
    return [merkle.leaf_hash(salt + i.to_bytes(4, "big")) for i in range(n)]


def test_leaf_and_node_prefixes():
    assert merkle.leaf_hash(b"") == hashlib.sha256(b"\x00").digest()
    a, b = b"a" * 32, b"b" * 32
    assert merkle.node_hash(a, b) == hashlib.sha256(b"\x01" + a + b).digest()


def test_empty_tree_root_is_hash_of_empty_string():
    assert merkle.merkle_root([]).hex() == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")


def test_certificate_transparency_reference_root():
    # The 8-leaf tree of RFC 6962's reference test data (Go/C++ CT implementations).
    data = [b"", b"\x00", b"\x10", b"\x20\x21", b"\x30\x31", b"\x40\x41\x42\x43",
            b"\x50\x51\x52\x53\x54\x55\x56\x57", b"\x60\x61\x62\x63\x64\x65\x66\x67\x68\x69\x6a\x6b\x6c\x6d\x6e\x6f"]
    root = merkle.merkle_root([merkle.leaf_hash(d) for d in data])
    assert root.hex() == "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"


@pytest.mark.parametrize("n", list(range(1, 70)) + [127, 128, 129, 1000])
def test_root_matches_recursive_definition(n):
    leaves = make_leaves(n)
    assert merkle.merkle_root(leaves) == mth(leaves)


@pytest.mark.parametrize("n", range(1, 34))
def test_every_inclusion_proof_verifies_and_tampering_fails(n):
    leaves = make_leaves(n)
    root = merkle.merkle_root(leaves)
    for i in range(n):
        proof = merkle.inclusion_proof(leaves, i)
        assert merkle.verify_inclusion(leaves[i], i, n, proof, root)
        assert not merkle.verify_inclusion(merkle.leaf_hash(b"forged"), i, n, proof, root)
        if n > 1:
            assert not merkle.verify_inclusion(leaves[i], (i + 1) % n, n, proof, root)
        if proof:
            bad = list(proof)
            bad[0] = bytes(32)
            assert not merkle.verify_inclusion(leaves[i], i, n, bad, root)


@pytest.mark.parametrize("new", range(1, 34))
def test_every_consistency_proof_verifies_and_forks_fail(new):
    leaves = make_leaves(new)
    new_root = merkle.merkle_root(leaves)
    for old in range(1, new + 1):
        old_root = merkle.merkle_root(leaves[:old])
        proof = merkle.consistency_proof(leaves, old)
        assert merkle.verify_consistency(old, new, old_root, new_root, proof)
        # A log that rewrote its history (different first leaf) cannot prove consistency.
        forked = [merkle.leaf_hash(b"rewritten")] + leaves[1:old]
        assert not merkle.verify_consistency(old, new, merkle.merkle_root(forked), new_root, proof)
        if old < new:
            assert not merkle.verify_consistency(old, new, old_root, merkle.leaf_hash(b"x"), proof)


@given(st.integers(1, 200), st.data())
def test_proofs_for_random_trees(n, data):
    leaves = make_leaves(n, salt=b"h")
    i = data.draw(st.integers(0, n - 1))
    old = data.draw(st.integers(1, n))
    root = merkle.merkle_root(leaves)
    assert merkle.verify_inclusion(leaves[i], i, n, merkle.inclusion_proof(leaves, i), root)
    assert merkle.verify_consistency(old, n, merkle.merkle_root(leaves[:old]), root,
                                     merkle.consistency_proof(leaves, old))


def test_bad_inputs_are_clear_errors():
    with pytest.raises(TypeError, match="32 bytes"):
        merkle.merkle_root([b"short"])
    with pytest.raises(ValueError, match="outside"):
        merkle.inclusion_proof(make_leaves(3), 3)
    with pytest.raises(ValueError, match="outside"):
        merkle.consistency_proof(make_leaves(3), 4)
    assert not merkle.verify_inclusion(make_leaves(1)[0], 5, 3, [], bytes(32))
    assert not merkle.verify_consistency(2, 4, bytes(32), bytes(32), [])


# The transparency-dev/merkle probes: each says whether a correct verifier accepts it.
VECTORS = Path(__file__).parent / "data" / "transparency-dev-merkle"


def _probes(kind: str) -> list[Path]:
    return sorted((VECTORS / kind).rglob("*.json"))


def _b64(s: str) -> bytes:
    return base64.b64decode(s)


def test_reference_probes_are_present():
    assert len(_probes("inclusion")) > 50 and len(_probes("consistency")) > 50


@pytest.mark.parametrize("path", _probes("inclusion"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transparency_dev_inclusion_probe(path):
    probe = json.loads(path.read_text())
    ok = merkle.verify_inclusion(_b64(probe["leafHash"]), probe["leafIdx"], probe["treeSize"],
                                 [_b64(p) for p in probe["proof"] or []], _b64(probe["root"]))
    assert ok is not probe["wantErr"], probe["desc"]


@pytest.mark.parametrize("path", _probes("consistency"), ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_transparency_dev_consistency_probe(path):
    probe = json.loads(path.read_text())
    ok = merkle.verify_consistency(probe["size1"], probe["size2"], _b64(probe["root1"]),
                                   _b64(probe["root2"]), [_b64(p) for p in probe["proof"] or []])
    assert ok is not probe["wantErr"], probe["desc"]


def test_digests_of_the_wrong_length_prove_nothing():
    # Seen on an earlier main: both returned True.
    assert not merkle.verify_inclusion(b"", 0, 1, [], b"")
    root = merkle.merkle_root(make_leaves(1))
    assert not merkle.verify_consistency(0, 0, root, root, [])
    leaves = make_leaves(5)
    proof = merkle.inclusion_proof(leaves, 2)
    root = merkle.merkle_root(leaves)
    assert not merkle.verify_inclusion(leaves[2], 2, 5, [p + b"\x00" for p in proof], root)
