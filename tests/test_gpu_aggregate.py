"""GPU aggregation (cuda/aggregate.cu) against NumPy, scipy and the CPU kernels, on a real GPU."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_gpu
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

import pipeward as pw

pytestmark = [pytest.mark.gpu, requires_gpu]


@st.composite
def updates(draw, ties=True):
    k = draw(st.integers(1, 40))
    p = draw(st.integers(1, 300))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    x = rng.standard_normal((k, p)) * draw(st.sampled_from([1e-3, 1.0, 1e4]))
    if ties and draw(st.booleans()):
        x = np.round(x * 2) / 2 + 0.0  # + 0.0: no negative zeros (their sign is not ranked)
    return x.astype(dtype)


def tol(dtype):
    return dict(rtol=1e-6, atol=1e-6) if dtype == np.float32 else dict(rtol=1e-12, atol=1e-12)


@settings(deadline=None, max_examples=40)
@given(x=updates(), cut=st.sampled_from([0.0, 0.1, 0.25, 0.49]))
def test_coordinate_rules_match_numpy_and_scipy(cp, x, cut):
    d = cp.asarray(x)
    assert np.array_equal(pw.aggregate.median(d).get(), np.median(x, axis=0))
    np.testing.assert_allclose(pw.aggregate.trimmed_mean(d, cut).get(),
                               stats.trim_mean(x.astype(np.float64), cut, axis=0), **tol(x.dtype))
    w = np.arange(1, len(x) + 1)
    np.testing.assert_allclose(pw.aggregate.mean(d, w).get(), pw.aggregate.mean(x, w),
                               **tol(x.dtype))


@settings(deadline=None, max_examples=25)
@given(x=updates(ties=False))  # no tied scores: the two sum in different orders
def test_krum_picks_what_the_cpu_picks(cp, x):
    f = max(0, (len(x) - 3) // 2)
    _, want = pw.aggregate.krum(x, f, return_indices=True)
    got, idx = pw.aggregate.krum(cp.asarray(x), f, return_indices=True)
    assert np.array_equal(idx, want) and np.array_equal(got.get(), x[want[0]])


def test_layers_and_non_finite_values(cp, rng):
    layers = [[rng.standard_normal((30, 7)).astype(np.float32), rng.standard_normal(100).astype(np.float32)]
              for _ in range(11)]
    got = pw.aggregate.median([[cp.asarray(a) for a in c] for c in layers])
    for g, w in zip(got, pw.aggregate.median(layers)):
        assert np.array_equal(g.get(), w)
    x = rng.standard_normal((9, 1000))
    x[4, 999] = np.inf
    with pytest.raises(ValueError, match=r"clients \[4\]"):
        pw.aggregate.median(cp.asarray(x))
    with pytest.warns(pw.aggregate.AggregationWarning):
        kept = pw.aggregate.krum(cp.asarray(x), 2, on_invalid="drop")
    assert np.array_equal(kept.get(), pw.aggregate.krum(np.delete(x, 4, axis=0), 2))


@settings(deadline=None, max_examples=15)
@given(x=updates(ties=False), layered=st.booleans())
def test_iterative_and_dp_rules_match_the_cpu(cp, x, layered):
    """Bulyan, the geometric median, centered clipping, clip_updates and DP-FedAvg (same
    Philox noise) on real device arrays, in either form, equal the host results."""
    cut = max(1, x.shape[1] // 3)

    def form(a, to):
        return [[to(row[:cut]), to(row[cut:])] for row in a] if layered else to(a)

    def host(a):
        return np.ascontiguousarray(a)

    def dev(a):
        return cp.asarray(np.ascontiguousarray(a))

    center = x.mean(0)
    rules = [(pw.aggregate.geometric_median, lambda to: ()),
             (pw.aggregate.centered_clip,
              lambda to: (([to(center[:cut]), to(center[cut:])] if layered else to(center)),
                          1.0, 3)),
             (pw.aggregate.clip_updates, lambda to: (1.0,)),
             (pw.aggregate.dp_mean, lambda to: (1.0, 0.5))]
    if len(x) >= 7:
        rules.append((pw.aggregate.bulyan, lambda to: (1,)))
    tolerance = dict(rtol=2e-5, atol=1e-5) if x.dtype == np.float32 else dict(rtol=1e-9, atol=1e-12)
    for rule, args in rules:
        kwargs = {"expected_clients": len(x), "seed": 7} if rule is pw.aggregate.dp_mean else {}
        want = rule(form(x, host), *args(host), **kwargs)
        got = rule(form(x, dev), *args(dev), **kwargs)
        for g, w in zip(_arrays(got), _arrays(want)):
            np.testing.assert_allclose(cp.asnumpy(g), w, **tolerance, err_msg=rule.__name__)


def _arrays(result):
    if isinstance(result, list):
        return [a for item in result for a in _arrays(item)]
    return [result]
