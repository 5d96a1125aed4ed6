"""Privacy accounting: RDP (C++ and reference) against dp-accounting, PLD against dp-accounting and
the exact Gaussian curve, noise calibration, the CLI. (Opacus comparisons need torch: they live
in test_privacy_torch.py.)"""

from __future__ import annotations

import json
import math
import tracemalloc

import numpy as np
import pytest
from dp_accounting import dp_event
from dp_accounting.pld import pld_privacy_accountant
from dp_accounting.rdp import rdp_privacy_accountant
from scipy import optimize, stats

import pipeward as pw
from pipeward import _core
from pipeward.cli import main
from pipeward.privacy import DP_ACCOUNTING_ORDERS
from pipeward.reference import privacy as ref

pytestmark = pytest.mark.native


def _dp_rdp_epsilon(history, delta):
    acc = rdp_privacy_accountant.RdpAccountant()
    for sigma, q, t in history:
        acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), t)
    return acc.get_epsilon(delta)


def _random_settings(n, seed):
    rng = np.random.default_rng(seed)
    for _ in range(n):
        yield (float(np.exp(rng.uniform(np.log(0.3), np.log(20)))),    # sigma
               float(np.exp(rng.uniform(np.log(1e-4), np.log(1.0)))),  # q
               int(np.exp(rng.uniform(0, np.log(1e5)))),               # steps
               float(np.exp(rng.uniform(np.log(1e-10), np.log(1e-2)))))  # delta


def test_published_setting_matches_both_anchors():
    # q = 0.04, sigma = 1.5, T = 2250, delta = 1e-5 -> 7.3291 (Opacus; dp-accounting 7.32933:
    # it sums |terms| of the fractional-order series, as pipeward does -- an upper bound)
    eps = pw.epsilon(1.5, 0.04, 2250, 1e-5)
    assert eps == pytest.approx(7.3291, rel=1e-4)
    assert eps == pytest.approx(_dp_rdp_epsilon([(1.5, 0.04, 2250)], 1e-5), rel=1e-6)


@pytest.mark.parametrize("setting", list(_random_settings(24, 7)))
def test_rdp_matches_dp_accounting_on_random_settings(setting):
    sigma, q, t, delta = setting
    assert pw.epsilon(sigma, q, t, delta) == pytest.approx(_dp_rdp_epsilon([(sigma, q, t)], delta),
                                                           rel=1e-4)


def test_rdp_composes_heterogeneous_histories_like_dp_accounting():
    history = [(1.0, 0.01, 300), (2.0, 0.05, 100), (0.8, 0.001, 5000), (1.0, 0.01, 20)]
    acc = pw.RDPAccountant()
    for sigma, q, t in history:
        acc.step(noise_multiplier=sigma, sample_rate=q, steps=t)
    assert len(acc) == 4
    assert acc.get_epsilon(1e-6) == pytest.approx(_dp_rdp_epsilon(history, 1e-6), rel=1e-4)
    eps, order = acc.get_privacy_spent(delta=1e-6)
    assert order in DP_ACCOUNTING_ORDERS and eps == acc.get_epsilon(1e-6)


def test_repeated_steps_merge_and_match_one_call():
    a, b = pw.RDPAccountant(), pw.RDPAccountant()
    for _ in range(50):
        a.step(noise_multiplier=1.2, sample_rate=0.01)
    b.step(noise_multiplier=1.2, sample_rate=0.01, steps=50)
    assert len(a) == 1 and a.get_epsilon(1e-5) == b.get_epsilon(1e-5)
    assert pw.RDPAccountant().get_privacy_spent(delta=1e-5)[0] == 0.0


@pytest.mark.parametrize(("sigma", "q"), [(0.5, 0.3), (1.1, 0.004), (3.0, 1e-4), (0.9, 0.999),
                                          (5.0, 1.0), (1.0, 0.0), (0.0, 0.1)])
def test_rdp_cpp_matches_reference(sigma, q):
    orders = np.array(DP_ACCOUNTING_ORDERS[::3] + (2.5, 11.0, 1024.0))
    got = _core.privacy_rdp_subsampled_gaussian(q, sigma, orders)
    want = ref.rdp_subsampled_gaussian(q, sigma, orders)
    # tiny RDPs are log(1 + tiny) sums: equal to ~1e-16 absolute, not relative
    np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-14)


def test_rdp_reference_conversion_agrees_with_vectorised():
    from pipeward.privacy.accountant_rdp import rdp_to_epsilon

    orders = np.array(DP_ACCOUNTING_ORDERS)
    rdp = 1000 * _core.privacy_rdp_subsampled_gaussian(0.01, 1.1, orders)
    assert rdp_to_epsilon(orders, rdp, 1e-5) == pytest.approx(ref.rdp_to_epsilon(orders, rdp, 1e-5), rel=1e-12)


