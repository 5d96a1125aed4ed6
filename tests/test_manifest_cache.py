"""The digest cache: an unchanged tree is not re-read, an edit re-reads only the edited file,
and nothing whose timestamps are too recent (or whose ctime moved) is trusted."""

from __future__ import annotations

import json
import os
import time

import pytest

import pipeward as pw
from pipeward.manifest import ManifestError, ManifestWarning, cache

from _manifest_trees import make_tree, spy_on_hashing

FILES = {f"d{i % 3}/f{i}".encode(): os.urandom(100 + i) for i in range(30)}


def next_timestamp_tick() -> None:
    """File-system timestamps tick every few ms (the kernel's clock granularity); with the racy
    window off, an edit inside the build's own tick is invisible by design, so step past it."""
    time.sleep(0.03)


@pytest.fixture
def reads(monkeypatch):
    return spy_on_hashing(monkeypatch)


@pytest.fixture
def no_racy_window(monkeypatch):
    """Files a test just wrote would otherwise be too recent to cache for 2 s."""
    monkeypatch.setattr(cache, "RACY_WINDOW_NS", -10**12)


def test_unchanged_rebuild_reads_no_file(tmp_path, reads, no_racy_window):
    root = make_tree(tmp_path / "t", FILES)
    cold = pw.Manifest.build(root, cache=tmp_path / "c.json")
    assert len(reads) == len(FILES)
    reads.clear()
    warm = pw.Manifest.build(root, cache=tmp_path / "c.json")
    assert reads == []
    assert warm.root == cold.root == pw.Manifest.build(root).root


def test_editing_one_file_rereads_only_that_file(tmp_path, reads, no_racy_window):
    root = make_tree(tmp_path / "t", FILES)
    pw.Manifest.build(root, cache=tmp_path / "c.json")
    target = os.path.join(root, b"d1/f7")
    next_timestamp_tick()
    with open(target, "r+b") as f:
        f.write(b"EDITED")  # same size
    reads.clear()
    m = pw.Manifest.build(root, cache=tmp_path / "c.json")
    assert reads == [target]
    assert m.root == pw.Manifest.build(root).root


def test_restoring_mtime_after_an_edit_does_not_fool_the_cache(tmp_path, reads, no_racy_window):
    root = make_tree(tmp_path / "t", FILES)
    pw.Manifest.build(root, cache=tmp_path / "c.json")
    target = os.path.join(root, b"d0/f3")
    before = os.stat(target)
    next_timestamp_tick()
    with open(target, "r+b") as f:
        f.write(b"sneaky")
    os.utime(target, ns=(before.st_atime_ns, before.st_mtime_ns))  # ctime still moves
    reads.clear()
    m = pw.Manifest.build(root, cache=tmp_path / "c.json")
    assert reads == [target]
    assert m["d0/f3"].digest == pw.Manifest.build(root)["d0/f3"].digest


def test_a_replaced_file_with_the_same_size_and_mtime_is_rehashed(tmp_path, reads, no_racy_window):
    root = make_tree(tmp_path / "t", FILES)
    pw.Manifest.build(root, cache=tmp_path / "c.json")
    target = os.path.join(root, b"d2/f5")
    st = os.stat(target)
    with open(target + b".new", "wb") as f:
        f.write(b"z" * st.st_size)
    os.utime(target + b".new", ns=(st.st_atime_ns, st.st_mtime_ns))
    os.replace(target + b".new", target)  # new inode
    reads.clear()
    m = pw.Manifest.build(root, cache=tmp_path / "c.json")
    assert reads == [target]
    assert m["d2/f5"].digest == pw.Manifest.build(root)["d2/f5"].digest


def test_recently_modified_files_are_not_trusted(tmp_path, reads):
    """With the real 2 s window, files written just now are hashed again on the next build."""
    root = make_tree(tmp_path / "t", {b"fresh": b"new", b"old": b"old"})
    old = os.path.join(root, b"old")
    pw.Manifest.build(root, cache=tmp_path / "c.json")
    doc = json.loads((tmp_path / "c.json").read_text())
    assert doc["entries"] == []  # both ctimes are too recent to trust
    reads.clear()
    pw.Manifest.build(root, cache=tmp_path / "c.json")
    assert sorted(reads) == sorted([os.path.join(root, b"fresh"), old])


