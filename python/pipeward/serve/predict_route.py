"""``POST /v1/predict`` as a raw ASGI endpoint.

The hot route skips FastAPI's router, dependency solving and response encoding (together
most of the service's own cost per request) but keeps its contract: the same admission as
every other route (:class:`~pipeward.serve.auth.Gate`), the same validation and 422 bodies
naming the field (:class:`~pipeward.serve.inputs.InputParser`, which never relied on pydantic),
and ``{"detail": ...}`` error bodies. Its OpenAPI operation is declared by :func:`openapi_paths`.

Per request, in order: admission (429 per address, 401, 403, 429 per key with progressive
delay), content type (415), the body (413 past the limit while it streams), JSON and input
validation (422), the daily budget (429), the out-of-distribution guard (422 or flag), the
model on the bounded pool (503 when it is full), feature squeezing, output watermark and
hardening; then the accepted rows go to the background monitors.
"""

from __future__ import annotations

import hashlib
import json
import logging
from typing import TYPE_CHECKING, Any

import numpy as np
from pydantic import BaseModel

from .auth import Refusal
from .inputs import InputError, ParsedInput
from .outputs import harden_probabilities

if TYPE_CHECKING:
    from .app import Service

__all__ = ["PATH", "BodyTooLarge", "PredictEndpoint", "error_body", "openapi_paths"]

log = logging.getLogger("pipeward.serve")
PATH = "/v1/predict"
SCOPES = ("predict",)


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


def error_body(detail: Any) -> bytes:
    """``{"detail": ...}`` encoded as Starlette's ``JSONResponse`` encodes it."""
    return json.dumps({"detail": detail}, ensure_ascii=False, allow_nan=False,
                      separators=(",", ":")).encode()


def _header_map(scope: dict[str, Any]) -> dict[str, str]:
    # ASGI servers give lower-case names; a repeated header keeps its first value, as
    # Starlette's Headers.get does.
    out: dict[str, str] = {}
    for name, value in scope["headers"]:
        out.setdefault(name.decode("latin-1"), value.decode("latin-1"))
    return out


