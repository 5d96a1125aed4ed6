"""Manifest.verify: every kind of change is named; unreadable, vanishing and changing files are
reported (verify) or raised (build), never swallowed."""

from __future__ import annotations

import errno
import hashlib
import importlib
import os

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pipeward as pw
from pipeward.manifest import FileChangedError, _hashing, build
from pipeward.manifest import verify as verify_module

from _manifest_trees import make_tree, spy_on_hashing

TREE = {b"a.txt": b"alpha", b"b.txt": b"bravo!", b"sub/c.bin": b"\x00" * 5000, b"sub/d": b"delta"}


@pytest.fixture
def tree(tmp_path):
    root = make_tree(tmp_path / "t", TREE)
    os.symlink(b"a.txt", os.path.join(root, b"link"))
    return root


@pytest.fixture
def hashed_paths(monkeypatch):
    """Record which files verification actually reads."""
    return spy_on_hashing(monkeypatch)


def test_intact_tree_is_ok(tree):
    v = pw.Manifest.build(tree).verify(tree)
    assert v.ok and v.checked == 5
    assert v.to_dict() == {"ok": True, "checked": 5, "added": [], "removed": [], "modified": [],
                           "renamed": [], "errors": []}


def test_every_kind_of_change_is_named(tree):
    m = pw.Manifest.build(tree)
    p = lambda rel: os.path.join(tree, rel)  # noqa: E731
    with open(p(b"a.txt"), "wb") as f:
        f.write(b"alphA")                         # same size, new content
    with open(p(b"b.txt"), "ab") as f:
        f.write(b"more")                          # new size
    os.rename(p(b"sub/c.bin"), p(b"sub/c-renamed.bin"))
    os.remove(p(b"sub/d"))
    with open(p(b"new"), "wb") as f:
        f.write(b"new file")
    os.remove(p(b"link"))
    os.symlink(b"b.txt", p(b"link"))              # link retargeted
    v = m.verify(tree)
    assert not v.ok
    assert v.modified == ("a.txt", "b.txt", "link")
    assert v.reasons == {"a.txt": "content changed", "b.txt": "size 6 -> 10",
                         "link": "link target changed"}
    assert v.added == ("new",)
    assert v.removed == ("sub/d",)
    assert v.renamed == (("sub/c.bin", "sub/c-renamed.bin"),)
    assert v.errors == ()
    d = v.to_dict()
    assert d["renamed"] == [{"from": "sub/c.bin", "to": "sub/c-renamed.bin"}]
    assert {"path": "b.txt", "reason": "size 6 -> 10"} in d["modified"]


def test_type_changes_are_modifications(tree):
    m = pw.Manifest.build(tree)
    os.remove(os.path.join(tree, b"a.txt"))
    os.symlink(b"b.txt", os.path.join(tree, b"a.txt"))
    os.remove(os.path.join(tree, b"link"))
    with open(os.path.join(tree, b"link"), "wb") as f:
        f.write(b"now a file")
    v = m.verify(tree)
    assert v.modified == ("a.txt", "link")
    assert v.reasons["a.txt"] == "was a file, now a link"
    assert v.reasons["link"] == "was a link, now a file"


def test_a_changed_size_is_reported_without_reading_the_file(tree, hashed_paths):
    m = pw.Manifest.build(tree)
    hashed_paths.clear()
    with open(os.path.join(tree, b"sub/c.bin"), "ab") as f:
        f.write(b"x")
    v = m.verify(tree)
    assert v.modified == ("sub/c.bin",)
    read = {os.path.relpath(p, tree) for p in hashed_paths}
    assert b"sub/c.bin" not in read
    assert read == {b"a.txt", b"b.txt", b"sub/d"}


def test_new_files_are_only_read_when_they_could_be_renames(tree, hashed_paths):
    m = pw.Manifest.build(tree)
    hashed_paths.clear()
    with open(os.path.join(tree, b"big-new"), "wb") as f:
        f.write(b"y" * 1234)   # no missing file has this size: never read
    v = m.verify(tree)
    assert v.added == ("big-new",)
    assert os.path.join(tree, b"big-new") not in hashed_paths


def test_a_moved_directory_is_a_set_of_renames(tree):
    m = pw.Manifest.build(tree)
    os.rename(os.path.join(tree, b"sub"), os.path.join(tree, b"moved"))
    v = m.verify(tree)
    assert v.renamed == (("sub/c.bin", "moved/c.bin"), ("sub/d", "moved/d"))
    assert not v.added and not v.removed and not v.ok


