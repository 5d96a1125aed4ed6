"""Serving benchmarks: the guarded service vs a bare FastAPI endpoint, and the in-process
costs of one rate-limit decision, one guard score and one extraction-detector query.

In-process cost (no HTTP server; the apps called as ASGI, alternating rounds):
    python bench/bench_serve.py --in-process [--requests 3000] [--rounds 3]
Load test (one run, all servers side by side, alternating rounds):
    python bench/bench_serve.py [--generator wrk|httpx] [--seconds 8] [--requests 3000]
                                [--concurrency 8] [--rounds 3] [--pin] [--rt]
``--generator wrk`` (Debian's ``wrk``, a C load generator: it does not eat the CPU the servers
need, as the Python ``httpx`` loop does) runs ``--seconds`` per round; ``httpx`` (the issue's
generator, a bounded async httpx loop) sends ``--requests`` from a lean process of its own
(``serve_loadgen.py``: no model stack, collector off while measuring), a fresh one per round.
``--pin`` puts every server on CPU 1 and the load generator on CPU 0 (``taskset``), so all
servers compete for the same core in the same way. ``--rt`` (root; implies ``--pin``) runs the
servers and the load generator under ``SCHED_FIFO`` (serve_rt.py), so that no other process on a
shared box preempts them; keep such runs short, they starve everyone else meanwhile. With
httpx, ``p99_ms_generator_ran`` is the p99 of the requests during which the load generator was
never runnable without running (``client_delay``: the kernel's real-time throttling still
stops it ~50 ms a second, and that time is not the server's).
In-process costs (pytest-benchmark):
    python -m pytest bench/bench_serve.py --benchmark-only

Model: scikit-learn logistic regression (with scaling) on the 30-feature breast-cancer data,
saved with skops and served by both. The guarded server runs with an API key, per-key and
per-address limits (memory://), the input guard (reject), the audit log and metrics on
("guarded"), and once more with the extraction and drift monitors too ("guarded+monitors").
Besides wall-clock requests/s and latency (which a shared machine distorts, and which the
load generator, also Python, can cap), each server's CPU time per request is read from /proc.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

import pipeward as pw
from pipeward.datasets import load_breast_cancer

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "tests"))


def _model_and_data():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    X, y, names = load_breast_cancer()
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000)).fit(X, y), X, y, names


# --- in-process costs (pytest-benchmark) ----------------------------------------------------------

@pytest.fixture(scope="module")
def packaged(tmp_path_factory):
    model, X, y, names = _model_and_data()
    root = tmp_path_factory.mktemp("bench-serve")
    priv, pub = pw.generate_keypair()
    pw.serve.package(model, X, root / "model", private_key=priv, y=y, feature_names=names)
    return pw.serve.load_model_dir(root / "model", pub), X


@pytest.mark.benchmark(group="serve-rate-limit-decision")
def test_rate_limit_decision_memory(benchmark):
    from pipeward.serve.policy import Limits
    from pipeward.serve.ratelimit import RateLimiter

    limiter = RateLimiter(Limits(per_key="100000000/minute", soft_fraction=0.9, max_delay_ms=100))

    def decide():  # the coroutine run to its end as the event loop would: memory never suspends
        try:
            limiter.check_key("key-1").send(None)
        except StopIteration as done:
            return done.value
        raise AssertionError("a memory:// decision suspended")

    assert benchmark(decide).allowed


@pytest.mark.benchmark(group="serve-guard-one-row")
def test_guard_score_one_row(benchmark, packaged):
    bundle, X = packaged
    row = X[:1].copy()
    d2, p = benchmark(bundle.guard.score, row)
    assert d2.shape == (1,) and 0 < p[0] <= 1


@pytest.mark.benchmark(group="serve-guard-one-row")
def test_input_guard_one_row_for_comparison(benchmark, packaged):
    _, X = packaged
    guard = pw.InputGuard(pw.MahalanobisDetector(method="mcd", random_state=0).fit(X))
    benchmark(guard.check, X[:1].copy())


@pytest.mark.benchmark(group="serve-extraction-query-10000x30")
def test_extraction_query_at_10000_earlier_queries(benchmark):
    from pipeward.serve.extraction import ExtractionDetector

    rng = np.random.default_rng(0)
    det = ExtractionDetector(30, max_history=10_000)
    det.observe("k", rng.normal(size=(10_000, 30)))
    queries = iter(rng.normal(size=(200_000, 30)))
    benchmark(lambda: det.observe("k", next(queries)[None, :]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.benchmark(group="nearest-1x10000x30")
def test_nearest_pipeward(benchmark, dtype):
    from pipeward.nearest import nearest_distances

    Y = np.random.default_rng(1).normal(size=(10_000, 30)).astype(dtype)
    benchmark(nearest_distances, Y[:1] + 0.5, Y, check_finite=False)


@pytest.mark.benchmark(group="nearest-1x10000x30")
def test_nearest_scipy_cdist(benchmark):
    from scipy.spatial.distance import cdist

    Y = np.random.default_rng(1).normal(size=(10_000, 30))
    benchmark(lambda: cdist(Y[:1] + 0.5, Y, "sqeuclidean").min(axis=1))


@pytest.mark.benchmark(group="nearest-1x10000x30")
def test_nearest_reference(benchmark):
    from pipeward.reference.nearest import nearest_sq_distances

    Y = np.random.default_rng(1).normal(size=(10_000, 30))
    benchmark(nearest_sq_distances, Y[:1] + 0.5, Y)


@pytest.fixture(scope="module")
def batch_problem():
    rng = np.random.default_rng(2)
    return rng.normal(size=(500, 30)), rng.normal(size=(20_000, 30))


@pytest.mark.benchmark(group="nearest-500x20000x30-one-thread")
def test_nearest_batch_pipeward(benchmark, batch_problem):
    from pipeward.nearest import nearest_distances

    X, Y = batch_problem
    benchmark(nearest_distances, X, Y, workers=1)


@pytest.mark.benchmark(group="nearest-500x20000x30-one-thread")
def test_nearest_batch_scipy_cdist(benchmark, batch_problem):
    from scipy.spatial.distance import cdist

    X, Y = batch_problem
    benchmark(lambda: cdist(X, Y, "sqeuclidean").min(axis=1))


# --- the load test ---------------------------------------------------------------------------------

_WRK_SCRIPT = """
local bodies = {%s}
local i = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
%s
request = function()
  i = i %% #bodies + 1
  return wrk.format(nil, "/v1/predict", nil, bodies[i])