def test_racy_rule_uses_mtime_and_ctime(tmp_path):
    c = cache.HashCache(tmp_path / "c.json")
    st = os.stat(make_tree(tmp_path / "t", {b"f": b"x"}) + b"/f")
    c.record(st, "a" * 64, start_ns=st.st_ctime_ns + cache.RACY_WINDOW_NS)
    c.record(st, "b" * 64, start_ns=max(st.st_mtime_ns, st.st_ctime_ns) + cache.RACY_WINDOW_NS + 1)
    c.save()
    assert cache.HashCache(tmp_path / "c.json").lookup(st) == "b" * 64


def test_a_damaged_pipeward_cache_is_ignored_with_a_warning(tmp_path, no_racy_window):
    root = make_tree(tmp_path / "t", FILES)
    expected = pw.Manifest.build(root).root
    for junk in (b'{"format": "pipeward-hash-cache", "version": 1, "entries": [[1, 2]]}',
                 b'{"format": "pipeward-hash-cache", "version": 99, "entries": []}'):
        (tmp_path / "c.json").write_bytes(junk)
        with pytest.warns(ManifestWarning, match="ignoring the hash cache"):
            m = pw.Manifest.build(root, cache=tmp_path / "c.json")
        assert m.root == expected
    assert json.loads((tmp_path / "c.json").read_text())["format"] == "pipeward-hash-cache"


@pytest.mark.parametrize("content", [b"-----BEGIN PRIVATE KEY-----\nMC4CAQAw\n", b"a,b\n1,2\n",
                                     b"{not json", b'{"format": "other"}', b"[1, 2]", b"\xff\xfe"])
def test_a_file_that_is_not_a_cache_is_never_written_over(tmp_path, content, no_racy_window):
    """A mistyped --cache once destroyed a private key: build and verify refuse instead."""
    root = make_tree(tmp_path / "t", FILES)
    victim = tmp_path / "victim"
    victim.write_bytes(content)
    with pytest.raises(ManifestError, match="not a pipeward hash cache"):
        pw.Manifest.build(root, cache=victim)
    m = pw.Manifest.build(root)
    with pytest.raises(ManifestError, match="not a pipeward hash cache"):
        m.verify(root, cache=victim)
    assert victim.read_bytes() == content


def test_an_empty_file_may_become_the_cache(tmp_path, no_racy_window):
    root = make_tree(tmp_path / "t", FILES)
    (tmp_path / "c.json").write_bytes(b"")
    pw.Manifest.build(root, cache=tmp_path / "c.json")
    assert json.loads((tmp_path / "c.json").read_text())["format"] == "pipeward-hash-cache"


def test_a_cache_inside_the_tree_is_left_out_of_it(tmp_path, no_racy_window):
    root = make_tree(tmp_path / "t", FILES)
    expected = pw.Manifest.build(root).root
    for _ in range(2):
        m = pw.Manifest.build(root, cache=os.path.join(root, b"[.cache]*"))
        assert m.root == expected
    assert m.verify(root).ok


def test_verify_uses_the_cache_too(tmp_path, reads, no_racy_window):
    root = make_tree(tmp_path / "t", FILES)
    m = pw.Manifest.build(root, cache=tmp_path / "c.json")
    reads.clear()
    assert m.verify(root, cache=tmp_path / "c.json").ok
    assert reads == []
    next_timestamp_tick()
    with open(os.path.join(root, b"d0/f0"), "r+b") as f:
        f.write(b"!")
    v = m.verify(root, cache=tmp_path / "c.json")
    assert v.modified == ("d0/f0",) and reads == [os.path.join(root, b"d0/f0")]


def test_an_unchanged_tree_leaves_the_cache_file_untouched(tmp_path, no_racy_window):
    root = make_tree(tmp_path / "t", FILES)
    cache_path = tmp_path / "c.json"
    pw.Manifest.build(root, cache=cache_path)
    before = cache_path.stat()
    pw.Manifest.build(root, cache=cache_path)
    after = cache_path.stat()
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    next_timestamp_tick()
    with open(os.path.join(root, b"d0/f0"), "r+b") as f:
        f.write(b"?")
    pw.Manifest.build(root, cache=cache_path)
    assert cache_path.stat().st_ino != before.st_ino  # rewritten (atomically) when it changed
