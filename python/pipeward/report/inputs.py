"""Report sections from what pipeward writes: drift and screen JSON, manifests, audit logs.

Each function returns the plain dict that :func:`pipeward.report.build_report` takes for one
section, so ``pipeward report`` can assemble a report from any mix of saved results.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np

__all__ = ["audit_section", "drift_section", "drift_sections_from_audit", "manifest_section",
           "screen_section"]

_DRIFT_ACTION = "monitor.drift"
_PSI_LABEL = "PSI (population stability index)"
_KS_LABEL = "KS statistic"


def drift_section(data: Mapping[str, Any], name: str) -> dict[str, Any]:
    """One drift chart from ``DriftReport.to_dict()`` (``pipeward drift --json``): PSI per
    feature against ``psi_threshold`` and, when KS ran too, the KS statistic beside it (``ks``);
    bars coloured by the monitor's verdict."""
    if "features" not in data or not isinstance(data["features"], list):
        raise ValueError(f"drift results {name!r}: expected DriftReport.to_dict() output with a "
                         f"'features' list, got keys {sorted(data)}")
    feats = data["features"]
    try:
        names = [str(f["feature"]) for f in feats]
        drifted = [bool(f["drifted"]) for f in feats]
    except (KeyError, TypeError) as exc:
        raise ValueError(f"drift results {name!r}: each feature needs 'feature' and 'drifted' "
                         f"({exc!r})") from None
    use_psi = any(f.get("psi") is not None for f in feats)
    has_ks = any(f.get("ks_statistic") is not None for f in feats)
    key = "psi" if use_psi else "ks_statistic"
    stat = [np.nan if f.get(key) is None else float(f[key]) for f in feats]
    out = {"name": name, "features": names, "statistic": stat, "drifted": drifted,
           "threshold": data.get("psi_threshold") if use_psi else None,
           "statistic_label": _PSI_LABEL if use_psi else _KS_LABEL}
    if use_psi and has_ks:  # both tests ran: show KS beside PSI
        out["ks"] = [np.nan if f.get("ks_statistic") is None else float(f["ks_statistic"])
                     for f in feats]
    return out


def drift_sections_from_audit(records: list[Any]) -> list[dict[str, Any]]:
    """Drift charts from the ``monitor.drift`` records of an audit log that carry statistics:
    the recorded statistic (PSI when the test was psi) and the KS statistic beside it, as
    :func:`drift_section` draws them. Records written before ``ks_statistics`` existed draw
    their one statistic."""
    out = []
    for r in records:
        if r.action != _DRIFT_ACTION:
            continue
        stats, ks = (r.payload.get(k) if isinstance(r.payload.get(k), dict) else None
                     for k in ("statistics", "ks_statistics"))
        if stats is None and ks is None:
            continue
        verdicts = r.payload.get("verdicts", {})
        names = list(stats if stats is not None else ks)
        test = str(r.payload.get("test", "drift"))
        section: dict[str, Any] = {
            "name": f"{r.payload.get('dataset') or r.subject or 'drift'} (audit #{r.seq})",
            "features": names, "drifted": [bool(verdicts.get(n, False)) for n in names],
            "threshold": None}
        if stats is None:
            section.update(statistic=[ks[n] for n in names], statistic_label=_KS_LABEL)
        else:
            label = _PSI_LABEL if "psi" in test.split("+") else f"{test} statistic"
            section.update(statistic=[stats[n] for n in names], statistic_label=label)
            if ks is not None:
                section["ks"] = [ks.get(n, np.nan) for n in names]
        out.append(section)
    return out


