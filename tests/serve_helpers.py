"""Real servers for the serve tests on free 127.0.0.1 ports, waited for until they answer and
stopped (or killed) by the test: `pipeward serve` as a subprocess (where the process itself is
tested: its exit, a kill -9, several workers) or in a thread of the test process (the same CLI
checks and app, without a new interpreter's start-up), and redis-server."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Server:
    def __init__(self, proc: subprocess.Popen, url: str, log: Path):
        self.proc, self.url, self.log = proc, url, log

    def kill(self) -> None:
        """SIGKILL the whole process group (uvicorn's workers too): no clean shutdown."""
        os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.kill()


def pipeward_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "pipeward", *args]


@contextmanager
def serve(args: list[str], tmp: Path, *, scheme: str = "http", verify=True, timeout: float = 60.0):
    """Run `pipeward serve ARGS --port P` and yield a Server once /healthz answers."""
    port = free_port()
    log = tmp / f"server-{port}.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen(pipeward_cmd("serve", *args, "--port", str(port)), stdout=out,
                                stderr=subprocess.STDOUT, start_new_session=True)
    url = f"{scheme}://127.0.0.1:{port}"
    server = Server(proc, url, log)
    try:
        deadline = time.monotonic() + timeout
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text()[-2000:]}")
            try:
                if httpx.get(url + "/healthz", verify=verify, timeout=1.0).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield server
    finally:
        server.stop()


class ThreadServer:
    """`pipeward serve` on uvicorn in a thread of this process; ``log`` holds what the service
    logged (as a process's output would)."""

    def __init__(self, server, thread: threading.Thread, url: str, log: Path):
        self._server, self._thread, self.url, self.log = server, thread, url, log

    def stop(self) -> None:
        """A clean shutdown, as SIGTERM gives a process (the service's lifespan closes it)."""
        self._server.should_exit = True
        self._thread.join(30)


@contextmanager
def serve_in_thread(args: list[str], tmp: Path, *, timeout: float = 60.0):
    """`pipeward serve ARGS --port P` checked and built by the CLI's own code
    (``uvicorn_settings``, then ``build_app``) and served by uvicorn in a thread; yields a
    ThreadServer once it is up. Starts in about a second, where a new interpreter importing
    everything takes tens on a loaded machine. Only the worker-process tuning of
    ``app_factory`` (switch interval, frozen collector) is left out: it would tune the test
    process; the subprocess tests run it."""
    import logging

    import uvicorn

    from pipeward.cli import build_parser
    from pipeward.cli import serve as cli_serve

    port = free_port()
    settings = cli_serve.uvicorn_settings(build_parser().parse_args(["serve", *args, "--port", str(port)]))
    if settings.pop("workers") != 1:
        raise ValueError("several workers need processes: use serve()")
    settings["app"] = cli_serve.build_app
    log = tmp / f"server-{port}.log"
    handler = logging.FileHandler(log)
    handler.setFormatter(logging.Formatter("%(message)s"))
    service_log = logging.getLogger("pipeward.serve")
    service_log.addHandler(handler)
    server = uvicorn.Server(uvicorn.Config(**settings))
    thread = threading.Thread(target=server.run, name="pipeward-serve-test", daemon=True)
    running = ThreadServer(server, thread, f"http://127.0.0.1:{port}", log)
    thread.start()
    try:
        deadline = time.monotonic() + timeout
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the server in a thread did not start")
            time.sleep(0.02)
        yield running
    finally:
        running.stop()
        service_log.removeHandler(handler)
        handler.close()


def redis_server_path() -> str | None:
    return shutil.which("redis-server")


@contextmanager
def redis_server(tmp: Path):
    """A private redis-server on a free 127.0.0.1 port, no persistence; yields its URI."""
    port = free_port()
    proc = subprocess.Popen([redis_server_path(), "--port", str(port), "--bind", "127.0.0.1",
                             "--save", "", "--appendonly", "no", "--dir", str(tmp)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.5) as s:
                    s.sendall(b"PING\r\n")
                    if s.recv(16).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("redis-server did not start")
            time.sleep(0.05)
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(10)
