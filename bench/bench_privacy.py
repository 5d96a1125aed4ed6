"""DP-SGD aggregation and accounting against Opacus, torch, dp-accounting and the NumPy reference.

Run (short):
    python -m pytest bench/bench_privacy.py --benchmark-min-rounds=3 --benchmark-columns=median,min,rounds

Groups
* clip-sum B x P (noise off): pipeward two-pass and one-pass (norms given) against Opacus'
  ``DPOptimizer.pre_step`` on a model's per-sample grads (one Linear layer holding all P, and a
  small CNN's twelve tensors), the bare torch formula on one flat
  tensor (with and without the norms), and the NumPy reference. P defaults to 2^20 (the
  shared 2-core box); PIPEWARD_BENCH_PRIVACY_P=4194304 gives the issue's 4M.
* noise P: pipeward Philox and secure (ChaCha20) against ``torch.normal`` and Opacus' secure
  generation rule (sum of 4 normals / 2).
* rdp T=10000 and pld: epsilon against Opacus and dp-accounting.
Each benchmark checks its result against the reference or peer (the clip-sums against a float64
evaluation of the formula; torch's and Opacus' float32 norms are ~1e-4 off at P = 4M).
"""

from __future__ import annotations

import os
import warnings

import numpy as np
import pytest

import pipeward as pw

torch = pytest.importorskip("torch")
opacus = pytest.importorskip("opacus")
from dp_accounting import dp_event  # noqa: E402
from dp_accounting.pld import pld_privacy_accountant  # noqa: E402
from dp_accounting.rdp import rdp_privacy_accountant  # noqa: E402
from opacus.accountants import RDPAccountant as OpacusRDP  # noqa: E402
from opacus.optimizers import DPOptimizer  # noqa: E402
from opacus.optimizers.optimizer import _generate_noise  # noqa: E402

B = 256
P = int(os.environ.get("PIPEWARD_BENCH_PRIVACY_P", str(1 << 20)))
C = 1.0
NOISE_P = 4 << 20


@pytest.fixture(scope="module")
def grads():
    g = np.random.default_rng(0).standard_normal((B, P), dtype=np.float32)
    g *= np.geomspace(0.1, 10, B, dtype=np.float32)[:, None] / np.sqrt(P)  # half get clipped
    return g


def check_against_float64(out, grads, benchmark, peer=None):
    """pipeward's sum against a float64 evaluation of the formula on every 997th column; the
    peer's (float32-accumulating) error on the same columns goes in extra_info."""
    n = np.linalg.norm(grads.astype(np.float64), axis=1)
    f = np.minimum(1.0, C / (n + 1e-6))
    cols = np.arange(0, grads.shape[1], 997)
    want = f @ grads[:, cols].astype(np.float64)
    scale = np.abs(want).max()
    np.testing.assert_allclose(out[cols], want, rtol=0, atol=1e-6 * scale)
    benchmark.extra_info["max error / max |sum|"] = float(np.abs(out[cols] - want).max() / scale)
    if peer is not None:
        err = float(np.abs(peer[cols] - want).max() / scale)
        benchmark.extra_info["torch max error / max |sum|"] = err


def torch_clip_sum(t, norms=None):
    """The bare formula on one flat (B, P) tensor (what Opacus does per parameter)."""
    n = t.norm(dim=1) if norms is None else norms
    f = (C / (n + 1e-6)).clamp(max=1.0)
    return torch.einsum("i,ij->j", f, t)


# ---- clip + sum, noise off ------------------------------------------------------------------


@pytest.mark.benchmark(group=f"clip-sum B={B} P={P} float32")
def test_pipeward_two_pass(benchmark, grads):
    out = benchmark(pw.clip_and_noise, grads, C, 0.0)
    check_against_float64(out, grads, benchmark, torch_clip_sum(torch.from_numpy(grads)).numpy())
    benchmark.extra_info["GB/s (2 reads)"] = 2 * grads.nbytes / benchmark.stats["median"] / 1e9


@pytest.mark.benchmark(group=f"clip-sum B={B} P={P} float32")
def test_pipeward_one_pass_norms_given(benchmark, grads):
    norms = np.linalg.norm(grads, axis=1).astype(np.float64)
    out = benchmark(pw.clip_and_noise, grads, C, 0.0, per_sample_norms=norms)
    check_against_float64(out, grads, benchmark)
    benchmark.extra_info["GB/s (1 read)"] = grads.nbytes / benchmark.stats["median"] / 1e9


@pytest.mark.benchmark(group=f"clip-sum B={B} P={P} float32")
def test_torch_formula_flat(benchmark, grads):
    t = torch.from_numpy(grads)
    benchmark(torch_clip_sum, t)


