"""A Flower strategy whose ``aggregate_fit`` runs pipeward's robust aggregation kernels.

``RobustStrategy`` subclasses Flower's ``FedAvg`` and changes only how client results are
combined; sampling, evaluation, configuration and metrics stay Flower's.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from flwr.common import (FitRes, NDArrays, Parameters, Scalar, ndarrays_to_parameters,
                         parameters_to_ndarrays)
from flwr.server.client_proxy import ClientProxy
from flwr.server.strategy import FedAvg

from .. import aggregate

RULES = ("mean", "median", "trimmed_mean", "krum", "bulyan", "geometric_median", "dp_mean")


class RobustStrategy(FedAvg):
    """FedAvg with a Byzantine-robust (or differentially private) aggregation rule.

    ``rule``: ``"trimmed_mean"`` (``proportiontocut``, default 0.2), ``"median"``, ``"krum"``
    (``n_malicious``, ``multi``), ``"bulyan"`` (``n_malicious``), ``"geometric_median"``,
    ``"mean"`` (FedAvg's example-weighted mean, on pipeward's kernel) or ``"dp_mean"``
    (DP-FedAvg: each client's model *change* from the current global model is clipped to
    ``max_norm``, summed, noised with ``noise_multiplier * max_norm`` and divided by
    ``expected_clients``; needs ``initial_parameters``). Clients whose update holds NaN or
    infinity are dropped with a warning (``on_invalid="raise"`` fails the round instead).
    Every other keyword goes to ``FedAvg``.
    """

    def __init__(self, *, rule: str = "trimmed_mean", proportiontocut: float = 0.2,
                 n_malicious: int = 0, multi: int = 1, max_norm: float | None = None,
                 noise_multiplier: float = 0.0, expected_clients: int | None = None,
                 seed: int | None = None, on_invalid: str = "drop", **fedavg: Any) -> None:
        if rule not in RULES:
            raise ValueError(f"rule must be one of {RULES}, got {rule!r}")
        if rule == "dp_mean":
            if max_norm is None or expected_clients is None:
                raise ValueError("rule='dp_mean' needs max_norm and expected_clients")
            if fedavg.get("initial_parameters") is None:
                raise ValueError("rule='dp_mean' needs initial_parameters: it clips each "
                                 "client's change from the global model")
        super().__init__(**fedavg)
        self.rule = rule
        self.options = dict(proportiontocut=proportiontocut, n_malicious=n_malicious,
                            multi=multi, max_norm=max_norm, noise_multiplier=noise_multiplier,
                            expected_clients=expected_clients)
        self.on_invalid = on_invalid
        self._rng = np.random.default_rng(seed)
        init = fedavg.get("initial_parameters")
        self._global: NDArrays | None = None if init is None else parameters_to_ndarrays(init)

    def __repr__(self) -> str:
        return f"RobustStrategy(rule={self.rule!r}, accept_failures={self.accept_failures})"

    def combine(self, updates: list[NDArrays], examples: list[int]) -> NDArrays:
        """The rule applied to the clients' parameters (Flower NDArrays in, NDArrays out)."""
        o, inv = self.options, self.on_invalid
        if self.rule == "mean":
            return aggregate.mean(updates, examples, on_invalid=inv)
        if self.rule == "median":
            return aggregate.median(updates, on_invalid=inv)
        if self.rule == "trimmed_mean":
            return aggregate.trimmed_mean(updates, o["proportiontocut"], on_invalid=inv)
        if self.rule == "krum":
            return aggregate.krum(updates, o["n_malicious"], o["multi"], weights=examples,
                                  on_invalid=inv)
        if self.rule == "bulyan":
            return aggregate.bulyan(updates, o["n_malicious"], on_invalid=inv)
        if self.rule == "geometric_median":
            return aggregate.geometric_median(updates, examples, on_invalid=inv)
        assert self._global is not None  # checked in __init__
        deltas = [[np.ascontiguousarray(u - g) for u, g in zip(client, self._global)]
                  for client in updates]
        step = aggregate.dp_mean(deltas, o["max_norm"], o["noise_multiplier"],
                                 expected_clients=o["expected_clients"],
                                 seed=int(self._rng.integers(2**63)), on_invalid=inv)
        return [g + s for g, s in zip(self._global, step)]

    def aggregate_fit(self, server_round: int, results: list[tuple[ClientProxy, FitRes]],
                      failures: list[tuple[ClientProxy, FitRes] | BaseException]
                      ) -> tuple[Parameters | None, dict[str, Scalar]]:
        if not results:
            return None, {}
        if not self.accept_failures and failures:
            return None, {}
        updates = [parameters_to_ndarrays(res.parameters) for _, res in results]
        examples = [res.num_examples for _, res in results]
        combined = self.combine(updates, examples)
        self._global = [np.asarray(a) for a in combined]
        metrics: dict[str, Scalar] = {}
        if self.fit_metrics_aggregation_fn:
            metrics = self.fit_metrics_aggregation_fn([(res.num_examples, res.metrics)
                                                       for _, res in results])
        return ndarrays_to_parameters(self._global), metrics
