"""RobustStrategy in real Flower network runs: a server process and two client processes (7
honest clients, 3 colluding Byzantine ones) talking gRPC on 127.0.0.1. Clean FedAvg is the
yardstick; under each attack FedAvg collapses and a robust rule stays near it. The full rule x
attack matrix runs in process in tests/test_fl_flower.py."""

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
from fl_digits import digits

pytestmark = pytest.mark.skipif(importlib.util.find_spec("flwr") is None,
                                reason="Flower is not installed (pip install 'pipeward[fl]')")

PEER = Path(__file__).with_name("fl_network_peer.py")
LIMIT_S = 150  # every process must be gone by then, pass or fail
ROUNDS = 5
# One robust rule per attack proves the wiring; every rule meets every attack in process.
FEDERATIONS = [("fedavg", "clean"),
               ("fedavg", "sign_flip"), ("median", "sign_flip"),
               ("fedavg", "noise"), ("krum", "noise"),
               ("fedavg", "alie_strong"), ("geometric_median", "alie_strong")]


def free_ports(n):
    socks = [socket.socket() for _ in range(n)]
    for s in socks:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in socks]
    for s in socks:
        s.close()
    return ports


def test_fedavg_collapses_and_robust_rules_hold_over_the_network(tmp_path):
    data = tmp_path / "digits.npz"
    x_train, y_train, x_test, y_test = digits()
    np.savez(data, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    out = tmp_path / "accuracies.json"
    plan = json.dumps([[port, rule, attack] for port, (rule, attack)
                       in zip(free_ports(len(FEDERATIONS)), FEDERATIONS)])
    env = {**os.environ, "PYTHONWARNINGS": "ignore", "OMP_NUM_THREADS": "1"}
    run = [sys.executable, str(PEER)]
    procs = [subprocess.Popen([*run, "server", str(data), str(out), str(ROUNDS), plan], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)]
    procs += [subprocess.Popen([*run, "clients", str(data), side, plan], env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
              for side in ("honest", "byzantine")]
    try:
        _, server_err = procs[0].communicate(timeout=LIMIT_S)
        client_errs = [p.communicate(timeout=30)[1] for p in procs[1:]]
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert procs[0].returncode == 0, server_err.decode()[-2000:]
    for p, err in zip(procs[1:], client_errs):
        assert p.returncode == 0, err.decode()[-2000:]
    got = dict(zip(FEDERATIONS, json.loads(out.read_text())))
    assert len(got) == len(FEDERATIONS), got
    clean = got["fedavg", "clean"]
    assert clean > 0.9, got
    for (rule, attack), acc in got.items():
        if attack == "clean":
            continue
        if rule == "fedavg":
            assert acc < clean - 0.4, got
        else:
            assert acc >= clean - 0.05, got
