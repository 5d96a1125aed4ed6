"""Where the guarded server's tail latency comes from: the bare and the guarded server side by
side under the issue's load generator (the bounded async httpx loop, 8 in flight, in the lean
process of serve_loadgen.py that bench_serve.py uses too), every request's start and latency
recorded, and inside each server the moments that can stall its event loop (garbage
collections, audit batches, metrics flushes, monitor batches), each with its span and the CPU
time its thread spent in it.

    python bench/serve_tail.py [--requests 3000] [--rounds 3] [--pin]

For each server: requests/s, p50, p99 (medians over rounds) and the p99 difference; then, over
all rounds, which events the slowest 1% of requests overlapped, against the share of all
requests that overlapped them, and against the share the slowest 1% would overlap with the
events shifted at random in time (an event kind that slow requests overlap far more often than
in that shifted case is a cause; requests in general are shorter, so they are no baseline).
The client runs no collection while it measures (``client_collections`` says so; it used to
share this process, model and all, and its own collections stalled both servers' requests
alike). ``--pin`` puts both servers on CPU 1 and the client on CPU 0.
Each server runs with ``pipeward serve``'s own settings (the guarded one is built by its app
factory); the tracing adds a timestamp per event, nothing per request.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
EVENT_KINDS = ("gc0", "gc1", "gc2", "audit", "metrics", "monitor")


# --- inside a server ------------------------------------------------------------------------

Event = tuple[str, float, float, float]  # kind, start, end (monotonic), CPU seconds of its thread


def _trace_gc(events: list[Event]) -> None:
    """Record this process's collections as events."""
    started: dict[int, tuple[float, float]] = {}

    def on_gc(phase: str, info: dict) -> None:
        g = info["generation"]
        if phase == "start":
            started[g] = (time.monotonic(), time.thread_time())
        else:
            t, cpu = started.pop(g, (time.monotonic(), time.thread_time()))
            events.append((f"gc{g}", t, time.monotonic(), time.thread_time() - cpu))

    gc.callbacks.append(on_gc)


def _serve(which: str, port: int, trace: str) -> None:
    """Run one server with event tracing; SIGUSR1 writes the events to ``trace`` and exits."""
    events: list[Event] = []
    _trace_gc(events)

    def timed(cls: type, name: str, kind: str) -> None:
        method = getattr(cls, name)

        def wrapper(*args, **kwargs):
            # The CPU time of the calling thread as well as the span: a background batch's span
            # also counts the waits for the GIL it hands back, its CPU time does not.
            t, cpu = time.monotonic(), time.thread_time()
            try:
                return method(*args, **kwargs)
            finally:
                events.append((kind, t, time.monotonic(), time.thread_time() - cpu))

        setattr(cls, name, wrapper)

    if which == "guarded":
        from pipeward.cli import serve as cli_serve
        from pipeward.serve import audit_writer, metrics, monitor

        timed(audit_writer.AuditWriter, "_write", "audit")
        timed(metrics.ServeMetrics, "flush", "metrics")
        timed(monitor.BackgroundMonitor, "_process", "monitor")
        app = cli_serve.app_factory()  # pipeward serve's app, switch interval and frozen GC
    else:
        sys.path.insert(0, str(HERE))
        import serve_bare_app

        app = serve_bare_app.app
    import uvicorn

    def dump(*_: object) -> None:
        Path(trace).write_text(json.dumps(events))
        os._exit(0)

    signal.signal(signal.SIGUSR1, dump)
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, ws="none")


# --- the driver -----------------------------------------------------------------------------

def _wait_ready(url: str, proc: subprocess.Popen) -> None:
    import httpx

    deadline = time.time() + 90
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the server at {url} exited with {proc.returncode}")
        try:
            if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"the server at {url} did not start")


def overlap_share(requests: np.ndarray, events: list[Event], kind: str) -> float:
    """The share of ``requests`` (rows of start, latency) during which an event of ``kind`` ran."""
    spans = np.array([(a, b) for k, a, b, _ in events if k == kind]).reshape(-1, 2)
    if not len(spans) or not len(requests):
        return 0.0
    spans = spans[np.argsort(spans[:, 0])]
    starts, ends = requests[:, 0], requests[:, 0] + requests[:, 1]
    # An event overlaps a request when it starts before the request ends and ends after it starts:
    # the latest-starting event before each request's end is checked against the running max end.
    last = np.searchsorted(spans[:, 0], ends, side="left") - 1
    reach = np.maximum.accumulate(spans[:, 1])
    return float(np.mean((last >= 0) & (reach[np.maximum(last, 0)] > starts)))


