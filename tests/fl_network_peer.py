"""One process of the Flower network test (tests/test_fl_network.py): the server or a client.

    python fl_network_peer.py server DATA.npz OUT.json PORT_FEDAVG PORT_ROBUST ROUNDS
    python fl_network_peer.py client DATA.npz CLIENT_ID PORT_FEDAVG PORT_ROBUST

The server runs two federations one after the other on 127.0.0.1 (FedAvg, then pipeward's
RobustStrategy with the median) and writes the test accuracy after each round; every client
takes part in both. Clients 7, 8 and 9 are Byzantine: two flip and amplify their honest change
(x -4), one sends Gaussian noise (std 5), as in tests/test_fl_flower.py.
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import numpy as np

warnings.simplefilter("ignore")  # Flower's deprecation notices about its legacy entry points

import flwr as fl  # noqa: E402
import grpc  # noqa: E402
from fl_digits import local_fit  # noqa: E402
from flwr.common import ndarrays_to_parameters  # noqa: E402

BYZANTINE = (7, 8, 9)


class DigitsClient(fl.client.NumPyClient):
    def __init__(self, cid, xs, ys):
        self.cid, self.xs, self.ys = cid, xs, ys
        self.rng = np.random.default_rng(cid)

    def get_parameters(self, config):
        return [np.zeros((64, 10), np.float32), np.zeros(10, np.float32)]

    def fit(self, parameters, config):
        w, b = parameters
        cw, cb = local_fit(w, b, self.xs, self.ys)
        if self.cid in BYZANTINE[:2]:  # sign flipping
            cw, cb = w - 4 * (cw - w), b - 4 * (cb - b)
        elif self.cid in BYZANTINE:  # Gaussian noise
            cw = w + self.rng.normal(0, 5, w.shape).astype(np.float32)
            cb = b + self.rng.normal(0, 5, b.shape).astype(np.float32)
        return [cw, cb], len(self.ys), {}


def serve(data, out, ports, rounds):
    from pipeward.fl.flower import RobustStrategy

    xs, ys = data["x_test"], data["y_test"]
    history = {}

    def evaluate_into(name):
        history[name] = []

        def evaluate(rnd, parameters, config):
            w, b = parameters
            acc = float(((xs @ w + b).argmax(1) == ys).mean())
            if rnd > 0:
                history[name].append(acc)
            return 0.0, {"accuracy": acc}
        return evaluate

    init = ndarrays_to_parameters([np.zeros((64, 10), np.float32), np.zeros(10, np.float32)])
    common = dict(fraction_fit=1.0, fraction_evaluate=0.0, min_fit_clients=10,
                  min_available_clients=10, initial_parameters=init)
    strategies = {"fedavg": fl.server.strategy.FedAvg(evaluate_fn=evaluate_into("fedavg"), **common),
                  "median": RobustStrategy(rule="median", evaluate_fn=evaluate_into("median"), **common)}
    for (name, strategy), port in zip(strategies.items(), ports):
        fl.server.start_server(server_address=f"127.0.0.1:{port}", strategy=strategy,
                               config=fl.server.ServerConfig(num_rounds=rounds))
    with open(out, "w") as f:
        json.dump(history, f)


def join(data, cid, ports):
    idx = np.array_split(np.arange(len(data["y_train"])), 10)[cid]
    client = DigitsClient(cid, data["x_train"][idx], data["y_train"][idx])
    for port in ports:
        deadline = time.monotonic() + 60
        while True:  # the second server starts only when the first federation has ended
            try:
                fl.client.start_client(server_address=f"127.0.0.1:{port}",
                                       client=client.to_client(), insecure=True)
                break
            except grpc.RpcError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.2)


if __name__ == "__main__":
    role, data = sys.argv[1], np.load(sys.argv[2])
    if role == "server":
        serve(data, sys.argv[3], (int(sys.argv[4]), int(sys.argv[5])), int(sys.argv[6]))
    else:
        join(data, int(sys.argv[3]), (int(sys.argv[4]), int(sys.argv[5])))
