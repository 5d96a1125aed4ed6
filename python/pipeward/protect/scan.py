"""``scan``: which columns of a table hold personal data, and how much of it.

Each detector is a strict pattern plus, where the data carries one, its checksum: payment
cards must pass Luhn, IBANs the ISO 13616 mod-97 check, US SSNs the SSA's never-issued
ranges, IP addresses must parse (``ipaddress``), dates of birth must be real dates between
1900 and today. Examples are masked before they are reported.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .mask import mask_value

__all__ = ["KINDS", "PiiReport", "scan"]

_EMAIL = re.compile(r"[A-Za-z0-9._%+'-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
_PHONE = re.compile(r"\+?\(?\d[\d\s().-]{5,}\d")
_CARD = re.compile(r"\d(?:[ -]?\d){12,18}")
_IBAN = re.compile(r"[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}")
_SSN = re.compile(r"(\d{3})-(\d{2})-(\d{4})")
_DECIMAL = re.compile(r"-?\d+\.\d+")
_DATE_FORMATS = ("%Y-%m-%d", "%d/%m/%Y", "%m/%d/%Y", "%d.%m.%Y")


def luhn_ok(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = ord(c) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def iban_ok(text: str) -> bool:
    s = text.replace(" ", "")
    moved = s[4:] + s[:4]
    return int("".join(str(int(c, 36)) for c in moved)) % 97 == 1


def _is_email(v: str) -> bool:
    return _EMAIL.fullmatch(v) is not None


def _is_phone(v: str) -> bool:
    if _PHONE.fullmatch(v) is None or _DECIMAL.fullmatch(v):
        return False
    digits = sum(c.isdigit() for c in v)
    return 7 <= digits <= 15 and not _is_date(v) and not _is_ssn(v)


def _is_card(v: str) -> bool:
    if _CARD.fullmatch(v) is None:
        return False
    digits = v.replace(" ", "").replace("-", "")
    return 13 <= len(digits) <= 19 and luhn_ok(digits)


def _is_iban(v: str) -> bool:
    return _IBAN.fullmatch(v) is not None and iban_ok(v)


def _is_ssn(v: str) -> bool:
    m = _SSN.fullmatch(v)
    if m is None:
        return False
    area, group, serial = m.groups()
    return area not in ("000", "666") and area[0] != "9" and group != "00" and serial != "0000"


def _is_ip(v: str) -> bool:
    if not (":" in v or v.count(".") == 3) or len(v) > 45:
        return False
    try:
        ipaddress.ip_address(v)
    except ValueError:
        return False
    return True


def _is_date(v: str) -> bool:
    if not 8 <= len(v) <= 10:
        return False
    for fmt in _DATE_FORMATS:
        try:
            day = dt.datetime.strptime(v, fmt).date()
        except ValueError:
            continue
        return dt.date(1900, 1, 1) <= day <= dt.date.today()
    return False


KINDS: dict[str, Callable[[str], bool]] = {
    "email": _is_email, "phone": _is_phone, "card": _is_card, "iban": _is_iban,
    "ssn": _is_ssn, "ip": _is_ip, "date_of_birth": _is_date,
}


@dataclass
class PiiReport:
    """Per column: the share of non-missing values that look like each kind of personal data
    (kinds never seen are left out), and up to ``examples`` masked examples of each."""

    rows: int
    shares: dict[str, dict[str, float]] = field(default_factory=dict)
    examples: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def flagged(self, threshold: float = 0.5) -> list[tuple[str, str]]:
        """``(column, kind)`` pairs where at least ``threshold`` of the values are that kind."""
        return [(c, k) for c, kinds in self.shares.items() for k, s in kinds.items() if s >= threshold]

    def to_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "shares": self.shares, "examples": self.examples}


def _columns(table: Any) -> Mapping[str, Any]:
    try:
        import pandas as pd  # noqa: PLC0415
    except ImportError:  # pragma: no cover
        pd = None
    if pd is not None and isinstance(table, pd.DataFrame):
        return {str(c): table[c].tolist() for c in table.columns}
    if isinstance(table, Mapping):
        return {str(c): list(v) for c, v in table.items()}
    raise TypeError(f"scan: expected a pandas DataFrame or a mapping of column name to values, "
                    f"got {type(table).__name__}")


def scan(table: Any, *, examples: int = 3, sample: int | None = None, audit: Any = None,
         dataset: str | None = None, threshold: float = 0.5) -> PiiReport:
    """Scan every column of ``table`` (a pandas DataFrame or a mapping of name to values) for
    e-mail addresses, phone numbers, payment cards (Luhn), IBANs (mod 97), US SSNs, IP
    addresses and dates of birth. Integers are read as their text; floats and missing values
    are not counted. ``sample`` scans only the first that many rows of each column. With
    ``audit`` a ``data.pii_scan`` record names the columns flagged at ``threshold``."""
    report = _scan(table, examples, sample)
    if audit is not None:
        from .records import record_pii_scan  # noqa: PLC0415

        record_pii_scan(audit, report, dataset=dataset, threshold=threshold)
    return report


def _scan(table: Any, examples: int, sample: int | None) -> PiiReport:
    if sample is not None and (isinstance(sample, bool) or not isinstance(sample, int) or sample < 1):
        raise ValueError(f"sample must be a positive integer, got {sample!r}")
    columns = _columns(table)
    report = PiiReport(rows=max((len(v) for v in columns.values()), default=0))
    for name, values in columns.items():
        # Text and integers (a phone or card number may be stored as one); floats are measurements.
        texts = [str(v).strip() for v in values[:sample]
                 if v is not None and not isinstance(v, (float, np.floating))]
        if not texts:
            continue
        counts = dict.fromkeys(KINDS, 0)
        found: dict[str, list[str]] = {k: [] for k in KINDS}
        for text in texts:
            for kind, test in KINDS.items():
                if test(text):
                    counts[kind] += 1
                    if len(found[kind]) < examples:
                        found[kind].append(mask_value(text))
        shares = {k: counts[k] / len(texts) for k in KINDS if counts[k]}
        if shares:
            report.shares[name] = shares
            report.examples[name] = {k: found[k] for k in shares}
    return report
