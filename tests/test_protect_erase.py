"""Erasure: the subjects' rows leave every file (no trace in the bytes), the manifest is
rebuilt and re-signed, the audit log holds tokens only, the affected models are named."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

import pipeward as pw
from pipeward import lineage, protect

pd = pytest.importorskip("pandas")
pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")

GONE = ["erin.subject@example.org", "frank.subject@example.org"]


@pytest.fixture
def dataset(tmp_path):
    root = tmp_path / "data"
    (root / "part").mkdir(parents=True)
    people = [f"user{i}@example.org" for i in range(40)] + GONE
    frame = pd.DataFrame({"email": people * 2, "amount": range(len(people) * 2),
                          "note": [f"note for {p}" if p in GONE else "ok" for p in people * 2]})
    frame.iloc[:42].to_csv(root / "a.csv", index=False)
    frame.iloc[42:].to_csv(root / "part" / "b.csv", index=False)
    # Uncompressed, so a byte search of the file is a search of its data.
    pq.write_table(pa.Table.from_pandas(frame, preserve_index=False), root / "part" / "c.parquet",
                   compression="none")
    (root / "README.txt").write_text("not a table\n")
    (root / "other.csv").write_text("x,y\n1,2\n")
    private, public = pw.generate_keypair()
    m = pw.Manifest.build(root)
    m.sign(private)
    m.save(tmp_path / "data.manifest.json")
    return root, tmp_path, private, public, m


def _leftovers(root, values):
    hits = []
    for path in root.rglob("*"):
        if path.is_file():
            blob = path.read_bytes()
            hits += [(path.name, v) for v in values if v.encode() in blob]
    return hits


def test_erase_leaves_no_trace_and_re_signs(dataset):
    root, tmp, private, public, old = dataset
    assert _leftovers(root, GONE)  # the values are there to start with
    model_dir = tmp / "model"
    model_dir.mkdir()
    (model_dir / "w.bin").write_bytes(b"weights")
    model = pw.Manifest.build(model_dir)
    att = lineage.attest("train", {"data": old}, {"churn-model": model}, {}, private)
    log = pw.AuditLog(tmp / "audit.db")
    key = b"t" * 32
    report = protect.erase(root, "email", GONE, manifest=tmp / "data.manifest.json",
                           sign_with=private, audit=log, token_key=key, attestations=[att])
    assert _leftovers(root, GONE) == []
    assert report.rows_removed == {"a.csv": 2, "part/b.csv": 2, "part/c.parquet": 4}
    assert report.files_without_column == ["other.csv"]
    assert set(pd.read_csv(root / "a.csv")["email"]).isdisjoint(GONE)
    table = pq.read_table(root / "part" / "c.parquet")
    assert table.num_rows == 80 and set(table["email"].to_pylist()).isdisjoint(GONE)
    assert table.column_names == ["email", "amount", "note"]
    new = pw.Manifest.load(tmp / "data.manifest.json")
    assert new.root == report.new_root != old.root
    assert new.verify_signature(public) and new.verify(root).ok
    assert report.models == [{"step": "train", "name": "churn-model", "root": model.root}]
    records = [r for r in log.records() if r.action == "data.erased"]
    assert len(records) == 1
    assert records[0].payload["subject_tokens"] == protect.tokenize(sorted(GONE), key)
    assert records[0].payload["rows_removed"] == 8
    log.close()
    audit_bytes = (tmp / "audit.db").read_bytes()
    assert not any(v.encode() in audit_bytes for v in GONE)  # by token only


def test_models_are_found_through_derived_datasets(dataset):
    root, tmp, private, _, old = dataset
    mid = pw.Manifest.build(root / "part")
    (tmp / "m").mkdir()
    (tmp / "m" / "w").write_text("w")
    model = pw.Manifest.build(tmp / "m")
    other = pw.Manifest.build(tmp / "m")
    atts = [lineage.attest("featurize", {"raw": old}, {"features": mid}, {}, private),
            lineage.attest("train", {"features": mid}, {"model": model}, {}, private),
            lineage.attest("unrelated", {"x": other}, {"y": other}, {}, private)]
    found = protect.models_derived_from(old.root, atts)
    assert [(m["step"], m["name"]) for m in found] == [("featurize", "features"), ("train", "model")]


def test_erase_without_a_manifest_or_key_uses_audit_pseudonyms(dataset):
    root, tmp, *_ = dataset
    # The log's pseudonyms need its redaction key, kept outside the log (docs/security.md).
    with pytest.raises(ValueError, match="redaction needs a key kept outside the log"):
        protect.erase(root, "email", GONE[:1], audit=pw.AuditLog(tmp / "audit-nokey.db"))
    log = pw.AuditLog(tmp / "audit2.db", redaction_key=bytes(range(32)))
    report = protect.erase(root, "email", GONE[:1], audit=log)
    assert report.subject_tokens == [log.pseudonym(GONE[0])]
    assert report.total_removed == 4
    with pytest.raises(ValueError, match="has a column 'nope'"):
        protect.erase(root, "nope", ["x"])
    with pytest.raises(ValueError, match="non-empty str"):
        protect.erase(root, "email", [])


def test_cli_erase(dataset):
    root, tmp, *_ = dataset
    (tmp / "gone.txt").write_text("\n".join(GONE) + "\n")
    (tmp / "k.pem").write_bytes(dataset[2])
    run = subprocess.run([sys.executable, "-m", "pipeward", "erase", str(root), "--column", "email",
                          "--values", str(tmp / "gone.txt"), "--manifest", str(tmp / "data.manifest.json"),
                          "--sign", str(tmp / "k.pem"), "--audit", str(tmp / "cli-audit.db"), "--json"],
                         capture_output=True, text=True, timeout=300, check=False,
                         # the log's pseudonyms need its redaction key, kept outside the log
                         env=os.environ | {"PIPEWARD_AUDIT_REDACTION_KEY": "ab" * 32})
    assert run.returncode == 0, run.stderr
    out = json.loads(run.stdout)
    assert out["total_removed"] == 8 and len(out["subject_tokens"]) == 2
    assert _leftovers(root, GONE) == []
    run = subprocess.run([sys.executable, "-m", "pipeward", "erase", str(root), "--column", "email",
                          "--values", str(tmp / "missing.txt")], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 2 and "missing.txt" in run.stderr
