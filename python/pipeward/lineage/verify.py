"""``verify``: walk back from a model to datasets signed by trusted providers, through signed
step attestations, and report the chain or exactly where it breaks."""

from __future__ import annotations

import datetime as dt
import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Union

from ..manifest import Manifest
from ..manifest.manifest import SIGNATURE_CONTEXT
from ..trust import TrustStore
from .attest import PAYLOAD_TYPE, PREDICATE_TYPE, ROOT_DIGEST, STATEMENT_TYPE
from .dsse import EnvelopeError, load_envelope, pae, payload_bytes, signature_bytes

__all__ = ["LineageReport", "Step", "verify"]

AttestationLike = Union[dict[str, Any], str, "os.PathLike[str]"]


@dataclass(frozen=True)
class Step:
    """One attested step of a chain: what ran, who signed it, what it read and wrote."""

    step: str
    signer: str
    outputs: dict[str, str]
    inputs: dict[str, str]
    parameters: dict[str, Any]
    source: str


@dataclass
class LineageReport:
    """``ok`` when every input, back from the model, was produced by a trusted attested step
    or signed by a trusted data provider. ``chain`` lists the steps from the model back;
    ``sources`` the signed datasets it rests on (name, root, signer); ``broken`` says where
    the walk stopped; ``rejected`` lists attestations that were not trusted, and why."""

    model_root: str
    ok: bool = False
    chain: list[Step] = field(default_factory=list)
    sources: list[dict[str, str]] = field(default_factory=list)
    broken: str | None = None
    rejected: list[tuple[str, str]] = field(default_factory=list)

    def __bool__(self) -> bool:
        return self.ok

    def to_dict(self) -> dict[str, Any]:
        return {"ok": self.ok, "model_root": self.model_root, "broken": self.broken,
                "chain": [vars(s) for s in self.chain], "sources": self.sources,
                "rejected": [{"attestation": w, "reason": r} for w, r in self.rejected]}

    def describe(self) -> str:
        lines = [f"model {self.model_root[:16]}..."]
        lines += [f"  <- {s.step} (signed by {s.signer!r}) from "
                  f"{', '.join(f'{n} {r[:12]}' for n, r in s.inputs.items()) or 'nothing'}"
                  for s in self.chain]
        lines += [f"  <- dataset {src['name']} {src['root'][:12]} (signed by {src['signer']!r})"
                  for src in self.sources]
        lines.append("OK: the chain is complete" if self.ok else f"BROKEN: {self.broken}")
        return "\n".join(lines)


def _statement(envelope: dict[str, Any], where: str, store: TrustStore, role: str | None,
               at: dt.datetime | str | None) -> tuple[dict[str, Any], str]:
    """The statement and its signer's name, or ``ValueError`` saying why it is not trusted."""
    if envelope["payloadType"] != PAYLOAD_TYPE:
        raise ValueError(f"payloadType is {envelope['payloadType']!r}, not {PAYLOAD_TYPE!r}")
    body = payload_bytes(envelope, where)
    reasons = []
    for sig in envelope["signatures"]:
        value = signature_bytes(sig)
        if value is None:
            reasons.append("a signature is not base64")
            continue
        check = store.check(str(sig.get("keyid", "")), pae(PAYLOAD_TYPE, body), value, role=role, at=at)
        if check:
            break
        reasons.append(check.reason)
    else:
        raise ValueError("; ".join(reasons))
    try:
        stmt = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise ValueError("the signed payload is not JSON") from None
    if (not isinstance(stmt, dict) or stmt.get("_type") != STATEMENT_TYPE
            or stmt.get("predicateType") != PREDICATE_TYPE or not isinstance(stmt.get("predicate"), dict)
            or not isinstance(stmt.get("subject"), list)):
        raise ValueError("not an in-toto Statement v1 with a pipeward lineage predicate")
    return stmt, check.signer or ""


def _input_signer(item: dict[str, Any], store: TrustStore, role: str | None,
                  at: dt.datetime | str | None) -> tuple[str | None, str]:
    """Who signed an input's manifest header (as embedded in the predicate), or why not."""
    header = item.get("manifest")
    if not isinstance(header, dict) or header.get("root") != item.get("root"):
        return None, "its manifest header is missing or names another root"
    message = SIGNATURE_CONTEXT + json.dumps(header, sort_keys=True, separators=(",", ":")).encode("ascii")
    check = store.check_block(item.get("signature"), message, role=role, at=at)
    return (check.signer, "") if check else (None, check.reason)


