"""The attacker's side of a guarded ``pipeward serve`` endpoint: ``predict`` over HTTP.

:class:`ServiceClient` posts rows to ``/v1/predict`` in batches the service accepts and counts
what the attack cost: rows answered, requests sent, and refusals (429: rate limit or daily
budget; 422: the input guard or validation). A refusal stops the attack with
:class:`QueryRefused`, which carries the answers received before it, so an attacker under a
budget keeps what it already paid for.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validate import float_array, positive_int

__all__ = ["QueryRefused", "ServiceClient"]


class QueryRefused(RuntimeError):
    """The service refused a batch: ``status`` (429 or 422), its ``detail``, and ``answers``
    (labels, or probabilities, of the rows answered before the refusal, in order)."""

    def __init__(self, status: int, detail: Any, answers: np.ndarray):
        self.status, self.detail, self.answers = status, detail, answers
        super().__init__(f"the service answered {status} after {answers.shape[0]} rows: {str(detail)[:200]}")


class ServiceClient:
    """``predict(X)`` / ``predict_proba(X)`` against ``url`` (the service's base address).

    ``api_key`` goes in ``X-API-Key``, ``token`` as a bearer token. ``batch_rows``: rows per
    request (at most the policy's ``input.max_rows``). ``verify``: TLS verification, as httpx.
    Counters: ``queries`` (rows answered), ``requests``, ``refused`` (429s), ``rejected`` (422s).
    """

    def __init__(self, url: str, *, api_key: str | None = None, token: str | None = None,
                 batch_rows: int = 100, timeout: float = 30.0, verify: Any = True) -> None:
        import httpx  # noqa: PLC0415 - the serve extra

        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"url: expected an http(s):// address, got {url!r}")
        headers = {"X-API-Key": api_key} if api_key else {}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        self.batch_rows = positive_int(batch_rows, "batch_rows")
        self._http = httpx.Client(base_url=url.rstrip("/"), headers=headers, timeout=timeout, verify=verify)
        self.queries = self.requests = self.refused = self.rejected = 0
        self.classes: list[Any] | None = None

    def close(self) -> None:
        self._http.close()

    def __enter__(self) -> ServiceClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def predict(self, X: Any) -> np.ndarray:
        """The service's labels for the rows of ``X``."""
        return self._ask(X, "predictions")

    def predict_proba(self, X: Any) -> np.ndarray:
        """The service's class probabilities (columns in ``self.classes`` order); a
        ``PermissionError`` when the service answers labels only (policy or role)."""
        return self._ask(X, "probabilities")

    def _ask(self, X: Any, field: str) -> np.ndarray:
        X = float_array(X, "X", ndim=2, finite=True)
        parts: list[np.ndarray] = []
        for start in range(0, X.shape[0], self.batch_rows):
            rows = X[start:start + self.batch_rows]
            self.requests += 1
            r = self._http.post("/v1/predict", json={"inputs": rows.tolist()})
            if r.status_code in (422, 429):
                if r.status_code == 429:
                    self.refused += 1
                else:
                    self.rejected += 1
                done = np.concatenate(parts) if parts else np.empty((0,) if field == "predictions" else (0, 0))
                raise QueryRefused(r.status_code, _detail(r), done)
            if r.status_code in (401, 403):
                raise PermissionError(f"the service refused the credentials ({r.status_code}): {_detail(r)}")
            if r.status_code != 200:
                raise RuntimeError(f"the service answered {r.status_code}: {_detail(r)}")
            body = r.json()
            if field not in body:
                raise PermissionError("the service answers labels only (label_only policy, or a role "
                                      "without the probabilities permission)")
            if body.get("classes") is not None:
                self.classes = body["classes"]
            self.queries += rows.shape[0]
            parts.append(np.asarray(body[field], dtype=np.float64 if field == "probabilities" else None))
        return np.concatenate(parts) if parts else np.empty(0)


def _detail(r: Any) -> str:
    try:
        return str(r.json().get("detail"))
    except ValueError:
        return r.text[:200]
