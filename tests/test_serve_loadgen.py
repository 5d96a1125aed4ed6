"""The serving benchmarks' load generator (bench/serve_loadgen.py) against a small stdlib HTTP
server: every request timed once, non-200 answers counted, no collection while measuring, and a
lean process (no pipeward, NumPy or scikit-learn)."""

from __future__ import annotations

import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "bench"))
from serve_loadgen import generate  # noqa: E402


class _Predict(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, as uvicorn
    seen: list[bytes] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).seen.append(body)
        ok = self.path == "/v1/predict" and self.headers["X-API-Key"] == "k" and b"bad" not in body
        answer = b'{"predictions": [0]}' if ok else b'{"detail": "no"}'
        self.send_response(200 if ok else 422)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture()
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Predict)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    _Predict.seen = []
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


def test_every_request_timed_and_errors_counted(server, tmp_path):
    bodies = ['{"inputs": [[1.0]]}', '{"inputs": [[2.0]]}', '{"bad": 1}']
    run = generate(server, {"X-API-Key": "k"}, bodies, 30, concurrency=4, warmup=6, work=str(tmp_path))
    assert len(run["start"]) == len(run["latency"]) == 30
    assert run["errors"] == 10  # every third body is refused
    assert sorted(_Predict.seen) == sorted(b.encode() for b in bodies * 12)  # 6 warm-up + 30, in turn
    assert all(0 < x < run["wall"] for x in run["latency"])
    first, last = min(run["start"]), max(s + x for s, x in zip(run["start"], run["latency"]))
    assert last - first <= run["wall"] + 1e-6
    assert run["collections"] == 0
    assert list(tmp_path.iterdir()) == []  # spec and output files removed


def test_lean_process(tmp_path):
    import subprocess

    code = ("import runpy, sys; runpy.run_path(sys.argv[1], run_name='lean');"
            "print(' '.join(m for m in ('numpy', 'pipeward', 'sklearn') if m in sys.modules))")
    loadgen = Path(__file__).resolve().parents[1] / "bench" / "serve_loadgen.py"
    out = subprocess.run([sys.executable, "-c", code, str(loadgen)], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == ""