@pytest.mark.benchmark(group=f"clip-sum B={B} P={P} float32")
def test_torch_formula_norms_given(benchmark, grads):
    t = torch.from_numpy(grads)
    norms = t.norm(dim=1)
    benchmark(torch_clip_sum, t, norms)


@pytest.mark.benchmark(group=f"clip-sum B={B} P={P} float32")
def test_opacus_pre_step(benchmark, grads):
    # A model whose per-sample grads are exactly these numbers: Linear(1024, P // 1025) plus
    # its bias, grad_sample set from views of the same buffer.
    width = 1024
    rows = P // (width + 1) + 1  # rows - 1 output features: weight and bias fit in P
    layer = torch.nn.Linear(width, rows - 1)
    params = [layer.weight, layer.bias]
    t = torch.from_numpy(grads)
    opt = DPOptimizer(torch.optim.SGD(params, lr=0.1), noise_multiplier=0.0, max_grad_norm=C,
                      expected_batch_size=B, loss_reduction="sum")

    def reset():  # fresh views each round: Opacus marks the tensors it has processed
        layer.weight.grad_sample = t[:, : (rows - 1) * width].reshape(B, rows - 1, width)
        layer.bias.grad_sample = t[:, (rows - 1) * width: (rows - 1) * width + rows - 1]
        for p in params:
            p.summed_grad = None
            p.grad = None
        return (), {}

    benchmark.pedantic(opt.pre_step, setup=reset, rounds=3, iterations=1)
    sub = grads[:, : (rows - 1) * width + rows - 1]
    want = pw.clip_and_noise(np.ascontiguousarray(sub), C, 0.0)
    got = np.concatenate([layer.weight.grad.numpy().ravel(), layer.bias.grad.numpy()])
    # Opacus accumulates the norms in float32: ~1e-4 relative at P = 4M (1e-5 at 1M).
    np.testing.assert_allclose(got, want, atol=(1e-5 if P <= 1 << 20 else 2e-4) * np.abs(want).max())


# A small CNN's parameter tensors (conv kernels, biases, two dense layers; 1.49M parameters):
# Opacus' pre_step on their per-sample grads, and pipeward on the same list of arrays.
CNN_SHAPES = [(64, 3, 3, 3), (64,), (128, 64, 3, 3), (128,), (256, 128, 3, 3), (256,),
              (256, 256, 3, 3), (256,), (512, 1024), (512,), (10, 512), (10,)]


@pytest.fixture(scope="module")
def cnn_grads():
    rng = np.random.default_rng(1)
    return [rng.standard_normal((B, *shape), dtype=np.float32) * 0.01 for shape in CNN_SHAPES]


@pytest.mark.benchmark(group=f"clip-sum B={B} small CNN (1.49M parameters, 12 tensors) float32")
def test_pipeward_cnn_layers(benchmark, cnn_grads):
    out = benchmark(pw.clip_and_noise, cnn_grads, C, 0.0)
    flat = np.concatenate([g.reshape(B, -1) for g in cnn_grads], axis=1)
    check_against_float64(np.concatenate([o.ravel() for o in out]), flat, benchmark)


@pytest.mark.benchmark(group=f"clip-sum B={B} small CNN (1.49M parameters, 12 tensors) float32")
def test_opacus_pre_step_cnn_layers(benchmark, cnn_grads):
    params = [torch.nn.Parameter(torch.zeros(shape)) for shape in CNN_SHAPES]
    opt = DPOptimizer(torch.optim.SGD(params, lr=0.1), noise_multiplier=0.0, max_grad_norm=C,
                      expected_batch_size=B, loss_reduction="sum")
    tensors = [torch.from_numpy(g) for g in cnn_grads]

    def reset():  # fresh views each round: Opacus marks the tensors it has processed
        for p, g in zip(params, tensors):
            p.grad_sample = g.view(g.shape)
            p.summed_grad = None
            p.grad = None
        return (), {}

    benchmark.pedantic(opt.pre_step, setup=reset, rounds=5, iterations=1)
    got = np.concatenate([p.grad.numpy().ravel() for p in params])
    want = np.concatenate([o.ravel() for o in pw.clip_and_noise(cnn_grads, C, 0.0)])
    np.testing.assert_allclose(got, want, atol=1e-5 * np.abs(want).max())


@pytest.mark.benchmark(group=f"clip-sum B={B} P={P} float32")
def test_numpy_reference(benchmark, grads):
    benchmark.pedantic(pw.clip_and_noise, args=(grads, C, 0.0), kwargs={"backend": "reference"},
                       rounds=2, iterations=1)


