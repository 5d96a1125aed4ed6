"""The baseline of bench_serve.py: a bare FastAPI endpoint that only calls the model.

Started by the benchmark as ``uvicorn serve_bare_app:app --app-dir bench`` with
PIPEWARD_BENCH_MODEL naming the .skops file (the same model pipeward serves).
"""

from __future__ import annotations

import os

import numpy as np
import skops.io as sio
from fastapi import FastAPI, Request

path = os.environ["PIPEWARD_BENCH_MODEL"]
model = sio.load(path, trusted=sio.get_untrusted_types(file=path))
app = FastAPI()


@app.post("/v1/predict")
async def predict(request: Request) -> dict:
    body = await request.json()
    return {"predictions": model.predict(np.asarray(body["inputs"], dtype=np.float64)).tolist()}


@app.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok"}
