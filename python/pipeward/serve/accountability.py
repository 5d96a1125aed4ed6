"""Accountability in the guarded service: explanations of decisions, fairness over time, and
the service's own facts in the audit log.

- ``/v1/explain`` (permission ``explain``): each row's top Shapley contributions from
  :func:`pipeward.explain`, against the model directory's background rows.
- ``/v1/feedback`` (permission ``feedback``): true labels for answered requests, joined to the
  served predictions by ``request_id``; each call is one batch of :class:`FairnessMonitor`'s
  rolling window (the same numbers as :func:`pipeward.fairness.assess` over the window's rows).
  A disparity past the policy's limit sets a metric, writes an alert (log line, ``serve.alert``
  record, webhook) once per crossing, and every window is a ``monitor.fairness`` record.
- With ``explain.record_decisions`` every answered row gets an ``explanation.decision`` record
  (written off the request path).
- ``model.artifact`` and ``serve.started`` when the service starts, ``serve.stopped`` when it
  stops, so ``pipeward comply check`` can answer its access-control and model-integrity rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import math
import os
import threading
from collections import OrderedDict
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
from fastapi import FastAPI, Request, Security
from fastapi.responses import JSONResponse
from prometheus_client import Gauge
from starlette.concurrency import run_in_threadpool

from ..accountability.explanations import Explanation, explain
from ..accountability.fairness import DISPARITIES
from ..accountability.fairness_monitor import FairnessMonitor, FairnessWindow
from ..accountability.records import decision_payload, plain
from ..audit import kinds
from .inputs import InputError

if TYPE_CHECKING:
    from .app import Service

__all__ = ["ServeAccountability", "install_accountability_routes"]

log = logging.getLogger("pipeward.serve")


class _Probabilities:
    """A served model without an estimator object (ONNX), as :func:`explain` reads it."""

    def __init__(self, predict_proba: Any, classes: tuple[Any, ...]):
        self.predict_proba = predict_proba
        if classes:
            self.classes_ = classes


def _explained_model(svc: Service) -> tuple[Any, str | None]:
    """(what :func:`explain` is given, why explanations are unavailable or None)."""
    served = svc.model
    if not svc.parser.all_numeric:
        return None, "explanations need an all-numeric input schema"
    if svc.bundle.background is None:
        return None, "the model directory has no background rows (package it again)"
    if len(svc.classes) > 2:
        return None, f"explanations cover binary classifiers and regressors; this model has {len(svc.classes)} classes"
    estimator = getattr(served.predict, "__self__", None)
    if estimator is not None and (served.predict_proba is None or callable(getattr(estimator, "predict_proba", None))):
        return estimator, None
    if served.predict_proba is not None:
        return _Probabilities(served.predict_proba, svc.classes), None
    if svc.classes:
        return None, "the model answers labels only; there is no score to explain"
    return served.predict, None


class ServeAccountability:
    """The service's explanations, fairness window and accountability records."""

    def __init__(self, svc: Service, model_name: str | None = None):
        self.svc = svc
        self.rules, self.fair_rules = svc.policy.explain, svc.policy.fairness
        # Records name the model as registered in the log when the operator says (model card,
        # comply check); without a name they hold for every model there.
        self.model_name = model_name
        self.about = {"model": model_name} if model_name else {}
        if svc.bundle.manifest_root:
            self.about["model_root"] = svc.bundle.manifest_root
        self.subject = model_name or svc.bundle.manifest_root or ""
        self.names = [svc.bundle.schema.names[j] for j in svc.bundle.schema.numeric_index]
        self.model, self.unavailable = _explained_model(svc)
        self.output = self.rules.output or None
        self._log = svc.audit.audit if svc.audit is not None else None
        if self.rules.record_decisions and (self.unavailable or self._log is None):
            raise ValueError("policy: explain.record_decisions needs an audit log and an explainable model"
                             + (f" ({self.unavailable})" if self.unavailable else ""))
        self._decisions = (ThreadPoolExecutor(1, thread_name_prefix="pipeward-explain")
                           if self.rules.record_decisions else None)
        self._queued = 0  # requests waiting for their decision records (bounded like the audit queue)
        self.decisions_dropped = Gauge("pipeward_explain_dropped", "Answered requests whose decision "
                                       "explanations were not recorded (queue full or failed)",
                                       registry=svc.metrics.registry) if self._decisions is not None else None
        self.fairness = self._fairness_monitor()
        self._pending: OrderedDict[str, tuple[np.ndarray, dict[str, np.ndarray] | None]] = OrderedDict()
        self._pending_rows = 0
        self._lock = threading.Lock()
        self._closed = False
        self._record_start()

    # -- fairness -----------------------------------------------------------------------------

    def _fairness_monitor(self) -> FairnessMonitor | None:
        rules = self.fair_rules
        if not rules.enabled:
            return None
        if rules.source == "request":
            missing = [n for n in rules.sensitive if n not in self.svc.bundle.schema.names]
            if missing:
                raise ValueError(f"policy: fairness.source = 'request' reads model input columns; "
                                 f"the schema has no {', '.join(missing)}")
        r = self.svc.metrics.registry
        self.disparity_gauge = Gauge("pipeward_fairness_disparity", "Disparity over the last "
                                     "fairness window", ["disparity"], registry=r)
        self.alarm_gauge = Gauge("pipeward_fairness_alarm", "1 when the disparity is past the "
                                 "policy's limit", ["disparity"], registry=r)
        self.window_rows = Gauge("pipeward_fairness_window_rows", "Labelled rows in the fairness "
                                 "window", registry=r)
        return FairnessMonitor(rules.limits, window=rules.window, method=rules.method)

    def _sensitive_of(self, table: Any) -> dict[str, np.ndarray]:
        names = self.svc.bundle.schema.names
        if hasattr(table, "iloc"):
            return {n: table[n].to_numpy() for n in self.fair_rules.sensitive}
        return {n: np.asarray(table)[:, names.index(n)].copy() for n in self.fair_rules.sensitive}

    def served(self, request_id: str, parsed: Any, labels: np.ndarray) -> None:
        """After each answered prediction: keep it for the labels to come, queue its explanation."""
        if self.fairness is not None:
            sensitive = self._sensitive_of(parsed.table) if self.fair_rules.source == "request" else None
            with self._lock:
                self._pending[request_id] = (np.asarray(labels).reshape(-1).copy(), sensitive)
                self._pending_rows += len(labels)
                while self._pending_rows > self.fair_rules.pending and len(self._pending) > 1:
                    _, (old, _) = self._pending.popitem(last=False)
                    self._pending_rows -= len(old)
        if self._decisions is not None:
            with self._lock:
                full = self._queued >= self.svc.policy.audit.queue
                self._queued += not full
            if full:
                self.decisions_dropped.inc()
            else:
                self._decisions.submit(self._record_decisions, request_id, parsed.numeric.copy())

    def feedback(self, payload: Any) -> dict[str, Any]:
        """One labelled batch into the fairness window; 422 (InputError) names a bad field."""
        items = payload.get("feedback") if isinstance(payload, dict) and set(payload) == {"feedback"} else None
        if not isinstance(items, list) or not items:
            raise InputError([], "expected {\"feedback\": [{\"request_id\": ..., \"labels\": [...]"
                                 + (", \"sensitive\": {name: [...]}" if self.fair_rules.source == "feedback" else "")
                                 + "}, ...]}", "value_error")
        with self._lock:
            y_true, y_pred, groups = [], [], {n: [] for n in self.fair_rules.sensitive}
            for i, item in enumerate(items):
                labels, sensitive = self._join(item, i)
                y_true.append(np.asarray(item["labels"]))
                y_pred.append(labels)
                for n in groups:
                    groups[n].append(np.asarray(sensitive[n]))
            try:
                window = self.fairness.update(np.concatenate(y_true), np.concatenate(y_pred),
                                              {n: np.concatenate(v) for n, v in groups.items()},
                                              audit=self._log, model=self.model_name)
            except (TypeError, ValueError) as exc:
                raise InputError([], f"the labelled batch could not be assessed: {exc}", "value_error") from None
            for item in items:  # consumed only once the batch is in the window
                old, _ = self._pending.pop(item["request_id"])
                self._pending_rows -= len(old)
        self._publish(window)
        return {"rows": int(sum(len(t) for t in y_true)), "window": _window_dict(window, self.fairness.limits)}

    def _join(self, item: Any, i: int) -> tuple[np.ndarray, dict[str, Any]]:
        where = ["feedback", i]
        if not isinstance(item, dict) or not isinstance(item.get("request_id"), str):
            raise InputError(where, "expected an object with a request_id string", "value_error")
        allowed = {"request_id", "labels"} | ({"sensitive"} if self.fair_rules.source == "feedback" else set())
        unknown = sorted(map(str, set(item) - allowed))
        if unknown:
            raise InputError([*where, unknown[0]], f"unknown field (expected {sorted(allowed)}; with "
                             f"fairness.source = {self.fair_rules.source!r} the attributes come from "
                             f"the {'request' if self.fair_rules.source == 'request' else 'feedback'})",
                             "value_error")
        entry = self._pending.get(item["request_id"])
        if entry is None:
            raise InputError([*where, "request_id"], f"no answered request {item['request_id'][:40]!r} is "
                             "waiting for labels (unknown, labelled already, or dropped past "
                             "fairness.pending)", "unknown_request")
        labels, sensitive = entry
        y = item.get("labels")
        if not isinstance(y, list) or len(y) != len(labels):
            raise InputError([*where, "labels"], f"expected a list of {len(labels)} labels (one per "
                             "answered row)", "value_error")
        if self.fair_rules.source == "feedback":
            sensitive = item.get("sensitive")
            if not isinstance(sensitive, dict) or set(sensitive) != set(self.fair_rules.sensitive):
                raise InputError([*where, "sensitive"], f"expected an object with exactly "
                                 f"{list(self.fair_rules.sensitive)}", "value_error")
            for n, v in sensitive.items():
                if not isinstance(v, list) or len(v) != len(labels):
                    raise InputError([*where, "sensitive", n], f"expected a list of {len(labels)} values",
                                     "value_error")
        return labels, sensitive

    def _publish(self, window: FairnessWindow) -> None:
        for name, value in window.assessment.disparities.items():
            self.disparity_gauge.labels(name).set(float(value))
        for name in self.fairness.limits:
            self.alarm_gauge.labels(name).set(int(name in window.alerts))
        self.window_rows.set(window.assessment.counts.n_rows)
        if window.crossed:
            values = window.assessment.disparities
            self.svc.monitor.alert("fairness", {
                "crossed": list(window.crossed), "limits": {k: self.fairness.limits[k] for k in window.crossed},
                "values": {k: _number(values[k]) for k in window.crossed}, "rows": window.assessment.counts.n_rows})

    # -- explanations -------------------------------------------------------------------------

    def explain(self, numeric: np.ndarray) -> Explanation:
        return explain(self.model, numeric, background=self.svc.bundle.background, output=self.output,
                       feature_names=self.names, random_state=0)

    def _record_decisions(self, request_id: str, numeric: np.ndarray) -> None:
        try:
            e = self.explain(numeric)
            self._log.append_many([{
                "action": kinds.EXPLANATION_DECISION, "subject": self.subject,
                "payload": {**decision_payload(e, i, self.rules.top), "request_id": request_id,
                            **self.about}} for i in range(numeric.shape[0])])
        except Exception:  # a failed explanation must not take the service down; the log says so
            self.decisions_dropped.inc()
            log.exception("explain: could not record the decisions of request %s", request_id)
        finally:
            with self._lock:
                self._queued -= 1

    # -- the service's own records ------------------------------------------------------------

    def _record_start(self) -> None:
        if self._log is None:
            return
        svc, policy = self.svc, self.svc.policy
        if svc.bundle.manifest_root:
            self._log.append(kinds.MODEL_ARTIFACT, {
                **self.about, "root": svc.bundle.manifest_root,
                "format": (svc.bundle.metadata or {}).get("model", {}).get("format")}, subject=self.subject)
        self._log.append(kinds.SERVE_STARTED, {
            **self.about, "auth": True, "jwt": svc.jwt is not None, "pid": os.getpid(),
            "roles": {r: list(p) for r, p in policy.roles.items()}, "rate_limit": policy.limits.per_key,
            "guard": policy.input.guard, "explanations": self.unavailable is None,
            "record_decisions": policy.explain.record_decisions, "fairness": policy.fairness.enabled},
            subject=self.subject)

    def close(self) -> None:
        """Finish queued decision records, then record the stop (after the last request record)."""
        if self._closed:
            return
        self._closed = True
        if self._decisions is not None:
            self._decisions.shutdown(wait=True)
        if self._log is not None:
            self._log.append(kinds.SERVE_STOPPED, {**self.about, "pid": os.getpid()}, subject=self.subject)


