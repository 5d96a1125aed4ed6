"""AuditLog: appends, reads, checkpoints, proofs, JSONL, redaction, concurrency, crashes."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

import pipeward as pw
from pipeward import merkle
from pipeward.audit import AuditLog, verify_consistency, verify_jsonl

from audit_helpers import StepClock, keypair, rows


@pytest.fixture
def log(tmp_path):
    with AuditLog(tmp_path / "audit.db", actor="alice", clock=StepClock()) as lg:
        yield lg


def test_append_and_read_back(log):
    r0 = log.append("model.registered", {"name": "m", "lr": 0.1}, subject="m")
    r1 = log.append("note", actor="bob")
    assert (r0.seq, r1.seq) == (0, 1)
    assert r0.prev_hash == "00" * 32 and r1.prev_hash == r0.hash
    assert r0.computed_hash() == r0.hash and r1.computed_hash() == r1.hash
    assert r1.actor == "bob" and r0.actor == "alice" and r1.payload == {}
    assert list(log.records()) == [r0, r1]
    assert log.get(1) == r1 and log.head() == r1 and len(log) == 2
    assert [r.seq for r in log.records(action="note")] == [1]
    assert [r.seq for r in log.records(subject="m")] == [0]
    with pytest.raises(IndexError):
        log.get(5)
    report = log.verify()
    assert report.ok and report.n_records == 2 and report.head_hash == r1.hash
    assert report.kinds() == {"no_checkpoint"}


def test_action_filter_does_not_match_prefixes(log):
    log.append("train")
    log.append("training.dp")
    assert [r.action for r in log.records(action="train")] == ["train"]
    assert [r.action for r in log.records(action=["train", "training.dp"])] == ["train", "training.dp"]


def test_reopen_keeps_chain_and_id(tmp_path):
    path = tmp_path / "a.db"
    with AuditLog(path) as a:
        a.append("x")
        log_id = a.log_id
    with AuditLog(path) as b:
        b.append("y")
        assert b.log_id == log_id and len(b) == 2 and b.verify().ok


def test_append_many_is_one_chain(log):
    records = log.append_many([{"action": "a", "payload": {"i": i}} for i in range(50)])
    assert [r.seq for r in records] == list(range(50))
    assert all(b.prev_hash == a.hash for a, b in zip(records, records[1:]))
    assert log.append_many([]) == []
    assert log.verify().ok


def test_api_cannot_rewrite_history(log):
    import sqlite3

    log.append("x")
    db = sqlite3.connect(log.path)
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("UPDATE records SET body = x'00'")
    with pytest.raises(sqlite3.DatabaseError, match="append-only"):
        db.execute("DELETE FROM records")
    db.close()


@pytest.mark.parametrize("call, error, match", [
    (lambda lg: lg.append(""), ValueError, "non-empty"),
    (lambda lg: lg.append(3), TypeError, "action"),
    (lambda lg: lg.append("x", [1, 2]), TypeError, "payload: expected a dict"),
    (lambda lg: lg.append("x", {"v": float("nan")}), ValueError, "NaN"),
    (lambda lg: lg.append("x", subject=None), TypeError, "subject"),
    (lambda lg: lg.append("x", {"a": 1}, redact=["b"]), ValueError, "no field 'b'"),
    (lambda lg: lg.append_many([{"payload": {}}]), TypeError, "'action'"),
    (lambda lg: lg.append_many([{"action": "x", "colour": 1}]), ValueError, "unknown fields"),
])
def test_bad_appends_are_refused_and_write_nothing(log, call, error, match):
    with pytest.raises(error, match=match):
        call(log)
    assert len(log) == 0


def test_bad_batch_writes_nothing(log):
    with pytest.raises(ValueError):
        log.append_many([{"action": "ok"}, {"action": "bad", "payload": {"x": float("inf")}}])
    assert len(log) == 0


def test_naive_clock_is_refused(tmp_path):
    from datetime import datetime

    with AuditLog(tmp_path / "a.db", clock=datetime.now) as lg:
        with pytest.raises(ValueError, match="naive"):
            lg.append("x")
        assert len(lg) == 0


def test_redacted_fields_are_salted_hashes(tmp_path, monkeypatch):
    from pipeward.audit import REDACTION_KEY_ENV, RedactionWarning

    monkeypatch.delenv(REDACTION_KEY_ENV, raising=False)
    with AuditLog(tmp_path / "a.db", salt=b"k" * 32) as lg:
        with pytest.warns(RedactionWarning):  # issue #20: a 5-character id is easy to guess
            r = lg.append("access", {"user_id": "u-123", "rows": 5}, redact=["user_id"])
        assert r.payload["rows"] == 5
        assert r.payload["user_id"] == lg.pseudonym("u-123") != "u-123"
        assert r.payload["user_id"].startswith("hmac-sha256:")
        from pathlib import Path

        stored = b"".join(p.read_bytes() for p in Path(lg.path).parent.glob("a.db*"))
        assert b"u-123" not in stored and b"rows" in stored
        import hashlib
        import hmac

        expected = hmac.new(b"k" * 32, b'"u-123"', hashlib.sha256).hexdigest()
        assert r.payload["user_id"] == "hmac-sha256:" + expected
    # Changed by issue #20: a log no longer makes up (and stores) its own salt; another key
    # gives other pseudonyms, and no key is an error.
    with AuditLog(tmp_path / "b.db", redaction_key=b"j" * 32) as other:
        assert other.pseudonym("u-123") != r.payload["user_id"]
    with AuditLog(tmp_path / "c.db") as other, pytest.raises(ValueError, match="key"):
        other.pseudonym("u-123")


def test_not_an_audit_log(tmp_path):
    import sqlite3

    other = tmp_path / "other.db"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.commit()
    with pytest.raises(ValueError, match="not a pipeward audit log"):
        AuditLog(other)
    with pytest.raises(FileNotFoundError):
        AuditLog(tmp_path / "missing.db", create=False)


def test_checkpoint_root_is_rfc6962_over_record_hashes(log):
    private, public = keypair()
    records = log.append_many([{"action": "a", "payload": {"i": i}} for i in range(13)])
    cp = log.checkpoint(private)
    leaves = [merkle.leaf_hash(bytes.fromhex(r.hash)) for r in records]
    assert cp.size == 13 and cp.root == merkle.merkle_root(leaves).hex()
    assert cp.signature_valid(public) and cp.key_id == pw.signing.key_id(public)
    assert log.checkpoints() == [cp]
    report = log.verify(public)
    assert report.ok and report.findings == [] and report.checkpoints_verified == 1
    assert report.root == cp.root


@pytest.mark.parametrize("old, new", [(1, 2), (3, 8), (5, 13), (8, 16), (7, 7), (16, 37)])
def test_consistency_proofs_between_checkpoints(log, old, new):
    private, _ = keypair()
    log.append_many([{"action": "a", "payload": {"i": i}} for i in range(old)])
    cp_old = log.checkpoint(private)
    log.append_many([{"action": "b", "payload": {"i": i}} for i in range(new - old)])
    cp_new = log.checkpoint(private)
    proof = log.consistency_proof(cp_old.size, cp_new.size)
    assert verify_consistency(cp_old, cp_new, proof)
    if proof:  # a flipped proof node must fail
        bad = [bytes(32)] + proof[1:]
        assert not verify_consistency(cp_old, cp_new, bad)


def test_consistency_proof_fails_for_a_rewritten_prefix(tmp_path):
    from audit_helpers import tamper

    private, public = keypair()
    path = tmp_path / "a.db"
    with AuditLog(path, clock=StepClock()) as lg:
        lg.append_many([{"action": "a", "payload": {"i": i}} for i in range(5)])
        cp_old = lg.checkpoint(private)
    # rewrite record 2 and every hash after it, then sign a new head with the (stolen) key
    from audit_helpers import rehash_from

    body = rows(path)[2][1].replace(b'"i":2', b'"i":9')
    tamper(path, "UPDATE records SET body = ? WHERE seq = 2", params=(body,))
    rehash_from(path, 2)
    # Since issue #20, checkpoint() refuses to sign a log whose stored checkpoint no longer
    # matches, so the thief deletes that checkpoint first.
    with AuditLog(path) as lg:
        lg.append("c")
        with pytest.raises(pw.audit.VerificationError, match="rewritten"):
            lg.checkpoint(private)
    tamper(path, "DELETE FROM checkpoints")
    with AuditLog(path) as lg:
        cp_new = lg.checkpoint(private)
        proof = lg.consistency_proof(cp_old.size, cp_new.size)
        assert "diverged" in lg.verify(public, checkpoint=cp_old).kinds()  # what a witness catches
    assert not verify_consistency(cp_old, cp_new, proof)


def test_inclusion_proof(log):
    records = log.append_many([{"action": "a", "payload": {"i": i}} for i in range(11)])
    private, _ = keypair()
    cp = log.checkpoint(private)
    proof = log.inclusion_proof(6)
    leaf = merkle.leaf_hash(bytes.fromhex(records[6].hash))
    assert merkle.verify_inclusion(leaf, 6, cp.size, proof, bytes.fromhex(cp.root))


def test_jsonl_round_trip_verifies_elsewhere(tmp_path, log):
    private, public = keypair()
    log.append_many([{"action": "a", "payload": {"i": i, "s": "é\n"}} for i in range(20)])
    log.checkpoint(private)
    log.append("after")
    out = tmp_path / "audit.jsonl"
    assert log.export_jsonl(out) == 21
    lines = [json.loads(line) for line in out.read_text("utf-8").splitlines()]
    assert lines[0]["type"] == "header" and lines[0]["log_id"] == log.log_id
    assert [ln["type"] for ln in lines[1:]] == ["record"] * 21 + ["checkpoint"]
    direct = verify_jsonl(out, public)
    assert direct.ok and direct.checkpoints_verified == 1 and direct.root == log.verify().root
    with AuditLog.import_jsonl(out, tmp_path / "copy.db") as copy:
        assert list(copy.records()) == list(log.records())
        assert copy.log_id == log.log_id
        report = copy.verify(public)
        assert report.ok and report.checkpoints_verified == 1
    with pytest.raises(FileExistsError):
        AuditLog.import_jsonl(out, tmp_path / "copy.db")
    buf = io.StringIO()
    log.export_jsonl(buf)
    assert buf.getvalue() == out.read_text("utf-8")


def test_threads_append_concurrently(tmp_path):
    path = tmp_path / "a.db"
    shared = AuditLog(path)

    def worker(k):
        own = AuditLog(path) if k % 2 else shared  # shared object and separate connections
        for i in range(40):
            own.append("t", {"worker": k, "i": i})
        if own is not shared:
            own.close()

    threads = [threading.Thread(target=worker, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(shared) == 160
    seen = {(r.payload["worker"], r.payload["i"]) for r in shared.records()}
    assert len(seen) == 160
    assert shared.verify().ok
    shared.close()


WRITER = """
import sys
from pipeward.audit import AuditLog
log = AuditLog(sys.argv[1])
n = int(sys.argv[2])
for i in range(n):
    log.append("p", {"pid": int(sys.argv[3]), "i": i})
    if i == 0:
        print("started", flush=True)
