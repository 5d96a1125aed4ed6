"""The value-cell kernels behind pipeward.dask's exact distributed order statistics, against
their pure-NumPy reference, and the KS p-value stage for merged statistics against
pw.ks_2samp."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core
from pipeward.reference import cells as reference

pytestmark = pytest.mark.native

# The isa fixture sets a process-wide cap once per test, the same for all its examples.
every_isa = settings(suppress_health_check=[HealthCheck.function_scoped_fixture])


@st.composite
def tables_and_edges(draw):
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    F = draw(st.integers(1, 4))
    n = draw(st.integers(0, 300))
    m = draw(st.integers(1, 40))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1.0, 1e-30, 1e30] if dtype == np.float32
                                 else [1.0, 1e-300, 1e300]))
    with np.errstate(over="ignore"):  # float32 overflow makes infinities, which are wanted
        x = (rng.standard_cauchy(size=(F, n)) * scale).astype(dtype)
    if draw(st.booleans()):
        x = np.round(x, 0)  # heavy ties
    special = rng.random(size=x.shape)
    x[special < 0.05] = np.nan
    x[(special > 0.05) & (special < 0.07)] = np.inf
    x[(special > 0.07) & (special < 0.09)] = -np.inf
    edges = np.sort(rng.standard_cauchy(size=(F, m)) * scale, axis=1)
    if draw(st.booleans()):
        edges = np.round(edges, 0)  # duplicate edges: empty cells
    if draw(st.booleans()):
        edges[:, -1] = np.inf  # an infinite edge: the search without the grid
    strided = draw(st.booleans())
    return (np.asfortranarray(x) if strided else x), np.ascontiguousarray(edges)


@every_isa
@given(tables_and_edges())
@example((np.array([[1.0, 1.0, np.nan]]), np.array([[1.0]])))
def test_cell_counts_match_the_reference(isa, case):
    x, edges = case
    counts, lo, hi = _core.drift_cell_counts(x, edges)
    ref = reference.cell_counts(x, edges)
    assert np.array_equal(counts, ref[0])
    assert np.array_equal(lo, ref[1]) and np.array_equal(hi, ref[2])
    threads = _core.drift_cell_counts(x, edges, 2)
    assert all(np.array_equal(a, b) for a, b in zip(threads, (counts, lo, hi)))
    (lean,) = _core.drift_cell_counts(x, edges, 2, extremes=False)  # counts only
    assert np.array_equal(lean, counts)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_quantile_cells_match_the_reference(isa, dtype):
    # The cells pipeward.dask really uses: sample quantiles (most values settled by the grid
    # in the vector lanes), then a narrow cluster of refined edges (the search fallback).
    rng = np.random.default_rng(7)
    x = rng.normal(size=(20_011, 3)).astype(dtype)
    x[rng.random(x.shape) < 0.01] = np.nan
    x[:50] = np.round(x[:50], 1)  # ties on edges
    edges = np.nanquantile(x[::7].astype(np.float64), np.linspace(0, 1, 4096), axis=0).T
    edges = np.sort(np.concatenate([edges, np.linspace(0.1, 0.1001, 500) + np.zeros((3, 1))],
                                   axis=1), axis=1)
    edges = np.ascontiguousarray(edges)
    counts, lo, hi = _core.drift_cell_counts(x.T, edges)
    ref = reference.cell_counts(x.T, edges)
    assert counts.sum() == x.size
    assert np.array_equal(counts, ref[0])
    assert np.array_equal(lo, ref[1]) and np.array_equal(hi, ref[2])
    wanted = (rng.random((3, edges.shape[1] + 1)) < 0.3).astype(np.uint8)
    wanted[1] = 0  # a settled feature: nothing fetched
    values, sizes = _core.drift_cell_values(x.T, edges, wanted)
    ref_values, ref_sizes = reference.cell_values(x.T, edges, wanted)
    assert np.array_equal(sizes, ref_sizes) and np.array_equal(values, ref_values)


@every_isa
@given(tables_and_edges(), st.integers(0, 2**32 - 1))
def test_cell_values_match_the_reference(isa, case, seed):
    x, edges = case
    wanted = (np.random.default_rng(seed).random((edges.shape[0], edges.shape[1] + 1)) < 0.4
              ).astype(np.uint8)
    values, sizes = _core.drift_cell_values(x, edges, wanted)
    ref_values, ref_sizes = reference.cell_values(x, edges, wanted)
    assert values.dtype == x.dtype
    assert np.array_equal(sizes, ref_sizes)
    assert np.array_equal(values, ref_values)


def test_cell_kernels_reject_bad_input():
    x = np.zeros((2, 5))
    with pytest.raises(ValueError, match="NaN"):
        _core.drift_cell_counts(x, np.array([[0.0], [np.nan]]))
    with pytest.raises(ValueError, match="non-decreasing"):
        _core.drift_cell_counts(x, np.array([[1.0, 0.0], [0.0, 1.0]]))
    with pytest.raises(ValueError, match="one row per feature"):
        _core.drift_cell_counts(x, np.zeros((3, 1)))
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.drift_cell_counts(x.astype(np.int64), np.zeros((2, 1)))
    with pytest.raises(TypeError, match="float64"):
        _core.drift_cell_counts(x, np.zeros((2, 1), dtype=np.float32))
    with pytest.raises(ValueError, match="flag per cell"):
        _core.drift_cell_values(x, np.zeros((2, 1)), np.zeros((2, 1), dtype=np.uint8))


@pytest.mark.parametrize("n1,n2", [(40, 55), (3000, 2500), (12000, 11000)])
def test_ks_from_stats_gives_ks_2samp_p_values(n1, n2):
    scipy_stats = pytest.importorskip("scipy.stats")
    rng = np.random.default_rng(n1)
    a, b = rng.normal(size=(n1, 3)), rng.normal(0.1, size=(n2, 3))
    # method="asymp": the raw extremes (exact mode rounds the statistic to h / lcm)
    plus = scipy_stats.ks_2samp(a, b, alternative="greater", method="asymp")
    minus = scipy_stats.ks_2samp(a, b, alternative="less", method="asymp")
    three = np.full(3, 0, np.int32)
    for alternative in range(3):
        for method in range(3):
            c = np.ascontiguousarray
            out = _core.drift_ks_from_stats(
                c(plus.statistic), c(minus.statistic), c(plus.statistic_location, np.float64),
                c(minus.statistic_location, np.float64), np.full(3, n1), np.full(3, n2),
                three, alternative, method)
            name = ("two-sided", "less", "greater")[alternative]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # scipy's exact fallback
                want = pw.ks_2samp(a, b, name, ("auto", "exact", "asymp")[method])
            for got, expected in zip(out[:4], want[:2] + (want.statistic_location,
                                                          want.statistic_sign)):
                assert np.array_equal(got, expected)


def test_ks_from_stats_reports_nan_and_empty_features():
    out = _core.drift_ks_from_stats(np.zeros(2), np.zeros(2), np.zeros(2), np.zeros(2),
                                    np.array([5, 0]), np.array([5, 7]),
                                    np.array([3, 4], np.int32), 0, 0)
    assert np.isnan(out[0]).all() and list(out[6]) == [3, 4]
    with pytest.raises(ValueError, match="positive"):
        _core.drift_ks_from_stats(np.zeros(1), np.zeros(1), np.zeros(1), np.zeros(1),
                                  np.array([0]), np.array([3]), np.zeros(1, np.int32), 0, 0)
