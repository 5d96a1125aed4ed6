"""Every attack the issue lists is detected and named: one test per attack."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pipeward.audit import AuditLog, verify_file, verify_jsonl
from pipeward.audit.verify import verify_rows

from audit_helpers import StepClock, keypair, rehash_from, rows, tamper

N = 10


@pytest.fixture
def signed(tmp_path):
    """A log of N records with a checkpoint over all of them; returns (path, public key)."""
    private, public = keypair()
    path = tmp_path / "audit.db"
    with AuditLog(path, actor="alice", clock=StepClock()) as log:
        log.append_many([{"action": "step", "payload": {"i": i, "note": "x" * 8}} for i in range(N)])
        log.checkpoint(private)
    return path, public


def verify(path, public=None):
    with AuditLog(path) as log:
        return log.verify(public)


def tamper_kinds(report):
    return [(f.seq, f.kind) for f in report.tampering]


def test_intact_log_is_ok(signed):
    path, public = signed
    report = verify(path, public)
    assert report.ok and report.findings == [] and report.checkpoints_verified == 1


def test_edited_payload_bytes(signed):
    path, public = signed
    body = rows(path)[4][1].replace(b'"i":4', b'"i":5')
    tamper(path, "UPDATE records SET body = ? WHERE seq = 4", params=(body,))
    report = verify(path, public)
    assert not report.ok and tamper_kinds(report) == [(4, "edited")]
    assert "does not match its hash" in report.tampering[0].detail


def test_edited_prev_hash_field(signed):
    path, public = signed
    tamper(path, "UPDATE records SET prev_hash = zeroblob(32) WHERE seq = 6")
    assert tamper_kinds(verify(path, public)) == [(6, "edited")]


def test_deleted_middle_record(signed):
    path, public = signed
    tamper(path, "DELETE FROM records WHERE seq = 5")
    report = verify(path, public)
    kinds = tamper_kinds(report)
    assert (5, "deleted") in kinds and {k for _, k in kinds} == {"deleted"}
    assert "#5 missing" in report.tampering[0].detail and report.checkpoints_verified == 0


def test_deleted_record_with_renumbering(signed):
    path, public = signed
    tamper(path, "DELETE FROM records WHERE seq = 3",
           "UPDATE records SET seq = seq + 100 WHERE seq > 3",
           "UPDATE records SET seq = seq - 101 WHERE seq > 100")
    report = verify(path, public)
    assert tamper_kinds(report) == [(3, "deleted")] and "renumbered" in report.tampering[0].detail


def test_swapped_pair(signed):
    path, public = signed
    tamper(path, "UPDATE records SET seq = 100 WHERE seq = 3", "UPDATE records SET seq = 3 WHERE seq = 4",
           "UPDATE records SET seq = 4 WHERE seq = 100")
    report = verify(path, public)
    assert tamper_kinds(report) == [(3, "reordered"), (4, "reordered")]
    assert "record #4 is stored at #3" in report.tampering[0].detail


def test_swapped_last_pair(signed):
    path, public = signed
    tamper(path, f"UPDATE records SET seq = 100 WHERE seq = {N - 2}",
           f"UPDATE records SET seq = {N - 2} WHERE seq = {N - 1}",
           f"UPDATE records SET seq = {N - 1} WHERE seq = 100")
    assert tamper_kinds(verify(path, public)) == [(N - 2, "reordered"), (N - 1, "reordered")]


def test_inserted_record(signed):
    path, public = signed
    # shift records 6.. up by one and put a forged record, correctly chained, at 6
    body = rows(path)[6][1].replace(b'"i":6', b'"i":66')
    tamper(path, "UPDATE records SET seq = seq + 100 WHERE seq >= 6",
           "UPDATE records SET seq = seq - 99 WHERE seq >= 100")
    import hashlib

    prev = rows(path)[5][3]
    tamper(path, "INSERT INTO records VALUES (6, ?, ?, ?)",
           params=(body, prev, hashlib.sha256(bytes(prev) + body).digest()))
    report = verify(path, public)
    assert tamper_kinds(report) == [(6, "inserted")], report.summary()


def test_recomputed_chain_without_the_key(signed):
    path, public = signed
    body = rows(path)[2][1].replace(b'"i":2', b'"i":7')
    tamper(path, "UPDATE records SET body = ? WHERE seq = 2", params=(body,))
    rehash_from(path, 2)
    # The chain alone now looks intact ...
    with AuditLog(path) as log:
        unsigned = log.verify()
    # ... but the signed Merkle root does not.
    report = verify(path, public)
    assert tamper_kinds(report) == [(0, "rewritten")] and report.checkpoints_verified == 0
    assert "without the signing key" in report.tampering[0].detail
    assert [f.kind for f in unsigned.tampering] == ["rewritten"]


def test_rewrite_after_a_checkpoint_is_localised(tmp_path):
    private, public = keypair()
    path = tmp_path / "a.db"
    with AuditLog(path, clock=StepClock()) as log:
        log.append_many([{"action": "a", "payload": {"i": i}} for i in range(8)])
        log.checkpoint(private)
        log.append_many([{"action": "a", "payload": {"i": i}} for i in range(8, 16)])
        log.checkpoint(private)
    body = rows(path)[11][1].replace(b'"i":11', b'"i":99')
    tamper(path, "UPDATE records SET body = ? WHERE seq = 11", params=(body,))
    rehash_from(path, 11)
    report = verify(path, public)
    assert tamper_kinds(report) == [(8, "rewritten")] and report.checkpoints_verified == 1
    assert "records #8..#15" in report.tampering[0].detail


def test_truncation_after_a_checkpoint(signed):
    path, public = signed
    tamper(path, f"DELETE FROM records WHERE seq >= {N - 3}")
    report = verify(path, public)
    assert tamper_kinds(report) == [(N - 3, "truncated")]
    assert f"signed {N} records but the log has {N - 3}" in report.tampering[0].detail


def test_wrong_public_key(signed):
    path, _ = signed
    _, other = keypair()
    report = verify(path, other)
    assert tamper_kinds(report) == [(None, "bad_signature")]
    assert "not the given key" in report.tampering[0].detail


def test_checkpoint_re_signed_with_another_key(signed):
    """An attacker rewrites the chain and signs a fresh checkpoint with their own key."""
    path, public = signed
    attacker_private, _ = keypair()
    body = rows(path)[1][1].replace(b'"i":1', b'"i":8')
    tamper(path, "DELETE FROM checkpoints")
    tamper(path, "UPDATE records SET body = ? WHERE seq = 1", params=(body,))
    rehash_from(path, 1)
    with AuditLog(path) as log:
        log.checkpoint(attacker_private)
        unpinned = log.verify()
    assert unpinned.ok and "unpinned_key" in unpinned.kinds()  # why the key must be pinned
    assert tamper_kinds(verify(path, public)) == [(None, "bad_signature")]


def test_forged_signature_bytes(signed):
    path, public = signed
    tamper(path, "UPDATE checkpoints SET signature = replace(signature, substr(signature, 1, 2), "
                 "CASE substr(signature, 1, 2) WHEN 'aa' THEN 'bb' ELSE 'aa' END)")
    report = verify(path, public)
    assert tamper_kinds(report) == [(None, "bad_signature")]
    assert "does not verify" in report.tampering[0].detail


def test_checkpoint_replayed_from_another_log(signed, tmp_path):
    path, public = signed
    tamper(path, "UPDATE meta SET value = 'feedface' WHERE key = 'log_id'")
    report = verify(path, public)
    assert tamper_kinds(report) == [(None, "bad_signature")] and "another" not in report.summary() or \
        "not this log" in report.tampering[0].detail


def test_corrupted_sqlite_header(signed):
    # Changed by issue #20: a file without the SQLite header is not an audit log at all, an
    # input error (ValueError; exit 2 in the CLI), where it used to be reported as "corrupt".
    path, public = signed
    data = bytearray(path.read_bytes())
    data[:16] = b"garbage garbage!"
    path.write_bytes(bytes(data))
    with pytest.raises(ValueError, match="not an SQLite database"):
        verify_file(path, public)


def test_corrupted_sqlite_pages(tmp_path):
    private, public = keypair()
    path = tmp_path / "big.db"
    with AuditLog(path, clock=StepClock()) as log:
        log.append_many([{"action": "a", "payload": {"i": i, "pad": "p" * 200}} for i in range(300)])
        log.checkpoint(private)
        log._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    page = 4096
    for offset in range(2 * page, len(data) - page, 5 * page):  # scribble over several pages
        data[offset + 100:offset + 400] = bytes(range(256)) + bytes(44)
    path.write_bytes(bytes(data))
    report = verify_file(path, public)
    assert not report.ok
    assert report.kinds() & {"corrupt", "edited", "deleted", "rewritten"}


def test_clock_going_backwards_is_a_warning(tmp_path):
    clock = StepClock()
    with AuditLog(tmp_path / "a.db", clock=clock) as log:
        log.append_many([{"action": "a"}] * 3)
        clock.back(3600)
        log.append("b")
        log.append("c")
        report = log.verify()
    assert report.ok  # not tampering on its own
    clock_findings = [f for f in report.findings if f.kind == "clock_backwards"]
    assert [(f.seq, f.severity) for f in clock_findings] == [(3, "warning")]


def test_timestamp_edited_backwards_is_tampering(signed):
    path, public = signed
    body = rows(path)[5][1]
    forged = body[:-29] + b"2001-01-01T00:00:00.000000Z" + body[-2:]
    tamper(path, "UPDATE records SET body = ? WHERE seq = 5", params=(forged,))
    report = verify(path, public)
    assert tamper_kinds(report) == [(5, "edited")]
    assert "clock_backwards" not in report.kinds()  # explained by the edit


def test_attacks_on_an_export_are_detected(signed, tmp_path):
    path, public = signed
    out = tmp_path / "a.jsonl"
    with AuditLog(path) as log:
        log.export_jsonl(out)
    lines = out.read_text().splitlines()
    # swap two record lines, edit a third, drop the last record line
    edited = lines[8].replace('"i":7', '"i":70')
    bad = lines[:3] + [lines[4], lines[3]] + lines[5:8] + [edited] + lines[9:N] + lines[N + 1:]
    out.write_text("\n".join(bad) + "\n")
    report = verify_jsonl(out, public)
    kinds = set(tamper_kinds(report))
    assert (2, "reordered") in kinds and (7, "edited") in kinds and (N - 1, "truncated") in kinds


def test_garbage_export_is_corrupt(tmp_path):
    # Changed by issue #20: a file that does not start with an export's header is not an export
    # (ValueError, exit 2); a garbage line after the header is still damage ("corrupt").
    out = tmp_path / "a.jsonl"
    out.write_text("not json\n")
    with pytest.raises(ValueError, match="not a pipeward audit export"):
        verify_jsonl(out)
    out.write_text('{"format":"pipeward-audit","log_id":"x","type":"header","version":"1"}\nnot json\n')
    report = verify_jsonl(out)
    assert "corrupt" in report.kinds() and not report.ok


# --- the same attacks at random positions, on the rows themselves ---------------------------
_PRIVATE, _PUBLIC = keypair()
M = 12


def _fresh_rows(tmp_dir):
    path = tmp_dir / "h.db"
    if not path.exists():
        with AuditLog(path, clock=StepClock()) as log:
            log.append_many([{"action": "a", "payload": {"i": i}} for i in range(M)])
            log.checkpoint(_PRIVATE)
    with AuditLog(path) as log:
        cps = log.checkpoints()
    return [tuple(bytes(x) if isinstance(x, (bytes, memoryview)) else x for x in r) for r in rows(path)], cps


@pytest.fixture(scope="module")
def sample(tmp_path_factory):
    return _fresh_rows(tmp_path_factory.mktemp("h"))


def _check(rows_, cps):
    report = verify_rows(rows_, cps, log_id=cps[0].log_id, public_key=_PUBLIC)
    return [(f.seq, f.kind) for f in report.tampering]


@given(st.integers(0, M - 1))
def test_random_edit(sample, i):
    rs, cps = sample
    rs = list(rs)
    seq, body, prev, h = rs[i]
    rs[i] = (seq, body.replace(b'"a"', b'"b"', 1), prev, h)
    assert _check(rs, cps) == [(i, "edited")]


@given(st.integers(0, M - 2))
def test_random_delete(sample, i):
    rs, cps = sample
    rs = rs[:i] + rs[i + 1:]
    assert _check(rs, cps) == [(i, "deleted")]


@given(st.integers(0, M - 2))
def test_random_delete_renumbered(sample, i):
    rs, cps = sample
    rs = rs[:i] + [(s - 1, b, p, h) for s, b, p, h in rs[i + 1:]]
    assert _check(rs, cps) == [(i, "deleted")]


@given(st.integers(0, M - 2))
def test_random_swap(sample, i):
    rs, cps = sample
    rs = list(rs)
    a, b = rs[i], rs[i + 1]
    rs[i], rs[i + 1] = (i,) + b[1:], (i + 1,) + a[1:]
    assert _check(rs, cps) == [(i, "reordered"), (i + 1, "reordered")]


@given(st.integers(1, M))
def test_random_truncation(sample, k):
    rs, cps = sample
    assert _check(rs[:M - k], cps) == [(M - k, "truncated")]


@given(st.lists(st.tuples(st.integers(0, M - 1), st.sampled_from(["body", "prev", "hash", "seq"]),
                          st.integers(0, 255), st.integers(0, 200)), min_size=1, max_size=4))
def test_arbitrary_damage_is_reported_never_raised(sample, damage):
    rs, cps = sample
    rs = [list(r) for r in rs]
    for i, where, value, pos in damage:
        seq, body, prev, h = rs[i]
        if where == "seq":
            rs[i][0] = seq + value - 128
        else:
            field = {"body": 1, "prev": 2, "hash": 3}[where]
            data = bytearray(rs[i][field])
            data[pos % len(data)] ^= value or 1
            rs[i][field] = bytes(data)
    rs.sort(key=lambda r: r[0])
    report = verify_rows([tuple(r) for r in rs], cps, log_id=cps[0].log_id, public_key=_PUBLIC)
    assert not report.ok or [tuple(r) for r in rs] == sample[0]
    report.to_dict(), report.summary()


def test_malformed_checkpoint_row(signed):
    path, public = signed
    tamper(path, "UPDATE checkpoints SET size = 'ten'")
    report = verify(path, public)
    assert tamper_kinds(report) == [(None, "bad_signature")] and "malformed" in report.summary()