def _number(v: Any) -> float | None:
    return float(v) if isinstance(v, (int, float, np.floating)) and math.isfinite(v) else None


def _window_dict(window: FairnessWindow, limits: dict[str, float]) -> dict[str, Any]:
    a = window.assessment
    return {"batches": window.batches, "n_rows": a.counts.n_rows,
            "sensitive_features": list(a.sensitive_feature_names),
            "disparities": {k: _number(a.disparities[k]) for k in DISPARITIES if k in a.disparities},
            "limits": plain(limits), "alerts": list(window.alerts), "crossed": list(window.crossed)}


class _Refused(Exception):
    """An answer other than 200 from these routes (self-contained, so they do not depend on
    how the prediction route reports its errors)."""

    def __init__(self, status: int, detail: Any, decision: str, headers: dict[str, str] | None = None):
        super().__init__(str(detail))
        self.status, self.detail, self.decision, self.headers = status, detail, decision, headers


async def _json_body(request: Request) -> Any:
    """The JSON body: 415 unless application/json, 422 when malformed (its SHA-256 goes to the
    request's audit record, as for predictions)."""
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        raise _Refused(415, f"expected Content-Type: application/json, got {content_type[:60] or 'none'!r}",
                       "rejected")
    body = await request.body()
    request.state.input_sha256 = hashlib.sha256(body).hexdigest()
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise _Refused(422, [{"loc": ["body"], "msg": "the body is not valid JSON", "type": "json_invalid"}],
                       "rejected") from None


