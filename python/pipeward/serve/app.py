"""``create_app``: the guarded model service as an ASGI app on FastAPI.

Per request, in order: body size (413), per-address limit (429), authentication (401) and the
route's permission (403) as security dependencies, per-key limit with progressive delay (429),
content type (415), JSON and input validation (422 naming the field), daily budget (429),
the out-of-distribution guard (422 or flag), the model, output watermark and hardening. An
ASGI middleware times every request, counts it in the metrics and queues its audit record;
extraction detection, drift windows and the shadow model run in a background thread.
"""

from __future__ import annotations

import atexit
import hashlib
import itertools
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, HTTPException, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel

from .. import signing
from ..audit import AuditLog
from ..drift import DriftMonitor
from ..trust import TrustStore
from .accountability import ServeAccountability, install_accountability_routes
from .audit_writer import AuditWriter
from .auth import JwtVerifier, Principal, limited, openapi_security, security_dependency
from .extraction import ExtractionDetector, baseline_w
from .guard import ServeGuard
from .inputs import InputError, InputParser
from .keys import KeyStore
from .metrics import ServeMetrics
from .model_dir import ModelBundle, load_model_dir, training_background
from .model_file import ServedModel, as_served_model
from .monitor import BackgroundMonitor
from .outputs import harden_probabilities
from .policy import Policy
from .ratelimit import RateLimiter
from .schema import ModelSchema
from .watermark import Watermark

__all__ = ["Service", "create_app"]

log = logging.getLogger("pipeward.serve")

ROUTES = ("/v1/predict", "/v1/model", "/v1/admin/status", "/healthz", "/metrics", "/docs",
          "/openapi.json", "/v1/explain", "/v1/feedback")
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


class PredictRequest(BaseModel):
    """Rows in the schema's column order (``inputs``) or as named records (``records``)."""

    inputs: list[list[float]] | None = None
    records: list[dict[str, float | str]] | None = None


class PredictResponse(BaseModel):
    predictions: list[Any]
    request_id: str
    classes: list[Any] | None = None
    probabilities: list[list[float]] | None = None


class BodyTooLarge(Exception):
    """The request body passed the policy's limit while it was being read."""


class Service:
    """Everything one app holds: model, parser, guard, limits, metrics, audit, monitors."""

    def __init__(self, bundle: ModelBundle, keys: KeyStore, policy: Policy,
                 audit: AuditLog | None, shadow: ServedModel | None, model_name: str | None = None):
        self.bundle, self.keys, self.policy = bundle, keys, policy
        self.model = bundle.model
        self.parser = InputParser(bundle.schema, policy.input)
        self.guard = bundle.guard if policy.input.guard != "off" else None
        self.limiter = RateLimiter(policy.limits)
        self.metrics = ServeMetrics()
        self.jwt = JwtVerifier(policy.jwt, policy.base_dir) if policy.jwt.public_key else None
        self.audit = (AuditWriter(audit, batch=policy.audit.batch, flush_ms=policy.audit.flush_ms,
                                  queue_size=policy.audit.queue) if audit is not None else None)
        classes = tuple(self.model.classes or bundle.schema.classes)
        self.classes = classes
        wm_key = policy.watermark_key() if policy.watermark.fraction > 0 else b""
        if policy.watermark.fraction > 0 and not wm_key:
            raise ValueError("policy: watermark.fraction > 0 needs watermark.key or watermark.key_file")
        self.watermark = Watermark(wm_key, classes, policy.watermark.fraction) if wm_key else None
        self.noise_key = wm_key or secrets.token_bytes(32)
        n_numeric = int(bundle.schema.numeric_index.size)
        extraction = None
        if n_numeric and policy.extraction.enabled:
            low, width = bundle.schema.numeric_scale()
            baseline = (bundle.metadata or {}).get("extraction_baseline_w", 0.8)
            threshold = policy.extraction.threshold or 0.75 * float(baseline)
            extraction = ExtractionDetector(n_numeric, min_queries=policy.extraction.min_queries,
                                            threshold=threshold, low=low, width=width)
        drift = bundle.drift if policy.drift.enabled else None
        self.monitor = BackgroundMonitor(self.metrics, extraction=extraction, drift=drift,
                                         drift_window=policy.drift.window, shadow=shadow,
                                         alert=self._audit_alert, webhook=policy.alerts.webhook)
        self.probabilities_possible = (self.model.predict_proba is not None
                                       and not policy.output.label_only)
        self.monitors_on = extraction is not None or drift is not None or shadow is not None
        self.accountability = ServeAccountability(self, model_name)
        # Stop the background threads before the interpreter tears down (uvicorn's shutdown
        # does it too): a daemon thread inside a native call at exit would abort the process.
        atexit.register(self.close)

    def _audit_alert(self, kind: str, payload: dict[str, Any]) -> None:
        if self.audit is not None:
            self.audit.audit.append("serve.alert", {"kind": kind, **payload}, subject=kind)

    def close(self) -> None:
        atexit.unregister(self.close)
        self.monitor.close()
        if self.audit is not None:
            self.audit.close()
        self.accountability.close()


