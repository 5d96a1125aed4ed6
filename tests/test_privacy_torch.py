"""Peers that need torch: Opacus' DPOptimizer clipping and its RDP accountant, and the DP
training example. Not marked native (the ASan job must not import torch)."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")
opacus = pytest.importorskip("opacus")

from opacus import GradSampleModule  # noqa: E402
from opacus.accountants import RDPAccountant as OpacusRDP  # noqa: E402
from opacus.accountants.utils import get_noise_multiplier  # noqa: E402
from opacus.optimizers import DPOptimizer, DPPerLayerOptimizer  # noqa: E402
from dp_accounting import dp_event  # noqa: E402
from dp_accounting.rdp import rdp_privacy_accountant  # noqa: E402

import pipeward as pw  # noqa: E402
from pipeward.privacy import OPACUS_ORDERS  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def _opacus_step(model_seed, x, y, optimizer_cls, max_grad_norm, reduction, expected):
    torch.manual_seed(model_seed)
    model = GradSampleModule(torch.nn.Sequential(torch.nn.Linear(12, 8), torch.nn.ReLU(),
                                                 torch.nn.Linear(8, 3)))
    opt = optimizer_cls(torch.optim.SGD(model.parameters(), lr=0.1), noise_multiplier=0.0,
                        max_grad_norm=max_grad_norm, expected_batch_size=expected,
                        loss_reduction=reduction)
    loss = torch.nn.functional.cross_entropy(model(x), y, reduction=reduction)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # Opacus' hooks on inputs without grad
        loss.backward()
    samples = [p.grad_sample.detach().clone().numpy() for p in model.parameters()]
    opt.pre_step()
    return samples, [p.grad.detach().numpy() for p in model.parameters()]


@pytest.mark.parametrize("reduction", ["sum", "mean"])
@pytest.mark.parametrize("per_layer", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_clipping_matches_opacus_optimizer_with_noise_off(reduction, per_layer, seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(24, 12, generator=g) * (1 + 3 * seed)
    y = torch.randint(0, 3, (24,), generator=g)
    c = [0.05, 0.2, 0.1, 0.3] if per_layer else 0.1 * (seed + 1)
    expected = 30 if reduction == "mean" else None
    samples, want = _opacus_step(seed, x, y, DPPerLayerOptimizer if per_layer else DPOptimizer,
                                 c, reduction, expected)
    # Opacus' mean loss scales grad_sample by 1/B before clipping; so must the caller here.
    got = pw.clip_and_noise(samples, c, 0.0, reduction=reduction, expected_batch_size=expected)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a, b, rtol=2e-5, atol=1e-7)


def test_noise_scale_matches_opacus_convention():
    g = np.zeros((8, 200_000), np.float32)
    out = pw.clip_and_noise(g, 0.7, 1.3, reduction="mean", expected_batch_size=16, seed=0)
    assert out.std() == pytest.approx(1.3 * 0.7 / 16, rel=0.01)  # Opacus: sigma C / expected B


def _opacus_eps(sigma, q, t, delta):
    acc = OpacusRDP()
    acc.history = [(sigma, q, t)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "optimal order is the largest alpha"
        return acc.get_epsilon(delta)


@pytest.mark.parametrize("seed", range(30))
def test_rdp_matches_opacus_on_random_settings(seed):
    rng = np.random.default_rng(100 + seed)
    sigma = float(np.exp(rng.uniform(np.log(0.4), np.log(10))))
    q = float(np.exp(rng.uniform(np.log(1e-4), np.log(0.5))))
    t = int(np.exp(rng.uniform(0, np.log(1e5))))
    delta = float(np.exp(rng.uniform(np.log(1e-9), np.log(1e-3))))
    want = _opacus_eps(sigma, q, t, delta)
    dp = rdp_privacy_accountant.RdpAccountant(orders=OPACUS_ORDERS)
    dp.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), t)
    ours = pw.epsilon(sigma, q, t, delta, orders=OPACUS_ORDERS)
    assert ours == pytest.approx(dp.get_epsilon(delta), rel=1e-6)
    if dp.get_epsilon(delta) == pytest.approx(want, rel=1e-4):
        assert ours == pytest.approx(want, rel=1e-4)
    else:
        # Fractional orders whose series needs > 1000 terms (low noise, large q, epsilon in
        # the tens or more): dp-accounting drops them, and so does pipeward; Opacus keeps
        # summing. Dropping orders gives a larger, still valid epsilon.
        assert ours > want and want > 10
    assert pw.epsilon(sigma, q, t, delta) <= ours * (1 + 1e-12)  # the larger grid only helps


def test_where_anchors_differ_pipeward_is_the_conservative_one():
    # q = 0.13, sigma = 0.58: orders 1.1 ... 1.6 do not converge in 1000 terms; dp-accounting
    # drops them and so does pipeward, Opacus keeps summing.
    ours = pw.epsilon(0.5819192245500184, 0.13258632879590204, 9848, 1.271685419109951e-09,
                      orders=OPACUS_ORDERS)
    assert ours >= _opacus_eps(0.5819192245500184, 0.13258632879590204, 9848, 1.271685419109951e-09)


def test_published_setting_matches_opacus():
    assert pw.epsilon(1.5, 0.04, 2250, 1e-5, orders=OPACUS_ORDERS) == pytest.approx(
        _opacus_eps(1.5, 0.04, 2250, 1e-5), rel=1e-4)


@pytest.mark.parametrize(("target", "rate", "steps"), [
    (3.0, 0.01, 1000), (2.0, 0.01, 2000), (1.0, 0.004, 2000), (0.46, 0.16, 3188),
    (8.67, 0.11, 4234), (6.5, 0.12, 150), (0.8, 0.001, 20000)])
def test_noise_multiplier_for_follows_opacus_search(target, rate, steps):
    # Same bracket ([0, 20], doubling) and the same strict comparison as Opacus: the same
    # sigma to the bit, not only one within the tolerance.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        want = get_noise_multiplier(target_epsilon=target, target_delta=1e-5, sample_rate=rate,
                                    steps=steps, accountant="rdp", epsilon_tolerance=0.01)
    got = pw.noise_multiplier_for(target, 1e-5, rate, steps, orders=OPACUS_ORDERS)
    assert got == want
    assert target - 0.01 < _opacus_eps(got, rate, steps, 1e-5) < target


def test_dlpack_round_trip_is_zero_copy():
    t = torch.randn(16, 100)
    a = np.from_dlpack(t)
    assert a.ctypes.data == t.data_ptr()
    out = pw.clip_and_noise(a, 1.0, 0.0)
    back = torch.from_numpy(out)
    assert back.data_ptr() == out.ctypes.data


def test_dp_digits_example_reaches_its_stated_accuracy_and_epsilon():
    sys.path.insert(0, str(ROOT / "examples"))
    try:
        from dp_digits_torch import train
    finally:
        sys.path.pop(0)
    r = train()
    assert r["accuracy"] >= 0.90
    assert r["epsilon"] == pytest.approx(pw.epsilon(1.5, 64 / 1437, r["steps"], 1e-5))
    assert r["epsilon"] < 2.5 and r["steps"] == 220


def test_opacus_mean_reduction_keeps_grad_sample_unscaled():
    # docs/privacy.md tells users to pass grad_sample as it is: under loss_reduction="mean"
    # each row is the gradient of that sample's own loss, not 1/B of it.
    torch.manual_seed(0)
    model = GradSampleModule(torch.nn.Linear(3, 2), loss_reduction="mean")
    x, y = torch.randn(5, 3), torch.randn(5, 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's full-backward-hook notice (inputs need no grad)
        ((model(x) - y) ** 2).mean(dim=1).mean().backward()
        weight = model._module.weight
        stored = weight.grad_sample.clone()  # before the hooks see more calls
        own = torch.stack([torch.autograd.grad(
            ((model._module(x[i:i + 1]) - y[i:i + 1]) ** 2).mean(), weight)[0] for i in range(5)])
    torch.testing.assert_close(stored, own)
