"""Issue #20, audit gates: each test replays an attack that used to pass and must now fail closed.

1. a rewritten, rehashed log with its checkpoints deleted, verified with a pinned key;
2. a rollback to an older copy, caught with a saved (witness) checkpoint;
5. ``audit import`` of an export that does not verify, and of a file that is not an export;
6. garbage checkpoint rows, non-SQLite files, and signing a log that does not verify;
11. the redaction key kept outside the database, and short identifiers warned about.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import shutil

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pipeward import signing
from pipeward.audit import (
    REDACTION_KEY_ENV,
    AuditLog,
    Checkpoint,
    RedactionWarning,
    VerificationError,
    verify_file,
    verify_jsonl,
)
from pipeward.cli import main

from audit_helpers import StepClock, keypair, rehash_from, rows, tamper

N = 6


@pytest.fixture
def keys(tmp_path):
    key, pub = tmp_path / "audit.key", tmp_path / "audit.pub"
    signing.save_keypair(key, pub)
    return key, pub


@pytest.fixture
def signed(tmp_path, keys):
    """N records and a checkpoint over all of them, signed with ``keys``."""
    path = tmp_path / "audit.db"
    with AuditLog(path, actor="alice", clock=StepClock()) as log:
        log.append_many([{"action": "step", "payload": {"i": i}} for i in range(N)])
        log.checkpoint(keys[0])
    return path


def _rewrite_all(path):
    """Edit every record, recompute every hash, delete every checkpoint."""
    for seq, body, _, _ in rows(path):
        forged = bytes(body).replace(b'"i":', b'"i":10')
        tamper(path, f"UPDATE records SET body = ? WHERE seq = {seq}", params=(forged,))
    rehash_from(path, 0)
    tamper(path, "DELETE FROM checkpoints")


# --- 1. a pinned key requires a checkpoint it signed ------------------------------------------
def test_pinned_key_fails_a_rewritten_log_without_checkpoints(signed, keys, capsys):
    _rewrite_all(signed)
    with AuditLog(signed, readonly=True) as log:
        assert log.verify().ok  # unpinned: the chain alone cannot tell (a warning says so)
        report = log.verify(public_key=keys[1])
    assert not report.ok and "unsigned" in report.kinds() and report.tampering == []
    assert report.summary().startswith("UNVERIFIED")
    assert main(["audit", "verify", str(signed), "--pubkey", str(keys[1])]) == 1
    assert "unsigned" in capsys.readouterr().out


def test_pinned_key_accepts_a_covered_prefix_and_strict_requires_the_head(signed, keys, capsys):
    with AuditLog(signed) as log:
        log.append("after")  # after the last checkpoint: only the chain protects it
        report = log.verify(keys[1])
        assert report.ok and report.kinds() == {"unsigned_tail"} and report.signed_size == N
        head = log.verify(keys[1], require="head")
        assert not head.ok and head.kinds() == {"unsigned"}
        with pytest.raises(ValueError, match="require"):
            log.verify(keys[1], require="tail")
    assert main(["audit", "verify", str(signed), "--pubkey", str(keys[1])]) == 0
    assert main(["audit", "verify", str(signed), "--pubkey", str(keys[1]), "--strict"]) == 1
    capsys.readouterr()
    with AuditLog(signed) as log:
        log.checkpoint(keys[0])
    assert main(["audit", "verify", str(signed), "--pubkey", str(keys[1]), "--strict"]) == 0


def test_empty_log_checkpoint_covers_it(tmp_path, keys):
    with AuditLog(tmp_path / "e.db") as log:
        bare = log.verify(keys[1], require="head")
        assert [f.kind for f in bare.failures] == ["unsigned"] and "#-1" not in bare.summary()
        log.checkpoint(keys[0])
        report = log.verify(keys[1], require="head")
    assert report.ok and report.findings == [] and report.checkpoints_verified == 1


def test_pinned_key_on_a_jsonl_export(signed, keys, tmp_path):
    _rewrite_all(signed)
    out = tmp_path / "a.jsonl"
    with AuditLog(signed) as log:
        log.export_jsonl(out)
    assert verify_jsonl(out).ok
    assert not verify_jsonl(out, keys[1]).ok


# --- 2. rollback, caught with a saved checkpoint --------------------------------------------
def test_rollback_to_an_older_copy_is_caught_by_a_saved_checkpoint(signed, keys, tmp_path, capsys):
    old = tmp_path / "old.db"
    shutil.copy(signed, old)
    witness = tmp_path / "witness.json"
    with AuditLog(signed) as log:
        log.append_many([{"action": "later", "payload": {"i": i}} for i in range(3)])
        log.checkpoint(keys[0]).save(witness)
    shutil.copy(old, signed)  # the attacker puts back the older, self-consistent copy
    for name in ("audit.db-wal", "audit.db-shm"):
        (tmp_path / name).unlink(missing_ok=True)
    assert main(["audit", "verify", str(signed), "--pubkey", str(keys[1]), "--strict"]) == 0  # the old gap
    with AuditLog(signed, readonly=True) as log:
        report = log.verify(keys[1], checkpoint=witness)
    assert not report.ok and [f.kind for f in report.tampering] == ["rolled_back"]
    assert f"{N + 3} records" in report.tampering[0].detail
    capsys.readouterr()
    assert main(["audit", "verify", str(signed), "--pubkey", str(keys[1]),
                 "--checkpoint", str(witness)]) == 1
    assert "rolled_back" in capsys.readouterr().out


def test_a_diverging_log_is_caught_by_a_saved_checkpoint(signed, keys, tmp_path):
    witness = tmp_path / "witness.json"
    with AuditLog(signed) as log:
        log.checkpoints()[-1].save(witness)
    _rewrite_all(signed)
    with AuditLog(signed) as log:
        log.append("more")
        report = log.verify(checkpoint=witness)  # even without pinning a key
    assert [f.kind for f in report.tampering] == ["diverged"]


def test_a_whole_new_log_in_place_of_the_old_one_diverges(signed, keys, tmp_path):
    witness = tmp_path / "witness.json"
    with AuditLog(signed) as log:
        log.checkpoints()[-1].save(witness)
    fresh = tmp_path / "fresh.db"
    with AuditLog(fresh, clock=StepClock()) as log:
        log.append_many([{"action": "step", "payload": {"i": i}} for i in range(N + 2)])
        log.checkpoint(keys[0])
        report = log.verify(keys[1], checkpoint=witness)
    assert [f.kind for f in report.tampering] == ["diverged"] and "another log" in report.summary()


def test_a_saved_checkpoint_the_log_extends_verifies(signed, keys, tmp_path):
    witness = tmp_path / "witness.json"
    with AuditLog(signed) as log:
        cp = log.checkpoints()[-1]
        cp.save(witness)
        assert Checkpoint.load(witness) == cp
        log.append("more")
        report = log.verify(keys[1], checkpoint=witness)
        assert report.ok and report.signed_size == N
        # a witness signed by another key than the pinned one is not evidence
        _, other = keypair()
        assert "bad_signature" in log.verify(other, checkpoint=witness).kinds()


def test_bad_witness_files_are_input_errors(signed, keys, tmp_path, capsys):
    bad = tmp_path / "bad.json"
    for text in ("", "not json", "[1, 2]", '{"size": 3}', "[" * 100_000):
        bad.write_text(text)
        with pytest.raises(ValueError, match="checkpoint"):
            Checkpoint.load(bad)
        assert main(["audit", "verify", str(signed), "--checkpoint", str(bad)]) == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err


def test_checkpoint_cli_keeps_a_witness_and_refuses_a_rollback(signed, keys, tmp_path, capsys):
    witness = tmp_path / "witness.json"
    old = tmp_path / "old.db"
    shutil.copy(signed, old)
    assert main(["audit", "checkpoint", str(signed), "--key", str(keys[0]), "-o", str(witness)]) == 0
    assert Checkpoint.load(witness).size == N
    with AuditLog(signed) as log:
        log.append("x")
    assert main(["audit", "checkpoint", str(signed), "--key", str(keys[0]), "-o", str(witness)]) == 0
    assert Checkpoint.load(witness).size == N + 1
    capsys.readouterr()
    # an older copy cannot be signed over the witness
    assert main(["audit", "checkpoint", str(old), "--key", str(keys[0]), "-o", str(witness)]) == 1
    assert "rolled_back" in capsys.readouterr().err
    assert Checkpoint.load(witness).size == N + 1
    # a file that is not a checkpoint is never overwritten
    csv = tmp_path / "data.csv"
    csv.write_text("a,b\n1,2\n")
    assert main(["audit", "checkpoint", str(signed), "--key", str(keys[0]), "-o", str(csv)]) == 2
    assert csv.read_text() == "a,b\n1,2\n"


def test_checkpoint_cli_saves_the_latest_checkpoint_without_the_key(signed, keys, tmp_path, capsys):
    witness = tmp_path / "witness.json"
    assert main(["audit", "checkpoint", str(signed), "-o", str(witness), "--pubkey", str(keys[1])]) == 0
    with AuditLog(signed) as log:
        assert Checkpoint.load(witness) == log.checkpoints()[-1]
    _, other = keypair()
    other_pub = tmp_path / "other.pub"
    other_pub.write_bytes(signing.load_public_key(other).public_bytes(
        signing.serialization.Encoding.PEM, signing.serialization.PublicFormat.SubjectPublicKeyInfo))
    assert main(["audit", "checkpoint", str(signed), "-o", str(tmp_path / "w2.json"),
                 "--pubkey", str(other_pub)]) == 1
    assert not (tmp_path / "w2.json").exists()
    assert main(["audit", "checkpoint", str(signed)]) == 2
    with AuditLog(tmp_path / "empty.db"):
        pass
    assert main(["audit", "checkpoint", str(tmp_path / "empty.db"), "-o", str(tmp_path / "w3.json")]) == 2
    assert "no checkpoint yet" in capsys.readouterr().err


def test_the_card_says_what_the_verification_did_not_cover(signed, keys, tmp_path, capsys):
    with AuditLog(signed) as log:
        log.append("model.registered", {"name": "m", "version": "1", "intended_use": "x"}, subject="m")
    out = tmp_path / "card.md"
    assert main(["card", str(signed), "-o", str(out)]) == 0
    assert "verified (warnings: unpinned_key, unsigned_tail)" in out.read_text()
    _rewrite_all(signed)
    assert main(["card", str(signed), "--pubkey", str(keys[1]), "-o", str(out)]) == 1
    assert "**FAILED VERIFICATION** (1 failing findings)" in out.read_text()


# --- 5. import verifies first ---------------------------------------------------------------
def test_import_refuses_an_export_that_does_not_verify(signed, keys, tmp_path, capsys):
    out = tmp_path / "a.jsonl"
    with AuditLog(signed) as log:
        log.export_jsonl(out)
    lines = out.read_text().splitlines()
    lines[3] = lines[3].replace('"i":2', '"i":20')  # edit a record
    lines.insert(4, "garbage line")
    out.write_text("\n".join(lines) + "\n")
    assert main(["audit", "verify", str(out)]) == 1
    capsys.readouterr()
    copy = tmp_path / "copy.db"
    assert main(["audit", "import", str(out), "-o", str(copy)]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "TAMPERED: corrupt" in err and "(and 1 more)" in err
    assert not copy.exists()
    with pytest.raises(VerificationError) as info:
        AuditLog.import_jsonl(out, copy)
    assert not info.value.report.ok and not copy.exists()


def test_import_of_a_rewritten_export_with_a_pinned_key(signed, keys, tmp_path, capsys):
    _rewrite_all(signed)
    out = tmp_path / "a.jsonl"
    with AuditLog(signed) as log:
        log.export_jsonl(out)
    copy = tmp_path / "copy.db"
    assert main(["audit", "import", str(out), "-o", str(copy), "--pubkey", str(keys[1])]) == 1
    assert "unsigned" in capsys.readouterr().err and not copy.exists()


@pytest.mark.parametrize("text", ["a,b,c\n1,2,3\n", "", "\n\n", '{"type": "record"}\n', "[" * 50_000,
                                  '{"format": "other"}\n',
                                  '{"format": "pipeward-audit", "type": "header", "version": "1"}\n'])
def test_import_of_a_file_that_is_not_an_export_is_an_input_error(tmp_path, capsys, text):
    src = tmp_path / "data.jsonl"
    src.write_text(text)
    copy = tmp_path / "copy.db"
    assert main(["audit", "import", str(src), "-o", str(copy)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a pipeward audit export" in err
    assert not copy.exists()
    assert main(["audit", "verify", str(src)]) == 2
    with pytest.raises(ValueError, match="not a pipeward audit export"):
        verify_jsonl(src)


def test_import_of_an_export_that_verifies(signed, keys, tmp_path, capsys):
    out, witness = tmp_path / "a.jsonl", tmp_path / "w.json"
    with AuditLog(signed) as log:
        log.export_jsonl(out)
        log.checkpoints()[-1].save(witness)
    copy = tmp_path / "copy.db"
    assert main(["audit", "import", str(out), "-o", str(copy), "--pubkey", str(keys[1]),
                 "--checkpoint", str(witness)]) == 0
    assert "verified and imported 6 records" in capsys.readouterr().err
    assert main(["audit", "verify", str(copy), "--pubkey", str(keys[1]), "--strict",
                 "--checkpoint", str(witness)]) == 0


def test_a_log_without_a_log_id_is_an_input_error(signed, capsys):
    tamper(signed, "DELETE FROM meta WHERE key = 'log_id'")
    with pytest.raises(ValueError, match="log_id"):
        verify_file(signed)
    assert main(["audit", "verify", str(signed)]) == 2
    assert "log_id" in capsys.readouterr().err


def test_import_of_binary_is_an_input_error(tmp_path, capsys):
    src = tmp_path / "data.jsonl"
    src.write_bytes(bytes(range(256)) * 4)
    assert main(["audit", "import", str(src), "-o", str(tmp_path / "c.db")]) == 2
    assert "not a pipeward audit export" in capsys.readouterr().err


# --- 6. garbage checkpoints, non-SQLite files, verify before signing -------------------------
GARBAGE = [
    ("size", "'ten'"), ("size", "-5"), ("size", "1e30"), ("size", "x'00'"), ("size", "9223372036854775807"),
    ("root", "'zz'"), ("root", "x'0011'"), ("root", "''"), ("root", "'" + "ab" * 40 + "'"),
    ("public_key", "'nothex'"), ("public_key", "'00'"), ("public_key", "x'01'"),
    ("signature", "'nothex'"), ("signature", "'00'"), ("signature", "7"),
    ("key_id", "x'00'"), ("key_id", "3.5"), ("ts", "x'ff'"), ("ts", "12"), ("log_id", "42"),
    ("log_id", "x'00'"),
]


@pytest.mark.parametrize("column, value", GARBAGE)
def test_a_garbage_checkpoint_row_is_tampering_not_an_error(signed, keys, capsys, column, value):
    tamper(signed, f"UPDATE checkpoints SET {column} = {value}")
    for pinned in (None, keys[1]):
        with AuditLog(signed, readonly=True) as log:
            report = log.verify(pinned)
        assert not report.ok and report.tampering, (column, value, report.summary())
    assert main(["audit", "verify", str(signed)]) == 1
    assert main(["audit", "verify", str(signed), "--pubkey", str(keys[1])]) == 1
    capsys.readouterr()


_ONCE_KEYS = keypair()


def _same(a, b):
    return type(a) is type(b) and a == b


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(st.sampled_from(["log_id", "size", "root", "ts", "key_id", "public_key", "signature"]),
                       st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=70),
                                 st.binary(max_size=40), st.lists(st.integers(), max_size=3)),
                       min_size=1))
def test_any_garbage_checkpoint_is_reported_never_raised(signed_once, changes):
    from pipeward.audit.verify import verify_rows

    rows_, cps = signed_once
    base = cps[0].to_dict()
    cp = Checkpoint(**{**base, **changes})
    intact = all(_same(getattr(cp, k), v) for k, v in base.items())
    for key in (None, _ONCE_KEYS[1]):
        report = verify_rows(rows_, [cp], log_id=base["log_id"], public_key=key)
        report.summary(), report.to_dict()
        assert report.ok == intact, report.summary()


@pytest.fixture(scope="module")
def signed_once(tmp_path_factory):
    path = tmp_path_factory.mktemp("once") / "a.db"
    with AuditLog(path, clock=StepClock()) as log:
        log.append_many([{"action": "a", "payload": {"i": i}} for i in range(5)])
        log.checkpoint(_ONCE_KEYS[0])
        cps = log.checkpoints()
    return [tuple(bytes(x) if isinstance(x, (bytes, memoryview)) else x for x in r) for r in rows(path)], cps


@pytest.mark.parametrize("content", [b"this is not sqlite at all" * 100, b"", b"a,b\n1,2\n",
                                     b"SQLite format 3\x00" + bytes(100)])
def test_a_file_that_is_not_sqlite_is_an_input_error(tmp_path, capsys, content):
    junk = tmp_path / "junk.db"
    junk.write_bytes(content)
    with pytest.raises(ValueError, match="not"):
        verify_file(junk)
    for argv in (["audit", "verify", str(junk)], ["audit", "show", str(junk)], ["card", str(junk)]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "TAMPERED" not in err and "Traceback" not in err


def test_checkpoint_refuses_to_sign_a_log_that_does_not_verify(signed, keys, capsys):
    body = rows(signed)[2][1].replace(b'"i":2', b'"i":3')
    tamper(signed, "UPDATE records SET body = ? WHERE seq = 2", params=(body,))
    with AuditLog(signed) as log:
        with pytest.raises(VerificationError, match="edited") as info:
            log.checkpoint(keys[0])
        assert "edited" in info.value.report.kinds() and len(log.checkpoints()) == 1
    assert main(["audit", "checkpoint", str(signed), "--key", str(keys[0])]) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "refus" in err
    with AuditLog(signed) as log:
        assert len(log.checkpoints()) == 1


def test_checkpoint_refuses_a_log_behind_a_saved_checkpoint(signed, keys, tmp_path):
    old = tmp_path / "old.db"
    shutil.copy(signed, old)
    with AuditLog(signed) as log:
        log.append("x")
        newer = log.checkpoint(keys[0])
    with AuditLog(old) as log:
        with pytest.raises(VerificationError, match="rolled_back"):
            log.checkpoint(keys[0], since=newer)
        assert len(log.checkpoints()) == 1


# --- 11. the redaction key lives outside the log --------------------------------------------
LONG_ID = "ana.lopez@example.org"


def test_redaction_without_a_key_is_refused(tmp_path, monkeypatch):
    monkeypatch.delenv(REDACTION_KEY_ENV, raising=False)
    with AuditLog(tmp_path / "a.db") as log:
        with pytest.raises(ValueError, match=REDACTION_KEY_ENV):
            log.append("access", {"user": LONG_ID}, redact=["user"])
        assert len(log) == 0
        log.append("plain", {"user_count": 3})  # no redaction asked: no key needed


def test_the_key_is_not_in_the_database(tmp_path, monkeypatch):
    monkeypatch.delenv(REDACTION_KEY_ENV, raising=False)
    key = bytes(range(32))
    path = tmp_path / "a.db"
    with AuditLog(path, redaction_key=key) as log:
        r = log.append("access", {"user": LONG_ID}, redact=["user"])
    expected = hmac.new(key, json.dumps(LONG_ID).encode(), hashlib.sha256).hexdigest()
    assert r.payload["user"] == "hmac-sha256:" + expected
    stored = b"".join(p.read_bytes() for p in tmp_path.glob("a.db*"))
    assert key not in stored and key.hex().encode() not in stored and LONG_ID.encode() not in stored
    # the attack of the issue: the database alone no longer holds what the pseudonym is keyed with
    import sqlite3

    meta = dict(sqlite3.connect(path).execute("SELECT key, value FROM meta"))
    assert "salt" not in meta


def test_key_from_a_file_and_from_the_environment(tmp_path, monkeypatch):
    key = bytes(range(100, 132))
    key_file = tmp_path / "redaction.key"
    key_file.write_text(key.hex() + "\n")
    with AuditLog(tmp_path / "a.db", redaction_key=key_file) as log:
        from_file = log.pseudonym(LONG_ID)
    monkeypatch.setenv(REDACTION_KEY_ENV, key.hex())
    with AuditLog(tmp_path / "b.db") as log:
        assert log.pseudonym(LONG_ID) == from_file  # same key, same pseudonym across logs
    with AuditLog(tmp_path / "c.db", redaction_key=bytes(32)) as log:
        assert log.pseudonym(LONG_ID) != from_file  # an explicit key wins over the environment


@pytest.mark.parametrize("bad, match", [("abc", "hex"), ("00" * 8, "at least 16 bytes"), ("zz" * 32, "hex")])
def test_bad_keys_are_refused(tmp_path, monkeypatch, bad, match):
    key_file = tmp_path / "k"
    key_file.write_text(bad)
    with pytest.raises(ValueError, match=match):
        AuditLog(tmp_path / "a.db", redaction_key=key_file)
    monkeypatch.setenv(REDACTION_KEY_ENV, bad)
    with pytest.raises(ValueError, match=match):
        AuditLog(tmp_path / "b.db").pseudonym(LONG_ID)
    with pytest.raises(ValueError, match="at least 16 bytes"):
        AuditLog(tmp_path / "c.db", redaction_key=b"short")
    with pytest.raises(TypeError, match="redaction_key"):
        AuditLog(tmp_path / "d.db", redaction_key=3.5)


@pytest.mark.parametrize("value", ["u-123", 4711, "0612345678", 3.5, True])
def test_short_or_numeric_identifiers_warn(tmp_path, value):
    with AuditLog(tmp_path / "a.db", redaction_key=bytes(32)) as log:
        with pytest.warns(RedactionWarning, match="guess") as caught:
            log.append("access", {"user": value}, redact=["user"])
            log.append_many([{"action": "access", "payload": {"user": value}, "redact": ["user"]}])
        assert len(log) == 2
        assert [w.filename for w in caught] == [__file__] * 2  # points at the caller's line


def test_a_long_identifier_does_not_warn(tmp_path):
    import warnings

    with AuditLog(tmp_path / "a.db", redaction_key=bytes(32)) as log, warnings.catch_warnings():
        warnings.simplefilter("error")
        log.append("access", {"user": LONG_ID, "doc": {"id": "a1b2c3d4e5"}}, redact=["user", "doc"])


def test_an_old_log_with_its_salt_inside_stays_readable(tmp_path, monkeypatch):
    """Logs written before the key moved out keep a salt in ``meta``: they verify, read and
    export as before, and redaction there asks for a key instead of using the exposed salt."""
    import sqlite3

    monkeypatch.delenv(REDACTION_KEY_ENV, raising=False)
    path = tmp_path / "old.db"
    salt = bytes(range(32))
    with AuditLog(path, redaction_key=salt) as log:
        r = log.append("access", {"user": LONG_ID}, redact=["user"])
    db = sqlite3.connect(path)
    db.execute("INSERT INTO meta VALUES ('salt', ?)", (salt.hex(),))
    db.commit()
    db.close()
    with AuditLog(path) as log:
        assert log.verify().ok and list(log.records()) == [r]
        with pytest.raises(ValueError, match="older pipeward"):
            log.append("access", {"user": LONG_ID}, redact=["user"])
        assert log.legacy_salt() == salt
    with AuditLog(path, redaction_key=salt) as log:  # the migration the docs describe
        assert log.pseudonym(LONG_ID) == r.payload["user"]
