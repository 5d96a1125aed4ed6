"""The issue's load generator (a bounded async ``httpx`` loop on 127.0.0.1) in a lean process of
its own, shared by ``bench_serve.py --generator httpx`` and ``serve_tail.py``.

Run in the benchmark process, the loop shared it with the model, scikit-learn and pipeward
(~350,000 objects): its own generation-1 collections (9-62 ms on a loaded box) stalled every
request in flight and landed in both servers' tails. This process imports only asyncio, httpx
and the standard library (~28,000 objects) and keeps its collector off while it measures.

    python bench/serve_loadgen.py SPEC.json OUT.json

SPEC: ``url``, ``headers``, ``bodies`` (JSON request bodies as strings, sent in turn to
``POST /v1/predict``), ``requests``, ``concurrency``, ``warmup`` (requests sent first, not
recorded) and ``cpu`` (pin to that core, or null). OUT: each request's ``start`` (on the
system-wide monotonic clock, comparable with a server's ``time.monotonic()``) and ``latency``
in seconds, ``status`` codes other than 200 counted in ``errors``, the measured ``wall`` and
``cpu`` time (this process's own), and the ``collections`` it ran while measuring (0: the check
that the collector stayed off).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time

import httpx


async def _run(spec: dict) -> dict:
    bodies = [b.encode() for b in spec["bodies"]]
    concurrency = spec["concurrency"]
    headers = {**spec["headers"], "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    async with httpx.AsyncClient(base_url=spec["url"], headers=headers, limits=limits, timeout=30) as client:

        async def loop(n: int, starts: list[float], latencies: list[float]) -> int:
            """``n`` POSTs with ``concurrency`` workers on keep-alive connections; non-200 count."""
            counter = iter(range(n))
            errors = 0

            async def worker() -> None:
                nonlocal errors
                for i in counter:
                    t = time.monotonic()
                    r = await client.post("/v1/predict", content=bodies[i % len(bodies)])
                    starts.append(t)
                    latencies.append(time.monotonic() - t)
                    errors += r.status_code != 200

            await asyncio.gather(*(worker() for _ in range(concurrency)))
            return errors

        await loop(spec["warmup"], [], [])  # connections opened, code paths warm
        starts: list[float] = []
        latencies: list[float] = []
        # The load generator is not the system under test: a collection here would stall every
        # request in flight and be charged to the server. Freeze what exists, and collect nothing
        # until the measurement ends (a few MB of garbage for a few thousand requests).
        gc.collect()
        gc.freeze()
        gc.disable()
        before = sum(s["collections"] for s in gc.get_stats())
        t0, cpu0 = time.monotonic(), time.process_time()
        errors = await loop(spec["requests"], starts, latencies)
        wall, cpu = time.monotonic() - t0, time.process_time() - cpu0
        collections = sum(s["collections"] for s in gc.get_stats()) - before
        gc.enable()
    return {"start": starts, "latency": latencies, "errors": errors, "wall": wall, "cpu": cpu,
            "collections": collections}


def generate(url: str, headers: dict, bodies: list[str], requests: int, *, concurrency: int = 8,
             warmup: int = 0, cpu: int | None = None, work: str | None = None) -> dict:
    """Run the generator in a fresh process against ``url`` and return its OUT (see above)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(dir=work, prefix="loadgen-") as tmp:
        spec, out = os.path.join(tmp, "spec.json"), os.path.join(tmp, "out.json")
        with open(spec, "w") as f:
            json.dump({"url": url, "headers": headers, "bodies": bodies, "requests": requests,
                       "concurrency": concurrency, "warmup": warmup, "cpu": cpu}, f)
        subprocess.run([sys.executable, os.path.abspath(__file__), spec, out], check=True)
        with open(out) as f:
            return json.load(f)


def main() -> None:
    spec_path, out_path = sys.argv[1:3]
    with open(spec_path) as f:
        spec = json.load(f)
    if spec["cpu"] is not None:
        os.sched_setaffinity(0, {spec["cpu"]})
    result = asyncio.run(_run(spec))
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
