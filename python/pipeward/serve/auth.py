"""Who is calling: API keys (``Authorization: Bearer <key>`` or ``X-API-Key``) and JWTs.

A bearer credential with two dots is a JWT, checked with pyjwt against the policy's issuer,
audience and public key (EdDSA or RS256), with an expiry required; anything else is an API key
looked up in the :class:`KeyStore`. The FastAPI dependency built by :func:`security_dependency`
is declared per route with ``Security(..., scopes=[permission])``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes

from .keys import KeyStore
from .policy import JwtRules, Policy

__all__ = ["JwtVerifier", "Principal", "security_dependency"]


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


_bearer = HTTPBearer(auto_error=False, description="an API key or a JWT")
_api_key = APIKeyHeader(name="X-API-Key", auto_error=False)


def _unauthorized(request: Request, why: str) -> HTTPException:
    request.state.decision = "unauthorized"
    return HTTPException(401, detail=why, headers={"WWW-Authenticate": "Bearer"})


def security_dependency(keys: KeyStore, policy: Policy, jwt_verifier: JwtVerifier | None) -> Any:
    """The dependency: authenticates, then checks the route's scopes against the role."""

    async def authorize(security_scopes: SecurityScopes, request: Request,
                        bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
                        api_key: str | None = Depends(_api_key)) -> Principal:
        token = bearer.credentials if bearer is not None else api_key
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
        return principal

    return authorize
