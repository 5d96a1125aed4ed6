"""pipeward.fl.flower.RobustStrategy: Flower's FedAvg with pipeward's aggregation rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.server.strategy.aggregate import aggregate_median  # noqa: E402
from fl_digits import (ATTACKS, BYZANTINE, CLIENTS, accuracy, byzantine_updates, digits,  # noqa: E402
                       local_fit, shard)

import pipeward as pw  # noqa: E402
from pipeward.fl.flower import RobustStrategy  # noqa: E402


def _fit_res(arrays, n):
    return None, FitRes(status=Status(code=Code.OK, message=""),
                        parameters=ndarrays_to_parameters(arrays), num_examples=n, metrics={})


def _quiet(fn, *args):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Flower's deprecation notices
        return fn(*args)


def test_subclasses_fedavg_and_matches_flower():
    rng = np.random.default_rng(0)
    clients = [[rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(4).astype(np.float32)]
               for _ in range(7)]
    results = [_fit_res(c, 10 + i) for i, c in enumerate(clients)]
    strategy = RobustStrategy(rule="median")
    assert isinstance(strategy, FedAvg)
    params, _ = _quiet(strategy.aggregate_fit, 1, results, [])
    want = aggregate_median([(c, 1) for c in clients])
    for got, w in zip(parameters_to_ndarrays(params), want):
        assert np.array_equal(got, w)
    fedavg, _ = _quiet(FedAvg().aggregate_fit, 1, results, [])
    ours, _ = _quiet(RobustStrategy(rule="mean").aggregate_fit, 1, results, [])
    for a, b in zip(parameters_to_ndarrays(ours), parameters_to_ndarrays(fedavg)):
        np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)


def test_failures_and_empty_rounds_follow_fedavg():
    strategy = RobustStrategy(rule="median", accept_failures=False)
    assert _quiet(strategy.aggregate_fit, 1, [], []) == (None, {})
    one = _fit_res([np.zeros(2, np.float32)], 1)
    assert _quiet(strategy.aggregate_fit, 1, [one], [RuntimeError("x")]) == (None, {})


def test_bad_configuration_is_a_clear_error():
    with pytest.raises(ValueError, match="rule must be one of"):
        RobustStrategy(rule="average")
    with pytest.raises(ValueError, match="max_norm and expected_clients"):
        RobustStrategy(rule="dp_mean")
    with pytest.raises(ValueError, match="initial_parameters"):
        RobustStrategy(rule="dp_mean", max_norm=1.0, expected_clients=10)


# Bulyan needs K >= 4f + 3: with 10 clients it can be told of one attacker at most.
N_MALICIOUS = {"bulyan": 1}
ROBUST = ("trimmed_mean", "median", "krum", "bulyan", "geometric_median")


def _strategy(rule):
    if rule == "fedavg":
        return FedAvg()
    return RobustStrategy(rule=rule, n_malicious=N_MALICIOUS.get(rule, 3), proportiontocut=0.3)


def federate(rule, attack, rounds=8):
    """Test accuracy after ``rounds`` rounds of 10 digits clients through the strategy's
    aggregate_fit, clients 7-9 mounting ``attack``."""
    xt, yt, xs, ys = digits()
    w, b = np.zeros((64, 10), np.float32), np.zeros(10, np.float32)
    strategy, rng = _strategy(rule), np.random.default_rng(1)
    for rnd in range(1, rounds + 1):
        honest = [local_fit(w, b, xt[shard(c)], yt[shard(c)]) for c in range(CLIENTS)
                  if c not in BYZANTINE]
        models = honest + byzantine_updates(attack, w, b, xt, yt, rng)
        params, _ = _quiet(strategy.aggregate_fit, rnd,
                           [_fit_res(list(m), len(shard(0))) for m in models], [])
        w, b = parameters_to_ndarrays(params)
    return accuracy(w, b, xs, ys)


@pytest.fixture(scope="module")
def clean():
    return federate("fedavg", "clean")


@pytest.mark.parametrize("attack", ATTACKS)
def test_robust_rules_stay_near_the_clean_run(attack, clean):
    """Every robust rule within 5 points of clean FedAvg; FedAvg collapses under every attack
    but the paper-sized "a little is enough", which no rule here (FedAvg included) feels."""
    assert clean > 0.9
    robust = {rule: federate(rule, attack) for rule in ROBUST}
    assert all(acc >= clean - 0.05 for acc in robust.values()), (clean, robust)
    fedavg = federate("fedavg", attack)
    if attack == "alie":
        assert fedavg >= clean - 0.05, (clean, fedavg)
    else:
        assert fedavg < clean - 0.4, (clean, fedavg)


def test_dp_fedavg_round_clips_changes_and_adds_noise():
    init = [np.zeros(5, np.float32)]
    strategy = RobustStrategy(rule="dp_mean", max_norm=1.0, noise_multiplier=0.0,
                              expected_clients=4, initial_parameters=ndarrays_to_parameters(init))
    clients = [[np.full(5, v, np.float32)] for v in (0.1, 0.2, 10.0, -10.0)]
    params, _ = _quiet(strategy.aggregate_fit, 1, [_fit_res(c, 1) for c in clients], [])
    got = parameters_to_ndarrays(params)[0]
    want = pw.aggregate.dp_mean(np.stack([c[0] for c in clients]), 1.0, 0.0, expected_clients=4)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    assert np.linalg.norm(got) <= (0.1 + 0.2) * np.sqrt(5) / 4 + 2 / 4 + 1e-6


if __name__ == "__main__":  # the accuracy table in docs/federated.md
    columns = ("clean", *ATTACKS)
    print("| rule | " + " | ".join(columns) + " |")
    print("|---" * (len(columns) + 1) + "|")
    for rule in ("fedavg", *ROBUST):
        print(f"| {rule} | " + " | ".join(f"{federate(rule, a):.3f}" for a in columns) + " |")