def test_noise_multiplier_for_brackets_the_target():
    sigma = pw.noise_multiplier_for(2.0, 1e-5, 0.01, 2000)
    assert 2.0 - 0.01 < pw.epsilon(sigma, 0.01, 2000, 1e-5) <= 2.0
    rdp_sigma = pw.noise_multiplier_for(1.0, 1e-5, 0.1, 20, tolerance=0.05)
    pld_sigma = pw.noise_multiplier_for(1.0, 1e-5, 0.1, 20, accountant="pld", tolerance=0.05)
    assert 0.95 < pw.epsilon(pld_sigma, 0.1, 20, 1e-5, accountant="pld") <= 1.0
    assert pld_sigma < rdp_sigma  # PLD is tighter


# ---- PLD -----------------------------------------------------------------------------------


def _dp_pld_epsilon(sigma, q, t, delta):
    acc = pld_privacy_accountant.PLDAccountant()
    acc.compose(dp_event.PoissonSampledDpEvent(q, dp_event.GaussianDpEvent(sigma)), t)
    return acc.get_epsilon(delta)


@pytest.mark.parametrize(("sigma", "q", "t", "delta"), [
    (1.0, 0.01, 100, 1e-5), (2.0, 0.1, 30, 1e-6), (1.5, 0.05, 60, 1e-7),
    # long runs at a small rate: an earlier main coarsened its grid here and reported
    # 1.3435 and 2.1870 where dp-accounting says 1.2862 and 2.0248
    (0.8, 0.001, 20_000, 1e-6), (0.8, 0.001, 50_000, 1e-6)])
def test_pld_matches_dp_accounting_and_is_tighter_than_rdp(sigma, q, t, delta):
    eps = pw.epsilon(sigma, q, t, delta, accountant="pld")
    want = _dp_pld_epsilon(sigma, q, t, delta)
    # Both discretise the same way; what is left is floating-point round-off of the FFTs.
    assert eps == pytest.approx(want, rel=1e-7)
    assert eps < pw.epsilon(sigma, q, t, delta)


@pytest.mark.parametrize(("sigma", "t"), [(2.0, 1), (3.0, 16), (10.0, 100)])
def test_pld_never_under_reports_the_exact_gaussian(sigma, t):
    s = sigma / math.sqrt(t)  # T Gaussian steps at q = 1 are one Gaussian with std sigma/sqrt(T)

    def exact_delta(e):
        return stats.norm.cdf(-e * s + 1 / (2 * s)) - math.exp(e) * stats.norm.cdf(-e * s - 1 / (2 * s))

    exact = optimize.brentq(lambda e: exact_delta(e) - 1e-5, 0, 100, xtol=1e-12)
    acc = pw.PLDAccountant()
    acc.step(noise_multiplier=sigma, sample_rate=1.0, steps=t)
    eps = acc.get_epsilon(1e-5)
    assert exact <= eps <= exact + 1e-3 * max(1.0, exact)