def run(requests: int, rounds: int, pin: bool, concurrency: int = 8) -> dict:
    sys.path.insert(0, str(HERE))
    from bench_serve import _packaged
    from serve_helpers import free_port
    from serve_loadgen import generate

    work, key, rows = _packaged()
    bodies = [json.dumps({"inputs": [r]}) for r in rows]
    cpu = 0 if pin else None
    cfg = {"model_dir": str(work / "model"), "pubkey": str(work / "k.pem.pub"), "trust": None,
           "role": None, "keys": str(work / "keys.json"), "policy": str(work / "policy.toml"),
           "audit": str(work / "audit.db"), "rate_limit": None, "storage": None, "shadow": None}
    env = {**os.environ, "PIPEWARD_SERVE_CONFIG": json.dumps(cfg),
           "PIPEWARD_BENCH_MODEL": str(work / "model.skops")}
    servers: dict[str, tuple[str, dict, subprocess.Popen, Path]] = {}
    try:
        for which, headers in (("bare", {}), ("guarded", {"X-API-Key": key})):
            port, trace = free_port(), work / f"trace-{which}.json"
            cmd = [sys.executable, __file__, "--serve", which, str(port), str(trace)]
            proc = subprocess.Popen((["taskset", "-c", "1"] if pin else []) + cmd, env=env,
                                    start_new_session=True)
            servers[which] = (f"http://127.0.0.1:{port}", headers, proc, trace)
        for url, _, proc, _ in servers.values():
            _wait_ready(url, proc)
        for url, headers, _, _ in servers.values():  # warm-up
            generate(url, headers, bodies, 300, concurrency=concurrency, cpu=cpu, work=str(work))
        measured: dict[str, list] = {name: [] for name in servers}
        client_collections = 0
        for _ in range(rounds):
            for name, (url, headers, _, _) in servers.items():
                run = generate(url, headers, bodies, requests, concurrency=concurrency, cpu=cpu,
                               work=str(work))
                if run["errors"]:
                    raise RuntimeError(f"{url}: {run['errors']} requests answered other than 200")
                client_collections += run["collections"]
                measured[name].append((run["wall"], np.column_stack([run["start"], run["latency"]])))
        events = {}
        for name, (_, _, proc, trace) in servers.items():
            proc.send_signal(signal.SIGUSR1)
            proc.wait(30)
            events[name] = [tuple(e) for e in json.loads(trace.read_text())]
    finally:
        for _, _, proc, _ in servers.values():
            if proc.poll() is None:
                proc.kill()
    out = summarise(measured, events, requests, rounds, pin, concurrency)
    out["client_collections"] = client_collections
    return out


def shifted_share(rounds: list[tuple[np.ndarray, tuple[float, float]]], events: list[Event], kind: str,
                  shifts: int = 20) -> float:
    """``overlap_share`` of each round's requests with that round's events moved by random
    circular shifts within the round's own window (mean over ``shifts``, weighted by requests):
    what the share would be if the events had nothing to do with which requests were slow. Long
    requests overlap a periodic event (an audit batch every 50 ms) whatever it does, so a share
    means something only beside this one."""
    rng = np.random.default_rng(0)
    total = 0.0
    for requests, (start, end) in rounds:
        length = end - start
        mine = [(a, b) for k, a, b, _ in events if k == kind and start <= a <= end]
        for _ in range(shifts):
            d = rng.uniform(0, length)
            moved = [(kind, t := start + (a - start + d) % length, t + (b - a), 0.0) for a, b in mine]
            total += overlap_share(requests, moved, kind) * len(requests)
    return total / (shifts * sum(len(r) for r, _ in rounds))


def summarise(measured: dict, events: dict, requests: int, rounds: int, pin: bool, concurrency: int) -> dict:
    out: dict = {}
    for name, runs in measured.items():
        lat = [r[:, 1] for _, r in runs]
        out[name] = {"requests_per_s": statistics.median(requests / wall for wall, _ in runs),
                     "p50_ms": statistics.median(1e3 * float(np.quantile(x, 0.5)) for x in lat),
                     "p99_ms": statistics.median(1e3 * float(np.quantile(x, 0.99)) for x in lat),
                     "p99_ms_rounds": [round(1e3 * float(np.quantile(x, 0.99)), 2) for x in lat]}
        every = np.concatenate([r for _, r in runs])
        slow_by_round = [(r[r[:, 1] > np.quantile(r[:, 1], 0.99)], (r[:, 0].min(), (r[:, 0] + r[:, 1]).max()))
                         for _, r in runs]
        slow = np.concatenate([r for r, _ in slow_by_round])
        window = (every[:, 0].min(), (every[:, 0] + every[:, 1]).max())
        seen = [e for e in events[name] if window[0] <= e[1] <= window[1]]
        out[name]["events"] = {
            kind: {"count": len(d), "mean_ms": round(1e3 * float(np.mean(d[:, 0])), 3),
                   "max_ms": round(1e3 * float(np.max(d[:, 0])), 3),
                   "mean_cpu_ms": round(1e3 * float(np.mean(d[:, 1])), 3),
                   "max_cpu_ms": round(1e3 * float(np.max(d[:, 1])), 3),
                   "share_of_slowest_1pct": round(overlap_share(slow, seen, kind), 3),
                   "share_of_slowest_1pct_if_unrelated": round(shifted_share(slow_by_round, seen, kind), 3),
                   "share_of_all": round(overlap_share(every, seen, kind), 3)}
            for kind in EVENT_KINDS
            if len(d := np.array([(b - a, c) for k, a, b, c in seen if k == kind]).reshape(-1, 2))}
    out["guarded"]["ratio_requests_per_s"] = out["guarded"]["requests_per_s"] / out["bare"]["requests_per_s"]
    out["guarded"]["p99_delta_ms"] = out["guarded"]["p99_ms"] - out["bare"]["p99_ms"]
    out["settings"] = {"requests": requests, "rounds": rounds, "concurrency": concurrency, "pinned": pin,
                       "load_average": os.getloadavg()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=3, metavar=("WHICH", "PORT", "TRACE"), help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=3000, help="per server and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pin", action="store_true", help="servers on CPU 1, the client on CPU 0")
    args = parser.parse_args()
    if args.serve:
        which, port, trace = args.serve
        _serve(which, int(port), trace)
        return
    sys.path.insert(0, str(HERE.parent / "tests"))
    print(json.dumps(run(args.requests, args.rounds, args.pin), indent=2))


if __name__ == "__main__":
    main()
