"""The demo's serving step: the trained model behind ``pipeward.serve.create_app``, in process.

Four callers send traffic through httpx over ASGI (no server, no Redis: memory:// limits):
a clinic with held-out rows (served), a script past its rate limit (429), a client sending
corrupted and malformed inputs (422), and a thief querying perturbed rows to train a copy.
The copy, a 1-nearest-neighbour classifier on the stolen answers, carries the service's
watermark (tiny p-value); the real model, which never saw the answers, does not.
"""

from __future__ import annotations

import asyncio
from typing import Any

import numpy as np

__all__ = ["serve_step"]


def serve_step(predict: Any, X_train: np.ndarray, X_test: np.ndarray, names: list[str],
               audit: Any, rng: np.random.Generator) -> dict[str, Any]:
    """Run the traffic; returns counts by outcome and the watermark verdicts."""
    import httpx  # noqa: PLC0415 - the serve extra

    from .. import serve  # noqa: PLC0415 - the serve extra
    from ..nearest import nearest_distances  # noqa: PLC0415

    # The watermark key comes from the demo's seeded generator: with a fresh random key the
    # honest model's p-value was a new uniform draw each run, so 'p > 0.01' failed 1 run in 100.
    secret = rng.bytes(32)
    policy = {"limits": {"per_key": "30/minute", "max_delay_ms": 20}, "input": {"guard": "reject", "guard_alpha": 0.01},
              "watermark": {"fraction": 0.1, "key": secret.hex()},
              "drift": {"enabled": False}, "audit": {"flush_ms": 5}}
    keys = serve.KeyStore()
    clinic, script, client, thief = (keys.add(n, r) for n, r in (
        ("clinic", "analyst"), ("script", "user"), ("client", "user"), ("thief", "user")))
    app = serve.create_app(serve.ServedModel(predict, classes=(0, 1)), keys=keys,
                              policy=policy, X_train=X_train, feature_names=names, audit=audit)
    sd = X_train.std(axis=0)
    corrupted = X_test[:5].copy()
    corrupted[:, :3] *= 10.0
    stolen_X = np.clip(np.repeat(X_train, 2, axis=0)
                       + rng.normal(size=(2 * len(X_train), X_train.shape[1])) * sd * 0.02,
                       X_train.min(axis=0), X_train.max(axis=0))
    codes: dict[str, int] = {}
    stolen_y: list[int] = []

    async def traffic() -> None:
        transport = httpx.ASGITransport(app=app, client=("10.0.0.7", 5000))
        async with httpx.AsyncClient(transport=transport, base_url="http://pipeward.demo") as http:
            async def send(key: str, body: Any) -> httpx.Response:
                r = await http.post("/v1/predict", json=body, headers={"X-API-Key": key})
                codes[str(r.status_code)] = codes.get(str(r.status_code), 0) + 1
                return r

            for row in X_test[:25].tolist():
                await send(clinic, {"inputs": [row]})
            for _ in range(40):
                await send(script, {"inputs": [X_test[0].tolist()]})
            for row in corrupted.tolist():
                await send(client, {"inputs": [row]})
            await send(client, {"inputs": [X_test[0].tolist()[:10]]})
            await send(client, {"inputs": [["a lot"] * len(names)]})
            for batch in np.array_split(stolen_X, 10):
                stolen_y.extend((await send(thief, {"inputs": batch.tolist()})).json()["predictions"])

    try:
        asyncio.run(traffic())
        service = app.state.service
        decisions = _decisions(service.metrics.render().decode())
    finally:
        app.state.service.close()  # flushes the queued audit records

    stolen = np.asarray(stolen_X)
    labels = np.asarray(stolen_y)

    def copy(X: np.ndarray) -> np.ndarray:  # 1-NN on the stolen answers: memorises them
        return labels[nearest_distances(np.ascontiguousarray(X), stolen)[1]]

    mark = serve.Watermark(secret, (0, 1), 0.1)
    thief_verdict = serve.verify_watermark(copy, mark, stolen_X)
    honest_verdict = serve.verify_watermark(predict, mark, stolen_X)
    return {"status_codes": codes, "served": decisions.get("served", 0) + decisions.get("flagged", 0),
            "limited": decisions.get("limited", 0), "rejected": decisions.get("rejected", 0),
            "flagged": decisions.get("flagged", 0), "watermarked_rows": decisions.get("watermarked", 0),
            "watermark_copy_pvalue": thief_verdict.pvalue,
            "watermark_copy_matched": thief_verdict.matched_fraction,
            "watermark_model_pvalue": honest_verdict.pvalue,
            "watermark_checked": thief_verdict.n_checked, "stolen_queries": int(len(stolen_X))}


def _decisions(metrics_text: str) -> dict[str, int]:
    out: dict[str, int] = {}
    for line in metrics_text.splitlines():
        if line.startswith('pipeward_decisions_total{decision="'):
            name = line.split('"')[1]
            out[name] = int(float(line.rsplit(" ", 1)[1]))
    return out