def _as_policy(policy: Policy | str | os.PathLike[str] | dict | None) -> Policy:
    if policy is None:
        return Policy()
    if isinstance(policy, Policy):
        return policy
    if isinstance(policy, dict):
        return Policy.from_dict(policy)
    return Policy.from_toml(policy)


def _bundle(source: Any, public_key: signing.KeyLike | TrustStore | None, signer_role: str | None,
            X_train: Any, feature_names: list[str] | None) -> ModelBundle:
    if isinstance(source, ModelBundle):
        return source
    if isinstance(source, (str, os.PathLike)) and Path(source).is_dir():
        if public_key is None:
            raise ValueError("create_app: a model directory needs public_key= (a public key or a "
                             "TrustStore) to verify its manifest")
        return load_model_dir(source, public_key, role=signer_role)
    if isinstance(source, (str, os.PathLike)):
        raise FileNotFoundError(f"{source}: not a model directory")
    if X_train is None:
        raise ValueError("create_app: serving a model object needs X_train= (for the input "
                         "schema, the guard and the drift reference)")
    model = as_served_model(source)
    schema = ModelSchema.from_training(X_train, classes=model.classes or None,
                                       feature_names=feature_names)
    numeric = (X_train.iloc[:, schema.numeric_index].to_numpy(dtype=np.float64)
               if hasattr(X_train, "iloc") else np.asarray(X_train, dtype=np.float64))
    guard = ServeGuard.fit(numeric) if numeric.shape[0] > numeric.shape[1] + 1 else None
    drift = DriftMonitor(numeric, workers=1) if numeric.shape[1] else None
    meta = {}
    if numeric.shape[1] and numeric.shape[0] >= 20:
        meta["extraction_baseline_w"] = baseline_w(numeric, *schema.numeric_scale())
    return ModelBundle(model, schema, guard, drift, metadata=meta)


def create_app(source: Any, *, keys: KeyStore | str | os.PathLike[str] | None = None,
               policy: Policy | str | os.PathLike[str] | dict | None = None,
               public_key: signing.KeyLike | TrustStore | None = None,
               signer_role: str | None = None, X_train: Any = None,
               feature_names: list[str] | None = None,
               audit: AuditLog | str | os.PathLike[str] | None = None,
               shadow: Any = None, model_name: str | None = None) -> FastAPI:
    """The guarded service for a signed model directory (verified with ``public_key``, or with
    a :class:`~pipeward.TrustStore` whose key must hold ``signer_role`` when given) or a
    model object (an estimator, a ``ServedModel`` or a callable, with ``X_train=``).

    ``keys``: a :class:`KeyStore` or its JSON file; ``policy``: a :class:`Policy`, a TOML
    file or a dict of tables; ``audit``: an :class:`~pipeward.AuditLog` or its path;
    ``shadow``: a second model scored off the request path; ``model_name``: the model's name
    as registered in the audit log (its records then count for that model's card and
    compliance checks). ``app.state.service`` holds the running :class:`Service`.
    """
    policy = _as_policy(policy)
    bundle = _bundle(source, public_key, signer_role, X_train, feature_names)
    if bundle.background is None and X_train is not None:
        bundle.background = training_background(X_train, bundle.schema)
    store = keys if isinstance(keys, KeyStore) else KeyStore(keys)
    log_ = AuditLog(audit) if isinstance(audit, (str, os.PathLike)) else audit
    service = Service(bundle, store, policy, log_,
                      as_served_model(shadow) if shadow is not None else None, model_name)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202
        yield
        service.close()

    app = FastAPI(title="pipeward guarded model service", lifespan=lifespan,
                  description="A signed model behind authentication, roles, rate limits, "
                              "input validation and an out-of-distribution guard.")
    app.state.service = service
    authorize = security_dependency(store, policy, service.jwt, service.limiter)
    _install_errors(app)
    _install_routes(app, service, authorize)
    install_accountability_routes(app, service, authorize)
    openapi_security(app)
    app.add_middleware(RecordMiddleware, service=service)
    return app


# --- errors -----------------------------------------------------------------------------------

def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        request.state.decision = "too_large"
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(InputError)
    async def invalid(request: Request, exc: InputError) -> JSONResponse:
        request.state.decision = "rejected"
        return JSONResponse({"detail": [exc.detail()]}, status_code=422)

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        request.state.decision = "rejected"
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)