def _check(decision: Any) -> None:
    if not decision.allowed:
        raise _Refused(429, decision.reason, "limited", {"Retry-After": str(decision.retry_after)})


async def _answer(request: Request, work: Any) -> Any:
    """Await ``work`` (a coroutine); a refusal or an input error becomes its JSON answer."""
    try:
        return await work
    except InputError as exc:
        request.state.decision = "rejected"
        return JSONResponse({"detail": [exc.detail()]}, status_code=422)
    except _Refused as exc:
        request.state.decision = exc.decision
        return JSONResponse({"detail": exc.detail}, status_code=exc.status, headers=exc.headers)


def install_accountability_routes(app: FastAPI, svc: Service, authorize: Any) -> None:
    """``/v1/explain`` and ``/v1/feedback`` on ``app``, behind ``authorize`` (the service's
    FastAPI security dependency: authentication and the route's permission)."""
    acc = svc.accountability

    async def explain_rows(request: Request, principal: Any) -> Any:
        state = request.state
        # Explanations reveal more than answers: the same per-key limit and daily budget.
        decision = await svc.limiter.check_key(principal.id)
        _check(decision)
        if decision.delay:
            state.delay_ms = round(decision.delay * 1000, 3)
            await asyncio.sleep(decision.delay)
        parsed = svc.parser.parse(await _json_body(request))
        state.rows = parsed.n_rows
        if parsed.n_rows > acc.rules.max_rows:
            raise InputError([], f"too many rows to explain: at most {acc.rules.max_rows}, got "
                                 f"{parsed.n_rows}", "too_many_rows")
        if svc.limiter.budget is not None:
            _check(await svc.limiter.check_budget(principal.id, parsed.n_rows))
        if acc.unavailable:
            raise _Refused(501, acc.unavailable, "rejected")
        try:
            e = await run_in_threadpool(acc.explain, parsed.numeric)
        except ValueError as exc:
            raise _Refused(422, f"the model could not be explained on this input: {str(exc)[:200]}",
                           "rejected") from None
        return {"request_id": state.request_id, "method": e.method, "output": e.output,
                "explanations": [decision_payload(e, i, acc.rules.top) for i in range(parsed.n_rows)]}

    async def take_feedback(request: Request) -> Any:
        if acc.fairness is None:
            raise _Refused(501, "fairness monitoring is off: set [fairness] enabled = true in the policy",
                           "rejected")
        return await run_in_threadpool(acc.feedback, await _json_body(request))

    @app.post("/v1/explain", responses={401: {}, 403: {}, 415: {}, 422: {}, 429: {}, 501: {}})
    async def explain_route(request: Request, principal: Any = Security(authorize, scopes=["explain"])) -> Any:
        return await _answer(request, explain_rows(request, principal))

    @app.post("/v1/feedback", responses={401: {}, 403: {}, 415: {}, 422: {}, 501: {}})
    async def feedback_route(request: Request, _: Any = Security(authorize, scopes=["feedback"])) -> Any:
        return await _answer(request, take_feedback(request))