class PredictEndpoint:
    """The route; ``await endpoint(scope, receive, send)`` with ``scope["state"]`` a dict the
    recording middleware reads afterwards."""

    def __init__(self, service: Service):
        self.svc = service
        self.max_body = service.policy.input.max_body_bytes

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        state = scope["state"]
        try:
            if scope["method"] != "POST":
                await _send(send, 405, error_body("Method Not Allowed"), {"allow": "POST"})
                return
            body = await self._answer(scope, receive, state)
        except Refusal as exc:
            state.setdefault("decision", exc.decision)
            await _send(send, exc.status, error_body(exc.detail), exc.headers)
            return
        except InputError as exc:
            state["decision"] = "rejected"
            await _send(send, 422, error_body([exc.detail()]))
            return
        except BodyTooLarge as exc:
            state["decision"] = "too_large"
            await _send(send, 413, error_body(str(exc)))
            return
        await _send(send, 200, body)

    async def _answer(self, scope: dict[str, Any], receive: Any, state: dict[str, Any]) -> bytes:
        svc, policy = self.svc, self.svc.policy
        headers = _header_map(scope)
        client = scope.get("client")
        principal = await svc.gate.admit(headers, client[0] if client else "unknown", SCOPES, state)
        if svc.audit is not None and svc.audit.failing:  # fail closed: no answer without a record
            raise Refusal(503, "the audit log cannot be written; no prediction is served until "
                               "it can", "unaudited", {"Retry-After": "1"})
        payload = await self._json(headers, receive, state, policy.input.record_inputs)
        parsed = svc.parser.parse(payload)
        state["rows"] = parsed.n_rows
        if svc.limiter.budget is not None:
            decision = await svc.limiter.check_budget(principal.id, parsed.n_rows)
            if not decision.allowed:
                raise Refusal(429, decision.reason, "limited", {"Retry-After": str(decision.retry_after)})
        flagged = self._guard(parsed, state, "inputs" if "inputs" in payload else "records")
        want_proba = svc.probabilities_possible and policy.allows(principal.role, "probabilities")
        labels, proba, squeezed = await svc.pool.run(parsed.n_rows, self._score, parsed, want_proba)
        if squeezed is not None:
            disagree = squeezed != labels
            svc.metrics.decisions.labels("squeeze_disagreement").inc(int(disagree.sum()))
            flagged |= disagree
        if flagged.any():
            state["decision"] = "flagged"
            state["flagged_rows"] = int(flagged.sum())
        if svc.monitors_on:
            svc.monitor.submit(principal.id, parsed.numeric, parsed.table, labels)
        svc.accountability.served(state["request_id"], parsed, labels)
        state["rows_answered"] = parsed.n_rows
        return self._encode(parsed.numeric, labels, proba, state["request_id"])

    async def _json(self, headers: dict[str, str], receive: Any, state: dict[str, Any],
                    record_inputs: bool) -> Any:
        """The JSON body (415 unless application/json; 413 past the limit; 422 when malformed
        or nested too deeply); its SHA-256 (and, when the policy says so, the text) goes to
        the audit record."""
        content_type = headers.get("content-type", "")
        if content_type.split(";", 1)[0].strip().lower() != "application/json":
            raise Refusal(415, f"expected Content-Type: application/json, got "
                               f"{content_type[:60] or 'none'!r}", "rejected")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise Refusal(400, "the client disconnected while sending the body", "rejected")
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_body:
                raise BodyTooLarge(f"the body passed the limit of {self.max_body} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        state["input_sha256"] = hashlib.sha256(body).hexdigest()
        if record_inputs:
            state["raw_input"] = body[:65536].decode("utf-8", "replace")
        try:
            return json.loads(body)
        except (ValueError, RecursionError) as exc:
            kind = "json_too_deep" if isinstance(exc, RecursionError) else "json_invalid"
            raise InputError([], f"the body is not valid JSON ({type(exc).__name__}: "
                                 f"{str(exc)[:80] or 'nested too deeply'})", kind) from None

    def _guard(self, parsed: ParsedInput, state: dict[str, Any], where: str) -> np.ndarray:
        """Rows the out-of-distribution guard flags; with action ``reject``, a 422 naming the first."""
        svc = self.svc
        if svc.guard is None:
            return np.zeros(parsed.n_rows, dtype=bool)
        rules = svc.policy.input
        _, pvalues = svc.guard.score(svc.parser.guard_features(parsed))
        state["guard_pvalue"] = float(pvalues.min())
        flagged = pvalues <= rules.guard_alpha
        if flagged.any() and rules.guard == "reject":
            i = int(np.flatnonzero(flagged)[0])
            raise InputError([where, i], f"row {i} is far from the training data (guard p-value "
                                         f"{pvalues[i]:.3g} <= {rules.guard_alpha})", "out_of_distribution")
        return flagged

    def _score(self, parsed: ParsedInput, want_proba: bool
               ) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
        """Labels, probabilities when asked, and the squeezed input's labels (feature squeezing)
        when the policy asks: one trip to the pool for all the model calls of a request."""
        svc = self.svc
        decimals = svc.policy.input.squeeze_decimals
        try:
            labels = np.asarray(svc.model.predict(parsed.table)).reshape(-1)
            proba = np.asarray(svc.model.predict_proba(parsed.table)) if want_proba else None
            squeezed = (np.asarray(svc.model.predict(np.round(parsed.numeric, decimals))).reshape(-1)
                        if decimals >= 0 and svc.parser.all_numeric else None)
        except (ValueError, TypeError) as exc:
            raise Refusal(422, f"the model could not score this input: {str(exc)[:200]}", "rejected") from None
        return labels, proba, squeezed

    def _encode(self, numeric: np.ndarray, labels: np.ndarray, proba: np.ndarray | None,
                request_id: str) -> bytes:
        """The answer: watermarked labels and, when allowed, hardened probabilities."""
        svc = self.svc
        if svc.watermark is not None:
            labels, proba, marked = svc.watermark.apply(numeric, labels, proba)
            if marked.any():
                svc.metrics.decisions.labels("watermarked").inc(int(marked.sum()))
        out: dict[str, Any] = {"predictions": labels.tolist(), "request_id": request_id}
        if proba is not None:
            out["classes"] = list(svc.classes)
            out["probabilities"] = harden_probabilities(proba, numeric, svc.policy.output,
                                                        svc.noise_key).tolist()
        return json.dumps(out, separators=(",", ":")).encode()


async def _send(send: Any, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
    raw = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if headers:
        raw += [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})


def openapi_paths() -> dict[str, Any]:
    """The route's OpenAPI operation (it is not in FastAPI's router, so /docs is told here)."""
    errors = {str(code): {"description": why} for code, why in (
        (401, "missing, wrong, revoked or expired credentials"), (403, "the role lacks 'predict'"),
        (413, "the body is over the limit"), (415, "not application/json"),
        (422, "invalid input; the body names the field"), (429, "rate limit or budget; see Retry-After"),
        (503, "the model is busy, or the audit log cannot be written; see Retry-After"))}
    return {PATH: {"post": {
        "summary": "Predict", "operationId": "predict_v1_predict_post",
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": PredictRequest.model_json_schema()}}},
        "responses": {"200": {"description": "predictions", "content": {"application/json": {
            "schema": PredictResponse.model_json_schema()}}}, **errors}}}}
