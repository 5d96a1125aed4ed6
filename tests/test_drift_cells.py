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


# --- bucket cells (the one-machine KS statistic's buckets) and their zoom ------------------

@st.composite
def tables_and_maps(draw):
    """A table (as tables_and_edges draws them: heavy tails, ties, NaN, infinities) and bucket
    maps fitted to a sample of it, as pipeward.dask fits them."""
    x, _ = draw(tables_and_edges())
    buckets = draw(st.sampled_from([2, 3, 64, 1000, 4096]))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    F = x.shape[0]
    sample = x[:, rng.integers(0, max(x.shape[1], 1), size=min(x.shape[1], 200))]
    if draw(st.booleans()) or sample.size == 0:  # a sample from elsewhere: values outside it
        sample = rng.normal(size=(F, 50)) * 10.0 ** rng.integers(-3, 4)
    maps = _core.drift_bucket_maps(np.ascontiguousarray(sample, dtype=np.float64), buckets)
    return x, maps, buckets


@every_isa
@given(tables_and_maps())
def test_bucket_cells_match_the_reference(isa, case):
    x, (lo, scale, eps), buckets = case
    counts = _core.drift_bucket_counts(x, lo, scale, eps, buckets)
    assert np.array_equal(counts, reference.bucket_counts(x, lo, scale, eps, buckets))
    edges = _core.drift_bucket_edges(lo, scale, eps, buckets)
    assert np.array_equal(edges, reference.bucket_edges(lo, scale, eps, buckets))
    # the defining property: the buckets are the cells those edges cut
    if (edges[:, 1:] >= edges[:, :-1]).all():  # (edges may be inf: no differences)
        (cells,) = _core.drift_cell_counts(x, edges, extremes=False)
        assert np.array_equal(cells, counts)


@every_isa
@given(tables_and_maps(), st.sampled_from([0, 1, 3, 5, 6, 9, 12]), st.integers(0, 2**32 - 1))
def test_zoomed_cells_match_the_reference(isa, case, bits, seed):
    x, (lo, scale, eps), buckets = case
    rng = np.random.default_rng(seed)
    F = x.shape[0]
    zoomed = rng.random((F, buckets)) < 0.3
    zoomed &= np.cumsum(zoomed, axis=1) <= (1 << 18) >> bits  # at most 2^18 cells, as in use
    base = np.full((F, buckets + 1), -1, dtype=np.int32)
    for f in range(F):  # zoomed buckets take cells 0, 2^bits, ... in order
        base[f, :buckets][zoomed[f]] = np.arange(zoomed[f].sum()) << bits
    cells = max(1, int(zoomed.sum(axis=1).max()) << bits)
    wanted = (rng.random((F, cells)) < 0.2).astype(np.uint8)
    counts, none, _ = _core.drift_zoom_pass(x, lo, scale, eps, buckets, base, bits, cells)
    ref_counts, ref_values, ref_sizes = reference.zoom_pass(x, lo, scale, eps, buckets, base,
                                                           bits, cells, wanted)
    assert none is None and np.array_equal(counts, ref_counts)
    _, values, sizes = _core.drift_zoom_pass(x, lo, scale, eps, buckets, base, bits, cells,
                                             count=False, wanted=wanted)
    assert np.array_equal(sizes, ref_sizes) and np.array_equal(values, ref_values)
    # each zoomed cell's lower edge: the values in it are exactly those between its edge and
    # the next one's (the last bucket's positions are clamped, so it is left out here)
    f = 0
    ks = np.flatnonzero(zoomed[f][: buckets - 1])[:3]  # a few buckets' sub-buckets
    if ks.size:
        k = np.repeat(ks, 2**bits)
        s = np.tile(np.arange(2**bits), ks.size)
        args = (lo, scale, eps, buckets, bits, np.zeros(k.size, dtype=np.int64),
                k.astype(np.int64), s.astype(np.int64))
        lower = _core.drift_zoom_edges(*args)
        assert np.array_equal(lower, reference.zoom_edges(*args))
        row = x[f][~np.isnan(x[f])].astype(np.float64)
        cell = reference.zoomed_cell(row, lo[f], scale[f], buckets, int(eps[f]), base[f], bits)
        next_bucket = _core.drift_zoom_edges(lo, scale, eps, buckets, bits,
                                             np.zeros(ks.size, np.int64),
                                             (ks + 1).astype(np.int64), np.zeros(ks.size, np.int64))
        upper = np.where(s == 2**bits - 1, np.repeat(next_bucket, 2**bits),
                         np.concatenate([lower[1:], [np.inf]]))
        for j in range(k.size):
            inside = (row >= lower[j]) & (row < upper[j])
            assert np.array_equal(inside, cell == base[f, k[j]] + s[j])


