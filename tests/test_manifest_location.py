"""Where a manifest's tree is (``base``, signed), the guard against verifying another tree, and
progress by bytes plus ``logging`` records for manifest jobs."""

from __future__ import annotations

import json
import logging
import os
import shutil
from pathlib import Path

import pytest

from pipeward.cli import main
from pipeward.manifest import Manifest, ManifestError, NotTheTreeError

from _manifest_trees import make_tree


@pytest.fixture
def data(tmp_path):
    return Path(os.fsdecode(make_tree(tmp_path / "data", {b"a.csv": b"1,2\n",
                                                          b"img/x.png": b"\x89PNG",
                                                          b"b.txt": b"bbb"})))


@pytest.fixture
def stranger(tmp_path):
    """A directory that is plainly not the tree: a pile of unrelated files (a venv, say)."""
    return Path(os.fsdecode(make_tree(tmp_path / "elsewhere",
                                      {b"lib/m%d.py" % i: b"x" * (100 + i) for i in range(60)})))


def _signed_key(tmp_path, capsys):
    assert main(["keygen", "-o", str(tmp_path / "k.pem"), "-q"]) == 0
    capsys.readouterr()
    return tmp_path / "k.pem", tmp_path / "k.pem.pub"


def test_verify_without_dir_finds_the_tree_from_anywhere(data, stranger, tmp_path, capsys,
                                                         monkeypatch):
    out = tmp_path / "manifests" / "data.json"
    out.parent.mkdir()
    assert main(["manifest", "build", str(data), "-o", str(out), "-q"]) == 0
    assert json.loads(out.read_text())["base"] == "../data"
    monkeypatch.chdir(stranger)  # the wrong place: the old default hashed all of it
    assert main(["manifest", "verify", str(out)]) == 0
    assert "OK: 3 entries intact" in capsys.readouterr().out
    # moved together, the tree is still found
    shutil.move(tmp_path / "manifests", tmp_path / "moved")
    shutil.move(str(data), tmp_path / "data-old")
    os.makedirs(tmp_path / "moved" / "sub")
    assert main(["manifest", "verify", str(tmp_path / "moved" / "data.json")]) == 2
    assert "not a directory" in capsys.readouterr().err


def test_library_verify_defaults_to_the_recorded_tree(data, tmp_path):
    m = Manifest.build(data)
    assert m.tree() is None  # not saved yet: no file to be relative to
    with pytest.raises(ValueError, match="does not record where its tree is"):
        m.verify()
    m.save(tmp_path / "m.json")
    assert m.base == "data" and m.tree() == tmp_path / "data"
    assert Manifest.load(tmp_path / "m.json").verify().ok
    (data / "b.txt").write_bytes(b"BBB")
    assert Manifest.load(tmp_path / "m.json").verify().modified == ("b.txt",)
    (tmp_path / "sub").mkdir()
    m.save(tmp_path / "sub" / "again.json")  # a second copy elsewhere: its own relative path
    assert m.base == "../data" and Manifest.load(tmp_path / "sub" / "again.json").tree() == \
        tmp_path / "sub" / ".." / "data"


def test_the_location_is_signed(data, tmp_path, capsys):
    private, public = _signed_key(tmp_path, capsys)
    out = tmp_path / "m.json"
    assert main(["manifest", "build", str(data), "-o", str(out), "--sign", str(private),
                 "-q"]) == 0
    assert main(["manifest", "verify", str(out), "--pubkey", str(public), "-q"]) == 0
    doc = json.loads(out.read_text())
    doc["base"] = "elsewhere"  # point the verifier at another tree
    out.write_text(json.dumps(doc))
    assert main(["manifest", "verify", str(out), "--pubkey", str(public),
                 "--dir", str(data)]) == 1
    assert "signature: INVALID" in capsys.readouterr().out
    m = Manifest.build(data)
    m.sign(private)
    with pytest.raises(ValueError, match="before sign"):
        m.locate(out)


def test_manifests_without_a_location_still_load_and_verify(data, tmp_path, capsys):
    """A manifest written before ``base`` existed: same signed bytes, still valid."""
    private, public = _signed_key(tmp_path, capsys)
    m = Manifest(Manifest.build(data).entries)  # not built here: no location to record
    m.sign(private)
    m.save(tmp_path / "old.json")
    doc = json.loads((tmp_path / "old.json").read_text())
    assert "base" not in doc
    assert set(m.header()) == {"format", "version", "hash", "tree", "root", "tree_size", "created",
                               "options", "metadata"}
    loaded = Manifest.load(tmp_path / "old.json")
    assert loaded.verify_signature(public) and loaded.verify(data).ok
    assert main(["manifest", "verify", str(tmp_path / "old.json"), "--dir", str(data),
                 "--pubkey", str(public), "-q"]) == 0


@pytest.mark.parametrize("bad", ["", "/etc", "a\0b", 3])
def test_a_malformed_location_is_a_manifest_error(data, tmp_path, bad):
    m = Manifest.build(data)
    m.save(tmp_path / "m.json")
    doc = json.loads((tmp_path / "m.json").read_text())
    doc["base"] = bad
    (tmp_path / "m.json").write_text(json.dumps(doc))
    with pytest.raises(ManifestError, match="'base'"):
        Manifest.load(tmp_path / "m.json")


