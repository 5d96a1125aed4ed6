"""GNU sha256sum check files: what we write, the real ``sha256sum -c`` accepts (escaped names
included); what ``sha256sum`` writes, we read; malformed check files are clear errors."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pipeward as pw
from pipeward.manifest import Entry, ManifestError, format_checkfile, parse_checkfile, verify_checkfile

from _manifest_trees import make_tree

SHA256SUM = shutil.which("sha256sum")
needs_coreutils = pytest.mark.skipif(SHA256SUM is None, reason="GNU sha256sum not installed")

NAMES = {
    b"plain": b"1",
    b"with space": b"2",
    b"colon:x": b"3",
    b"back\\slash": b"4",
    b"new\nline": b"5",
    b"carriage\rreturn": b"6",
    b"both\\\n": b"7",
    b"\xff\xfenot-utf8": b"8",
    b"*star-first": b"9",
    b" leading space": b"10",
    b"sub/dir/f": b"11",
}


def run_sha256sum(args, cwd, stdin=None):
    return subprocess.run([SHA256SUM, *args], cwd=cwd, input=stdin, capture_output=True, check=False)


@needs_coreutils
def test_real_sha256sum_accepts_our_check_file(tmp_path):
    root = make_tree(tmp_path / "t", NAMES)
    m = pw.Manifest.build(root)
    text = m.to_checkfile(tmp_path / "sums")
    assert (tmp_path / "sums").read_bytes() == text
    proc = run_sha256sum(["--strict", "-c", str(tmp_path / "sums")], cwd=root)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.count(b": OK\n") == len(NAMES)
    with open(os.path.join(root, b"new\nline"), "wb") as f:
        f.write(b"changed")
    proc = run_sha256sum(["-c", str(tmp_path / "sums")], cwd=root)
    assert proc.returncode == 1 and b"FAILED" in proc.stdout


@needs_coreutils
def test_we_write_what_sha256sum_writes_and_read_it_back(tmp_path):
    root = make_tree(tmp_path / "t", NAMES)
    names = sorted(n for n in NAMES)
    proc = run_sha256sum(["--", *names], cwd=root)
    assert proc.returncode == 0
    m = pw.Manifest.build(root)
    assert m.to_checkfile() == proc.stdout  # byte for byte, escapes included
    parsed = dict(parse_checkfile(proc.stdout))
    assert parsed == {e.raw_path: e.digest for e in m}


@needs_coreutils
def test_tagged_and_binary_mode_lines_are_read(tmp_path):
    root = make_tree(tmp_path / "t", NAMES)
    names = sorted(NAMES)
    expected = {e.raw_path: e.digest for e in pw.Manifest.build(root)}
    for flags in (["--tag"], ["--binary"]):
        out = run_sha256sum([*flags, "--", *names], cwd=root).stdout
        assert dict(parse_checkfile(out)) == expected
        assert verify_checkfile(out, root).ok


@given(st.lists(st.binary(min_size=1, max_size=12).filter(lambda b: b"\x00" not in b and b"/" not in b
                                                        and b not in (b".", b"..")),
                unique=True, max_size=8))
def test_format_parse_round_trip(names):
    entries = [Entry(n, "file", 1, digest=f"{i:064x}") for i, n in enumerate(sorted(names))]
    assert parse_checkfile(format_checkfile(entries)) == [(e.raw_path, e.digest) for e in entries]


def test_links_are_left_out_and_dot_slash_and_crlf_are_accepted():
    entries = [Entry(b"f", "file", 1, digest="a" * 64), Entry(b"l", "link", 1, target=b"f")]
    assert format_checkfile(entries) == b"a" * 64 + b"  f\n"
    assert parse_checkfile(b"A" * 64 + b"  ./x\r\n") == [(b"x", "a" * 64)]


@pytest.mark.parametrize(("data", "message"), [
    (b"abc  name\n", "line 1: expected"),
    (b"a" * 64 + b"  ok\n" + b"a" * 63 + b"  short\n", "line 2: expected"),
    (b"a" * 64 + b"name\n", "line 1: expected"),
    (b"a" * 64 + b"  \n", "line 1: expected"),
    (b"\\" + b"a" * 64 + b"  bad\\escape\n", "line 1: bad escape"),
    (b"a" * 64 + b"  /etc/passwd\n", "line 1: path .* absolute"),
    (b"a" * 64 + b"  ../up\n", "line 1: path .* component"),
    (b"a" * 64 + b"  x\n" + b"b" * 64 + b"  x\n", "line 2: .* listed twice"),
    (b"SHA256 (x) = " + b"a" * 10 + b"\n", "line 1: expected"),
    (b"\n", "line 1: expected"),
])
def test_malformed_check_files_name_the_line(data, message):
    with pytest.raises(ManifestError, match=message):
        parse_checkfile(data)


def test_parse_wants_bytes():
    with pytest.raises(TypeError, match="bytes"):
        parse_checkfile("a" * 64 + "  x\n")


def test_verify_checkfile_reports_changes_and_problems(tmp_path):
    root = make_tree(tmp_path / "t", NAMES)
    sums = pw.Manifest.build(root).to_checkfile()
    assert verify_checkfile(sums, root).ok
    with open(os.path.join(root, b"plain"), "wb") as f:
        f.write(b"X")
    os.remove(os.path.join(root, b"with space"))
    os.remove(os.path.join(root, b"colon:x"))
    os.mkdir(os.path.join(root, b"colon:x"))
    with open(os.path.join(root, b"extra"), "wb") as f:
        f.write(b"not listed, not reported")
    (tmp_path / "sums").write_bytes(sums)
    v = verify_checkfile(tmp_path / "sums", root)
    assert v.modified == ("plain",)
    assert v.removed == ("with space",)
    assert v.errors == (("colon:x", "not a regular file"),)
    assert v.added == () and not v.ok
    with pytest.raises(NotADirectoryError):
        verify_checkfile(sums, tmp_path / "sums")