@every_isa
@given(st.integers(1, 40), st.integers(0, 1200), st.sampled_from([np.float32, np.float64]),
       st.sampled_from([0, 3, 6, 12]), st.integers(0, 2**32 - 1))
def test_zoom_pass_on_wide_row_major_tables(isa, F, n, dtype, bits, seed):
    # Rows a block of contiguous features (as Dask partitions arrive): the vector sweeps, in
    # groups of 8 (AVX-512) or 4 (AVX2) features, 32 a block, some features not zoomed at all,
    # linear and symmetric-log maps side by side, NaN and infinities among the values.
    rng = np.random.default_rng(seed)
    x = rng.standard_cauchy(size=(n, F)) * 10.0 ** rng.integers(-3, 4, size=F)
    special = rng.random(size=x.shape)
    x[special < 0.03] = np.nan
    x[(special > 0.03) & (special < 0.04)] = np.inf
    x = x.astype(dtype).T  # (F, n) with the features contiguous
    buckets = int(rng.choice([2, 64, 1000, 65535]))
    sample = rng.standard_cauchy(size=(F, 300)) * 10.0 ** rng.integers(-3, 4, size=(F, 1))
    sample[::2] = rng.normal(size=sample[::2].shape)  # every other map linear, Cauchy symlog
    lo, scale, eps = _core.drift_bucket_maps(sample, buckets)
    zoomed = rng.random((F, buckets)) < rng.choice([0.02, 0.3, 0.9])
    zoomed[rng.random(F) < 0.3] = False  # features with nothing zoomed: skipped
    zoomed &= np.cumsum(zoomed, axis=1) <= (1 << 18) >> bits  # at most 2^18 cells, as in use
    base = np.full((F, buckets + 1), -1, dtype=np.int32)
    for f in range(F):
        base[f, :buckets][zoomed[f]] = np.arange(zoomed[f].sum()) << bits
    cells = max(1, int(zoomed.sum(axis=1).max()) << bits)
    wanted = (rng.random((F, cells)) < 0.2).astype(np.uint8)
    ref_counts, ref_values, ref_sizes = reference.zoom_pass(x, lo, scale, eps, buckets, base,
                                                           bits, cells, wanted)
    counts, _, _ = _core.drift_zoom_pass(x, lo, scale, eps, buckets, base, bits, cells)
    assert np.array_equal(counts, ref_counts)
    _, values, sizes = _core.drift_zoom_pass(x, lo, scale, eps, buckets, base, bits, cells,
                                             count=False, wanted=wanted)
    assert np.array_equal(sizes, ref_sizes) and np.array_equal(values, ref_values)


