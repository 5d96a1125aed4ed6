"""What data protection writes to the audit log, under the names of :mod:`pipeward.audit.kinds`:
``data.pii_scan`` (the columns found to hold personal data), ``data.tokenized`` and
``data.encrypted``, so ``pipeward comply check`` can tell personal data protected at rest."""

from __future__ import annotations

import os
from typing import Any

from ..audit.kinds import DATA_ENCRYPTED, DATA_PII_SCAN, DATA_TOKENIZED

__all__ = ["record_encrypted", "record_pii_scan", "record_tokenized"]


def _with_dataset(payload: dict[str, Any], dataset: str | None) -> dict[str, Any]:
    if dataset is not None:
        if not isinstance(dataset, str):
            raise TypeError(f"dataset: expected str, got {type(dataset).__name__}")
        payload["dataset"] = dataset
    return payload


def record_pii_scan(audit: Any, report: Any, *, dataset: str | None = None, threshold: float = 0.5) -> Any:
    """``data.pii_scan``: the columns where at least ``threshold`` of the values look personal."""
    flagged = report.flagged(threshold)
    kinds: dict[str, list[str]] = {}
    for column, kind in flagged:
        kinds.setdefault(column, []).append(kind)
    payload = {"rows": report.rows, "threshold": threshold, "columns": sorted(kinds), "kinds": kinds}
    return audit.append(DATA_PII_SCAN, _with_dataset(payload, dataset), subject=dataset or "")


def record_tokenized(audit: Any, column: str, n_values: int, *, length: int,
                     dataset: str | None = None) -> Any:
    """``data.tokenized``: one column replaced by keyed HMAC-SHA256 tokens (the key is not recorded)."""
    if not isinstance(column, str) or not column:
        raise ValueError("tokenize: audit= needs column= (the name of the tokenized column)")
    payload = {"columns": [column], "n_values": int(n_values), "method": "hmac-sha256", "length": length}
    return audit.append(DATA_TOKENIZED, _with_dataset(payload, dataset), subject=dataset or column)


def record_encrypted(audit: Any, dst: str | os.PathLike[str], result: Any, *, scheme: str,
                     dataset: str | None = None) -> Any:
    """``data.encrypted``: a file written encrypted at rest (its digests when they were computed)."""
    payload = {"files": [os.fspath(dst)], "n_files": 1, "scheme": scheme,
               "ciphertext_size": result.ciphertext_size}
    if result.ciphertext_sha256 is not None:
        payload["ciphertext_sha256"] = result.ciphertext_sha256
    return audit.append(DATA_ENCRYPTED, _with_dataset(payload, dataset), subject=dataset or os.fspath(dst))
