"""Where the guarded server's tail latency comes from: the bare and the guarded server side by
side under the issue's load generator (the bounded async httpx loop, 8 in flight, in the lean
process of serve_loadgen.py that bench_serve.py uses too), every request's start, latency,
connection and the time the generator itself was descheduled during it recorded, and inside
each server every request's span (body received to last send) and the moments that can stall
its event loop (garbage collections, audit batches, metrics flushes, monitor batches), each
with its span and the CPU time its thread spent in it.

    python bench/serve_tail.py [--requests 3000] [--rounds 3] [--pin] [--rt] [--before]
                               [--lag] [--save FILE.json]

For each server: requests/s, p50, p99 (medians over rounds) and the p99 difference, also over
the requests the generator was never descheduled during (``p99_ms_generator_ran``); the span
inside the server (``in_server_ms``); how long the event loop's thread waited for a CPU in each
round (``loop_waited_for_cpu_ms_rounds``: under ``--rt`` only the server's own threads and the
kernel can make it wait); then, over all rounds, which events the slowest 1% of requests
overlapped, against the share of all requests that overlapped them, and against the share the
slowest 1% would overlap with the events shifted at random in time (an event kind that slow
requests overlap far more often than in that shifted case is a cause; requests in general are
shorter, so they are no baseline). The client runs no collection while it measures
(``client_collections`` says so). ``--pin`` puts the servers on CPU 1 and the client on CPU 0;
``--rt`` (root; implies ``--pin``) also runs them all under ``SCHED_FIFO`` (serve_rt.py), so
that no other process on the box preempts them: keep such runs short, they starve everyone
else. ``--before`` adds the guarded server with its background threads as they were before
they gave way to the event loop (GIL released by ``sleep(0)``, no lower CPU priority), for a
before/after in one run. ``--save`` writes every request and event to a file.
Each server runs with ``pipeward serve``'s own settings (the guarded ones are built by its app
factory, each with its own audit log); the tracing adds two clock reads per request.
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
EVENT_KINDS = ("gc0", "gc1", "gc2", "audit", "metrics", "monitor", "lag")
CLIENT_DELAYED_S = 0.001  # see bench_serve.py
WARMUP = 200  # requests per round before the measured ones, in the same loop


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


def _timed_requests(app, events: list[Event], ports: list[int], lag: bool):  # noqa: ANN001, ANN202
    """``app`` recording each HTTP request's span inside the server (from its whole body
    received to its last send) as a "request" event, with the time the event loop's thread
    waited for a CPU meanwhile; with ``lag``, also a 1 ms ticker
    on the event loop recording each tick more than 2 ms late as a "lag" event (the loop was
    blocked, or not scheduled, for that long)."""
    import asyncio

    ticking: list = []
    delay: list = []

    async def ticker() -> None:
        while True:
            t = time.monotonic()
            await asyncio.sleep(0.001)
            now = time.monotonic()
            if now - t > 0.003:
                events.append(("lag", t + 0.001, now, 0.0))

    async def timed_app(scope, receive, send) -> None:  # noqa: ANN001
        if scope["type"] != "http":
            await app(scope, receive, send)
            return
        if lag and not ticking:
            ticking.append(asyncio.get_running_loop().create_task(ticker()))
        if not delay:  # this (the event loop's) thread's run delay, see serve_loadgen.py
            from serve_loadgen import _run_delay

            delay.append(_run_delay())
        received = []

        async def timed_receive() -> dict:
            message = await receive()
            if not message.get("more_body"):
                received.append((time.monotonic(), delay[0]()))
            return message

        try:
            await app(scope, timed_receive, send)
        finally:
            if received:  # the CPU field: how long the loop waited for a CPU meanwhile
                (t, d), = received
                events.append(("request", t, time.monotonic(), delay[0]() - d))
                ports.append(scope["client"][1] if scope.get("client") else 0)

    return timed_app


def _serve(which: str, port: int, trace: str, lag: bool) -> None:
    """Run one server with event tracing; SIGUSR1 writes the events to ``trace`` and exits."""
    events: list[Event] = []
    ports: list[int] = []  # the client's port of each "request" event, in order
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

    if which.startswith("guarded"):
        from pipeward.cli import serve as cli_serve
        from pipeward.serve import audit_writer, metrics, monitor

        if which == "guarded-before":  # the background threads as they were before serve14p
            audit_writer.hand_over = lambda: time.sleep(0)  # the GIL only, not the CPU
            audit_writer.defer_to_event_loop = monitor.defer_to_event_loop = lambda: None

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
        Path(trace).write_text(json.dumps({"events": events, "ports": ports}))
        os._exit(0)

    signal.signal(signal.SIGUSR1, dump)
    uvicorn.run(_timed_requests(app, events, ports, lag), host="127.0.0.1", port=port, log_level="warning",
                access_log=False, ws="none")


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


def loop_run_delay(pid: int) -> float:
    """Seconds the main thread (the event loop) of process ``pid`` has so far spent runnable
    but not running (Linux schedstat)."""
    return int(Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()[1]) * 1e-9


def thread_cpu(pid: int) -> dict[tuple[int, str], float]:
    """CPU seconds each thread of process ``pid`` has run so far, by (thread id, name)."""
    out = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            comm = f"{(task / 'comm').read_text().strip()}{'/main' if int(task.name) == pid else ''}" \
                   f"/nice{os.getpriority(os.PRIO_PROCESS, int(task.name))}"
            out[(int(task.name), comm)] = int((task / "schedstat").read_text().split()[0]) * 1e-9
        except (FileNotFoundError, ProcessLookupError):
            continue
    return out


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


def run(requests: int, rounds: int, pin: bool, concurrency: int = 8, rt: bool = False,
        lag: bool = False, save: str | None = None, before: bool = False) -> dict:
    sys.path.insert(0, str(HERE))
    from bench_serve import _packaged
    from serve_helpers import free_port
    from serve_loadgen import generate
    from serve_rt import realtime_process

    pin = pin or rt

    work, key, rows = _packaged()
    bodies = [json.dumps({"inputs": [r]}) for r in rows]
    cpu = 0 if pin else None
    cfg = {"model_dir": str(work / "model"), "pubkey": str(work / "k.pem.pub"), "trust": None,
           "role": None, "keys": str(work / "keys.json"), "policy": str(work / "policy.toml"),
           "rate_limit": None, "storage": None, "shadow": None}
    env = {**os.environ, "PIPEWARD_BENCH_MODEL": str(work / "model.skops")}
    servers: dict[str, tuple[str, dict, subprocess.Popen, Path]] = {}
    try:
        which_servers = [("bare", {}), ("guarded", {"X-API-Key": key})]
        if before:
            which_servers.append(("guarded-before", {"X-API-Key": key}))
        for which, headers in which_servers:
            port, trace = free_port(), work / f"trace-{which}.json"
            cmd = [sys.executable, __file__, "--serve", which, str(port), str(trace), str(int(lag))]
            # each guarded server its own audit log: two writers of one log wait for each other
            config = json.dumps({**cfg, "audit": str(work / f"audit-{which}.db")})
            proc = subprocess.Popen((["taskset", "-c", "1"] if pin else []) + cmd,
                                    env={**env, "PIPEWARD_SERVE_CONFIG": config}, start_new_session=True)
            servers[which] = (f"http://127.0.0.1:{port}", headers, proc, trace)
        for url, _, proc, _ in servers.values():
            _wait_ready(url, proc)
        for url, headers, proc, _ in servers.values():  # warm-up
            if rt:
                realtime_process(proc.pid)
            generate(url, headers, bodies, 300, concurrency=concurrency, cpu=cpu, rt=rt, work=str(work))
            if rt:  # threads the warm-up started
                realtime_process(proc.pid)
        measured: dict[str, list] = {name: [] for name in servers}
        loop_waits: dict[str, list] = {name: [] for name in servers}
        client_collections = 0
        threads_before = {name: thread_cpu(proc.pid) for name, (_, _, proc, _) in servers.items()}
        for _ in range(rounds):
            for name, (url, headers, proc, _) in servers.items():
                waited = loop_run_delay(proc.pid)
                run = generate(url, headers, bodies, requests, concurrency=concurrency, cpu=cpu,
                               rt=rt, warmup=WARMUP, work=str(work))
                loop_waits[name].append(round(1e3 * (loop_run_delay(proc.pid) - waited), 2))
                if run["errors"]:
                    raise RuntimeError(f"{url}: {run['errors']} requests answered other than 200")
                client_collections += run["collections"]
                measured[name].append((run["wall"], np.column_stack([run["start"], run["latency"],
                                                                     run["client_delay"], run["port"]])))
        thread_ms = {}
        for name, (_, _, proc, _) in servers.items():  # CPU of each thread over the rounds
            after = thread_cpu(proc.pid)
            thread_ms[name] = {f"{comm}/{tid}": round(1e3 * (cpu - threads_before[name].get((tid, comm), 0.0)), 1)
                               for (tid, comm), cpu in after.items()}
        events, ports = {}, {}
        for name, (_, _, proc, trace) in servers.items():
            proc.send_signal(signal.SIGUSR1)
            proc.wait(30)
            traced = json.loads(trace.read_text())
            events[name] = [tuple(e) for e in traced["events"]]
            ports[name] = traced["ports"]
    finally:
        for _, _, proc, _ in servers.values():
            if proc.poll() is None:
                proc.kill()
    if save:  # every request and event, for a closer look than the summary
        Path(save).write_text(json.dumps({"measured": {n: [(w, r.tolist()) for w, r in runs]
                                                       for n, runs in measured.items()},
                                          "events": events, "ports": ports}))
    out = summarise(measured, events, requests, rounds, pin, concurrency)
    for name, waits in loop_waits.items():
        # how long the event loop's thread was runnable but not running, per round (warm-up
        # included): under --rt only the server's own threads and the kernel can cause it
        out[name]["loop_waited_for_cpu_ms_rounds"] = waits
        out[name]["thread_cpu_ms"] = {k: v for k, v in thread_ms[name].items() if v >= 1}
    out["settings"]["rt"] = rt
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
    count = shifts * sum(len(r) for r, _ in rounds)
    return total / count if count else float("nan")


def _p99_ran(r: np.ndarray) -> float:
    """p99 in ms of the requests (start, latency, client delay, port) the load generator
    itself never delayed (NaN when it delayed them all)."""
    ran = r[r[:, 2] < CLIENT_DELAYED_S, 1]
    return 1e3 * float(np.quantile(ran, 0.99)) if len(ran) else float("nan")


def _inside(requests: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """For each client request (start, latency), the longest server span (start, end) that lies
    within it: the part of a slow request the server's app itself took."""
    spans = spans[np.argsort(spans[:, 0])]
    out = np.zeros(len(requests))
    for i, (start, latency) in enumerate(requests[:, :2]):
        lo, hi = np.searchsorted(spans[:, 0], [start, start + latency])
        within = spans[lo:hi]
        within = within[within[:, 1] <= start + latency]
        out[i] = (within[:, 1] - within[:, 0]).max() if len(within) else 0.0
    return out


