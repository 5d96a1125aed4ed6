"""``create_app``: the guarded model service as an ASGI app on FastAPI.

``POST /v1/predict`` is a raw ASGI endpoint (:mod:`.predict_route`, the hot path); the other
routes are FastAPI's, with authentication and permissions as a security dependency. Both admit
requests through the same :class:`~.auth.Gate`. An outer ASGI middleware enforces the body
limit, times every request, counts it in the metrics and queues its audit record; extraction
detection, drift windows and the shadow model run in a background thread.
"""

from __future__ import annotations

import atexit
import functools
import itertools
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable, MutableMapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from .. import signing
from ..audit import AuditLog
from ..drift import DriftMonitor
from ..trust import TrustStore
from .accountability import ServeAccountability, install_accountability_routes
from .audit_writer import AuditWriter
from .auth import Gate, JwtVerifier, Principal, Refusal, openapi_security, security_dependency
from .extraction import ExtractionDetector
from .inputs import InputParser
from .keys import KeyStore
from .metrics import ServeMetrics
from .model_dir import ModelBundle, fit_training_profiles, load_model_dir, training_background
from .model_file import ServedModel, as_served_model
from .model_pool import ModelPool
from .monitor import BackgroundMonitor
from .policy import Policy
from .predict_route import BodyTooLarge, PredictEndpoint, error_body, openapi_paths
from .predict_route import PATH as PREDICT_PATH
from .ratelimit import RateLimiter
from .schema import ModelSchema
from .watermark import Watermark

__all__ = ["Service", "create_app"]

log = logging.getLogger("pipeward.serve")

ROUTES = ("/v1/predict", "/v1/model", "/v1/admin/status", "/healthz", "/metrics", "/docs",
          "/openapi.json", "/v1/explain", "/v1/feedback")
Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[dict]], Callable[[dict], Awaitable[None]]], Awaitable[None]]


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
        self.gate = Gate(keys, policy, self.jwt, self.limiter)
        self.pool = ModelPool(policy.model.threads, policy.model.queue, policy.model.inline_below_ms)
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
            # From the monitor thread, through the writer (one thread appends to the log).
            self.audit.put_blocking(kind, {"kind": kind, **payload}, "pipeward-serve", "serve.alert")

    def close(self) -> None:
        atexit.unregister(self.close)
        self.monitor.close()
        self.pool.close()
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
    guard, drift, meta = fit_training_profiles(X_train, schema, drift_workers=1)
    return ModelBundle(model, schema, guard, drift, metadata=meta)


