"""RobustStrategy in a real Flower network run: a server process and 10 client processes
talking gRPC on 127.0.0.1, 3 clients Byzantine. FedAvg collapses; the median holds."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.datasets import load_digits

pytestmark = pytest.mark.skipif(importlib.util.find_spec("flwr") is None,
                                reason="Flower is not installed (pip install 'pipeward[fl]')")

PEER = Path(__file__).with_name("fl_network_peer.py")
LIMIT_S = 120  # every process must be gone by then, pass or fail


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_fedavg_collapses_and_the_median_holds_over_the_network(tmp_path):
    x, y = load_digits(return_X_y=True)
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = (x / 16.0)[perm].astype(np.float32), y[perm]
    data = tmp_path / "digits.npz"
    np.savez(data, x_train=x[:1400], y_train=y[:1400], x_test=x[1400:], y_test=y[1400:])
    out = tmp_path / "history.json"
    ports = [str(p) for p in free_ports(2)]
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    run = [sys.executable, str(PEER)]
    procs = [subprocess.Popen([*run, "server", str(data), str(out), *ports, "6"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]
    procs += [subprocess.Popen([*run, "client", str(data), str(i), *ports], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
              for i in range(10)]
    try:
        _, server_err = procs[0].communicate(timeout=LIMIT_S)
        for p in procs[1:]:
            p.wait(timeout=30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert procs[0].returncode == 0, server_err.decode()[-2000:]
    history = json.loads(out.read_text())
    assert len(history["fedavg"]) == len(history["median"]) == 6
    fedavg, median = history["fedavg"][-1], history["median"][-1]
    assert median > 0.85, history
    assert fedavg < median - 0.2, history
