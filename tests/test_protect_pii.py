"""PII scan on a generated table with known personal data, masking, and the token vault."""

from __future__ import annotations

import numpy as np
import pytest

import pipeward as pw
from pipeward import protect
from pipeward.protect.scan import iban_ok, luhn_ok

pd = pytest.importorskip("pandas")


def _luhn_complete(prefix: str) -> str:
    for d in "0123456789":
        if luhn_ok(prefix + d):
            return prefix + d
    raise AssertionError


def _iban(country: str, bban: str) -> str:
    """A valid IBAN: the check digits computed as ISO 13616 says."""
    moved = bban + country + "00"
    check = 98 - int("".join(str(int(c, 36)) for c in moved)) % 97
    return f"{country}{check:02d}{bban}"


@pytest.fixture
def table():
    rng = np.random.default_rng(3)
    n = 200
    cards = [_luhn_complete("4" + "".join(map(str, rng.integers(0, 10, 14)))) for _ in range(n)]
    return pd.DataFrame({
        "email": [f"user{i}@example.org" for i in range(n)],
        "phone": [f"+44 20 7946 {i:04d}" for i in range(n)],
        "card": [c if i % 2 else f"{c[:4]}-{c[4:8]}-{c[8:12]}-{c[12:]}" for i, c in enumerate(cards)],
        "iban": [_iban("DE", f"{rng.integers(10**17, 10**18):018d}") for _ in range(n)],
        "ssn": [f"{rng.integers(1, 665):03d}-{rng.integers(1, 99):02d}-{rng.integers(1, 9999):04d}" for _ in range(n)],
        "ip": [f"10.{i % 256}.{i // 256}.7" if i % 2 else f"2001:db8::{i:x}" for i in range(n)],
        "dob": [f"{1950 + i % 50}-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(n)],
        "mixed": [f"user{i}@example.org" if i % 4 == 0 else "n/a" for i in range(n)],
        "amount": rng.normal(size=n),
        "note": ["fine"] * (n - 1) + [None],
    })


def test_the_scan_finds_each_kind_in_its_column(table):
    report = protect.scan(table)
    assert report.rows == 200
    expect = {"email": "email", "phone": "phone", "card": "card", "iban": "iban", "ssn": "ssn",
              "ip": "ip", "dob": "date_of_birth"}
    for column, kind in expect.items():
        assert report.shares[column][kind] == 1.0, (column, report.shares.get(column))
    assert report.shares["mixed"] == {"email": 0.25}
    assert "amount" not in report.shares and "note" not in report.shares
    assert set(report.flagged()) == set(expect.items())


def test_checksums_reject_lookalikes():
    bad_card = "4111 1111 1111 1112"  # Luhn fails
    bad_iban = "DE89370400440532013001"  # one digit off
    report = protect.scan({"c": [bad_card, "4111 1111 1111 1111"],
                           "i": [bad_iban, "DE89370400440532013000"],
                           "s": ["000-12-3456", "666-12-3456", "900-12-3456", "123-00-4567", "123-45-6789"],
                           "d": ["2099-01-01", "2001-02-30", "1985-07-14"],
                           "ip": ["999.1.1.1", "192.168.0.1"]})
    assert report.shares["c"]["card"] == 0.5
    assert report.shares["i"]["iban"] == 0.5 and iban_ok("GB82 WEST 1234 5698 7654 32")
    assert report.shares["s"]["ssn"] == 0.2
    assert report.shares["d"]["date_of_birth"] == pytest.approx(1 / 3)
    assert report.shares["ip"]["ip"] == 0.5


def test_examples_are_masked(table):
    report = protect.scan(table, examples=2)
    for column, kinds in report.examples.items():
        for kind, shown in kinds.items():
            assert len(shown) <= 2
            for text in shown:
                assert text not in set(map(str, table[column]))  # never a raw value
                assert "*" in text
    assert report.examples["card"]["card"][1].endswith(table["card"][1][-4:])


def test_mask():
    assert protect.mask_value("4111-1111-1111-1234") == "****-****-****-1234"
    assert protect.mask_value("alice@example.com", keep_last=3) == "*****@*******.com"
    assert protect.mask_value("4111-1111-1111-1234", preserve_format=False) == "***************1234"
    assert protect.mask_value("ab", keep_last=4) == "ab"
    assert protect.mask(["123-45-6789", None], keep_last=4, char="#") == ["###-##-6789", None]
    s = protect.mask(pd.Series(["5555 4444", None], name="c"), keep_last=2)
    assert s.iloc[0] == "**** **44" and pd.isna(s.iloc[1]) and s.name == "c"
    arr = protect.mask(np.array(["abcdef"], dtype=object), keep_last=1)
    assert arr.dtype == object and arr.tolist() == ["*****f"]
    with pytest.raises(ValueError, match="keep_last"):
        protect.mask(["x"], keep_last=-1)
    with pytest.raises(TypeError, match="mask_value"):
        protect.mask("one value")


def test_the_vault_reveals_only_with_an_audit_record(tmp_path):
    log = pw.AuditLog(tmp_path / "audit.db")
    key = b"k" * 32
    with protect.TokenVault(tmp_path / "vault.db", key, audit=log) as vault:
        values = ["alice@example.org", "bob@example.org", None, "alice@example.org"]
        tokens = vault.tokenize(values)
        assert tokens == protect.tokenize(values, key)
        assert len(vault) == 2
        assert vault.reveal(tokens[0], who="dpo@acme", purpose="subject access request") == values[0]
        assert vault.reveal("0" * 64, who="dpo@acme", purpose="audit") is None
        raw = (tmp_path / "vault.db").read_bytes()
        assert b"alice" not in raw and b"bob@" not in raw  # only ciphertexts at rest
        with pytest.raises(ValueError, match="who asks"):
            vault.reveal(tokens[0], who="", purpose="x")
        assert vault.forget([tokens[1]]) == 1 and vault.reveal(tokens[1], who="a", purpose="b") is None
    lookups = [r for r in log.records() if r.action == "pii.vault.lookup"]
    assert [(r.actor, r.payload["found"]) for r in lookups] == [("dpo@acme", True), ("dpo@acme", False),
                                                               ("a", False)]
    assert lookups[0].payload == {"token": tokens[0], "purpose": "subject access request", "found": True}
    assert log.verify().ok


def test_a_moved_ciphertext_does_not_decrypt(tmp_path):
    import sqlite3

    log = pw.AuditLog(tmp_path / "audit.db")
    with protect.TokenVault(tmp_path / "v.db", b"k" * 32, audit=log) as vault:
        a, b = vault.tokenize(["a", "b"])
    db = sqlite3.connect(tmp_path / "v.db")
    with db:
        nonce, value = db.execute("SELECT nonce, value FROM vault WHERE token = ?", (a,)).fetchone()
        db.execute("UPDATE vault SET nonce = ?, value = ? WHERE token = ?", (nonce, value, b))
    db.close()
    with protect.TokenVault(tmp_path / "v.db", b"k" * 32, audit=log) as vault:
        with pytest.raises(ValueError, match="does not decrypt"):
            vault.reveal(b, who="x", purpose="y")
    with pytest.raises(TypeError, match="AuditLog"):
        protect.TokenVault(tmp_path / "w.db", b"k", audit=None)