"""


def _writer(path, n, tag):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(n), str(tag)],
                            stdout=subprocess.PIPE, text=True)


def test_processes_append_concurrently(tmp_path):
    path = tmp_path / "a.db"
    AuditLog(path).close()
    procs = [_writer(path, 50, k) for k in range(2)]
    for p in procs:
        p.communicate(timeout=120)
        assert p.returncode == 0
    with AuditLog(path) as lg:
        assert len(lg) == 100 and lg.verify().ok
        assert {r.payload["pid"] for r in lg.records()} == {0, 1}


def test_a_lock_held_past_the_timeout_is_a_clear_error_and_writes_nothing(tmp_path):
    import sqlite3

    path = tmp_path / "a.db"
    with AuditLog(path) as lg:
        lg.append("before")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process's writer, stuck mid-transaction
    try:
        with AuditLog(path, timeout=0.2, create=False) as lg:  # reading needs no write lock
            with pytest.raises(TimeoutError, match="held the audit log's lock for more than 0.2 s"):
                lg.append("during")
            with pytest.raises(TimeoutError, match="lock"):
                AuditLog(path, timeout=0.2)  # creating takes the write lock too
            other.execute("ROLLBACK")
            assert lg.append("after").seq == 1  # nothing half-written in between
            assert [r.action for r in lg.records()] == ["before", "after"] and lg.verify().ok
    finally:
        other.close()


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_killed_writer_loses_nothing_committed(tmp_path):
    path = tmp_path / "a.db"
    with AuditLog(path) as lg:
        lg.append("before")
    proc = _writer(path, 1_000_000, 7)
    assert proc.stdout.readline().strip() == "started"
    # Kill only once the writer has committed some records (a loaded machine can be slow to
    # start it), so the test always exercises a kill in the middle of a stream of appends.
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with AuditLog(path, readonly=True) as ro:
            if len(ro) >= 3:
                break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)  # mid-append, most likely mid-transaction
    proc.wait(timeout=30)
    proc.stdout.close()
    with AuditLog(path) as lg:
        n = len(lg)
        assert n >= 2
        report = lg.verify()
        assert report.ok, report.summary()
        assert [r.payload.get("i") for r in lg.records(action="p")] == list(range(n - 1))
        lg.append("after")  # the log is still writable, the chain continues
        assert lg.verify().ok and len(lg) == n + 1


def test_readonly_open_writes_nothing(tmp_path):
    from pipeward.audit import verify_file
    from audit_helpers import tamper

    path = tmp_path / "a.db"
    with AuditLog(path) as lg:
        lg.append("x")
    tamper(path)  # drops the triggers: an attacker's change that must stay visible
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir()}
    assert verify_file(path).ok
    with AuditLog(path, readonly=True) as ro:
        assert [r.action for r in ro.records()] == ["x"]
        with pytest.raises(ValueError, match="read-only"):
            ro.append("y")
        with pytest.raises(ValueError, match="read-only"):
            ro.checkpoint(keypair()[0])
    after = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.name in before}
    assert after == before
    import sqlite3

    names = {r[0] for r in sqlite3.connect(path).execute("SELECT name FROM sqlite_master")}
    assert "records_append_only_u" not in names


_OPEN_NEW_LOG = """
import sys
from pipeward.audit import AuditLog
print("ready", flush=True)
sys.stdin.readline()
AuditLog(sys.argv[1]).close()
"""


def test_processes_racing_to_create_one_log_all_open_it(tmp_path):
    # Regression: service workers starting together on a fresh log raced on switching it to
    # WAL, which SQLite may refuse at once (no busy wait), so a worker failed at start with a
    # "lock held for more than 60 s" error within 0.1 s (about one race in four, 4 processes).
    for trial in range(12):
        path = tmp_path / f"audit-{trial}.db"
        procs = [subprocess.Popen([sys.executable, "-c", _OPEN_NEW_LOG, str(path)],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                  stderr=subprocess.PIPE, text=True) for _ in range(4)]
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        for p in procs:
            _, err = p.communicate(timeout=120)
            assert p.returncode == 0, err
        with AuditLog(path, readonly=True) as log:
            assert len(log) == 0
