"""pw.aggregate against the NumPy reference, NumPy/scipy, and Flower's own aggregate functions."""

from __future__ import annotations

import platform
import re
import shutil
import subprocess
import warnings

import numpy as np
import pytest
from conftest import isa_fixture
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy import stats

import pipeward as pw
from pipeward import _core
from pipeward.reference import aggregate as ref

flwr_aggregate = pytest.importorskip("flwr.server.strategy.aggregate")

isa = isa_fixture(skip=("sha_ni",))
# The isa fixture is set once per parametrised test, not per example: that is intended.
per_isa = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


@st.composite
def updates(draw, max_k=40, max_p=70):
    k = draw(st.integers(1, max_k))
    p = draw(st.integers(1, max_p))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((k, p)) * draw(st.sampled_from([1e-3, 1.0, 1e4]))
    if draw(st.booleans()):  # ties: values from a small set
        x = np.round(x * 2) / 2
    return x.astype(dtype)


def tol(dtype):
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@pytest.mark.native
@settings(per_isa, max_examples=60)
@given(x=updates())
@example(x=np.zeros((1, 1), np.float32))
@example(x=np.array([[1.0], [np.float32(3.0)]], np.float32))
def test_median_equals_numpy_to_the_bit(isa, x):
    assert np.array_equal(pw.aggregate.median(x), np.median(x, axis=0))


@pytest.mark.native
@settings(per_isa, max_examples=60)
@given(x=updates(), cut=st.sampled_from([0.0, 0.1, 0.2, 0.25, 0.49]))
def test_trimmed_mean_equals_scipy_and_reference(isa, x, cut):
    got = pw.aggregate.trimmed_mean(x, cut)
    assert got.dtype == x.dtype
    np.testing.assert_allclose(got, stats.trim_mean(x.astype(np.float64), cut, axis=0), **tol(x.dtype))
    np.testing.assert_allclose(got, ref.trimmed_mean(x, cut), **tol(x.dtype))


@pytest.mark.native
@settings(per_isa, max_examples=60)
@given(x=updates(), data=st.data())
def test_weighted_mean_equals_reference(isa, x, data):
    w = None if data.draw(st.booleans()) else np.random.default_rng(len(x)).integers(1, 100, len(x))
    np.testing.assert_allclose(pw.aggregate.mean(x, w), ref.mean(x, w), **tol(x.dtype))


@pytest.mark.native
@settings(per_isa, max_examples=40)
@given(x=updates(max_k=25, max_p=600))
def test_pairwise_distances_equal_reference(isa, x):
    d, status = _core.aggregate_pairwise_sq_distances(list(x))
    assert status == 0
    want = ref.sq_distances(x)
    np.testing.assert_allclose(d, want, rtol=1e-5 if x.dtype == np.float32 else 1e-12,
                               atol=1e-30)
    assert np.array_equal(d, d.T) and not np.diag(d).any()