# ---- noise ------------------------------------------------------------------------------------

EMPTY = np.zeros((0, NOISE_P), np.float32)  # an empty batch: the aggregate is the noise alone


@pytest.mark.benchmark(group=f"noise P={NOISE_P}")
def test_noise_pipeward_philox(benchmark):
    z = benchmark(pw.clip_and_noise, EMPTY, 1.0, 1.0, seed=1)
    assert abs(float(z.std()) - 1) < 0.01


@pytest.mark.benchmark(group=f"noise P={NOISE_P}")
def test_noise_pipeward_secure(benchmark):
    z = benchmark(pw.clip_and_noise, EMPTY, 1.0, 1.0, secure=True)
    assert abs(float(z.std()) - 1) < 0.01


@pytest.mark.benchmark(group=f"noise P={NOISE_P}")
def test_noise_torch_normal(benchmark):
    z = benchmark(torch.normal, 0.0, 1.0, size=(NOISE_P,))
    assert abs(float(z.std()) - 1) < 0.01


@pytest.mark.benchmark(group=f"noise P={NOISE_P}")
def test_noise_opacus_secure_mode(benchmark):
    ref = torch.zeros(NOISE_P)
    z = benchmark(_generate_noise, 1.0, ref, None, True)
    assert abs(float(z.std()) - 1) < 0.01


# ---- accounting -------------------------------------------------------------------------------

SIGMA, Q, DELTA = 1.1, 256 / 60000, 1e-5


@pytest.mark.benchmark(group="rdp epsilon T=10000")
def test_rdp_pipeward(benchmark):
    eps = benchmark(pw.epsilon, SIGMA, Q, 10_000, DELTA)
    acc = rdp_privacy_accountant.RdpAccountant()
    acc.compose(dp_event.PoissonSampledDpEvent(Q, dp_event.GaussianDpEvent(SIGMA)), 10_000)
    assert eps == pytest.approx(acc.get_epsilon(DELTA), rel=1e-6)


@pytest.mark.benchmark(group="rdp epsilon T=10000")
def test_rdp_opacus(benchmark):
    def run():
        acc = OpacusRDP()
        acc.history = [(SIGMA, Q, 10_000)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return acc.get_epsilon(DELTA)

    benchmark(run)


@pytest.mark.benchmark(group="rdp epsilon T=10000")
def test_rdp_dp_accounting(benchmark):
    def run():
        acc = rdp_privacy_accountant.RdpAccountant()
        acc.compose(dp_event.PoissonSampledDpEvent(Q, dp_event.GaussianDpEvent(SIGMA)), 10_000)
        return acc.get_epsilon(DELTA)

    benchmark(run)


@pytest.mark.benchmark(group="pld epsilon q=0.01 sigma=1 T=1000")
def test_pld_pipeward(benchmark):
    eps = benchmark.pedantic(pw.epsilon, args=(1.0, 0.01, 1000, DELTA), kwargs={"accountant": "pld"},
                             rounds=2, iterations=1)
    benchmark.extra_info["epsilon"] = eps


@pytest.mark.benchmark(group="pld epsilon q=0.01 sigma=1 T=1000")
def test_pld_dp_accounting(benchmark):
    def run():
        acc = pld_privacy_accountant.PLDAccountant()
        acc.compose(dp_event.PoissonSampledDpEvent(0.01, dp_event.GaussianDpEvent(1.0)), 1000)
        return acc.get_epsilon(DELTA)

    eps = benchmark.pedantic(run, rounds=2, iterations=1)
    benchmark.extra_info["epsilon"] = eps


def _dp_accounting_pld(sigma, q, steps, delta):
    acc = pld_privacy_accountant.PLDAccountant()
    acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), steps)
    return acc.get_epsilon(delta)


LONG_RUN = (0.8, 0.001, 20_000, 1e-6)  # a long run at a small rate (one FFT, no coarsening)


@pytest.mark.benchmark(group="pld epsilon q=0.001 sigma=0.8 T=20000")
def test_pld_long_run_pipeward(benchmark):
    eps = benchmark.pedantic(pw.epsilon, args=LONG_RUN, kwargs={"accountant": "pld"},
                             rounds=3, iterations=1)
    benchmark.extra_info["epsilon"] = eps


@pytest.mark.benchmark(group="pld epsilon q=0.001 sigma=0.8 T=20000")
def test_pld_long_run_dp_accounting(benchmark):
    eps = benchmark.pedantic(_dp_accounting_pld, args=LONG_RUN, rounds=3, iterations=1)
    benchmark.extra_info["epsilon"] = eps
