"""A whole DP-SGD training step: pipeward.torch against Opacus, same model, same batch.

Run:
    python -m pytest bench/bench_torch_dropin.py --benchmark-only --benchmark-columns=median,min,rounds

Groups (Poisson sampling off so both see the same batch of 64; noise on; SGD):
* digits CNN: conv(1->16, 3x3) + ReLU + conv(16->32, 3x3) + ReLU + linear(32*4*4 -> 10) on 8x8 inputs;
* MLP 3.2M: 784 -> 2048 -> 768 -> 10, about 3.2 million parameters.
Both run one forward, backward and private step (per-sample gradients, clipping, noise, the
optimizer); each benchmark checks that its parameters moved and stay finite.
"""

from __future__ import annotations

import warnings

import pytest

torch = pytest.importorskip("torch")
opacus = pytest.importorskip("opacus")
from torch import nn  # noqa: E402
from torch.utils.data import DataLoader, TensorDataset  # noqa: E402

import pipeward.torch as pt  # noqa: E402

BATCH = 64


def digits_cnn() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 16, 3), nn.ReLU(), nn.Conv2d(16, 32, 3), nn.ReLU(),
                         nn.Flatten(), nn.Linear(32 * 4 * 4, 10))


def mlp_3m() -> nn.Module:
    return nn.Sequential(nn.Linear(784, 2048), nn.ReLU(), nn.Linear(2048, 768), nn.ReLU(),
                         nn.Linear(768, 10))


CASES = {"digits CNN": (digits_cnn, (1, 8, 8)), "MLP 3.2M": (mlp_3m, (784,))}


def _setup(kind: str, which: str):
    build, shape = CASES[which]
    torch.manual_seed(0)
    model = build()
    g = torch.Generator().manual_seed(0)
    ds = TensorDataset(torch.randn(BATCH, *shape, generator=g),
                       torch.randint(0, 10, (BATCH,), generator=g))
    kwargs = dict(optimizer=torch.optim.SGD(model.parameters(), lr=0.05),
                  data_loader=DataLoader(ds, batch_size=BATCH), noise_multiplier=1.0,
                  max_grad_norm=1.0, poisson_sampling=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Opacus' secure-RNG notice
        engine = pt.PrivacyEngine(seed=0) if kind == "pipeward" else opacus.PrivacyEngine(
            accountant="rdp")
        wrapped, optimizer, loader = engine.make_private(module=model, **kwargs)
    xb, yb = next(iter(loader))
    return model, wrapped, optimizer, xb, yb


def _step(wrapped, optimizer, xb, yb):
    optimizer.zero_grad()
    nn.functional.cross_entropy(wrapped(xb), yb).backward()
    optimizer.step()


@pytest.mark.parametrize("which", list(CASES))
@pytest.mark.parametrize("kind", ["pipeward", "opacus"])
def test_dp_training_step(benchmark, kind, which):
    benchmark.group = f"DP-SGD step, batch {BATCH}: {which}"
    model, wrapped, optimizer, xb, yb = _setup(kind, which)
    before = [p.detach().clone() for p in model.parameters()]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch's full-backward-hook notice under Opacus
        benchmark.pedantic(_step, args=(wrapped, optimizer, xb, yb), rounds=15, iterations=1,
                           warmup_rounds=2)
    assert all(torch.isfinite(p).all() and not torch.equal(p, b)
               for p, b in zip(model.parameters(), before))
