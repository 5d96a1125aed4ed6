"""The checks a compliance profile can ask for, by name.

Each check reads :class:`Evidence` and answers a :class:`Verdict`: ``pass``, ``fail`` or
``not recorded`` (the log holds no fact either way, e.g. because the stage that would record it
did not run), with a sentence saying why and the sequence numbers of the records it read.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ...audit import kinds
from .evidence import Evidence

__all__ = ["CHECKS", "FAIL", "NOT_RECORDED", "PASS", "Verdict"]

PASS, FAIL, NOT_RECORDED = "pass", "fail", "not recorded"


@dataclass(frozen=True)
class Verdict:
    status: str
    detail: str
    evidence: tuple[int, ...] = field(default=())


def _seqs(records: list[Any]) -> tuple[int, ...]:
    return tuple(r.seq for r in records)


def _none(what: str, *actions: str) -> Verdict:
    return Verdict(NOT_RECORDED, f"no {what} in the log (no {' / '.join(actions)} record)")


def _never(payload: Mapping[str, Any]) -> bool:
    return False  # a requirement met by the record being there at all


def _each(records: list[Any], what: str, actions: tuple[str, ...],
          bad: Callable[[Mapping[str, Any]], bool], failed: Callable[[list[Any]], str],
          passed: Callable[[list[Any]], str]) -> Verdict:
    """The common shape: not recorded without records, fail naming the ``bad`` ones, else pass."""
    if not records:
        return _none(what, *actions)
    wrong = [r for r in records if bad(r.payload)]
    if wrong:
        return Verdict(FAIL, failed(wrong), _seqs(wrong))
    return Verdict(PASS, passed(records), _seqs(records))


def audit_verified(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    r = ev.report
    head = (r.n_records - 1,) if r.n_records else ()
    if not r.ok:
        kinds_found = sorted({f.kind for f in r.tampering})
        return Verdict(FAIL, f"the log fails verification ({', '.join(kinds_found)})",
                       tuple(f.seq for f in r.tampering if f.seq is not None))
    if r.checkpoints_verified == 0:
        return Verdict(FAIL, f"the hash chain of {r.n_records} records verifies, but no signed "
                             "checkpoint does (sign one: pipeward audit checkpoint)", head)
    key = "the pinned key" if ev.public_key is not None else "the key stored beside it (pass --pubkey to pin one)"
    latest = ev.log.checkpoints()[-1]
    return Verdict(PASS, f"hash chain of {r.n_records} records verified; {r.checkpoints_verified}/"
                         f"{r.checkpoints_total} signed checkpoints verified against {key}; the latest "
                         f"covers records #0-#{latest.size - 1}", head)


def data_integrity(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    manifests = ev.of(kinds.DATA_MANIFEST)
    built = [r for r in manifests if r.payload.get("event") == "built"]
    if ev.data_dir is not None:
        if not built:
            return _none("data manifest to compare --data with", kinds.DATA_MANIFEST)
        root = ev.manifest_root(ev.data_dir)
        match = [r for r in built if r.payload.get("root") == root]
        if match:
            return Verdict(PASS, f"{ev.data_dir} re-hashed: its Merkle root matches the manifest "
                                 f"recorded at #{match[-1].seq}", _seqs(match[-1:]))
        return Verdict(FAIL, f"{ev.data_dir} re-hashed to root {root[:16]}..., which no recorded "
                             f"manifest has (latest #{built[-1].seq}: {str(built[-1].payload.get('root'))[:16]}...)",
                       _seqs(built[-1:]))
    verified = [r for r in manifests if r.payload.get("event") == "verified"]
    if not verified:
        return _none("manifest verification", kinds.DATA_MANIFEST)
    last = verified[-1]
    if last.payload.get("ok"):
        return Verdict(PASS, f"the latest verification (#{last.seq}) found the data unchanged", (last.seq,))
    return Verdict(FAIL, f"the latest verification (#{last.seq}) found changes", (last.seq,))


def data_signed_trusted(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    return _each(ev.of(kinds.DATA_SIGNATURE), "signature by a trusted provider", (kinds.DATA_SIGNATURE,),
                 lambda p: p.get("trusted") is not True,
                 lambda bad: f"{len(bad)} dataset signature(s) not from a trusted provider: " + "; ".join(
                     str(r.payload.get("reason") or "untrusted") for r in bad),
                 lambda ok: f"{len(ok)} dataset signature(s), all by trusted providers")


def personal_data_protected(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    scans = ev.of(kinds.DATA_PII_SCAN)
    protected = ev.of(kinds.DATA_TOKENIZED, kinds.DATA_ENCRYPTED)
    found = {c for r in scans for c in r.payload.get("columns", [])}
    encrypted = any(r.action == kinds.DATA_ENCRYPTED for r in protected)
    covered = {c for r in protected if r.action == kinds.DATA_TOKENIZED for c in r.payload.get("columns", [])}
    if found and not encrypted and not found <= covered:
        left = sorted(found - covered)
        return Verdict(FAIL, f"personal data found in {', '.join(left)} is neither tokenized nor "
                             "encrypted at rest", _seqs(scans + protected))
    if protected:
        how = " and ".join(sorted({r.action.split(".")[1] for r in protected}))
        return Verdict(PASS, f"personal data {how} ({len(protected)} record(s))", _seqs(scans + protected))
    if scans and not found:
        return Verdict(PASS, "the PII scan found no personal data", _seqs(scans))
    return _none("tokenization or encryption of personal data", kinds.DATA_TOKENIZED, kinds.DATA_ENCRYPTED)


def consent_honoured(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    return _each(ev.of(kinds.DATA_CONSENT), "consent filtering", (kinds.DATA_CONSENT,),
                 lambda p: p.get("n_excluded") != p.get("n_without_consent"),
                 lambda bad: "rows without consent were not all excluded: " + "; ".join(
                     f"#{r.seq}: {r.payload.get('n_excluded')} of {r.payload.get('n_without_consent')}"
                     for r in bad),
                 lambda ok: f"{sum(int(r.payload.get('n_excluded') or 0) for r in ok)} row(s) without "
                            "consent excluded")


def erasure_applied(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    def applied(ok: list[Any]) -> str:
        subjects = sum(int(r.payload.get("n_subjects") or 0) for r in ok)
        rows = sum(int(r.payload.get("rows_removed") or 0) for r in ok)
        models = sorted({m for r in ok for m in r.payload.get("models", [])})
        return (f"{len(ok)} erasure(s) applied: {subjects} subject(s), {rows} row(s) removed"
                + (f"; trained on the old data, to retrain: {', '.join(models)}" if models else ""))

    return _each(ev.of(kinds.DATA_ERASED), "erasure", (kinds.DATA_ERASED,), _never, str, applied)


def dp_within(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    recs = ev.of(kinds.TRAINING_DP)
    if not recs:
        return _none("differentially private training", kinds.TRAINING_DP)
    last = recs[-1]
    eps, delta = last.payload.get("epsilon"), last.payload.get("delta")
    limit_e, limit_d = params.get("max_epsilon"), params.get("max_delta")
    over = []
    if limit_e is not None and not (isinstance(eps, (int, float)) and eps <= limit_e):
        over.append(f"epsilon {eps} > {limit_e}")
    if limit_d is not None and not (isinstance(delta, (int, float)) and delta <= limit_d):
        over.append(f"delta {delta} > {limit_d}")
    if over:
        return Verdict(FAIL, "DP budget over the profile's limit: " + ", ".join(over), (last.seq,))
    return Verdict(PASS, f"DP-SGD at epsilon {eps:.3g}, delta {delta:g} (limits {limit_e}, {limit_d})",
                   (last.seq,))


def fairness_within(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    recs = ev.of(kinds.FAIRNESS_ASSESSMENT)
    if not recs:
        return _none("fairness assessment", kinds.FAIRNESS_ASSESSMENT)
    last = recs[-1]
    values = last.payload.get("disparities", {})
    limits = params.get("limits", {})
    out, ok = [], True
    for name, limit in limits.items():
        value = values.get(name)
        if not isinstance(value, (int, float)):
            ok = False
            out.append(f"{name} undefined")
            continue
        good = value <= limit if name.endswith("difference") else value >= limit
        ok &= good
        out.append(f"{name} {value:.3f} {'<=' if name.endswith('difference') else '>='} {limit}"
                   + ("" if good else " FAILS"))
    feats = ", ".join(last.payload.get("sensitive_features", []))
    return Verdict(PASS if ok else FAIL, f"groups by {feats}: " + "; ".join(out), (last.seq,))


def explanations_available(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    actions = (kinds.EXPLANATION_GLOBAL, kinds.EXPLANATION_DECISION)
    return _each(ev.of(*actions), "explanation", actions, _never, str,
                 lambda ok: f"{sum(r.action == kinds.EXPLANATION_GLOBAL for r in ok)} global and "
                            f"{sum(r.action == kinds.EXPLANATION_DECISION for r in ok)} per-decision "
                            "explanation record(s)")


def model_card_complete(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    from ...audit import ModelCard  # noqa: PLC0415

    if ev.model is None:
        return _none("registered model", kinds.MODEL_REGISTERED)
    card = ModelCard.from_audit(ev.log, ev.model, public_key=ev.public_key, checkpoint=ev.checkpoint)
    sections = params.get("sections") or list(card.sections)
    missing = [m for m in card.missing_fields() if m.split(".")[0] in sections]
    registered = [r for r in ev.of(kinds.MODEL_REGISTERED) if r.payload.get("name") == ev.model]
    if missing:
        return Verdict(FAIL, f"the model card of {ev.model} lacks: {', '.join(missing)}", _seqs(registered[-1:]))
    return Verdict(PASS, f"the model card of {ev.model} has every field of {', '.join(sections)}",
                   _seqs(registered[-1:]))


def lineage_recorded(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    return _each(ev.of(kinds.LINEAGE_ATTESTED), "lineage attestation", (kinds.LINEAGE_ATTESTED,),
                 _never, str, lambda ok: f"{len(ok)} signed lineage attestation(s): "
                                         + ", ".join(str(r.payload.get("step")) for r in ok))


def security_tested(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    recs = ev.of("redteam.", prefix=True)
    return _each(recs, "security (red-team) test", ("redteam.*",), lambda p: p.get("passed") is False,
                 lambda bad: f"{len(bad)} of {len(recs)} red-team result(s) failed their threshold",
                 lambda ok: f"{len(ok)} red-team result(s), none failed")


def access_controlled(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    return _each(ev.of(kinds.SERVE_STARTED), "model service start", (kinds.SERVE_STARTED,),
                 lambda p: p.get("auth") is not True,
                 lambda bad: f"{len(bad)} service start(s) without authentication",
                 lambda ok: f"{len(ok)} service start(s), all with authentication")


def model_integrity(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    recs = ev.of(kinds.MODEL_ARTIFACT)
    if not recs:
        return _none("model artefact digest", kinds.MODEL_ARTIFACT)
    if ev.model_dir is None:
        return Verdict(NOT_RECORDED, f"model artefact recorded at #{recs[-1].seq}; give --model DIR "
                                     "to check the files against it", (recs[-1].seq,))
    folder = Path(ev.model_dir)
    root = ev.manifest_root(folder, exclude=("manifest.json",) if (folder / "manifest.json").is_file() else ())
    if recs[-1].payload.get("root") == root:
        return Verdict(PASS, f"{ev.model_dir} re-hashed: matches the artefact recorded at #{recs[-1].seq}",
                       (recs[-1].seq,))
    return Verdict(FAIL, f"{ev.model_dir} re-hashed to root {root[:16]}..., not the one recorded at "
                         f"#{recs[-1].seq}", (recs[-1].seq,))


def drift_monitored(ev: Evidence, params: Mapping[str, Any]) -> Verdict:
    return _each(ev.of(kinds.MONITOR_DRIFT), "drift check", (kinds.MONITOR_DRIFT,), _never, str,
                 lambda ok: f"{len(ok)} drift check(s) recorded")


# name -> (check, the params it accepts)
CHECKS: dict[str, tuple[Callable[[Evidence, Mapping[str, Any]], Verdict], frozenset[str]]] = {
    "audit_verified": (audit_verified, frozenset()),
    "data_integrity": (data_integrity, frozenset()),
    "data_signed_trusted": (data_signed_trusted, frozenset()),
    "personal_data_protected": (personal_data_protected, frozenset()),
    "consent_honoured": (consent_honoured, frozenset()),
    "erasure_applied": (erasure_applied, frozenset()),
    "dp_within": (dp_within, frozenset({"max_epsilon", "max_delta"})),
    "fairness_within": (fairness_within, frozenset({"limits"})),
    "explanations_available": (explanations_available, frozenset()),
    "model_card_complete": (model_card_complete, frozenset({"sections"})),
    "lineage_recorded": (lineage_recorded, frozenset()),
    "security_tested": (security_tested, frozenset()),
    "access_controlled": (access_controlled, frozenset()),
    "model_integrity": (model_integrity, frozenset()),
    "drift_monitored": (drift_monitored, frozenset()),
}
