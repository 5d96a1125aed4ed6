"""Who is calling: API keys (``Authorization: Bearer <key>`` or ``X-API-Key``) and JWTs.

A bearer credential with two dots is a JWT, checked with pyjwt against the policy's issuer,
audience and public key (EdDSA or RS256), with an expiry required; anything else is an API key
looked up in the :class:`KeyStore`. :class:`Gate` does the whole admission of one request
(per-address limit, credential, the route's permissions, per-key limit and its progressive
delay) on plain headers, so the raw ``/v1/predict`` route and the FastAPI security dependency
built by :func:`security_dependency` (declared per route with ``Security(..., scopes=[...])``)
share one implementation.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.security import SecurityScopes

from .keys import KeyStore
from .policy import JwtRules, Policy
from .ratelimit import Decision, RateLimiter

__all__ = ["Gate", "JwtVerifier", "Principal", "Refusal", "limited", "openapi_security",
           "security_dependency"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: ``id`` (key id or ``jwt:<sub>``), ``name``, ``role``."""

    id: str
    name: str
    role: str


class Refusal(Exception):
    """A request refused with an HTTP status: answered as ``{"detail": ...}`` with ``headers``;
    ``decision`` is what the audit record and the metrics call it."""

    def __init__(self, status: int, detail: Any, decision: str, headers: dict[str, str] | None = None):
        super().__init__(detail)
        self.status, self.detail, self.decision, self.headers = status, detail, decision, headers or {}


class JwtVerifier:
    """Checks signature, expiry, issuer and audience; returns the principal or None."""

    def __init__(self, rules: JwtRules, base_dir: Path):
        import jwt  # noqa: PLC0415 - serve extra
        from cryptography.hazmat.primitives.serialization import load_pem_public_key  # noqa: PLC0415

        self._jwt = jwt
        self.rules = rules
        self.key = load_pem_public_key((base_dir / rules.public_key).read_bytes())
        required = ["exp", "sub"] + (["iss"] if rules.issuer else []) + (["aud"] if rules.audience else [])
        self._options = {"require": required}

    def verify(self, token: str) -> Principal | None:
        r = self.rules
        try:
            claims = self._jwt.decode(token, self.key, algorithms=list(r.algorithms),
                                      audience=r.audience or None, issuer=r.issuer or None,
                                      options=self._options)
        except self._jwt.PyJWTError:
            return None
        role = claims.get(r.role_claim)
        if not isinstance(role, str):
            return None
        return Principal(f"jwt:{claims['sub']}", str(claims["sub"]), role)


def limited(decision: Decision) -> Refusal:
    """A 429 with ``Retry-After``."""
    return Refusal(429, decision.reason, "limited", {"Retry-After": str(decision.retry_after)})


def _credential(headers: Mapping[str, str]) -> str | None:
    header = headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return headers.get("x-api-key")


class Gate:
    """Admission of one request: the per-address limit (before any credential is looked at,
    so guessing keys is throttled too), authentication, the route's permissions against the
    role, and for the ``predict`` permission the per-key limit with its progressive delay.
    ``headers`` maps lower-case names to values (Starlette's ``Headers`` or a plain dict)."""

    def __init__(self, keys: KeyStore, policy: Policy, jwt_verifier: JwtVerifier | None,
                 limiter: RateLimiter):
        self.keys, self.policy, self.jwt, self.limiter = keys, policy, jwt_verifier, limiter
        self._principals: dict[str, Principal] = {}  # key id -> its principal, made once

    async def admit(self, headers: Mapping[str, str], address: str, scopes: tuple[str, ...] | list[str],
                    state: dict[str, Any]) -> Principal:
        """The caller, with ``state["principal"]`` (and ``state["delay_ms"]``) set; raises
        :class:`Refusal` (401, 403, 429) otherwise."""
        decision = await self.limiter.check_address(address)
        if not decision.allowed:
            raise limited(decision)
        token = _credential(headers)
        if not token:
            raise Refusal(401, "missing credentials: send 'Authorization: Bearer <key or JWT>' or "
                               "'X-API-Key: <key>'", "unauthorized", {"WWW-Authenticate": "Bearer"})
        principal = self._principal(token)
        if principal is None:
            raise Refusal(401, "invalid, revoked or expired credentials", "unauthorized",
                          {"WWW-Authenticate": "Bearer"})
        state["principal"] = principal
        for scope in scopes:
            if not self.policy.allows(principal.role, scope):
                raise Refusal(403, f"role {principal.role!r} lacks the {scope!r} permission", "forbidden")
        if "predict" in scopes:
            decision = await self.limiter.check_key(principal.id)
            if not decision.allowed:
                raise limited(decision)
            if decision.delay:
                state["delay_ms"] = round(decision.delay * 1000, 3)
                await asyncio.sleep(decision.delay)
        return principal

    def _principal(self, token: str) -> Principal | None:
        if token.count(".") == 2:
            return self.jwt.verify(token) if self.jwt is not None else None
        entry = self.keys.authenticate(token)
        if entry is None:
            return None
        principal = self._principals.get(entry.id)
        if principal is None or principal.role != entry.role or principal.name != entry.name:
            principal = self._principals[entry.id] = Principal(entry.id, entry.name, entry.role)
        return principal


def security_dependency(gate: Gate) -> Any:
    """The FastAPI security dependency over ``gate`` for the routes FastAPI serves."""

    async def authorize(security_scopes: SecurityScopes, request: Request) -> Principal:
        return await gate.admit(request.headers, request.client.host if request.client else "unknown",
                                security_scopes.scopes, request.scope.setdefault("state", {}))

    return authorize


def openapi_security(app: Any, extra_paths: dict[str, Any] | None = None) -> None:
    """Declare the two credential schemes in the app's OpenAPI document (``/docs``), and the
    operations of routes served outside FastAPI's router (``extra_paths``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            schema.setdefault("paths", {}).update(extra_paths or {})
            schema.setdefault("components", {})["securitySchemes"] = {
                "bearer": {"type": "http", "scheme": "bearer", "description": "an API key or a JWT"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}}
            for path, item in schema.get("paths", {}).items():
                if path != "/healthz":
                    for op in item.values():
                        op["security"] = [{"bearer": []}, {"apiKey": []}]
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi
