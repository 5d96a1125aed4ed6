"""The processes of the Flower network test (tests/test_fl_network.py).

    python fl_network_peer.py server DATA.npz OUT.json ROUNDS PLAN
    python fl_network_peer.py clients DATA.npz honest|byzantine PLAN

PLAN is a JSON list of [port, rule, attack] federations, run one after the other on
127.0.0.1: the server process serves each with Flower's ``start_server`` (FedAvg for
``"fedavg"``, pipeward's RobustStrategy otherwise) and writes the test accuracy after the last
round of each; every client takes part in every federation through Flower's ``start_client``
over gRPC. Clients 0-6 share the honest process; 7-9, colluding as "a little is enough"
assumes, share the Byzantine one and mount the federation's attack (tests/fl_digits.py).
"""

from __future__ import annotations

import json
import socket
import sys
import threading
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")  # Flower's deprecation notices about its legacy entry points

import flwr as fl  # noqa: E402
from fl_digits import (BYZANTINE, CLIENTS, accuracy, byzantine_updates, local_fit,  # noqa: E402
                       shard)
from flwr.common import ndarrays_to_parameters  # noqa: E402

WAIT_S = 60  # for a federation's server to come up


class DigitsClient(fl.client.NumPyClient):
    def __init__(self, cid, data):
        self.cid, self.data, self.attack = cid, data, "clean"
        self.rng = np.random.default_rng(cid)

    def get_parameters(self, config):
        return [np.zeros((64, 10), np.float32), np.zeros(10, np.float32)]

    def fit(self, parameters, config):
        w, b = parameters
        x, y = self.data["x_train"], self.data["y_train"]
        if self.cid in BYZANTINE:
            models = byzantine_updates(self.attack, w, b, x, y, self.rng)
            cw, cb = models[BYZANTINE.index(self.cid)]
        else:
            cw, cb = local_fit(w, b, x[shard(self.cid)], y[shard(self.cid)])
        return [cw, cb], len(shard(self.cid)), {}


def serve(data, out, rounds, plan):
    from pipeward.fl.flower import RobustStrategy

    accuracies = []
    init = ndarrays_to_parameters([np.zeros((64, 10), np.float32), np.zeros(10, np.float32)])
    common = dict(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=CLIENTS,
                  min_available_clients=CLIENTS, initial_parameters=init)

    def evaluate(rnd, parameters, config):
        if rnd == rounds:
            accuracies.append(accuracy(*parameters, data["x_test"], data["y_test"]))
        return 0.0, {}

    for port, rule, _ in plan:
        if rule == "fedavg":
            strategy = fl.server.strategy.FedAvg(evaluate_fn=evaluate, **common)
        else:  # Bulyan needs K >= 4f + 3: told of one attacker at most with 10 clients
            strategy = RobustStrategy(rule=rule, n_malicious=1 if rule == "bulyan" else 3,
                                      proportiontocut=0.3, evaluate_fn=evaluate, **common)
        fl.server.start_server(server_address=f"127.0.0.1:{port}", strategy=strategy,
                               config=fl.server.ServerConfig(num_rounds=rounds))
    with open(out, "w") as f:
        json.dump(accuracies, f)


def _wait_for(port):
    """Until the federation's server listens (Flower's own retry backs off up to 20 s)."""
    deadline = time.monotonic() + WAIT_S
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def join(data, cid, plan, errors):
    client = DigitsClient(cid, data)
    try:
        for port, _, attack in plan:
            client.attack = attack
            _wait_for(port)
            fl.client.start_client(server_address=f"127.0.0.1:{port}",
                                   client=client.to_client(), insecure=True)
    except BaseException as e:  # noqa: BLE001 - reported by the process's exit status
        errors.append(f"client {cid}: {e!r}")


def run_clients(data, side, plan):
    cids = BYZANTINE if side == "byzantine" else [c for c in range(CLIENTS)
                                                  if c not in BYZANTINE]
    errors: list[str] = []
    threads = [threading.Thread(target=join, args=(data, c, plan, errors)) for c in cids]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        sys.exit("\n".join(errors))


if __name__ == "__main__":
    role, arrays = sys.argv[1], dict(np.load(sys.argv[2]))
    if role == "server":
        serve(arrays, sys.argv[3], int(sys.argv[4]), json.loads(sys.argv[5]))
    else:
        run_clients(arrays, sys.argv[3], json.loads(sys.argv[4]))