def _model_root(model: Manifest | str | os.PathLike[str]) -> str:
    if isinstance(model, Manifest):
        return model.root
    if os.path.isdir(model):
        return Manifest.build(model).root
    return Manifest.load(model).root


def verify(model: Manifest | str | os.PathLike[str], attestations: Iterable[AttestationLike],
           trust_store: TrustStore, *, role: str | None = None,
           provider_role: str | None = "data-provider",
           at: dt.datetime | str | None = None) -> LineageReport:
    """Walk back from ``model`` (a directory, a manifest file or a ``Manifest``) through the
    ``attestations`` (DSSE envelopes: dicts or files) to datasets whose manifests were signed
    by keys of ``trust_store`` holding ``provider_role``. Attestations count only when signed
    by a trusted key (holding ``role`` when given)."""
    if not isinstance(trust_store, TrustStore):
        raise TypeError(f"trust_store: expected a pipeward TrustStore, got {type(trust_store).__name__}")
    report = LineageReport(_model_root(model))
    producers: dict[str, list[tuple[dict[str, Any], str, str]]] = {}
    named_by_rejected: dict[str, list[str]] = {}
    for source in attestations:
        where = os.fspath(source) if isinstance(source, (str, os.PathLike)) else "envelope"
        try:
            envelope, where = load_envelope(source)
            stmt, signer = _statement(envelope, where, trust_store, role, at)
        except (EnvelopeError, ValueError) as exc:
            report.rejected.append((where, str(exc)))
            if isinstance(source, dict) or os.path.exists(where):
                for root in _claimed_roots(source):
                    named_by_rejected.setdefault(root, []).append(f"{where}: {exc}")
            continue
        for subject in stmt["subject"]:
            root = subject.get("digest", {}).get(ROOT_DIGEST) if isinstance(subject, dict) else None
            if isinstance(root, str):
                producers.setdefault(root, []).append((stmt, signer, where))
    _walk(report, producers, named_by_rejected, trust_store, provider_role, at)
    return report


def _claimed_roots(source: AttestationLike) -> list[str]:
    """The output roots an (untrusted) attestation claims, to explain a break."""
    try:
        envelope, where = load_envelope(source)
        stmt = json.loads(payload_bytes(envelope, where))
        return [s["digest"][ROOT_DIGEST] for s in stmt["subject"] if ROOT_DIGEST in s.get("digest", {})]
    except (EnvelopeError, ValueError, KeyError, TypeError, AttributeError):
        return []


def _walk(report: LineageReport, producers: dict[str, list[tuple[dict[str, Any], str, str]]],
          named_by_rejected: dict[str, list[str]], store: TrustStore,
          provider_role: str | None, at: dt.datetime | str | None) -> None:
    todo = [("the model", report.model_root, None)]
    seen: set[str] = set()
    while todo:
        label, root, item = todo.pop(0)
        if root in seen:
            continue
        seen.add(root)
        if item is not None:  # an input: a trusted provider's signature ends this branch
            signer, why = _input_signer(item, store, provider_role, at)
            if signer is not None:
                report.sources.append({"name": label, "root": root, "signer": signer})
                continue
        found = producers.get(root)
        if not found:
            hint = ""
            if item is not None:
                hint = f"its manifest is not signed by a trusted provider ({why}) and "
            if root in named_by_rejected:
                hint += f"an untrusted attestation claims it ({named_by_rejected[root][0]}) and "
            report.broken = (f"{label} (root {root[:16]}...): {hint}no trusted attestation names "
                             f"it as an output")
            return
        stmt, signer, where = found[0]
        pred = stmt["predicate"]
        inputs = [i for i in pred.get("inputs", []) if isinstance(i, dict)]
        report.chain.append(Step(str(pred.get("step")), signer,
                                 {o.get("name"): o.get("root") for o in pred.get("outputs", [])},
                                 {i.get("name"): i.get("root") for i in inputs},
                                 dict(pred.get("parameters", {})), where))
        for i in inputs:
            todo.append((f"input {i.get('name')!r} of step {pred.get('step')!r}", str(i.get("root")), i))
    report.ok = True