def test_verify_walks_with_the_manifests_own_options(tree):
    m = pw.Manifest.build(tree, exclude=["*.tmp"])
    with open(os.path.join(tree, b"scratch.tmp"), "wb") as f:
        f.write(b"ignored")
    assert m.verify(tree).ok
    os.symlink(b"a.txt", os.path.join(tree, b"l2"))
    assert m.verify(tree).added == ("l2",)


def test_non_utf8_and_odd_names_verify(tmp_path):
    root = make_tree(tmp_path, {b"\xff\xfe": b"1", b"a\nb": b"2", b"c\\d": b"3"})
    m = pw.Manifest.build(root)
    assert m.verify(root).ok
    with open(os.path.join(root, b"\xff\xfe"), "wb") as f:
        f.write(b"9")
    assert m.verify(root).modified == (os.fsdecode(b"\xff\xfe"),)


def test_verify_of_a_missing_directory_is_an_input_error(tree, tmp_path):
    m = pw.Manifest.build(tree)
    with pytest.raises(FileNotFoundError):
        m.verify(tmp_path / "nope")


# ------------------------------------------------------------ unreadable / vanishing / changing


def _fail_for(monkeypatch, target: bytes, code: int = errno.EACCES, changed: bool = False):
    """Make the native hasher report a failure for one file, exactly as it reports a real one
    (tests run as root, where chmod 000 does not stop reads)."""
    real = _hashing.hash_files_raw

    def failing(paths, workers=None, **kwargs):
        results = real(paths, workers, **kwargs)
        return [(b"", 0, 0, 0, True) if p.endswith(target) and changed else
                (b"", 0, 0, code, False) if p.endswith(target) else r
                for p, r in zip(paths, results)]

    monkeypatch.setattr(_hashing, "hash_files_raw", failing)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_really_unreadable_file(tree):
    m = pw.Manifest.build(tree)
    path = os.path.join(tree, b"b.txt")
    os.chmod(path, 0)
    try:
        with pytest.raises(PermissionError, match="b.txt"):
            pw.Manifest.build(tree)
        assert m.verify(tree).errors == (("b.txt", "Permission denied"),)
    finally:
        os.chmod(path, 0o644)


def test_unreadable_file_raises_in_build_and_is_an_error_in_verify(tree, monkeypatch):
    m = pw.Manifest.build(tree)
    _fail_for(monkeypatch, b"b.txt")
    with pytest.raises(PermissionError, match="b.txt"):
        pw.Manifest.build(tree)
    v = m.verify(tree)
    assert not v.ok
    assert v.errors == (("b.txt", "Permission denied"),)
    assert not v.modified and not v.removed  # the other files were still checked
    assert v.to_dict()["errors"] == [{"path": "b.txt", "error": "Permission denied"}]


def test_unreadable_directory(tree, monkeypatch):
    m = pw.Manifest.build(tree)
    real = os.scandir

    def scandir(path):
        if os.fsencode(path).endswith(b"/sub"):
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))
        return real(path)

    monkeypatch.setattr(os, "scandir", scandir)
    with pytest.raises(PermissionError, match="sub"):
        pw.Manifest.build(tree)
    v = m.verify(tree)
    assert v.errors == (("sub", "cannot list directory: Permission denied"),)
    assert not v.removed  # entries under it are unverified, not missing


def test_file_vanishing_between_walk_and_hash(tree, monkeypatch):
    m = pw.Manifest.build(tree)
    real_walk = build.walk

    def walk_then_delete(*args, **kwargs):
        found = real_walk(*args, **kwargs)
        os.remove(os.path.join(tree, b"sub/d"))
        return found

    monkeypatch.setattr(build, "walk", walk_then_delete)
    with pytest.raises(FileNotFoundError, match="sub/d"):
        pw.Manifest.build(tree)
    # verify sees it gone at walk time already
    monkeypatch.undo()
    assert m.verify(tree).removed == ("sub/d",)


def test_file_vanishing_during_verify_hashing_is_removed(tree, monkeypatch):
    m = pw.Manifest.build(tree)
    _fail_for(monkeypatch, b"sub/d", errno.ENOENT)
    v = m.verify(tree)
    assert v.removed == ("sub/d",) and not v.errors


def test_file_changing_while_hashed_raises_in_build_and_is_an_error_in_verify(tree, monkeypatch):
    m = pw.Manifest.build(tree)
    _fail_for(monkeypatch, b"a.txt", changed=True)
    with pytest.raises(FileChangedError, match="a.txt"):
        pw.Manifest.build(tree)
    v = m.verify(tree)
    assert [p for p, _ in v.errors] == ["a.txt"] and not v.ok