def test_pld_memory_is_bounded_and_stays_pessimistic():
    fine = pw.PLDAccountant()
    coarse = pw.PLDAccountant(max_bins=1 << 12)
    for acc in (fine, coarse):
        acc.step(noise_multiplier=0.9, sample_rate=0.02, steps=500)
    tracemalloc.start()
    e_coarse = coarse.get_epsilon(1e-5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * (1 << 12) * 8  # a few arrays of max_bins float64s / complex
    assert e_coarse >= fine.get_epsilon(1e-5) - 1e-9
    # the regime where Opacus' PRV accountant asks for 41 GiB: bounded here
    big = pw.PLDAccountant(max_bins=1 << 14)
    big.step(noise_multiplier=0.1, sample_rate=1e-5, steps=10 ** 6)
    tracemalloc.start()
    e_big = big.get_epsilon(1e-5)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 64 * (1 << 14) * 8 and e_big > 10 and math.isfinite(e_big)


def test_noiseless_steps_have_infinite_epsilon():
    assert pw.epsilon(0.0, 0.1, 10, 1e-5) == math.inf
    assert pw.epsilon(0.0, 0.1, 10, 1e-5, accountant="pld") == math.inf


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize(("args", "match"), [
    ((1.0, 0.0, 10, 1e-5), r"sample_rate must be in \(0, 1\]"),
    ((1.0, 1.5, 10, 1e-5), r"sample_rate must be in \(0, 1\]"),
    ((-1.0, 0.1, 10, 1e-5), "noise_multiplier must be >= 0"),
    ((1.0, 0.1, -1, 1e-5), "steps must be >= 0"),
    ((1.0, 0.1, 10, 0.0), r"delta must be in \(0, 1\)"),
    ((1.0, 0.1, 10, 1.0), r"delta must be in \(0, 1\)"),
    ((float("nan"), 0.1, 10, 1e-5), "NaN"),
])
@pytest.mark.parametrize("accountant", ["rdp", "pld"])
def test_bad_accounting_input(args, match, accountant):
    with pytest.raises(ValueError, match=match):
        pw.epsilon(*args, accountant=accountant)


def test_bad_accounting_options():
    with pytest.raises(TypeError, match="steps must be an integer"):
        pw.epsilon(1.0, 0.1, 10.5, 1e-5)
    with pytest.raises(ValueError, match="accountant must be"):
        pw.epsilon(1.0, 0.1, 10, 1e-5, accountant="prv")
    with pytest.raises(ValueError, match="orders must be"):
        pw.RDPAccountant(orders=[0.5, 2])
    with pytest.raises(ValueError, match="target_epsilon must be positive"):
        pw.noise_multiplier_for(0.0, 1e-5, 0.1, 10)
    with pytest.raises(ValueError, match="orders must all be > 1"):
        _core.privacy_rdp_subsampled_gaussian(0.1, 1.0, np.array([1.0]))


# ---- CLI -------------------------------------------------------------------------------------


def test_cli_epsilon_and_noise(capsys):
    assert main(["privacy", "epsilon", "--noise-multiplier", "1.5", "--sample-rate", "0.04",
                 "--steps", "2250", "--delta", "1e-5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["epsilon"] == pytest.approx(7.3291, rel=1e-4) and out["accountant"] == "rdp"
    assert main(["privacy", "epsilon", "--noise-multiplier", "1.0", "--sample-rate", "0.01",
                 "--steps", "100", "--delta", "1e-5", "--accountant", "pld", "-q"]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(pw.epsilon(1.0, 0.01, 100, 1e-5, accountant="pld"),
                                                           rel=1e-5)
    assert main(["privacy", "noise", "--target-epsilon", "3", "--delta", "1e-5", "--sample-rate", "0.004",
                 "--steps", "10000", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert 2.99 < out["epsilon"] <= 3.0


def test_cli_bad_input_exits_2(capsys):
    assert main(["privacy", "epsilon", "--noise-multiplier", "1", "--sample-rate", "2",
                 "--steps", "10", "--delta", "1e-5"]) == 2
    assert "sample_rate must be in (0, 1]" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exc:
        main(["privacy", "epsilon", "--sample-rate", "0.1"])
    assert exc.value.code == 2


def test_cli_takes_epochs_batch_size_and_dataset_size(capsys):
    # q = B / N and steps = int(E / q), the way Opacus' get_noise_multiplier counts epochs.
    assert main(["privacy", "epsilon", "--noise-multiplier", "1.1", "--batch-size", "256",
                 "--dataset-size", "60000", "--epochs", "40", "--delta", "1e-5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rate, steps = 256 / 60000, int(40 / (256 / 60000))
    assert (out["sample_rate"], out["steps"]) == (rate, steps)
    assert out["epsilon"] == pw.epsilon(1.1, rate, steps, 1e-5)
    assert main(["privacy", "noise", "--target-epsilon", "2", "--batch-size", "64",
                 "--dataset-size", "1000", "--steps", "500", "--delta", "1e-5", "-q"]) == 0
    assert float(capsys.readouterr().out) == pytest.approx(
        pw.noise_multiplier_for(2.0, 1e-5, 0.064, 500), rel=1e-5)


@pytest.mark.parametrize(("args", "message"), [
    (["--steps", "10"], "either --sample-rate or both"),
    (["--sample-rate", "0.1", "--batch-size", "10", "--dataset-size", "100", "--steps", "10"],
     "either --sample-rate or both"),
    (["--batch-size", "10", "--steps", "10"], "go together"),
    (["--batch-size", "200", "--dataset-size", "100", "--steps", "10"], "--batch-size must be in"),
    (["--sample-rate", "0.1"], "either --steps or --epochs"),
    (["--sample-rate", "0.1", "--steps", "5", "--epochs", "2"], "either --steps or --epochs"),
    (["--sample-rate", "0.1", "--epochs", "-1"], "--epochs must be > 0"),
])
def test_cli_rate_and_steps_errors_exit_2(capsys, args, message):
    assert main(["privacy", "epsilon", "--noise-multiplier", "1", "--delta", "1e-5", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