# --- routes -----------------------------------------------------------------------------------

def _install_routes(app: FastAPI, svc: Service, authorize: Any) -> None:
    limiter, policy = svc.limiter, svc.policy

    body_schema = {"requestBody": {"required": True, "content": {"application/json": {
        "schema": PredictRequest.model_json_schema()}}}}

    @app.post("/v1/predict", response_model=PredictResponse,
              openapi_extra=body_schema,
              responses={401: {}, 403: {}, 413: {}, 415: {}, 422: {}, 429: {}})
    async def predict(request: Request,
                      principal: Principal = Security(authorize, scopes=["predict"])) -> Response:
        state = request.state
        payload = await _read_json(request, policy.input.record_inputs)
        parsed = svc.parser.parse(payload)
        state.rows = parsed.n_rows
        if limiter.budget is not None:
            decision = limiter.check_budget(principal.id, parsed.n_rows)
            if not decision.allowed:
                raise limited(request, decision)
        flagged = _guard(svc, parsed, state, "inputs" if "inputs" in payload else "records")
        try:
            labels = np.asarray(svc.model.predict(parsed.table)).reshape(-1)
            proba = (np.asarray(svc.model.predict_proba(parsed.table))
                     if svc.probabilities_possible and policy.allows(principal.role, "probabilities")
                     else None)
        except (ValueError, TypeError) as exc:
            state.decision = "rejected"
            raise HTTPException(422, detail=f"the model could not score this input: {str(exc)[:200]}") from None
        if policy.input.squeeze_decimals >= 0 and svc.parser.all_numeric:
            flagged |= _squeeze_disagreement(svc, parsed.numeric, labels)
        if flagged.any():
            state.decision = "flagged"
            state.flagged_rows = int(flagged.sum())
        if svc.monitors_on:
            svc.monitor.submit(principal.id, parsed.numeric, parsed.table, labels)
        svc.accountability.served(state.request_id, parsed, labels)
        svc.metrics.rows.inc(parsed.n_rows)
        return _answer(svc, parsed.numeric, labels, proba, state.request_id)

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/metrics")
    async def metrics(_: Principal = Security(authorize, scopes=["metrics"])) -> Response:
        if svc.audit is not None:
            svc.metrics.audit_written.set(svc.audit.written)
            svc.metrics.audit_dropped.set(svc.audit.dropped)
        return Response(svc.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/v1/model")
    async def model_card(_: Principal = Security(authorize, scopes=[])) -> dict[str, Any]:
        meta = svc.bundle.metadata or {}
        return {"manifest_root": svc.bundle.manifest_root, "format": meta.get("model", {}).get("format"),
                "n_train": meta.get("n_train"), "schema": svc.bundle.schema.to_dict(),
                "classes": list(svc.classes), "guard": policy.input.guard,
                "limits": {"per_key": policy.limits.per_key, "per_address": policy.limits.per_address,
                           "daily_budget": policy.limits.daily_budget}}

    @app.get("/v1/admin/status")
    async def status(_: Principal = Security(authorize, scopes=["admin"])) -> dict[str, Any]:
        extraction = svc.monitor.extraction
        return {"audit": {"written": svc.audit.written, "dropped": svc.audit.dropped}
                if svc.audit is not None else None,
                "alerts": svc.monitor.alerts[-50:], "drift_reports": svc.monitor.drift_reports,
                "extraction": {k: {"shapiro_w": extraction.w(k), "alarm": extraction.alarm(k)}
                               for k in extraction.keys()} if extraction is not None else {}}


# --- the steps of a prediction ---------------------------------------------------------------

async def _read_json(request: Request, record_inputs: bool) -> Any:
    """The JSON body (415 unless application/json; 422 when malformed or nested too deeply);
    its SHA-256 (and, when the policy says so, the text) goes to the audit record."""
    state = request.state
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        state.decision = "rejected"
        raise HTTPException(415, detail=f"expected Content-Type: application/json, got "
                                        f"{content_type[:60] or 'none'!r}")
    body = await request.body()
    state.input_sha256 = hashlib.sha256(body).hexdigest()
    if record_inputs:
        state.raw_input = body[:65536].decode("utf-8", "replace")
    try:
        return json.loads(body)
    except (ValueError, RecursionError) as exc:
        kind = "json_too_deep" if isinstance(exc, RecursionError) else "json_invalid"
        raise InputError([], f"the body is not valid JSON ({type(exc).__name__}: "
                             f"{str(exc)[:80] or 'nested too deeply'})", kind) from None


def _guard(svc: Service, parsed: Any, state: Any, where: str) -> np.ndarray:
    """Rows the out-of-distribution guard flags; with action ``reject``, a 422 naming the first."""
    flagged = np.zeros(parsed.n_rows, dtype=bool)
    if svc.guard is None:
        return flagged
    rules = svc.policy.input
    _, pvalues = svc.guard.score(parsed.numeric)
    state.guard_pvalue = float(pvalues.min())
    flagged = pvalues <= rules.guard_alpha
    if flagged.any() and rules.guard == "reject":
        i = int(np.flatnonzero(flagged)[0])
        raise InputError([where, i], f"row {i} is far from the training data (guard p-value "
                                     f"{pvalues[i]:.3g} <= {rules.guard_alpha})", "out_of_distribution")
    return flagged


def _squeeze_disagreement(svc: Service, numeric: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Feature squeezing: rows whose label changes when the input is rounded."""
    squeezed = np.asarray(svc.model.predict(np.round(numeric, svc.policy.input.squeeze_decimals)))
    disagree = squeezed.reshape(-1) != labels
    svc.metrics.decisions.labels("squeeze_disagreement").inc(int(disagree.sum()))
    return disagree


def _answer(svc: Service, numeric: np.ndarray, labels: np.ndarray, proba: np.ndarray | None,
            request_id: str) -> Response:
    """The response: watermarked labels and, when allowed, hardened probabilities."""
    if svc.watermark is not None:
        labels, proba, marked = svc.watermark.apply(numeric, labels, proba)
        if marked.any():
            svc.metrics.decisions.labels("watermarked").inc(int(marked.sum()))
    out: dict[str, Any] = {"predictions": np.asarray(labels).tolist(), "request_id": request_id}
    if proba is not None:
        out["classes"] = list(svc.classes)
        out["probabilities"] = harden_probabilities(proba, numeric, svc.policy.output,
                                                    svc.noise_key).tolist()
    return Response(json.dumps(out, separators=(",", ":")), media_type="application/json")


# --- the recording middleware -------------------------------------------------------------

class RecordMiddleware:
    """Pure ASGI: enforces the body limit, times the request, then counts it and queues its
    audit record (after the response is sent, so neither costs the caller)."""

    def __init__(self, app: ASGIApp, service: Service):
        self.app, self.svc = app, service
        self.max_body = service.policy.input.max_body_bytes
        # Request ids: a random per-process prefix and a counter (unique, and no system call
        # per request as a fresh random token would cost).
        self._ids = itertools.count()
        self._id_prefix = secrets.token_hex(4)
        self._children: dict[tuple[str, str], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        state["request_id"] = f"{self._id_prefix}{next(self._ids):08x}"
        status = {"code": 500}  # what a request that crashes becomes; recorded as such
        limit = self.max_body
        received = 0

        async def counted_receive() -> dict:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge(f"the body passed the limit of {limit} bytes")
            return message

        async def recording_send(message: dict) -> None:
            if message["type"] == "http.response.start":
                status["code"] = message["status"]
            await send(message)

        try:
            length = _content_length(scope)
            if length is not None and length > limit:
                state["decision"] = "too_large"
                body = json.dumps({"detail": f"the body is {length} bytes; the limit is {limit}"}).encode()
                await recording_send(_json_start(413, body))
                await send({"type": "http.response.body", "body": body})
            else:
                await self.app(scope, counted_receive, recording_send)
        finally:
            self._record(scope, state, status["code"], time.perf_counter() - start)

    def _record(self, scope: Scope, state: dict, code: int, seconds: float) -> None:
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        m = self.svc.metrics
        children = self._children.get((route, code))
        if children is None:  # the labelled series, looked up once per (route, status)
            children = self._children[(route, code)] = (m.requests.labels(route, str(code)),
                                                        m.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)
        decision = state.get("decision") or ("served" if code < 400 else
                                             "limited" if code == 429 else "error")
        m.decisions.labels(decision).inc()
        if self.svc.audit is None:
            return
        principal = state.get("principal")
        payload: dict[str, Any] = {"route": route, "method": scope.get("method", ""), "status": code,
                                   "decision": decision, "request_id": state["request_id"],
                                   "latency_ms": round(seconds * 1000, 3),
                                   "key_id": principal.id if principal else None,
                                   "role": principal.role if principal else None}
        for name in ("input_sha256", "rows", "guard_pvalue", "flagged_rows", "delay_ms", "raw_input"):
            if name in state:
                payload[name] = state[name]
        self.svc.audit.submit(route, payload, principal.id if principal else "anonymous")


def _content_length(scope: Scope) -> int | None:
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def _json_start(code: int, body: bytes) -> dict:
    """The response start of a JSON answer sent before the body was read (the connection is
    closed after it: the rest of the upload is not waited for)."""
    return {"type": "http.response.start", "status": code,
            "headers": [(b"content-type", b"application/json"),
                        (b"content-length", str(len(body)).encode()), (b"connection", b"close")]}
