"""pipeward.fl.flower.RobustStrategy: Flower's FedAvg with pipeward's aggregation rules."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

flwr = pytest.importorskip("flwr")
from flwr.common import Code, FitRes, Status, ndarrays_to_parameters, parameters_to_ndarrays  # noqa: E402
from flwr.server.strategy import FedAvg  # noqa: E402
from flwr.server.strategy.aggregate import aggregate_median  # noqa: E402
from sklearn.datasets import load_digits  # noqa: E402
from fl_digits import local_fit as _local_fit  # noqa: E402

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


def _digits_federation():
    x, y = load_digits(return_X_y=True)
    x = x / 16.0
    perm = np.random.default_rng(0).permutation(len(x))
    x, y = x[perm], y[perm]
    return x[:1400], y[:1400], x[1400:], y[1400:], np.array_split(np.arange(1400), 10)


def _federate(strategy, attack, rounds=8):
    """10 clients on digits through the strategy's aggregate_fit, 3 of them Byzantine."""
    xt, yt, xs, ys, shards = _digits_federation()
    w, b = np.zeros((64, 10), np.float32), np.zeros(10, np.float32)
    rng = np.random.default_rng(1)
    for rnd in range(1, rounds + 1):
        results = []
        honest = [_local_fit(w, b, xt[s], yt[s]) for s in shards[:7]]
        for cw, cb in honest:
            results.append(_fit_res([cw, cb], 140))
        deltas = np.stack([np.concatenate([(cw - w).ravel(), cb - b]) for cw, cb in honest])
        for i in range(3):
            if attack == "sign_flip":
                d = -4 * deltas[i]
            elif attack == "noise":
                d = rng.normal(0, 5, deltas.shape[1])
            else:  # "a little is enough" (Baruch et al. 2019): mean - z * std of honest deltas
                d = deltas.mean(0) - 1.5 * deltas.std(0)
            d = d.astype(np.float32)
            results.append(_fit_res([w + d[:640].reshape(64, 10), b + d[640:]], 140))
        params, _ = _quiet(strategy.aggregate_fit, rnd, results, [])
        w, b = parameters_to_ndarrays(params)
    return float(((xs @ w + b).argmax(1) == ys).mean())


@pytest.mark.parametrize("attack", ["sign_flip", "noise", "little_is_enough"])
def test_robust_rules_hold_where_fedavg_collapses(attack):
    fedavg = _federate(FedAvg(), attack)
    robust = {rule: _federate(RobustStrategy(rule=rule, n_malicious=3, proportiontocut=0.3), attack)
              for rule in ("median", "trimmed_mean", "krum", "geometric_median")}
    assert all(acc > 0.85 for acc in robust.values()), robust
    if attack != "little_is_enough":  # a small, in-distribution shift barely hurts FedAvg
        assert fedavg < min(robust.values()) - 0.2, (fedavg, robust)


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
