"""The facts other pipeward stages write to an audit log, and the one place that names them.

Each helper takes plain values (str, int, float, lists, dicts), checks them, and appends one
record whose ``action`` and payload fields are fixed here; :class:`pipeward.ModelCard` reads
exactly these. ``model`` ties a fact to a model (it also becomes the record's ``subject``);
facts without one describe the pipeline as a whole.

========================  ======================================================================
action                    payload fields
========================  ======================================================================
``model.registered``      name, version, intended_use, out_of_scope_use, description,
                          model_type, owners, license, limitations
``data.manifest``         event ("built" | "verified"), root, n_files, total_bytes, dataset,
                          ok, added, removed, modified, model, job
``data.screen``           n_samples, n_outliers, n_label_suspects, n_quarantined,
                          quarantined_digest, method, dataset, model, job
``training.dp``           noise_multiplier, sample_rate, steps, epsilon, delta, max_grad_norm,
                          accountant, dataset, model
``monitor.drift``         n_features, n_drifted, drifted, verdicts, statistics, ks_statistics,
                          pvalues, test, alpha, dataset, model, job
``model.evaluation``      metric, value, dataset, split, model
``lineage.attested``      step, key_id, statement_sha256, inputs {name: root}, outputs {name: root}
``data.erased``           column, n_subjects, subject_tokens, rows_removed, files, old_root,
                          new_root, models
``pii.vault.lookup``      token, purpose, found
========================  ======================================================================

``job`` describes a distributed run (pipeward.dask): the job's name, how many partitions it
read and a SHA-256 of their keys, its passes over the data and the bytes its client received;
one record per job, never one per partition.

Optional fields that were not given are left out of the payload (never stored as guesses).
``quarantined_digest`` is ``SHA-256`` (hex) of the canonical JSON of the sorted quarantined
indices, so a reviewer holding the list can check it without the log storing it.
"""

from __future__ import annotations

import hashlib
import math
import numbers
import operator
from collections.abc import Mapping, Sequence
from typing import Any

from .canonical import canonical_json
from .chain import Record
from .log import AuditLog

__all__ = [
    "ACTIONS",
    "DATA_MANIFEST",
    "DATA_SCREEN",
    "MODEL_EVALUATION",
    "MODEL_REGISTERED",
    "LINEAGE_ATTESTED",
    "MONITOR_DRIFT",
    "TRAINING_DP",
    "indices_digest",
    "record_dp_training",
    "record_drift_check",
    "record_attestation",
    "record_erasure",
    "record_vault_lookup",
    "record_evaluation",
    "record_manifest",
    "record_model",
    "record_screen",
]

MODEL_REGISTERED = "model.registered"
DATA_MANIFEST = "data.manifest"
DATA_SCREEN = "data.screen"
TRAINING_DP = "training.dp"
MONITOR_DRIFT = "monitor.drift"
MODEL_EVALUATION = "model.evaluation"
LINEAGE_ATTESTED = "lineage.attested"
DATA_ERASED = "data.erased"
PII_VAULT_LOOKUP = "pii.vault.lookup"
ACTIONS = (MODEL_REGISTERED, DATA_MANIFEST, DATA_SCREEN, TRAINING_DP, MONITOR_DRIFT, MODEL_EVALUATION,
           LINEAGE_ATTESTED, DATA_ERASED, PII_VAULT_LOOKUP)


# --- value checks (plain Python values; NumPy scalars are read through float()/index()) -------
def _str(value: Any, name: str, *, empty: bool = False) -> str:
    if not isinstance(value, str):
        raise TypeError(f"{name}: expected str, got {type(value).__name__}")
    if not empty and not value.strip():
        raise ValueError(f"{name}: expected a non-empty string")
    return value


def _int(value: Any, name: str, *, minimum: int = 0) -> int:
    if isinstance(value, bool):
        raise TypeError(f"{name}: expected an integer, got bool")
    try:
        result = operator.index(value)
    except TypeError:
        raise TypeError(f"{name}: expected an integer, got {type(value).__name__}") from None
    if result < minimum:
        raise ValueError(f"{name}: expected an integer >= {minimum}, got {result}")
    return result


