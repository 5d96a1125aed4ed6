"""Who is calling: API keys (``Authorization: Bearer <key>`` or ``X-API-Key``) and JWTs.

A bearer credential with two dots is a JWT, checked with pyjwt against the policy's issuer,
audience and public key (EdDSA or RS256), with an expiry required; anything else is an API key
looked up in the :class:`KeyStore`. The FastAPI dependency built by :func:`security_dependency`
is declared per route with ``Security(..., scopes=[permission])``.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import HTTPException, Request
from fastapi.security import SecurityScopes

from .keys import KeyStore
from .policy import JwtRules, Policy
from .ratelimit import Decision, RateLimiter

__all__ = ["JwtVerifier", "Principal", "limited", "openapi_security", "security_dependency"]


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: ``id`` (key id or ``jwt:<sub>``), ``name``, ``role``."""

    id: str
    name: str
    role: str


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


def limited(request: Request, decision: Decision) -> HTTPException:
    """A 429 with ``Retry-After``."""
    request.state.decision = "limited"
    return HTTPException(429, detail=decision.reason, headers={"Retry-After": str(decision.retry_after)})


def _unauthorized(request: Request, why: str) -> HTTPException:
    request.state.decision = "unauthorized"
    return HTTPException(401, detail=why, headers={"WWW-Authenticate": "Bearer"})


def _credential(request: Request) -> str | None:
    header = request.headers.get("authorization")
    if header:
        scheme, _, value = header.partition(" ")
        return value.strip() if scheme.lower() == "bearer" else None
    return request.headers.get("x-api-key")


def security_dependency(keys: KeyStore, policy: Policy, jwt_verifier: JwtVerifier | None,
                        limiter: RateLimiter) -> Any:
    """The dependency: the per-address limit (before any credential is looked at, so
    guessing keys is throttled too), authentication, the route's scopes against the role, and
    for the ``predict`` scope the per-key limit with its progressive delay."""

    async def authorize(security_scopes: SecurityScopes, request: Request) -> Principal:
        decision = limiter.check_address(request.client.host if request.client else "unknown")
        if not decision.allowed:
            raise limited(request, decision)
        token = _credential(request)
        if not token:
            raise _unauthorized(request, "missing credentials: send 'Authorization: Bearer <key or "
                                         "JWT>' or 'X-API-Key: <key>'")
        principal: Principal | None
        if token.count(".") == 2:
            principal = jwt_verifier.verify(token) if jwt_verifier is not None else None
        else:
            entry = keys.authenticate(token)
            principal = Principal(entry.id, entry.name, entry.role) if entry is not None else None
        if principal is None:
            raise _unauthorized(request, "invalid, revoked or expired credentials")
        request.state.principal = principal
        for scope in security_scopes.scopes:
            if not policy.allows(principal.role, scope):
                request.state.decision = "forbidden"
                raise HTTPException(403, detail=f"role {principal.role!r} lacks the {scope!r} permission")
        if "predict" in security_scopes.scopes:
            decision = limiter.check_key(principal.id)
            if not decision.allowed:
                raise limited(request, decision)
            if decision.delay:
                request.state.delay_ms = round(decision.delay * 1000, 3)
                await asyncio.sleep(decision.delay)
        return principal

    return authorize


def openapi_security(app: Any) -> None:
    """Declare the two credential schemes in the app's OpenAPI document (``/docs``)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
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