def summarise(measured: dict, events: dict, requests: int, rounds: int, pin: bool, concurrency: int) -> dict:
    out: dict = {}
    for name, runs in measured.items():
        lat = [r[:, 1] for _, r in runs]
        out[name] = {"requests_per_s": statistics.median(requests / wall for wall, _ in runs),
                     "p50_ms": statistics.median(1e3 * float(np.quantile(x, 0.5)) for x in lat),
                     "p99_ms": statistics.median(1e3 * float(np.quantile(x, 0.99)) for x in lat),
                     "p99_ms_rounds": [round(1e3 * float(np.quantile(x, 0.99)), 2) for x in lat],
                     # the requests during which the load generator never waited for its CPU
                     "p99_ms_generator_ran": statistics.median(_p99_ran(r) for _, r in runs),
                     "generator_delayed": [int((r[:, 2] >= CLIENT_DELAYED_S).sum()) for _, r in runs]}
        every = np.concatenate([r for _, r in runs])
        # the slowest 1% of the requests the load generator itself did not delay
        ran = [r[r[:, 2] < CLIENT_DELAYED_S] for _, r in runs]
        slow_by_round = [(r[r[:, 1] > np.quantile(r[:, 1], 0.99)], (r[:, 0].min(), (r[:, 0] + r[:, 1]).max()))
                         for r in ran if len(r)]
        slow = np.concatenate([r for r, _ in slow_by_round] or [np.zeros((0, 4))])
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
        inside = np.array([(a, b, c) for k, a, b, c in seen if k == "request"]).reshape(-1, 3)
        if len(inside):
            spans = inside[:, 1] - inside[:, 0]
            out[name]["in_server_ms"] = {
                "p50": round(1e3 * float(np.quantile(spans, 0.5)), 3),
                "p99": round(1e3 * float(np.quantile(spans, 0.99)), 3),
                "max": round(1e3 * float(spans.max()), 3),
                "max_waiting_for_cpu": round(1e3 * float(inside[:, 2].max()), 3),
                "of_slowest_1pct_median": round(1e3 * float(np.median(_inside(slow, inside[:, :2]))), 3)
                if len(slow) else None}
    for name in measured:
        if name != "bare":
            out[name]["ratio_requests_per_s"] = out[name]["requests_per_s"] / out["bare"]["requests_per_s"]
            out[name]["p99_delta_ms"] = out[name]["p99_ms"] - out["bare"]["p99_ms"]
            out[name]["p99_delta_ms_generator_ran"] = (out[name]["p99_ms_generator_ran"]
                                                       - out["bare"]["p99_ms_generator_ran"])
    out["settings"] = {"requests": requests, "rounds": rounds, "concurrency": concurrency, "pinned": pin,
                       "load_average": os.getloadavg()}
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", nargs=4, metavar=("WHICH", "PORT", "TRACE", "LAG"), help=argparse.SUPPRESS)
    parser.add_argument("--requests", type=int, default=3000, help="per server and round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--pin", action="store_true", help="servers on CPU 1, the client on CPU 0")
    parser.add_argument("--before", action="store_true", help="a third server: the guarded one "
                        "with its background threads as before serve14p (GIL handed back by "
                        "sleep(0), no lower CPU priority)")
    parser.add_argument("--save", metavar="FILE.json", help="also write every request and event there")
    parser.add_argument("--lag", action="store_true", help="a 1 ms ticker on each server's event "
                        "loop records when it runs late (a little load of its own)")
    parser.add_argument("--rt", action="store_true", help="--pin, and all of them under SCHED_FIFO "
                        "(root; keep runs short)")
    args = parser.parse_args()
    if args.serve:
        which, port, trace, lag = args.serve
        _serve(which, int(port), trace, lag == "1")
        return
    sys.path.insert(0, str(HERE.parent / "tests"))
    print(json.dumps(run(args.requests, args.rounds, args.pin, rt=args.rt, lag=args.lag, save=args.save, before=args.before), indent=2))


if __name__ == "__main__":
    main()