@every_isa
@given(tables_and_maps(), st.integers(0, 2**32 - 1))
def test_cells_counted_by_bucket_are_cell_counts(isa, case, seed):
    # Refined cells of bucket cells (pipeward.dask's later passes): counted with each value
    # searched only among its bucket's edges, or straight into a settled cell, they are
    # drift_cell_counts' counts (and its extremes, wherever extremes are kept).
    from pipeward.dask._cells import BucketMaps, Cells, bucket_shortcuts

    x, (lo, scale, eps), buckets = case
    edges = _core.drift_bucket_edges(lo, scale, eps, buckets)
    if not (edges[:, 1:] > edges[:, :-1]).all() or not np.isfinite(edges).all():
        return  # bucket_cells falls back to searched cells here
    rng = np.random.default_rng(seed)
    maps = BucketMaps(lo, scale, eps, buckets, edges)
    F = x.shape[0]
    cells = []
    for f in range(F):  # merge runs of buckets, cut others, some cells excluded
        keep = edges[f][rng.random(edges.shape[1]) < 0.6]
        span = np.concatenate([[edges[f][0] - 1.0], edges[f], [edges[f][-1] + 1.0]])
        pick = rng.integers(0, span.size - 1, size=5)
        cuts = span[pick] + (span[pick + 1] - span[pick]) * rng.random(5)
        e = np.unique(np.concatenate([keep, cuts[np.isfinite(cuts)]]))
        cells.append(Cells(e, rng.random(e.size + 1) < 0.5))
    m = max(c.edges.size for c in cells)
    padded = np.array([np.concatenate([c.edges, np.full(m - c.edges.size, c.edges[-1])])
                       for c in cells])
    table = np.stack([bucket_shortcuts(maps, f, cells[f], m) for f in range(F)])
    counts, vlo, vhi = _core.drift_cell_counts_by_bucket(x, padded, lo, scale, eps, buckets,
                                                         table)
    ref_counts, ref_lo, ref_hi = reference.cell_counts(x, padded)
    assert np.array_equal(counts, ref_counts)
    for f in range(F):  # extremes of every cell not excluded (only excluded cells settle)
        m_f = cells[f].edges.size
        live = np.zeros(m + 1, dtype=bool)
        live[np.flatnonzero(~cells[f].excluded[:m_f])] = True
        live[m] = not cells[f].excluded[m_f]
        assert np.array_equal(vlo[f][live], ref_lo[f][live])
        assert np.array_equal(vhi[f][live], ref_hi[f][live])


def test_bucket_kernels_reject_bad_input():
    x = np.zeros((2, 5))
    lo, scale, eps = np.zeros(2), np.ones(2), np.full(2, -1, dtype=np.int64)
    with pytest.raises(ValueError, match="buckets: expected 2 to 65535"):
        _core.drift_bucket_counts(x, lo, scale, eps, 65536)
    with pytest.raises(ValueError, match="one per feature"):
        _core.drift_bucket_counts(x, lo[:1], scale[:1], eps[:1], 8)
    with pytest.raises(ValueError, match="not a bucket map"):
        _core.drift_bucket_counts(x, lo, np.array([1.0, 0.0]), eps, 8)
    with pytest.raises(ValueError, match="not a bucket map"):
        _core.drift_bucket_edges(np.array([np.nan, 0.0]), scale, eps, 8)
    with pytest.raises(TypeError, match="float32 or float64"):
        _core.drift_bucket_counts(x.astype(np.int32), lo, scale, eps, 8)
    with pytest.raises(ValueError, match="at most 65535 values"):
        _core.drift_bucket_maps(np.zeros((1, 70000)), 8)
    base = np.full((2, 9), -1, dtype=np.int32)
    base[0, 8] = 0  # the NaN bucket cannot be zoomed
    with pytest.raises(ValueError, match="zoom_base"):
        _core.drift_zoom_pass(x, lo, scale, eps, 8, base, 2, 4)
    base[0, 8], base[0, 3] = -1, 2  # its cells would run past zoom_cells
    with pytest.raises(ValueError, match="zoom_base"):
        _core.drift_zoom_pass(x, lo, scale, eps, 8, base, 2, 4)
    base[0, 3] = 0
    with pytest.raises(ValueError, match="wanted"):
        _core.drift_zoom_pass(x, lo, scale, eps, 8, base, 2, 4, wanted=np.zeros((2, 3), np.uint8))
    with pytest.raises(ValueError, match="out of range"):
        _core.drift_zoom_edges(lo, scale, eps, 8, 2, np.int64([0]), np.int64([8]), np.int64([0]))
    table = np.zeros((2, 9, 2), dtype=np.int32)
    table[0, 0] = [3, 1]  # first > last
    with pytest.raises(ValueError, match="bucket_cells"):
        _core.drift_cell_counts_by_bucket(x, np.zeros((2, 2)), lo, scale, eps, 8, table)