def test_another_tree_is_refused_before_hashing(data, stranger, tmp_path, capsys, monkeypatch):
    m = Manifest(Manifest.build(data).entries)  # an older manifest: no recorded location
    m.save(tmp_path / "old.json")
    monkeypatch.chdir(stranger)
    hashed = []
    import pipeward.manifest.build as build_mod

    real = build_mod._hashing.hash_paths_tolerant
    monkeypatch.setattr(build_mod._hashing, "hash_paths_tolerant",
                        lambda paths, *a, **k: hashed.extend(paths) or real(paths, *a, **k))
    assert main(["manifest", "verify", str(tmp_path / "old.json")]) == 2
    err = capsys.readouterr().err
    assert "does not look like the manifest's tree: 0 of its 3 entries" in err
    assert len(err.strip().splitlines()) == 1 and hashed == []
    with pytest.raises(NotTheTreeError):
        m.verify(stranger)
    # asked for explicitly, it is compared (and fails as a check, not an input error)
    assert main(["manifest", "verify", str(tmp_path / "old.json"), "--any-tree", "-q"]) == 1


def test_a_gutted_tree_is_still_a_verdict_not_a_refusal(data, tmp_path, capsys):
    """Most files deleted, or a few added, is tampering to report, not a wrong directory."""
    m = Manifest.build(data)
    m.save(tmp_path / "m.json")
    for name in ("a.csv", "img/x.png"):
        os.remove(data / name)
    for i in range(40):
        (data / f"new{i}").write_bytes(b"n" * 1000)
    with pytest.raises(NotTheTreeError):  # 1 of 3 left and 40 strangers: another tree
        m.verify()
    os.makedirs(data / "img", exist_ok=True)
    (data / "a.csv").write_bytes(b"1,2\n")
    (data / "img/x.png").write_bytes(b"\x89PNG")
    for i in range(40):
        os.remove(data / f"new{i}")
    os.remove(data / "a.csv")
    os.remove(data / "b.txt")
    result = m.verify()
    assert result.removed == ("a.csv", "b.txt") and not result.ok


def test_progress_callback_counts_bytes_up_to_the_total(data, tmp_path):
    calls = []
    m = Manifest.build(data, progress=lambda done, total: calls.append((done, total)))
    total = sum(e.size for e in m)
    assert calls and calls[-1] == (total, total)
    assert all(t == total for _, t in calls)
    assert [d for d, _ in calls] == sorted(d for d, _ in calls)
    calls.clear()
    (data / "b.txt").write_bytes(b"BBB")
    m.verify(data, progress=lambda done, total: calls.append((done, total)))
    assert calls[-1] == (total, total)  # the three same-size files were hashed
    with pytest.raises(TypeError, match="progress must be"):
        Manifest.build(data, progress="yes")  # type: ignore[arg-type]


def test_one_big_file_moves_the_progress(tmp_path):
    """The bar used to move per 1,024-file batch, so one 2 GB file showed nothing; now the
    native hasher's byte counter is read while it runs. A sparse file costs no disk."""
    root = tmp_path / "big"
    root.mkdir()
    with open(root / "huge.bin", "wb") as f:
        f.truncate(1 << 30)
    calls = []
    Manifest.build(root, workers=1, progress=lambda done, total: calls.append(done))
    assert calls[-1] == 1 << 30
    assert any(0 < d < 1 << 30 for d in calls), calls


def test_manifest_jobs_write_log_records(data, caplog):
    with caplog.at_level(logging.INFO, logger="pipeward.manifest"):
        m = Manifest.build(data)
        m.verify(data)
    messages = [r.getMessage() for r in caplog.records if r.name == "pipeward.manifest"]
    assert any(msg.startswith("manifest build: 3 entries") for msg in messages)
    assert any(msg.startswith("manifest verify: intact") for msg in messages)


def test_long_operations_log_start_and_end(tmp_path, caplog):
    """Drift checks, the poisoning screen and file encryption say when they start and end."""
    import numpy as np

    import pipeward as pw
    from pipeward.protect import encrypt_file, generate_identity

    rng = np.random.default_rng(0)
    X = rng.normal(size=(200, 3))
    (tmp_path / "plain").write_bytes(b"x" * 1000)
    identity = generate_identity()
    with caplog.at_level(logging.INFO, logger="pipeward"):
        pw.DriftMonitor(X).check(X + 5)
        pw.screen(X)
        encrypt_file(tmp_path / "plain", tmp_path / "plain.age", recipients=[identity.recipient])
    got = {(r.name, r.getMessage().split(":")[0]) for r in caplog.records}
    assert {("pipeward.drift", "drift check"), ("pipeward.outliers", "poisoning screen"),
            ("pipeward.protect", "encrypt file")} <= got
    ends = [r.getMessage() for r in caplog.records if "done in" in r.getMessage()]
    assert any(m.startswith("drift check: done in") and "3 of 3 features drifted" in m for m in ends)
    assert any(m.startswith("encrypt file: done in") and "1000 bytes" in m for m in ends)