def _flower(x, weights=None):
    w = np.ones(len(x), int) if weights is None else weights
    return [([row], int(n)) for row, n in zip(x, w)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_equal_to_flower_on_byzantine_updates(dtype):
    rng = np.random.default_rng(7)
    honest = rng.normal(0.1, 0.05, (17, 300))
    x = np.vstack([honest, -5 * honest[:3], rng.normal(0, 10, (2, 300))]).astype(dtype)
    w = rng.integers(1, 60, len(x))
    fl = flwr_aggregate
    assert np.array_equal(pw.aggregate.median(x), fl.aggregate_median(_flower(x))[0])
    np.testing.assert_allclose(pw.aggregate.trimmed_mean(x, 0.2),
                               fl.aggregate_trimmed_avg(_flower(x), 0.2)[0], **tol(dtype))
    np.testing.assert_allclose(pw.aggregate.mean(x, w), fl.aggregate(_flower(x, w))[0],
                               rtol=1e-6, atol=1e-7)
    got, idx = pw.aggregate.krum(x, 5, return_indices=True)
    assert np.array_equal(got, fl.aggregate_krum(_flower(x), 5, 0)[0]) and idx[0] < 17
    multi, idx = pw.aggregate.krum(x, 5, multi=4, weights=w, return_indices=True)
    np.testing.assert_allclose(multi, fl.aggregate_krum(_flower(x, w), 5, 4)[0], rtol=1e-6,
                               atol=1e-7)
    assert (idx < 17).all()
    np.testing.assert_allclose(pw.aggregate.bulyan(x, 4),
                               fl.aggregate_bulyan(_flower(x), 4, fl.aggregate_krum, to_keep=0)[0],
                               **tol(dtype))
    np.testing.assert_allclose(pw.aggregate.bulyan(x, 4), ref.bulyan(x, 4), **tol(dtype))


def test_layers_form_equals_the_stacked_form_without_stacking():
    rng = np.random.default_rng(1)
    shapes = [(4, 3), (3,), (2, 2, 2)]
    clients = [[rng.standard_normal(s).astype(np.float32) for s in shapes] for _ in range(9)]
    flat = np.stack([np.concatenate([a.ravel() for a in c]) for c in clients])

    def split(v):
        out, start = [], 0
        for s in shapes:
            n = int(np.prod(s))
            out.append(v[start:start + n].reshape(s))
            start += n
        return out

    for rule, args in [(pw.aggregate.median, ()), (pw.aggregate.trimmed_mean, (0.2,)),
                       (pw.aggregate.mean, ()), (pw.aggregate.krum, (2,)),
                       (pw.aggregate.krum, (2, 3)), (pw.aggregate.geometric_median, ()),
                       (pw.aggregate.dp_mean, (1.0, 0.0))]:
        kwargs = {"expected_clients": 9} if rule is pw.aggregate.dp_mean else {}
        got = rule(clients, *args, **kwargs)
        want = split(rule(flat, *args, **kwargs))
        assert [g.shape for g in got] == shapes
        for g, v in zip(got, want):
            np.testing.assert_allclose(g, v, rtol=1e-6, atol=1e-6)


def test_iterative_rules_equal_reference():
    rng = np.random.default_rng(2)
    x = np.vstack([rng.normal(1, 0.1, (12, 50)), rng.normal(-20, 1, (3, 50))])
    w = rng.random(15) + 0.5
    np.testing.assert_allclose(pw.aggregate.geometric_median(x, w), ref.geometric_median(x, w),
                               rtol=1e-10, atol=1e-12)
    gm = pw.aggregate.geometric_median(x)
    assert np.abs(gm - 1).max() < 0.2  # the 3 far clients barely move it; the mean moves to -3
    c = np.zeros(50)
    np.testing.assert_allclose(pw.aggregate.centered_clip(x, c, 2.0, 5),
                               ref.centered_clip(x, c, 2.0, 5), rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(pw.aggregate.clip_updates(x, 1.5), ref.clip_updates(x, 1.5),
                               rtol=1e-12)
    assert np.linalg.norm(pw.aggregate.clip_updates(x, 1.5), axis=1).max() <= 1.5 + 1e-12


def _as_layers(x, cut):
    """Each row of x as a client's two layers (a (c,) head and the rest), views of x."""
    return [[row[:cut], row[cut:]] for row in x]


@pytest.mark.native
@settings(per_isa, max_examples=40)
@given(x=updates(max_p=300), data=st.data())
def test_clip_updates_equals_reference(isa, x, data):
    """The float64 reference to the input's rounding, in both forms; norms from the privacy
    family's kernel."""
    c = data.draw(st.sampled_from([1e-3, 0.5, 3.0, 1e6]))
    want = ref.clip_updates(x, c)
    got = pw.aggregate.clip_updates(x, c)
    assert got.dtype == x.dtype and got.shape == x.shape
    np.testing.assert_allclose(got, want.astype(x.dtype), **tol(x.dtype))
    if x.shape[1] > 1:
        cut = data.draw(st.integers(1, x.shape[1] - 1))
        layered = pw.aggregate.clip_updates(_as_layers(x, cut), c)
        np.testing.assert_allclose(np.vstack([np.concatenate(client) for client in layered]),
                                   want.astype(x.dtype), **tol(x.dtype))
    np.testing.assert_allclose(pw.aggregate.dp_mean(x, c, 0.0, expected_clients=50),
                               (want.sum(0) / 50).astype(x.dtype), **tol(x.dtype))


@pytest.mark.native
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_clip_updates_equals_flower_clipping(dtype):
    """Flower's DP strategies clip each client's update in place (``clip_inputs_inplace``)."""
    from flwr.supercore.differential_privacy import clip_inputs_inplace

    rng = np.random.default_rng(8)
    clients = [[rng.normal(0, s, (30, 7)).astype(dtype), rng.normal(0, s, 7).astype(dtype)]
               for s in (0.01, 0.5, 2.0, 40.0)]
    got = pw.aggregate.clip_updates(clients, 1.5)
    for client, mine in zip(clients, got):
        theirs = [a.copy() for a in client]
        clip_inputs_inplace(theirs, 1.5)
        for a, b in zip(mine, theirs):
            np.testing.assert_allclose(a, b, **tol(dtype))


@pytest.mark.native
def test_clip_updates_bounds_updates_whose_squares_overflow():
    """Finite float64 updates with |x|^2 beyond DBL_MAX are clipped, not zeroed (the old
    per-row NumPy norm overflowed to inf and scaled such a client by 0)."""
    x = np.array([[3e200, 4e200], [0.3, 0.4], [0.0, 0.0]])
    got = pw.aggregate.clip_updates(x, 1.0)
    np.testing.assert_allclose(got, [[0.6, 0.8], [0.3, 0.4], [0.0, 0.0]], rtol=1e-15)
    np.testing.assert_allclose(pw.aggregate.clip_updates(_as_layers(x, 1), 1.0)[0],
                               [[0.6], [0.8]], rtol=1e-15)
    np.testing.assert_allclose(pw.aggregate.dp_mean(x, 1.0, 0.0, expected_clients=2),
                               [0.45, 0.6], rtol=1e-15)


def test_dp_mean_clips_sums_and_adds_calibrated_noise():
    rng = np.random.default_rng(3)
    x = rng.normal(0, 1, (20, 20000))
    clean = pw.aggregate.dp_mean(x, 2.0, 0.0, expected_clients=25)
    np.testing.assert_allclose(clean, ref.clip_updates(x, 2.0).sum(0) / 25, rtol=1e-10)
    noisy = pw.aggregate.dp_mean(x, 2.0, 1.5, expected_clients=25, seed=4)
    noise = (noisy - clean) * 25 / (1.5 * 2.0)  # N(0, 1) per value
    assert stats.kstest(noise, "norm").pvalue > 1e-4
    again = pw.aggregate.dp_mean(x, 2.0, 1.5, expected_clients=25, seed=4)
    assert np.array_equal(noisy, again)
    secure = pw.aggregate.dp_mean(x, 2.0, 1.5, expected_clients=25, secure=True)
    assert stats.kstest((secure - clean) * 25 / 3.0, "norm").pvalue > 1e-4


def test_robust_rules_resist_byzantine_clients_where_the_mean_does_not():
    rng = np.random.default_rng(4)
    honest = rng.normal(1.0, 0.1, (14, 100))
    bad = np.full((6, 100), -100.0)
    x = np.vstack([honest, bad])
    assert np.abs(pw.aggregate.mean(x) - 1).max() > 10
    for got in (pw.aggregate.median(x), pw.aggregate.trimmed_mean(x, 0.35),
                pw.aggregate.krum(x, 6), pw.aggregate.geometric_median(x)):
        assert np.abs(got - 1).max() < 0.3


@pytest.mark.native
@settings(per_isa, max_examples=40)
@given(x=updates(max_k=30, max_p=200), data=st.data())
def test_kernels_report_any_non_finite_value(isa, x, data):
    # One NaN or infinity anywhere (full tile or the partial last one, any client) sets the
    # status of every kernel; the same updates without it do not.
    i = data.draw(st.integers(0, x.shape[0] - 1))
    j = data.draw(st.integers(0, x.shape[1] - 1))
    rows = list(x)
    assert _core.aggregate_rank_mean(rows, 0, len(rows))[1] == 0
    assert _core.aggregate_weighted_mean(rows)[1] == 0
    x[i, j] = data.draw(st.sampled_from([np.nan, np.inf, -np.inf]))
    k = len(rows)
    assert _core.aggregate_rank_mean(rows, (k - 1) // 2, k // 2 + 1)[1] != 0
    assert _core.aggregate_weighted_mean(rows)[1] != 0
    assert _core.aggregate_pairwise_sq_distances(rows)[1] != 0


@pytest.mark.native
@settings(per_isa, max_examples=40)
@given(k=st.integers(1, 20), sizes=st.lists(st.integers(1, 150), min_size=1, max_size=5),
       dtype=st.sampled_from([np.float32, np.float64]), seed=st.integers(0, 2**32 - 1))
def test_all_layers_in_one_native_call(isa, k, sizes, dtype, seed):
    # One parallel pass over layers of different lengths: each layer's result is its own.
    rng = np.random.default_rng(seed)
    layers = [[rng.standard_normal(n).astype(dtype) for _ in range(k)] for n in sizes]
    medians, status = _core.aggregate_rank_mean_layers(layers, (k - 1) // 2, k // 2 + 1)
    assert status == 0 and len(medians) == len(sizes)
    w = rng.integers(1, 9, k).astype(np.float64)
    means, status = _core.aggregate_weighted_mean_layers(layers, w)
    assert status == 0
    for layer, med, mean in zip(layers, medians, means):
        x = np.stack(layer)
        assert med.dtype == dtype and np.array_equal(med, np.median(x, axis=0))
        np.testing.assert_allclose(mean, ref.mean(x, w), **tol(dtype))
    with pytest.raises(ValueError, match=r"layers\[1\]: expected 2 client rows"):
        _core.aggregate_rank_mean_layers([[np.ones(3)] * 2, [np.ones(3)] * 3], 0, 1)


def test_each_instruction_set_runs_its_own_build():
    # The kernels are compiled once per ISA from one header; if they share inline symbols the
    # linker keeps one copy and every variant silently runs it (it ran the portable build).
    nm = shutil.which("nm")
    if nm is None:
        pytest.skip("nm (binutils) is not installed")
    listed = subprocess.run([nm, "-C", _core.__file__], capture_output=True, text=True)
    if "no symbols" in listed.stderr:
        pytest.skip("the installed extension is stripped (a release install keeps no local "
                    "symbols); the check runs on a development build")
    assert listed.returncode == 0, listed.stderr
    symbols = listed.stdout
    built = {m.group(1) for m in re.finditer(
        r"pipeward::aggregate::(\w+)::\(anonymous namespace\)::rank_mean_impl<float>", symbols)}
    want = {"portable"} | ({"avx2", "avx512"} if platform.machine() in ("x86_64", "AMD64")
                           else set())
    assert built == want


def test_non_finite_updates_are_named_or_dropped():
    x = np.random.default_rng(5).standard_normal((8, 33)).astype(np.float32)
    x[3, 7] = np.nan
    x[6, 0] = np.inf
    for rule, args in [(pw.aggregate.median, ()), (pw.aggregate.trimmed_mean, (0.1,)),
                       (pw.aggregate.mean, ()), (pw.aggregate.krum, (1,)),
                       (pw.aggregate.geometric_median, ()), (pw.aggregate.clip_updates, (1.0,))]:
        with pytest.raises(ValueError, match=r"clients \[3, 6\] hold NaN or infinity"):
            rule(x, *args)
        with pytest.warns(pw.aggregate.AggregationWarning, match=r"dropped clients \[3, 6\]"):
            rule(x, *args, on_invalid="drop")
    with pytest.warns(pw.aggregate.AggregationWarning):
        kept = pw.aggregate.median(x, on_invalid="drop")
    assert np.array_equal(kept, np.median(np.delete(x, [3, 6], axis=0), axis=0))


def test_bad_input_is_a_clear_error():
    x = np.ones((5, 4), np.float32)
    with pytest.raises(TypeError, match="float32 or float64, got int64"):
        pw.aggregate.median(np.ones((5, 4), np.int64))
    with pytest.raises(ValueError, match=r"expected a \(K, P\) array"):
        pw.aggregate.median(np.ones(4, np.float32))
    with pytest.raises(ValueError, match="at least one client"):
        pw.aggregate.median(np.ones((0, 4), np.float32))
    with pytest.raises(ValueError, match="C-contiguous"):
        pw.aggregate.median(np.ones((4, 5), np.float32).T)
    with pytest.raises(ValueError, match="proportiontocut"):
        pw.aggregate.trimmed_mean(x, 0.5)
    with pytest.raises(ValueError, match="needs at least 11 clients"):
        pw.aggregate.bulyan(x, 2)
    with pytest.raises(ValueError, match="weights"):
        pw.aggregate.mean(x, [1, 2])
    with pytest.raises(ValueError, match="weights"):
        pw.aggregate.mean(x, [1, 2, -1, 1, 1])
    with pytest.raises(ValueError, match="client 1 layer 0: expected shape"):
        pw.aggregate.median([[np.ones(3, np.float32)], [np.ones(4, np.float32)]])
    with pytest.raises(TypeError, match="client 1 layer 0: expected float32"):
        pw.aggregate.median([[np.ones(3, np.float32)], [np.ones(3)]])
    with pytest.raises(ValueError, match="expected 1 layers"):
        pw.aggregate.median([[np.ones(3)], [np.ones(3), np.ones(3)]])
    with pytest.raises(ValueError, match="on_invalid"):
        pw.aggregate.median(x, on_invalid="ignore")
    with pytest.raises(ValueError, match="max_norm"):
        pw.aggregate.dp_mean(x, 0.0, 1.0, expected_clients=5)
    with pytest.raises(ValueError, match="expected_clients"):
        pw.aggregate.dp_mean(x, 1.0, 1.0, expected_clients=0)
    with pytest.raises(ValueError, match="center"):
        pw.aggregate.centered_clip([[np.ones(3)], [np.ones(3)]], [np.ones(4)], 1.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        pw.aggregate.median(x)  # a clean call warns about nothing
