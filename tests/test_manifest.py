"""Manifest.build / root / save / load / inclusion proofs / signatures, against hashlib and an
independent RFC 6962 implementation written from the documented canonical entry bytes."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import struct
import warnings

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pipeward as pw
from pipeward import signing
from pipeward.manifest import Entry, InclusionProof, ManifestError, ManifestWarning

from _manifest_trees import make_tree

# Odd names, empty and multi-block files and random trees all go through the native
# hash_files: worth re-running under the sanitizers.
pytestmark = pytest.mark.native

# ----------------------------------------------------------------------------- independent spec


def spec_entry_bytes(path: bytes, kind: str, size: int, digest: bytes | None, target: bytes | None) -> bytes:
    out = struct.pack(">I", len(path)) + path + (b"f" if kind == "file" else b"l") + struct.pack(">Q", size)
    return out + (digest if kind == "file" else struct.pack(">I", len(target)) + target)


def spec_mth(leaves: list[bytes]) -> bytes:
    """RFC 6962 section 2.1, recursively, over the raw leaf data."""
    if not leaves:
        return hashlib.sha256(b"").digest()
    if len(leaves) == 1:
        return hashlib.sha256(b"\x00" + leaves[0]).digest()
    k = 1
    while k * 2 < len(leaves):
        k *= 2
    return hashlib.sha256(b"\x01" + spec_mth(leaves[:k]) + spec_mth(leaves[k:])).digest()


def spec_root_of_tree(root: bytes) -> str:
    """What an independent verifier computes for a tree of files and (unfollowed) links."""
    items = []
    for dirpath, dirnames, filenames in os.walk(root):
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            rel = os.path.relpath(full, root)
            if os.path.islink(full):
                t = os.readlink(full)
                items.append(spec_entry_bytes(rel, "link", len(t), None, t))
            else:
                with open(full, "rb") as f:
                    data = f.read()
                items.append(spec_entry_bytes(rel, "file", len(data), hashlib.sha256(data).digest(), None))
    items.sort(key=lambda b: b[4:4 + struct.unpack(">I", b[:4])[0]])
    return spec_mth(items).hex()


ODD_NAMES = {
    b"plain.txt": b"hello",
    b"with space.bin": b"",
    b"colon:name": b"c" * 70_000,
    b"back\\slash": b"\\",
    b"new\nline": b"nl",
    b"carriage\rreturn": b"cr",
    b"latin1-\xe9\xff": b"not utf-8",
    "unicode-é-☃".encode(): b"snowman",
    b"sub/dir/deep.txt": b"deep",
    b"sub/a": b"a",
}


@pytest.fixture
def odd_tree(tmp_path):
    root = make_tree(tmp_path / "t", ODD_NAMES)
    os.symlink(b"plain.txt", os.path.join(root, b"link-to-plain"))
    os.symlink(b"missing-target", os.path.join(root, b"sub/broken"))
    return root


# ---------------------------------------------------------------------------------- building


def test_build_records_every_file_with_hashlib_digests(odd_tree):
    m = pw.Manifest.build(odd_tree)
    files = {e.raw_path: e for e in m if e.kind == "file"}
    assert set(files) == set(ODD_NAMES)
    for rel, data in ODD_NAMES.items():
        assert files[rel].size == len(data)
        assert files[rel].digest == hashlib.sha256(data).hexdigest()
    links = {e.raw_path: e.target for e in m if e.kind == "link"}
    assert links == {b"link-to-plain": b"plain.txt", b"sub/broken": b"missing-target"}
    assert [e.raw_path for e in m] == sorted(e.raw_path for e in m)


def test_root_matches_an_independent_rfc6962_implementation(odd_tree):
    assert pw.Manifest.build(odd_tree).root == spec_root_of_tree(odd_tree)


@given(st.dictionaries(
    st.lists(st.text("ab\\:\n é", min_size=1, max_size=4), min_size=1, max_size=2)
      .map(lambda parts: "/".join(parts).encode()),
    st.binary(max_size=300), max_size=12))
def test_root_matches_the_spec_on_random_trees(tmp_path_factory, files):
    # A name cannot be both a file and a directory: drop the conflicting ones.
    names = sorted(files)
    files = {n: files[n] for n in names if not any(o.startswith(n + b"/") for o in names)}
    root = make_tree(tmp_path_factory.mktemp("h"), files)
    m = pw.Manifest.build(root)
    assert m.root == spec_root_of_tree(root)
    assert len(m) == len(files)


def test_empty_tree_root_is_sha256_of_nothing(tmp_path):
    m = pw.Manifest.build(tmp_path)
    assert len(m) == 0 and m.root == hashlib.sha256(b"").hexdigest()


def test_root_binds_names_sizes_contents_and_link_targets(tmp_path):
    base = pw.Manifest.build(make_tree(tmp_path / "a", {b"x": b"1", b"y": b"2"})).root
    variants = [
        {b"x": b"1", b"z": b"2"},   # renamed
        {b"x": b"1", b"y": b"3"},   # content
        {b"x": b"1", b"y": b"22"},  # size
        {b"x": b"1"},               # removed
    ]
    roots = {pw.Manifest.build(make_tree(tmp_path / f"v{i}", v)).root for i, v in enumerate(variants)}
    assert base not in roots and len(roots) == len(variants)
    la, lb = tmp_path / "la", tmp_path / "lb"
    la.mkdir(), lb.mkdir()
    os.symlink("t1", la / "l"), os.symlink("t2", lb / "l")
    assert pw.Manifest.build(la).root != pw.Manifest.build(lb).root


def test_special_files_are_skipped_with_a_warning(tmp_path):
    make_tree(tmp_path, {b"f": b"data"})
    os.mkfifo(tmp_path / "fifo")
    sock = socket.socket(socket.AF_UNIX)
    sock.bind(str(tmp_path / "sock"))
    try:
        with pytest.warns(ManifestWarning) as rec:
            m = pw.Manifest.build(tmp_path)
    finally:
        sock.close()
    assert [e.path for e in m] == ["f"]
    assert {str(w.message).split("'")[1] for w in rec} == {"fifo", "sock"}


def test_exclude_patterns_match_names_and_paths(tmp_path):
    make_tree(tmp_path, {b"keep.txt": b"", b"drop.tmp": b"", b"a/drop.tmp": b"", b"a/keep": b"",
                         b"cache/x": b"", b"a/cache/y": b"", b"lit[1]": b""})
    m = pw.Manifest.build(tmp_path, exclude=["*.tmp", "a/cache", "lit[[]1]"])
    assert [e.path for e in m] == ["a/keep", "cache/x", "keep.txt"]
    m2 = pw.Manifest.build(tmp_path, exclude=["cache"])
    assert "cache/x" not in m2 and "a/cache/y" not in m2 and "a/keep" in m2
    with pytest.raises(TypeError, match="sequence of patterns"):
        pw.Manifest.build(tmp_path, exclude="*.tmp")


def test_follow_symlinks_hashes_targets_and_survives_loops(tmp_path):
    make_tree(tmp_path, {b"real/f": b"content"})
    os.symlink("real", tmp_path / "dirlink")
    os.symlink("real/f", tmp_path / "filelink")
    os.symlink(".", tmp_path / "real" / "self")          # a directory loop
    os.symlink("loop2", tmp_path / "loop1")              # a link loop (ELOOP)
    os.symlink("loop1", tmp_path / "loop2")
    os.symlink("nowhere", tmp_path / "broken")
    with pytest.warns(ManifestWarning) as rec:
        m = pw.Manifest.build(tmp_path, follow_symlinks=True)
    digest = hashlib.sha256(b"content").hexdigest()
    assert m["dirlink/f"].digest == m["filelink"].digest == m["real/f"].digest == digest
    assert m["real/self"].kind == m["dirlink/self"].kind == "link"
    assert m["loop1"].kind == m["loop2"].kind == m["broken"].kind == "link"
    assert len(rec) == 5  # two loops via self, two ELOOP links, one broken link
    # without following, every link is just a link and nothing warns
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m2 = pw.Manifest.build(tmp_path)
    assert {e.path for e in m2 if e.kind == "link"} == {"dirlink", "filelink", "real/self",
                                                         "loop1", "loop2", "broken"}


def test_root_must_be_a_directory(tmp_path):
    (tmp_path / "f").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        pw.Manifest.build(tmp_path / "f")
    with pytest.raises(FileNotFoundError):
        pw.Manifest.build(tmp_path / "missing")


def test_workers_argument_gives_the_same_manifest(tmp_path):
    root = make_tree(tmp_path, {f"f{i}".encode(): os.urandom(i * 37) for i in range(50)})
    assert pw.Manifest.build(root, workers=1).root == pw.Manifest.build(root, workers=2).root


# ------------------------------------------------------------------------------- save / load


def test_save_load_round_trips_every_name(odd_tree, tmp_path):
    m = pw.Manifest.build(odd_tree, metadata={"dataset": "odd", "release": "1"})
    m.save(tmp_path / "m.json")
    back = pw.Manifest.load(tmp_path / "m.json")
    assert back == m and back.root == m.root
    assert [e.raw_path for e in back] == [e.raw_path for e in m]
    doc = json.loads((tmp_path / "m.json").read_text("utf-8"))
    b64 = [e for e in doc["entries"] if "path_b64" in e]
    assert [base64.b64decode(e["path_b64"]) for e in b64] == [b"latin1-\xe9\xff"]


def _saved(tmp_path, tree=None) -> dict:
    root = make_tree(tmp_path / "src", tree or {b"a": b"1", b"b/c": b"22"})
    os.symlink("a", os.path.join(root, b"l"))
    return pw.Manifest.build(root).to_dict()


def _corrupt(doc, edit):
    doc = json.loads(json.dumps(doc))
    edit(doc)
    return doc


BAD_MANIFESTS = [
    (lambda d: d.update(format="other"), "not a pipeward manifest"),
    (lambda d: d.update(version=2), "unsupported manifest version 2"),
    (lambda d: d.pop("root"), "missing field 'root'"),
    (lambda d: d.pop("entries"), "'entries'"),
    (lambda d: d.update(extra=1), "unknown field"),
    (lambda d: d.update(hash="md5"), "unsupported hash"),
    (lambda d: d.update(options={"exclude": "x"}), "'options'"),
    (lambda d: d.update(created=5), "'created'"),
    (lambda d: d.update(metadata={"k": 1}), "metadata must map str to str"),
    (lambda d: d.update(tree_size=99), "'tree_size' is 99"),
    (lambda d: d.update(tree_size=3.0), "'tree_size' is 3.0"),
    (lambda d: d.update(version=True), "unsupported manifest version True"),
    (lambda d: d.update(root="0" * 64), "does not match the root"),
    (lambda d: d["entries"][0].update(sha256="XYZ"), "entry 0: sha256 must be 64"),
    (lambda d: d["entries"][0].update(size=-1), "entry 0: size must be"),
    (lambda d: d["entries"][0].update(size=True), "entry 0: size must be"),
    (lambda d: d["entries"][0].update(type="dir"), "entry 0: 'type' must be"),
    (lambda d: d["entries"][0].pop("sha256"), "entry 0: a file entry needs"),
    (lambda d: d["entries"][0].update(path="../escape"), "entry 0: path .* component"),
    (lambda d: d["entries"][0].update(path="/abs"), "entry 0: path .* absolute"),
    (lambda d: d["entries"][0].update(path_b64="YQ=="), "entry 0: expected exactly one of"),
    (lambda d: d["entries"][0].update(mode=7), "entry 0: unknown field"),
    (lambda d: d["entries"].append(dict(d["entries"][0])), "duplicate entry"),
    (lambda d: d["entries"][2].update(target=""), "entry 2: a link needs a non-empty target"),
    (lambda d: d["entries"][2].pop("target") and d["entries"][2].update(target_b64="!!"),
     "entry 2: 'target_b64' is not valid base64"),
    (lambda d: d["entries"].__setitem__(0, 5), "entry 0: expected an object"),
    (lambda d: d.update(signature={"algorithm": "rsa", "key_id": "0" * 64, "value": ""}),
     "unsupported signature algorithm"),
    (lambda d: d.update(signature={"algorithm": "ed25519", "key_id": "0" * 64, "value": "AAAA"}),
     "64 bytes, got 3"),
]


@pytest.mark.parametrize(("edit", "message"), BAD_MANIFESTS)
def test_malformed_manifests_are_clear_errors(tmp_path, edit, message):
    path = tmp_path / "m.json"
    path.write_text(json.dumps(_corrupt(_saved(tmp_path), edit)))
    with pytest.raises(ManifestError, match=message) as info:
        pw.Manifest.load(path)
    assert str(path) in str(info.value)


def test_truncated_and_non_json_manifests(tmp_path):
    path = tmp_path / "m.json"
    text = json.dumps(_saved(tmp_path))
    for cut in (1, len(text) // 2, len(text) - 1):
        path.write_text(text[:cut])
        with pytest.raises(ManifestError, match="not valid JSON \\(truncated\\?\\)"):
            pw.Manifest.load(path)
    path.write_bytes(b"\xff\xfe garbage")
    with pytest.raises(ManifestError, match="not UTF-8|not valid JSON"):
        pw.Manifest.load(path)
    path.write_text("[1, 2]")
    with pytest.raises(ManifestError, match="expected a JSON object, got list"):
        pw.Manifest.load(path)
    path.write_text("")
    with pytest.raises(ManifestError, match="truncated"):
        pw.Manifest.load(path)


def test_manifest_error_is_a_value_error():
    assert issubclass(ManifestError, ValueError)


# ---------------------------------------------------------------------------- inclusion proofs


def test_every_entry_has_a_verifiable_inclusion_proof(odd_tree):
    m = pw.Manifest.build(odd_tree)
    other = pw.Manifest.build(os.path.join(odd_tree, b"sub")).root
    for e in m:
        proof = m.inclusion_proof(e.raw_path)
        assert pw.verify_inclusion(proof, m.root)
        assert not pw.verify_inclusion(proof, other)
        back = InclusionProof.from_dict(json.loads(json.dumps(proof.to_dict())))
        assert pw.verify_inclusion(back, m.root)
    with pytest.raises(KeyError):
        m.inclusion_proof("not-there")


def test_inclusion_proof_rejects_altered_entries_and_paths(odd_tree):
    m = pw.Manifest.build(odd_tree)
    proof = m.inclusion_proof("plain.txt")
    e = proof.entry
    forged = [
        Entry(e.raw_path, "file", e.size, digest="0" * 64),
        Entry(e.raw_path, "file", e.size + 1, digest=e.digest),
        Entry(b"other.txt", "file", e.size, digest=e.digest),
    ]
    for entry in forged:
        bad = InclusionProof(entry, proof.index, proof.tree_size, proof.hashes, proof.root)
        assert not pw.verify_inclusion(bad, m.root)
    for wrong in (proof.index + 1, ):
        assert not pw.verify_inclusion(InclusionProof(e, wrong, proof.tree_size, proof.hashes, m.root), m.root)
    tampered = (proof.hashes[0][:-1] + ("0" if proof.hashes[0][-1] != "0" else "1"),) + proof.hashes[1:]
    assert not pw.verify_inclusion(InclusionProof(e, proof.index, proof.tree_size, tampered, m.root), m.root)
    assert not pw.verify_inclusion(proof, "not hex")
    assert not pw.verify_inclusion(proof, m.root[:10])


def test_inclusion_proof_checks_the_file_on_disk(odd_tree):
    m = pw.Manifest.build(odd_tree)
    proof = m.inclusion_proof("plain.txt")
    path = os.path.join(odd_tree, b"plain.txt")
    assert pw.verify_inclusion(proof, m.root, file=path)
    assert not pw.verify_inclusion(proof, m.root, file=os.path.join(odd_tree, b"sub/a"))
    assert not pw.verify_inclusion(proof, m.root, file=os.path.join(odd_tree, b"gone"))
    link = m.inclusion_proof("link-to-plain")
    assert pw.verify_inclusion(link, m.root, file=os.path.join(odd_tree, b"link-to-plain"))
    assert not pw.verify_inclusion(link, m.root, file=path)


# --------------------------------------------------------------------------------- signatures


@pytest.fixture
def keys():
    return signing.generate_keypair()


def test_sign_and_verify_round_trip_through_a_file(odd_tree, tmp_path, keys):
    private, public = keys
    m = pw.Manifest.build(odd_tree, metadata={"owner": "data team"})
    assert not m.verify_signature(public)  # unsigned
    m.sign(private)
    assert m.verify_signature(public)
    assert m.signature["key_id"] == signing.key_id(public)
    m.save(tmp_path / "m.json")
    back = pw.Manifest.load(tmp_path / "m.json")
    assert back.verify_signature(public)
    (tmp_path / "k.pub").write_bytes(public)
    assert back.verify_signature(tmp_path / "k.pub")


def test_wrong_key_and_tampering_fail_the_signature(tmp_path, keys):
    private, public = keys
    _, other_public = signing.generate_keypair()
    root = make_tree(tmp_path / "src", {b"a": b"1", b"b": b"2"})
    m = pw.Manifest.build(root, metadata={"release": "1"})
    m.sign(private)
    assert not m.verify_signature(other_public)
    path = tmp_path / "m.json"
    m.save(path)
    doc = json.loads(path.read_text())

    def reload_with(edit):
        d = _corrupt(doc, edit)
        path.write_text(json.dumps(d))
        return pw.Manifest.load(path)

    tampered_sig = base64.b64decode(doc["signature"]["value"])
    tampered_sig = base64.b64encode(tampered_sig[:-1] + bytes([tampered_sig[-1] ^ 1])).decode()
    assert not reload_with(lambda d: d["signature"].update(value=tampered_sig)).verify_signature(public)
    assert not reload_with(lambda d: d["metadata"].update(release="2")).verify_signature(public)
    assert not reload_with(lambda d: d.update(created="1999-01-01T00:00:00Z")).verify_signature(public)
    assert not reload_with(lambda d: d["options"].update(exclude=["a"])).verify_signature(public)
    # altering an entry and its root consistently still breaks the signature
    other = pw.Manifest.build(make_tree(tmp_path / "o", {b"a": b"1", b"b": b"X"}))

    def swap(d):
        d["entries"] = other.to_dict()["entries"]
        d["root"] = other.root
    assert not reload_with(swap).verify_signature(public)
    assert reload_with(lambda d: None).verify_signature(public)


def test_signing_with_a_public_key_or_garbage_is_an_error(tmp_path, keys):
    m = pw.Manifest.build(make_tree(tmp_path, {b"a": b""}))
    with pytest.raises(TypeError, match="private key"):
        m.sign(signing.load_public_key(keys[1]))
    with pytest.raises(ValueError, match="PEM"):
        m.sign(b"-----BEGIN PRIVATE KEY-----\nnope\n-----END PRIVATE KEY-----\n")
    with pytest.raises(ValueError, match="PEM"):
        m.verify_signature(b"-----BEGIN PUBLIC KEY-----\nnope\n-----END PUBLIC KEY-----\n")
    with pytest.raises(OSError, match="cannot read"):
        m.verify_signature(tmp_path / "missing.pub")


def test_signing_message_is_the_documented_header(tmp_path, keys):
    m = pw.Manifest.build(make_tree(tmp_path, {b"a": b"x"}), metadata={"k": "v"})
    header = {k: v for k, v in m.to_dict().items() if k not in ("entries", "signature")}
    expected = b"pipeward-manifest-signature-v1\n" + json.dumps(
        header, sort_keys=True, separators=(",", ":")).encode()
    assert m.signing_message() == expected
    m.sign(keys[0])
    sig = base64.b64decode(m.signature["value"])
    signing.load_public_key(keys[1]).verify(sig, expected)  # raises if invalid


def test_constructor_checks_hand_made_entries():
    good = Entry(b"a", "file", 1, digest="0" * 64)
    assert pw.Manifest([good]).root == spec_mth([spec_entry_bytes(b"a", "file", 1, bytes(32), None)]).hex()
    with pytest.raises(ValueError, match="entry b'a': sha256 must be"):
        pw.Manifest([Entry(b"a", "file", 1, digest="zz")])
    with pytest.raises(ValueError, match="absolute"):
        pw.Manifest([Entry(b"/a", "file", 1, digest="0" * 64)])
    with pytest.raises(ValueError, match="duplicate entry 'a'"):
        pw.Manifest([good, good])
    with pytest.raises(TypeError, match="expected Entry objects, got tuple"):
        pw.Manifest([(b"a", "file", 1, "0" * 64, None)])
    with pytest.raises(TypeError, match="metadata must map str to str"):
        pw.Manifest([good], metadata={"k": 1})