def _change_after_walk(monkeypatch, module, change):
    """Run ``change()`` after the walk has measured the files and before they are hashed."""
    real_walk = module.walk

    def walk_then_change(*args, **kwargs):
        found = real_walk(*args, **kwargs)
        change()
        return found

    monkeypatch.setattr(module, "walk", walk_then_change)


def _grow(tree):
    def grow():
        with open(os.path.join(tree, b"b.txt"), "ab") as f:
            f.write(b"late")
    return grow


def test_file_growing_between_walk_and_hash_is_recorded_consistently(tree, monkeypatch):
    """Without a cache the hasher measures what it reads, so size and digest always agree."""
    _change_after_walk(monkeypatch, build, _grow(tree))
    m = pw.Manifest.build(tree)
    assert m["b.txt"].size == 10
    assert m["b.txt"].digest == hashlib.sha256(b"bravo!late").hexdigest()


def test_file_growing_between_walk_and_hash_is_caught_when_the_walk_measured_it(tree, tmp_path,
                                                                               monkeypatch):
    m = pw.Manifest.build(tree)
    _change_after_walk(monkeypatch, build, _grow(tree))
    with pytest.raises(FileChangedError, match="b.txt"):
        pw.Manifest.build(tree, cache=tmp_path / "cache.json")  # the cache needs walk stats
    with open(os.path.join(tree, b"b.txt"), "wb") as f:
        f.write(b"bravo!")
    _change_after_walk(monkeypatch, verify_module, _grow(tree))
    v = m.verify(tree)
    assert [p for p, _ in v.errors] == ["b.txt"] and not v.ok


def test_file_replaced_between_walk_and_hash_is_caught(tree, tmp_path, monkeypatch):
    path = os.path.join(tree, b"a.txt")
    os.utime(path, ns=(10**18, 10**18))  # an mtime the replacement cannot share

    def replace():
        with open(path + b".new", "wb") as f:
            f.write(b"ALPHA")  # same size, other content
        os.replace(path + b".new", path)

    _change_after_walk(monkeypatch, build, replace)
    with pytest.raises(FileChangedError, match="a.txt"):
        pw.Manifest.build(tree, cache=tmp_path / "cache.json")


def test_change_errors_are_the_sha256_modules():
    sha256_module = importlib.import_module("pipeward.hashing")
    assert FileChangedError is sha256_module.FileChangedError
    assert issubclass(FileChangedError, OSError)


# ------------------------------------------------------------------ random edits, known answer

EDITS = st.lists(st.tuples(st.sampled_from(["rewrite", "append", "delete", "rename", "add"]),
                           st.integers(0, 7)), max_size=6)


def _contents(root: bytes) -> dict[bytes, bytes]:
    out = {}
    for name in os.listdir(root):
        with open(os.path.join(root, name), "rb") as f:
            out[name] = f.read()
    return out


@given(n=st.integers(0, 8), edits=EDITS)
def test_verify_names_exactly_the_random_edits(tmp_path_factory, n, edits):
    """Random edits, then the answer worked out by reading every file (the oracle)."""
    root = make_tree(tmp_path_factory.mktemp("r"), {b"f%d" % i: b"%d:" % i + b"x" * (3 * i)
                                                     for i in range(n)})
    original = _contents(root)
    m = pw.Manifest.build(root)
    for k, (op, i) in enumerate(edits):
        names = sorted(os.listdir(root))
        if op == "add" or not names:
            with open(os.path.join(root, b"new%d" % k), "wb") as f:
                f.write(b"new-%d" % k)
            continue
        path = os.path.join(root, names[i % len(names)])
        if op == "delete":
            os.remove(path)
        elif op == "rename":
            os.rename(path, path + b"-r")
        else:
            with open(path, "r+b" if op == "rewrite" else "ab") as f:
                f.write(b"!")  # rewrite keeps the size, append grows it
    now = _contents(root)
    gone = sorted(p for p in original if p not in now)
    new = sorted(q for q in now if q not in original)
    renamed = []
    for q in new:  # pair like the implementation: sorted, first unused match
        match = next((p for p in gone if original[p] == now[q]), None)
        if match is not None:
            gone.remove(match)
            renamed.append((match, q))
    dec = os.fsdecode
    v = m.verify(root)
    assert v.modified == tuple(dec(p) for p in sorted(original) if p in now and now[p] != original[p])
    assert v.renamed == tuple((dec(a), dec(b)) for a, b in sorted(renamed))
    assert v.removed == tuple(dec(p) for p in gone)
    assert v.added == tuple(dec(q) for q in new if q not in {b for _, b in renamed})
    assert v.ok == (now == original)