end
"""


def _wrk(url: str, headers: dict, rows: list, seconds: float, concurrency: int, work: Path,
         pin: bool, rt: bool = False) -> dict:
    """``wrk`` for ``seconds`` with ``concurrency`` keep-alive connections on one thread;
    requests/s and latency percentiles as wrk reports them (``--latency``)."""
    bodies = ",".join(json.dumps(json.dumps({"inputs": [r]})) for r in rows[:200])
    extra = "\n".join(f"wrk.headers[{json.dumps(k)}] = {json.dumps(v)}" for k, v in headers.items())
    script = work / "wrk.lua"
    script.write_text(_WRK_SCRIPT % (bodies, extra))
    cmd = ["wrk", "-t1", f"-c{concurrency}", f"-d{max(1, round(seconds))}s", "--latency", "-s", str(script), url]
    prefix = (["chrt", "-f", "50"] if rt else []) + (["taskset", "-c", "0"] if pin else [])
    out = subprocess.run(prefix + cmd, capture_output=True,
                         text=True, check=True).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    unit = {"us": 1e-3, "ms": 1.0, "s": 1e3}

    def pct(p: str) -> float:
        value, u = re.search(rf"^\s*{p}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M).groups()
        return float(value) * unit[u]

    return {"requests": total, "requests_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "p50_ms": pct("50"), "p99_ms": pct("99"), "errors": int(bad.group(1)) if bad else 0}


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (Linux /proc): the server's own cost per
    request, which a shared machine's load does not inflate the way it inflates wall time."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _server_pids(pid: int) -> list[int]:
    """The process and its children (``pipeward serve`` runs uvicorn in the same process; the
    bare server is uvicorn itself)."""
    children = Path(f"/proc/{pid}/task/{pid}/children")
    kids = [int(c) for c in children.read_text().split()] if children.exists() else []
    return [pid, *kids]


def _packaged() -> tuple[Path, str, list]:
    """The benchmark's model directory, key store (one "user" key), policies and the rows
    every server answers with 200, in a fresh temporary folder."""
    import skops.io as sio

    model, X, y, names = _model_and_data()
    work = Path(tempfile.mkdtemp(prefix="pipeward-bench-serve-"))
    sio.dump(model, work / "model.skops")
    pw.save_keypair(work / "k.pem", work / "k.pem.pub")
    pw.serve.package(work / "model.skops", X, work / "model", private_key=work / "k.pem", y=y,
                     feature_names=names)
    store = pw.serve.KeyStore(work / "keys.json", create=True)
    key = store.add("bench", "user")
    limits = ('[limits]\nper_key = "100000000/minute"\nper_address = "100000000/minute"\n'
              'soft_fraction = 1.0\n[input]\nguard = "reject"\n')
    # "guarded": what the target names (auth, rate limit, guard, audit, metrics);
    # "guarded+monitors": also extraction detection and drift windows (the defaults).
    (work / "policy.toml").write_text(limits + "[extraction]\nenabled = false\n[drift]\nenabled = false\n")
    (work / "policy-monitors.toml").write_text(limits)
    bundle = pw.serve.load_model_dir(work / "model", work / "k.pem.pub")
    rows = X[bundle.guard.score(X)[1] > 0.05].tolist()  # rows all servers answer with 200
    return work, key, rows


def run_in_process(requests: int, rounds: int) -> dict:
    """The apps' own CPU per request, without an HTTP server: each app is called as ASGI with
    a prepared scope, one request at a time, in alternating rounds (medians). Separates what
    the service costs from what uvicorn and the sockets cost, which are the same for all."""
    work, key, rows = _packaged()
    os.environ["PIPEWARD_BENCH_MODEL"] = str(work / "model.skops")
    sys.path.insert(0, str(HERE))
    import serve_bare_app

    apps = {"bare": (serve_bare_app.app, [])}
    for name, policy in (("guarded", "policy.toml"), ("guarded+monitors", "policy-monitors.toml")):
        app = pw.serve.create_app(work / "model", keys=work / "keys.json", policy=work / policy,
                                  public_key=work / "k.pem.pub", audit=work / f"{name}.db")
        apps[name] = (app, [(b"x-api-key", key.encode())])
    bodies = [json.dumps({"inputs": [r]}).encode() for r in rows]

    async def drive(app, headers: list, n: int) -> None:
        async def send(message: dict) -> None:
            if message["type"] == "http.response.start" and message["status"] != 200:
                raise RuntimeError(f"status {message['status']}")

        for i in range(n):
            body = bodies[i % len(bodies)]
            messages = iter([{"type": "http.request", "body": body, "more_body": False}])

            async def receive(messages=messages) -> dict:
                return next(messages, {"type": "http.disconnect"})

            scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1",
                     "method": "POST", "scheme": "http", "path": "/v1/predict",
                     "raw_path": b"/v1/predict", "query_string": b"", "root_path": "",
                     "headers": [(b"host", b"127.0.0.1"), (b"content-type", b"application/json"),
                                 (b"content-length", str(len(body)).encode()), *headers],
                     "client": ("127.0.0.1", 40000), "server": ("127.0.0.1", 8000), "state": {}}
            await app(scope, receive, send)

    async def main() -> dict:
        cost: dict = {name: [] for name in apps}
        for app, headers in apps.values():
            await drive(app, headers, 300)  # warm-up
        for _ in range(rounds):
            for name, (app, headers) in apps.items():
                start = time.process_time()  # all threads: the audit writer and monitors too
                await drive(app, headers, requests)
                cost[name].append(1e6 * (time.process_time() - start) / requests)
        return cost

    cost = asyncio.run(main())
    for name in ("guarded", "guarded+monitors"):
        apps[name][0].state.service.close()
    summary: dict = {name: {"cpu_us_per_request": statistics.median(v)} for name, v in cost.items()}
    for name in ("guarded", "guarded+monitors"):
        summary[name]["ratio_cpu"] = summary["bare"]["cpu_us_per_request"] / summary[name]["cpu_us_per_request"]
    summary["settings"] = {"requests": requests, "rounds": rounds, "load_average": os.getloadavg()}
    return summary


CLIENT_DELAYED_S = 0.001  # a request the load generator was descheduled this long during
WARMUP = 200  # httpx requests per round before the measured ones, in the same loop


def _httpx_round(run: dict, n: int) -> dict:
    """A round of serve_loadgen.py as the load test reports it."""
    lat, delay = np.array(run["latency"]), np.array(run["client_delay"])
    ran = lat[delay < CLIENT_DELAYED_S]
    return {"requests": n, "requests_per_s": n / run["wall"],
            "p50_ms": 1e3 * float(np.quantile(lat, 0.5)), "p99_ms": 1e3 * float(np.quantile(lat, 0.99)),
            "p99_ms_generator_ran": 1e3 * float(np.quantile(ran, 0.99)) if len(ran) else float("nan"),
            "generator_delayed": int(len(lat) - len(ran)), "errors": run["errors"],
            "client_cpu_us_per_request": 1e6 * run["cpu"] / n, "client_collections": run["collections"]}


def run_load_test(requests: int, concurrency: int, rounds: int, *, generator: str = "wrk",
                  seconds: float = 8.0, pin: bool = False, rt: bool = False) -> dict:
    from serve_helpers import free_port, serve  # the tests' server runner

    import httpx

    sys.path.insert(0, str(HERE))
    from serve_loadgen import generate
    from serve_rt import realtime_process

    pin = pin or rt
    if generator == "wrk" and shutil.which("wrk") is None:
        raise SystemExit("wrk is not installed (apt-get install wrk)")
    work, key, rows = _packaged()
    bodies = [json.dumps({"inputs": [r]}) for r in rows]
    pinned = ["taskset", "-c", "1"] if pin else []
    port = free_port()
    env = {**os.environ, "PIPEWARD_BENCH_MODEL": str(work / "model.skops")}
    bare = subprocess.Popen([*pinned, sys.executable, "-m", "uvicorn", "serve_bare_app:app", "--app-dir",
                             str(HERE), "--port", str(port), "--log-level", "warning",
                             "--no-access-log"], env=env, start_new_session=True)
    results: dict = {"bare": [], "guarded": [], "guarded+monitors": []}
    try:
        deadline = time.time() + 60
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
            if time.time() > deadline:
                raise RuntimeError("the bare server did not start")
        common = [str(work / "model"), "--pubkey", str(work / "k.pem.pub"), "--keys",
                  str(work / "keys.json")]
        # Each server has an audit log of its own, as separate services would: two on one file
        # would also measure their contention for its write lock.
        with serve(common + ["--policy", str(work / "policy.toml"), "--audit",
                             str(work / "guarded.db")], work) as guarded, \
                serve(common + ["--policy", str(work / "policy-monitors.toml"), "--audit",
                                str(work / "guarded+monitors.db")], work) as monitored:
            targets = {"bare": (f"http://127.0.0.1:{port}", {}, bare.pid),
                       "guarded": (guarded.url, {"X-API-Key": key}, guarded.proc.pid),
                       "guarded+monitors": (monitored.url, {"X-API-Key": key}, monitored.proc.pid)}
            if pin:
                for _, _, pid in targets.values():
                    for p in _server_pids(pid):
                        subprocess.run(["taskset", "-a", "-p", "-c", "1", str(p)], check=True,
                                       capture_output=True)

            def drive(url: str, headers: dict, n: int, secs: float) -> dict:
                if generator == "wrk":
                    return _wrk(url, headers, rows, secs, concurrency, work, pin, rt)
                return _httpx_round(generate(url, headers, bodies, n, concurrency=concurrency,
                                             cpu=0 if pin else None, rt=rt, warmup=WARMUP,
                                             work=str(work)), n)

            for name, (url, headers, pid) in targets.items():  # warm-up
                if rt:
                    for p in _server_pids(pid):
                        realtime_process(p)
                drive(url, headers, 300, 2)
                if rt:  # threads the warm-up started
                    for p in _server_pids(pid):
                        realtime_process(p)
            for _ in range(rounds):
                for name, (url, headers, pid) in targets.items():
                    cpu = _cpu_seconds(pid)
                    run = drive(url, headers, requests, seconds)
                    run["server_cpu_us_per_request"] = 1e6 * (_cpu_seconds(pid) - cpu) / run["requests"]
                    results[name].append(run)
    finally:
        bare.terminate()
        bare.wait(10)
    summary = {}
    for name, runs in results.items():
        summary[name] = {k: statistics.median(r[k] for r in runs)
                         for k in ("requests_per_s", "p50_ms", "p99_ms", "server_cpu_us_per_request")}
        summary[name]["errors"] = sum(r["errors"] for r in runs)
        summary[name]["p99_ms_rounds"] = [round(r["p99_ms"], 2) for r in runs]
        if generator == "httpx":
            summary[name]["client_cpu_us_per_request"] = statistics.median(
                r["client_cpu_us_per_request"] for r in runs)
            summary[name]["p99_ms_generator_ran"] = statistics.median(r["p99_ms_generator_ran"] for r in runs)
            summary[name]["generator_delayed"] = [r["generator_delayed"] for r in runs]
            summary[name]["client_collections"] = sum(r["client_collections"] for r in runs)
        summary[name]["requests"] = sum(r["requests"] for r in runs)
    for name in ("guarded", "guarded+monitors"):
        summary[name]["ratio_requests_per_s"] = (summary[name]["requests_per_s"]
                                                 / summary["bare"]["requests_per_s"])
        summary[name]["p99_delta_ms"] = summary[name]["p99_ms"] - summary["bare"]["p99_ms"]
        if generator == "httpx":
            summary[name]["p99_delta_ms_generator_ran"] = (summary[name]["p99_ms_generator_ran"]
                                                           - summary["bare"]["p99_ms_generator_ran"])
        summary[name]["ratio_server_cpu"] = (summary["bare"]["server_cpu_us_per_request"]
                                             / summary[name]["server_cpu_us_per_request"])
    # The servers have stopped and flushed their writers: each log must verify.
    summary["audit"] = {name: _verified_audit(work / f"{name}.db") for name in ("guarded", "guarded+monitors")}
    summary["settings"] = {"generator": generator, "seconds": seconds, "requests": requests,
                           "concurrency": concurrency, "rounds": rounds, "pinned": pin, "rt": rt,
                           "load_average": os.getloadavg()}
    return summary


def _verified_audit(path: Path) -> dict:
    """A stopped server's audit log, verified (a benchmark that broke it is an error), with its
    records and the predict requests among them (warm-up included)."""
    with pw.AuditLog(path, readonly=True) as log:
        report = log.verify()
        if not report.ok:
            raise RuntimeError(f"{path}: the audit log does not verify: {report.summary()}")
        predicts = sum(r.payload.get("route") == "/v1/predict"
                       for r in log.records(action="serve.request"))
        return {"records": len(log), "predict_records": predicts, "verified": True}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--generator", choices=["wrk", "httpx"], default="wrk")
    parser.add_argument("--seconds", type=float, default=8.0, help="per round, with wrk")
    parser.add_argument("--requests", type=int, default=3000, help="per round, with httpx")
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pin", action="store_true", help="servers on CPU 1, the load generator on CPU 0")
    parser.add_argument("--rt", action="store_true", help="--pin, and the servers and load generator "
                        "under SCHED_FIFO (root; keep runs short)")
    parser.add_argument("--in-process", action="store_true", help="no server: the apps' own CPU "
                        "per request, called as ASGI (--requests per round)")
    args = parser.parse_args()
    if args.in_process:
        print(json.dumps(run_in_process(args.requests, args.rounds), indent=2))
        return
    print(json.dumps(run_load_test(args.requests, args.concurrency, args.rounds, generator=args.generator,
                                   seconds=args.seconds, pin=args.pin, rt=args.rt), indent=2))


if __name__ == "__main__":
    main()