def _shadow(source: Any, primary: ModelBundle, public_key: signing.KeyLike | TrustStore | None,
            signer_role: str | None) -> ServedModel:
    if isinstance(source, (str, os.PathLike)):
        if public_key is None:
            raise ValueError("create_app: a shadow model directory needs public_key= to verify it")
        bundle = load_model_dir(source, public_key, role=signer_role)
        if bundle.schema.names != primary.schema.names:
            raise ValueError(f"{source}: the shadow model takes features {bundle.schema.names[:5]}..., "
                             f"the served model {primary.schema.names[:5]}...: they must be the same")
        return bundle.model
    return as_served_model(source)


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
    ``shadow``: a second model scored off the request path on the same inputs (a model object
    or another signed model directory with the same features, verified like the served one);
    its disagreement rate is a metric. ``model_name``: the model's name as registered in the
    audit log (its records then count for that model's card and compliance checks).
    ``app.state.service`` holds the running :class:`Service`.
    """
    policy = _as_policy(policy)
    bundle = _bundle(source, public_key, signer_role, X_train, feature_names)
    if bundle.background is None and X_train is not None:
        bundle.background = training_background(X_train, bundle.schema)
    store = keys if isinstance(keys, KeyStore) else KeyStore(keys)
    log_ = AuditLog(audit) if isinstance(audit, (str, os.PathLike)) else audit
    service = Service(bundle, store, policy, log_,
                      _shadow(shadow, bundle, public_key, signer_role) if shadow is not None else None,
                      model_name)

    @asynccontextmanager
    async def lifespan(_: FastAPI):  # noqa: ANN202
        yield
        await service.limiter.aclose()
        service.close()

    app = GuardedApp(title="pipeward guarded model service", lifespan=lifespan,
                  description="A signed model behind authentication, roles, rate limits, "
                              "input validation and an out-of-distribution guard.")
    app.state.service = service
    _install_errors(app)
    authorize = security_dependency(service.gate)
    _install_routes(app, service, authorize)
    install_accountability_routes(app, service, authorize)
    openapi_security(app, openapi_paths())
    app.record = RecordMiddleware(functools.partial(FastAPI.__call__, app), service)
    return app


class GuardedApp(FastAPI):
    """FastAPI with :class:`RecordMiddleware` outside its whole middleware stack, so the raw
    predict route pays for none of it (``app.add_middleware`` would put it inside)."""

    record: RecordMiddleware

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] == "http":
            await self.record(scope, receive, send)
        else:
            await super().__call__(scope, receive, send)


# --- errors and routes ------------------------------------------------------------------------

def _install_errors(app: FastAPI) -> None:
    @app.exception_handler(Refusal)
    async def refused(request: Request, exc: Refusal) -> Response:
        request.state.decision = exc.decision
        return Response(error_body(exc.detail), exc.status, exc.headers, "application/json")

    @app.exception_handler(BodyTooLarge)
    async def too_large(request: Request, exc: BodyTooLarge) -> JSONResponse:
        request.state.decision = "too_large"
        return JSONResponse({"detail": str(exc)}, status_code=413)

    @app.exception_handler(RequestValidationError)
    async def validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        request.state.decision = "rejected"
        errors = [{k: v for k, v in e.items() if k in ("loc", "msg", "type")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)


def _install_routes(app: FastAPI, svc: Service, authorize: Any) -> None:
    policy = svc.policy

    @app.get("/healthz")
    async def healthz() -> Response:
        if svc.audit is not None and svc.audit.failing:  # take this replica out of rotation
            return JSONResponse({"status": "failing", "reason": "the audit log cannot be written"},
                                status_code=503)
        return JSONResponse({"status": "ok"})

    @app.get("/metrics")
    async def metrics(_: Principal = Security(authorize, scopes=["metrics"])) -> Response:
        if svc.audit is not None:
            svc.metrics.audit_written.set(svc.audit.written)
            svc.metrics.audit_waits.set(svc.audit.waits)
            svc.metrics.audit_queued.set(svc.audit.queued)
            svc.metrics.audit_failing.set(1 if svc.audit.failing else 0)
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
        return {"audit": {"written": svc.audit.written, "queued": svc.audit.queued,
                          "waits": svc.audit.waits, "failed": svc.audit.failed,
                          "unwritable": svc.audit.unwritable, "failing": svc.audit.failing}
                if svc.audit is not None else None,
                "alerts": svc.monitor.alerts[-50:], "drift_reports": svc.monitor.drift_reports,
                "extraction": {k: {"shapiro_w": extraction.w(k), "alarm": extraction.alarm(k)}
                               for k in extraction.keys()} if extraction is not None else {}}


# --- the recording middleware -------------------------------------------------------------

class RecordMiddleware:
    """Pure ASGI, outermost: enforces the body limit, sends ``POST /v1/predict`` to its raw
    endpoint and everything else to FastAPI, times the request, then counts it and queues its
    audit record (after the response is sent, so neither costs the caller)."""

    def __init__(self, app: ASGIApp, service: Service):
        self.app, self.svc = app, service
        self.predict = PredictEndpoint(service)
        self.max_body = service.policy.input.max_body_bytes
        # Request ids: a random per-process prefix and a counter (unique, and no system call
        # per request as a fresh random token would cost).
        self._ids = itertools.count()
        self._id_prefix = secrets.token_hex(4)

    async def __call__(self, scope: Scope, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        state = scope.setdefault("state", {})
        state["request_id"] = f"{self._id_prefix}{next(self._ids):08x}"
        status = 500  # what a request that crashes becomes; recorded as such
        started = False
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
            nonlocal status, started
            if message["type"] == "http.response.start":
                status, started = message["status"], True
            await send(message)

        try:
            length = _content_length(scope)
            if length is not None and length > limit:
                state["decision"] = "too_large"
                body = error_body(f"the body is {length} bytes; the limit is {limit}")
                await recording_send(_json_start(413, body))
                await send({"type": "http.response.body", "body": body})
            elif scope["path"] == PREDICT_PATH:
                await self.predict(scope, receive, recording_send)
            else:
                await self.app(scope, counted_receive, recording_send)
        except Exception:
            if not started and scope["path"] == PREDICT_PATH:  # FastAPI answers its own 500s
                log.exception("pipeward serve: %s failed", PREDICT_PATH)
                body = error_body("Internal Server Error")
                await send(_json_start(500, body))
                await send({"type": "http.response.body", "body": body})
                status = 500
            else:
                raise
        finally:
            record = self._record(scope, state, status, time.perf_counter() - start)
            if record is not None and not self.svc.audit.offer(*record):
                await self.svc.audit.put(*record)  # full: wait for room, never drop a record

    def _record(self, scope: Scope, state: dict, code: int, seconds: float
                ) -> tuple[str, dict[str, Any], str] | None:
        """Count the request; its audit record (subject, payload, actor) when there is a log."""
        path = scope.get("path", "")
        route = path if path in ROUTES else "other"
        decision = state.get("decision") or ("served" if code < 400 else
                                             "limited" if code == 429 else "error")
        self.svc.metrics.count(route, code, decision, seconds, state.get("rows_answered", 0))
        if self.svc.audit is None:
            return None
        principal = state.get("principal")
        payload: dict[str, Any] = {"route": route, "method": scope.get("method", ""), "status": code,
                                   "decision": decision, "request_id": state["request_id"],
                                   "latency_ms": round(seconds * 1000, 3),
                                   "key_id": principal.id if principal else None,
                                   "role": principal.role if principal else None}
        for name in ("input_sha256", "rows", "guard_pvalue", "flagged_rows", "delay_ms", "raw_input"):
            if name in state:
                payload[name] = state[name]
        return route, payload, principal.id if principal else "anonymous"


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
