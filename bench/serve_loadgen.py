"""The issue's load generator (a bounded async ``httpx`` loop on 127.0.0.1) in a lean process of
its own, shared by ``bench_serve.py --generator httpx`` and ``serve_tail.py``.

Run in the benchmark process, the loop shared it with the model, scikit-learn and pipeward
(~350,000 objects): its own generation-1 collections (9-62 ms on a loaded box) stalled every
request in flight and landed in both servers' tails. This process imports only asyncio, httpx
and the standard library (~28,000 objects) and keeps its collector off while it measures.

    python bench/serve_loadgen.py SPEC.json OUT.json

SPEC: ``url``, ``headers``, ``bodies`` (JSON request bodies as strings, sent in turn to
``POST /v1/predict``), ``requests``, ``concurrency``, ``warmup`` (requests sent first by the
same loop, not recorded), ``cpu`` (pin to that core, or null) and ``rt`` (run under
``SCHED_FIFO``: see serve_rt.py). OUT: each request's ``start`` (on the system-wide monotonic
clock, comparable with a server's ``time.monotonic()``), ``latency`` and ``client_delay`` (how
long this process was runnable but not running meanwhile: preempted or throttled, so the time
is the load generator's, not the server's) in seconds, and the connection's local ``port``; ``status`` codes other than 200 counted
in ``errors``, the measured ``wall`` and ``cpu`` time (this process's own), and the
``collections`` it ran while measuring (0: the check that the collector stayed off).
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import sys
import time
from collections.abc import Callable

import httpx


def _run_delay() -> Callable[[], float]:
    """Seconds this thread has so far spent runnable but not running (Linux schedstat), or a
    constant where the kernel does not say."""
    try:
        fd = os.open("/proc/thread-self/schedstat", os.O_RDONLY)
    except OSError:
        return lambda: 0.0
    return lambda: int(os.pread(fd, 96, 0).split()[1]) * 1e-9


async def _run(spec: dict) -> dict:
    bodies = [b.encode() for b in spec["bodies"]]
    concurrency, warmup, n = spec["concurrency"], spec["warmup"], spec["requests"]
    headers = {**spec["headers"], "Content-Type": "application/json"}
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    run_delay = _run_delay()
    starts: list[float] = []
    latencies: list[float] = []
    delays: list[float] = []
    ports: list[int] = []  # the connection's local port: a server's trace names it too
    marks: list[float] = []  # when the first measured request started: wall, CPU
    errors = 0
    async with httpx.AsyncClient(base_url=spec["url"], headers=headers, limits=limits, timeout=30) as client:

        async def worker() -> None:
            nonlocal errors
            for i in counter:
                if i == warmup:
                    marks[:] = time.monotonic(), time.process_time()
                t, d = time.monotonic(), run_delay()
                r = await client.post("/v1/predict", content=bodies[i % len(bodies)])
                if i >= warmup:
                    latencies.append(time.monotonic() - t)
                    delays.append(run_delay() - d)
                    starts.append(t)
                    ports.append(r.extensions["network_stream"].get_extra_info("client_addr")[1])
                    errors += r.status_code != 200

        # The load generator is not the system under test: a collection here would stall every
        # request in flight and be charged to the server. Freeze what exists, and collect nothing
        # until the measurement ends (a few MB of garbage for a few thousand requests).
        gc.collect()
        gc.freeze()
        gc.disable()
        before = sum(s["collections"] for s in gc.get_stats())
        # One loop for the warm-up and the measurement, the first ``warmup`` requests not
        # recorded: the connections open and the workers fall out of step before it counts (a
        # fresh start of 8 workers at once gave the first ~20 requests of every round 10-35 ms).
        counter = iter(range(warmup + n))
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        wall, cpu = time.monotonic() - marks[0], time.process_time() - marks[1]
        collections = sum(s["collections"] for s in gc.get_stats()) - before
        gc.enable()
    return {"start": starts, "latency": latencies, "client_delay": delays, "port": ports, "errors": errors,
            "wall": wall, "cpu": cpu, "collections": collections}


def generate(url: str, headers: dict, bodies: list[str], requests: int, *, concurrency: int = 8,
             warmup: int = 0, cpu: int | None = None, rt: bool = False,
             work: str | None = None) -> dict:
    """Run the generator in a fresh process against ``url`` and return its OUT (see above)."""
    import subprocess
    import tempfile

    with tempfile.TemporaryDirectory(dir=work, prefix="loadgen-") as tmp:
        spec, out = os.path.join(tmp, "spec.json"), os.path.join(tmp, "out.json")
        with open(spec, "w") as f:
            json.dump({"url": url, "headers": headers, "bodies": bodies, "requests": requests,
                       "concurrency": concurrency, "warmup": warmup, "cpu": cpu, "rt": rt}, f)
        subprocess.run([sys.executable, os.path.abspath(__file__), spec, out], check=True)
        with open(out) as f:
            return json.load(f)


def main() -> None:
    spec_path, out_path = sys.argv[1:3]
    with open(spec_path) as f:
        spec = json.load(f)
    if spec["cpu"] is not None:
        os.sched_setaffinity(0, {spec["cpu"]})
    if spec.get("rt"):
        from serve_rt import realtime_self  # this script's folder is on the path

        realtime_self()
    result = asyncio.run(_run(spec))
    with open(out_path, "w") as f:
        json.dump(result, f)


if __name__ == "__main__":
    main()