def _real(value: Any, name: str, *, low: float | None = None, high: float | None = None,
          low_open: bool = False, high_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name}: expected a real number, got {type(value).__name__}")
    result = float(value)
    if not math.isfinite(result):
        raise ValueError(f"{name}: expected a finite number, got {result}")
    if low is not None and (result < low or (low_open and result == low)):
        raise ValueError(f"{name}: expected {'>' if low_open else '>='} {low}, got {result}")
    if high is not None and (result > high or (high_open and result == high)):
        raise ValueError(f"{name}: expected {'<' if high_open else '<='} {high}, got {result}")
    return result


def _strings(value: Any, name: str) -> list[str]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{name}: expected a list of str, got {type(value).__name__}")
    return [_str(v, f"{name}[{i}]") for i, v in enumerate(value)]


def _job(value: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """A distributed job's facts: str keys, str or int values."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        raise TypeError(f"job: expected a dict, got {type(value).__name__}")
    out: dict[str, Any] = {}
    for k, v in value.items():
        _str(k, "job key")
        out[k] = _str(v, f"job[{k!r}]") if isinstance(v, str) else _int(v, f"job[{k!r}]")
    return out


def _optional(payload: dict[str, Any], **fields: Any) -> dict[str, Any]:
    payload.update({k: v for k, v in fields.items() if v is not None})
    return payload


def _append(log: AuditLog, action: str, payload: dict[str, Any], subject: str,
            actor: str | None) -> Record:
    if not isinstance(log, AuditLog):
        raise TypeError(f"log: expected a pipeward AuditLog, got {type(log).__name__}")
    return log.append(action, payload, subject=subject, actor=actor)


def indices_digest(indices: Sequence[int]) -> str:
    """SHA-256 (hex) of the canonical JSON of the sorted indices, e.g. ``[3,17,42]``."""
    return hashlib.sha256(canonical_json(sorted(_int(i, f"indices[{k}]") for k, i in enumerate(indices)))).hexdigest()


# --- the facts ----------------------------------------------------------------------------
def record_model(log: AuditLog, *, name: str, version: str, intended_use: str,
                 out_of_scope_use: str | None = None, description: str | None = None,
                 model_type: str | None = None, owners: Sequence[str] | None = None,
                 license: str | None = None, limitations: Sequence[str] | None = None,  # noqa: A002
                 actor: str | None = None) -> Record:
    """Register a model: what it is and what it is for (``model.registered``)."""
    payload = _optional(
        {"name": _str(name, "name"), "version": _str(version, "version"),
         "intended_use": _str(intended_use, "intended_use")},
        out_of_scope_use=None if out_of_scope_use is None else _str(out_of_scope_use, "out_of_scope_use"),
        description=None if description is None else _str(description, "description"),
        model_type=None if model_type is None else _str(model_type, "model_type"),
        owners=None if owners is None else _strings(owners, "owners"),
        license=None if license is None else _str(license, "license"),
        limitations=None if limitations is None else _strings(limitations, "limitations"),
    )
    return _append(log, MODEL_REGISTERED, payload, name, actor)


def record_manifest(log: AuditLog, *, manifest_root: str, n_files: int, event: str = "built",
                    total_bytes: int | None = None, dataset: str | None = None,
                    ok: bool | None = None, added: Sequence[str] | None = None,
                    removed: Sequence[str] | None = None, modified: Sequence[str] | None = None,
                    model: str | None = None, actor: str | None = None,
                    job: Mapping[str, Any] | None = None) -> Record:
    """A dataset manifest was built, or verified against ``manifest_root`` (``data.manifest``).

    For ``event="verified"`` give ``ok`` and the changed paths (``added``/``removed``/``modified``).
    """
    if event not in ("built", "verified"):
        raise ValueError(f"event: expected 'built' or 'verified', got {event!r}")
    root = _str(manifest_root, "manifest_root").lower()
    if len(root) != 64 or any(c not in "0123456789abcdef" for c in root):
        raise ValueError(f"manifest_root: expected 64 hex digits (a SHA-256), got {manifest_root!r}")
    if event == "verified" and ok is None:
        raise ValueError("ok: a verification must say whether it passed")
    if ok is not None and not isinstance(ok, bool):
        raise TypeError(f"ok: expected bool, got {type(ok).__name__}")
    payload = _optional(
        {"event": event, "root": root, "n_files": _int(n_files, "n_files")},
        total_bytes=None if total_bytes is None else _int(total_bytes, "total_bytes"),
        dataset=None if dataset is None else _str(dataset, "dataset"),
        ok=ok,
        added=None if added is None else _strings(added, "added"),
        removed=None if removed is None else _strings(removed, "removed"),
        modified=None if modified is None else _strings(modified, "modified"),
        model=None if model is None else _str(model, "model"),
        job=_job(job),
    )
    return _append(log, DATA_MANIFEST, payload, model or dataset or root, actor)


def record_screen(log: AuditLog, *, n_samples: int, n_outliers: int, n_label_suspects: int,
                  quarantined: Sequence[int], method: str | None = None,
                  dataset: str | None = None, model: str | None = None,
                  actor: str | None = None, job: Mapping[str, Any] | None = None) -> Record:
    """A poisoning screen ran (``data.screen``): counts and a digest of the quarantined indices."""
    n = _int(n_samples, "n_samples")
    indices = [_int(i, f"quarantined[{k}]") for k, i in enumerate(quarantined)]
    if any(i >= n for i in indices):
        raise ValueError(f"quarantined: indices must be < n_samples={n}, got {max(indices)}")
    payload = _optional(
        {"n_samples": n, "n_outliers": _int(n_outliers, "n_outliers"),
         "n_label_suspects": _int(n_label_suspects, "n_label_suspects"),
         "n_quarantined": len(set(indices)), "quarantined_digest": indices_digest(indices)},
        method=None if method is None else _str(method, "method"),
        dataset=None if dataset is None else _str(dataset, "dataset"),
        model=None if model is None else _str(model, "model"),
        job=_job(job),
    )
    return _append(log, DATA_SCREEN, payload, model or dataset or "", actor)


def record_dp_training(log: AuditLog, *, noise_multiplier: float, sample_rate: float, steps: int,
                       epsilon: float, delta: float, max_grad_norm: float | None = None,
                       accountant: str = "rdp", dataset: str | None = None,
                       model: str | None = None, actor: str | None = None) -> Record:
    """A differentially private training run and its privacy budget (``training.dp``)."""
    payload = _optional(
        {"noise_multiplier": _real(noise_multiplier, "noise_multiplier", low=0.0),
         "sample_rate": _real(sample_rate, "sample_rate", low=0.0, high=1.0, low_open=True),
         "steps": _int(steps, "steps"),
         "epsilon": _real(epsilon, "epsilon", low=0.0),
         "delta": _real(delta, "delta", low=0.0, high=1.0, high_open=True),
         "accountant": _str(accountant, "accountant")},
        max_grad_norm=None if max_grad_norm is None else _real(max_grad_norm, "max_grad_norm",
                                                               low=0.0, low_open=True),
        dataset=None if dataset is None else _str(dataset, "dataset"),
        model=None if model is None else _str(model, "model"),
    )
    return _append(log, TRAINING_DP, payload, model or dataset or "", actor)


def record_drift_check(log: AuditLog, *, verdicts: Mapping[str, bool],
                       statistics: Mapping[str, float] | None = None,
                       ks_statistics: Mapping[str, float] | None = None,
                       pvalues: Mapping[str, float] | None = None, test: str = "ks",
                       alpha: float | None = None, dataset: str | None = None,
                       model: str | None = None, actor: str | None = None,
                       job: Mapping[str, Any] | None = None) -> Record:
    """A drift check (``monitor.drift``): the verdict per feature (True = drifted).

    ``statistics`` is the test's statistic per feature (PSI when ``test`` names psi),
    ``ks_statistics`` the KS statistic per feature when KS ran beside it, and ``pvalues``
    the KS p-values; each holds one number per feature, as ``verdicts`` does."""
    if not isinstance(verdicts, Mapping) or not verdicts:
        raise TypeError("verdicts: expected a non-empty dict {feature name: drifted (bool)}")
    clean: dict[str, bool] = {}
    for feature, drifted in verdicts.items():
        _str(feature, "verdicts key")
        if not isinstance(drifted, bool):
            kind = type(drifted)
            if kind.__module__ != "numpy" or kind.__name__ not in ("bool", "bool_"):  # NumPy's bool is fine
                raise TypeError(f"verdicts[{feature!r}]: expected bool, got {type(drifted).__name__}")
            drifted = bool(drifted)
        clean[feature] = drifted

    def per_feature(values: Mapping[str, float] | None, name: str) -> dict[str, float] | None:
        if values is None:
            return None
        if set(values) != set(clean):
            raise ValueError(f"{name}: expected the same features as verdicts")
        return {k: _real(v, f"{name}[{k!r}]") for k, v in values.items()}

    drifted = sorted(k for k, v in clean.items() if v)
    payload = _optional(
        {"n_features": len(clean), "n_drifted": len(drifted), "drifted": drifted,
         "verdicts": clean, "test": _str(test, "test")},
        statistics=per_feature(statistics, "statistics"),
        ks_statistics=per_feature(ks_statistics, "ks_statistics"),
        pvalues=per_feature(pvalues, "pvalues"),
        alpha=None if alpha is None else _real(alpha, "alpha", low=0.0, high=1.0, low_open=True),
        dataset=None if dataset is None else _str(dataset, "dataset"),
        model=None if model is None else _str(model, "model"),
        job=_job(job),
    )
    return _append(log, MONITOR_DRIFT, payload, model or dataset or "", actor)


def record_evaluation(log: AuditLog, *, metric: str, value: float, dataset: str | None = None,
                      split: str | None = None, model: str | None = None,
                      actor: str | None = None) -> Record:
    """One evaluation result, e.g. ``metric="accuracy", value=0.93`` (``model.evaluation``)."""
    payload = _optional(
        {"metric": _str(metric, "metric"), "value": _real(value, "value")},
        dataset=None if dataset is None else _str(dataset, "dataset"),
        split=None if split is None else _str(split, "split"),
        model=None if model is None else _str(model, "model"),
    )
    return _append(log, MODEL_EVALUATION, payload, model or dataset or "", actor)


def _hex64(value: Any, name: str) -> str:
    text = _str(value, name).lower()
    if len(text) != 64 or any(c not in "0123456789abcdef" for c in text):
        raise ValueError(f"{name}: expected 64 hex digits (a SHA-256), got {value!r}")
    return text


def _roots(value: Mapping[str, str], name: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise TypeError(f"{name}: expected a mapping of name to manifest root, got {type(value).__name__}")
    return {_str(k, f"{name} key"): _hex64(v, f"{name}[{k!r}]") for k, v in value.items()}


def record_attestation(log: AuditLog, *, step: str, key_id: str, statement_sha256: str,
                       inputs: Mapping[str, str], outputs: Mapping[str, str],
                       actor: str | None = None) -> Record:
    """A pipeline step was attested (``lineage.attested``): who signed, the SHA-256 of the
    in-toto statement, and the manifest roots it read and wrote."""
    payload = {"step": _str(step, "step"), "key_id": _hex64(key_id, "key_id"),
               "statement_sha256": _hex64(statement_sha256, "statement_sha256"),
               "inputs": _roots(inputs, "inputs"), "outputs": _roots(outputs, "outputs")}
    return _append(log, LINEAGE_ATTESTED, payload, step, actor)


def record_vault_lookup(log: AuditLog, *, token: str, purpose: str, found: bool, actor: str) -> Record:
    """Someone (``actor``) asked a token vault for the value behind ``token``
    (``pii.vault.lookup``): the token and the purpose, never the value."""
    if not isinstance(found, bool):
        raise TypeError(f"found: expected bool, got {type(found).__name__}")
    payload = {"token": _str(token, "token"), "purpose": _str(purpose, "purpose"), "found": found}
    return _append(log, PII_VAULT_LOOKUP, payload, token, _str(actor, "actor"))


def record_erasure(log: AuditLog, *, column: str, subject_tokens: Sequence[str], rows_removed: int,
                   files: Sequence[str], old_root: str, new_root: str, models: Sequence[str],
                   dataset: str | None = None, actor: str | None = None) -> Record:
    """Subjects' rows were erased from a dataset (``data.erased``): the subjects by token only,
    the manifest roots before and after, and the models trained on the old data."""
    payload = _optional(
        {"column": _str(column, "column"), "n_subjects": len(subject_tokens),
         "subject_tokens": _strings(subject_tokens, "subject_tokens"),
         "rows_removed": _int(rows_removed, "rows_removed"), "files": _strings(files, "files"),
         "old_root": _hex64(old_root, "old_root"), "new_root": _hex64(new_root, "new_root"),
         "models": _strings(models, "models")},
        dataset=None if dataset is None else _str(dataset, "dataset"))
    return _append(log, DATA_ERASED, payload, dataset or new_root, actor)