def screen_section(data: Mapping[str, Any]) -> dict[str, Any]:
    """The screen section from ``ScreenReport.to_dict()`` (``pipeward screen --json``): its
    ``counts`` and ``quarantine`` indices; per-row ``scores`` (or ``distances``) with a
    ``threshold``/``cutoff`` add the histogram, and ``injected`` indices mark the truth."""
    if not isinstance(data, Mapping) or not ("quarantine" in data or "quarantined" in data):
        keys = sorted(data) if isinstance(data, Mapping) else type(data).__name__
        raise ValueError(f"screen results: expected ScreenReport.to_dict() output with a "
                         f"'quarantine' list, got {keys}")
    out: dict[str, Any] = {"quarantined": list(data.get("quarantine", data.get("quarantined", [])))}
    scores = data.get("scores", data.get("distances"))
    if scores is not None:
        out["scores"] = [np.nan if v is None else float(v) for v in scores]
        out["cutoff"] = data.get("threshold", data.get("cutoff"))
    counts = data.get("counts") or {}
    for key, count in (("outliers", "n_outliers"), ("label_suspects", "n_label_suspects"),
                       ("backdoor_suspects", "n_backdoor_suspects")):
        if key in counts:
            out[count] = int(counts[key])
        elif isinstance(data.get(key), list):
            out[count] = len(data[key])
    if "rows" in counts:
        out["n_rows"] = int(counts["rows"])
    for key in ("injected", "precision", "recall"):
        if data.get(key) is not None:
            out[key] = data[key]
    calibration = data.get("fdr_calibration")
    if calibration is not None:
        from ..outliers.screen import fdr_statement  # noqa: PLC0415 - only for a label fdr=

        fdr, trusted = data.get("fdr"), data.get("trusted_rows") or 0
        if (calibration not in ("trusted", "heuristic") or isinstance(fdr, bool)
                or not isinstance(fdr, (int, float)) or not isinstance(trusted, int)):
            raise ValueError(f"screen results: fdr_calibration must be 'trusted' or "
                             f"'heuristic' with a numeric 'fdr' and an integer "
                             f"'trusted_rows', got {calibration!r}, {fdr!r}, {trusted!r}")
        out["fdr_note"] = fdr_statement(float(fdr), calibration, trusted)
    return out


def manifest_section(manifest: Any, public_key: Any = None) -> dict[str, Any]:
    """The integrity section from a ``pw.Manifest``; the signature is checked when keys are
    given (as for an audit log: one public key, several, any of which may have signed it, or a
    ``TrustStore`` that must trust the signer), otherwise reported as present or absent."""
    from ..audit.pinned import pin_keys  # noqa: PLC0415

    pinned = pin_keys(public_key)
    if pinned is not None and pinned.store is not None:
        check = manifest.verify_signature(pinned.store)
        signature = "valid" if check else f"not trusted: {check.reason}"
    elif pinned is not None:
        signature = "valid" if any(map(manifest.verify_signature, pinned.keys.values())) else "invalid"
    else:
        signature = "present, not checked (no public key)" if manifest.signature else "unsigned"
    entries = list(manifest.entries)
    return {"files": len(entries), "bytes": sum(e.size for e in entries), "root": manifest.root,
            "signature": signature,
            "entries": [{"path": e.path, "size": e.size, "sha256": e.digest or ""} for e in entries]}


def audit_section(log: Any, public_key: Any = None) -> dict[str, Any]:
    """The audit section from an open ``pw.AuditLog``: chain status and every record."""
    report = log.verify(public_key)
    events = []
    for r in log.records():
        detail = ", ".join(f"{k}={_short(v)}" for k, v in r.payload.items())
        full = ", ".join(f"{k}={json.dumps(v, ensure_ascii=False, sort_keys=True)}"
                         for k, v in r.payload.items())
        events.append({"seq": r.seq, "time": r.ts, "event": r.action, "full": full,
                       "detail": detail if len(detail) <= 110 else detail[:107] + "..."})
    problem = "; ".join(f"{f.kind}: {f.detail}" for f in report.failures) or None
    # Signature findings (a key mismatch, no checkpoint by the given key) are not a broken chain.
    signature_kinds = {"bad_signature", "unsigned"}
    chain = [f for f in report.failures if f.kind not in signature_kinds]
    signatures = [f for f in report.failures if f.kind in signature_kinds]
    return {"ok": report.ok, "chain_ok": not chain, "entries": report.n_records,
            "signatures": "; ".join(f.detail for f in signatures) or "verified",
            "head": report.head_hash, "path": str(log.path), "events": events, "problem": problem}


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        items = list(value.items())
        return "{" + ", ".join(f"{k}: {_short(v)}" for k, v in items[:3]) + (", ..." if len(items) > 3 else "") + "}"
    if isinstance(value, list) and len(value) > 4:
        return "[" + ", ".join(map(str, value[:4])) + ", ...]"
    return str(value)
