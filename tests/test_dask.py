"""pipeward.dask on a real distributed.LocalCluster (2 worker processes): every function
against its one-machine counterpart on the same data."""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
import warnings

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core

distributed = pytest.importorskip("distributed")
da = pytest.importorskip("dask.array")
dd = pytest.importorskip("dask.dataframe")
pd = pytest.importorskip("pandas")
scipy_stats = pytest.importorskip("scipy.stats")

import dask  # noqa: E402
import pipeward.dask as pwd  # noqa: E402
from dask.highlevelgraph import HighLevelGraph  # noqa: E402
from pipeward.dask import _cells, _exact, _job  # noqa: E402
from pipeward.dask._exact import order_statistics  # noqa: E402
from pipeward.dask._job import Job  # noqa: E402
from pipeward.dask._inputs import table  # noqa: E402


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                       dashboard_address=":0", silence_logs=logging.ERROR)
    c = distributed.Client(cluster)
    yield c
    c.close()
    cluster.close()


@pytest.fixture
def small_cells(monkeypatch):
    """Few cells and a tiny fetch limit, so small data goes through several refinements: a
    few first buckets, zoomed whenever over 24 values stay open, then refined cells."""
    monkeypatch.setattr(_cells, "CELLS", 8)
    monkeypatch.setattr(_cells, "FETCH", 24)
    monkeypatch.setattr(_cells, "SAMPLE_ROWS", 64)
    monkeypatch.setattr(_cells, "BUCKET_CELLS", 16)
    monkeypatch.setattr(_cells, "MIN_BUCKETS", 4)
    monkeypatch.setattr(_cells, "ZOOM_OVER", 24)


def chunked(x: np.ndarray, sizes: list[int]) -> da.Array:
    """A Dask array with these (uneven, possibly empty) row partitions."""
    assert sum(sizes) == x.shape[0]
    return da.from_array(x, chunks=(tuple(sizes),) + x.shape[1:])


def split(n: int, rng: np.random.Generator, parts: int) -> list[int]:
    cuts = np.sort(rng.integers(0, n + 1, size=parts - 1))
    return list(np.diff(np.concatenate([[0], cuts, [n]])))


# --- KS ---------------------------------------------------------------------------------

@st.composite
def ks_cases(draw):
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    dtype = draw(st.sampled_from([np.float32, np.float64]))
    n1, n2, F = draw(st.integers(1, 400)), draw(st.integers(1, 400)), draw(st.integers(1, 3))
    a = rng.normal(size=(n1, F))
    b = rng.normal(draw(st.sampled_from([0.0, 0.3])), size=(n2, F))
    if draw(st.booleans()):  # ties within and across samples
        a, b = np.round(a, 1), np.round(b, 1)
    for x in (a, b):
        u = rng.random(x.shape)
        x[u < 0.03] = np.inf
        x[(u > 0.03) & (u < 0.05)] = -np.inf
    return (a.astype(dtype), b.astype(dtype), split(n1, rng, draw(st.integers(1, 5))),
            split(n2, rng, draw(st.integers(1, 4))),
            draw(st.sampled_from(["two-sided", "less", "greater"])))


@settings(max_examples=15, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ks_cases())  # the fixtures only set constants and hold the cluster
def test_ks_equals_scipy_bit_for_bit(client, small_cells, case):
    a, b, parts1, parts2, alternative = case
    got = pwd.ks_2samp(chunked(a, parts1), chunked(b, parts2), alternative)
    peer = scipy_stats.ks_2samp(a, b, alternative)
    one = pw.ks_2samp(a, b, alternative)
    assert np.array_equal(got.statistic, peer.statistic)
    assert np.array_equal(got.statistic_location, peer.statistic_location)
    assert np.array_equal(got.statistic_sign, peer.statistic_sign)
    assert np.array_equal(got.pvalue, one.pvalue)
    assert np.array_equal(got.n1, one.n1) and np.array_equal(got.n2, one.n2)


@pytest.mark.parametrize("kind", ["normal", "integers", "rounded", "cauchy", "lognormal",
                                  "clusters", "extremes"])
@pytest.mark.parametrize("buckets", ["few", "more", "narrow"])
def test_ks_through_zoomed_buckets_equals_one_machine(client, small_cells, monkeypatch, kind,
                                                      buckets):
    # The adversaries of bucketing (drift_ks_bucketed's), through every path after the bucket
    # pass: open buckets fetched, zoomed and fetched, zoomed again (deeper, where one zoom
    # halved the candidates but left too many: "more" buckets), zoomed in fewer bits where
    # 8 sub-buckets each would not fit ("narrow": few zoomed cells allowed), or zoomed and
    # then refined (ties a zoom cannot split); NaNs omitted.
    from test_drift_ks_bucketed import draw_values

    if buckets != "few":  # 64 buckets a feature, 64 values fetched at most
        monkeypatch.setattr(_cells, "BUCKET_CELLS", 192)
        monkeypatch.setattr(_cells, "FETCH", 64)
    if buckets == "narrow":
        monkeypatch.setattr(_cells, "ZOOM_CELLS", 128)

    paths = {"zoomed": 0, "deeper": 0, "refined": 0, "narrow": 0}
    zoomed_cells = _exact._zoomed_cells

    def spy(f, zoom, a1, b1, open_before, passes, cells, maps, out, zready, zooming):
        before = cells[f]
        zoomed_cells(f, zoom, a1, b1, open_before, passes, cells, maps, out, zready, zooming)
        paths["zoomed"] += 1
        paths["narrow"] += zoom.bits < _cells.ZOOM_BITS
        paths["deeper"] += f in zooming
        paths["refined"] += cells[f] is not before

    monkeypatch.setattr(_exact, "_zoomed_cells", spy)
    rng = np.random.default_rng(11)
    with np.errstate(over="ignore"):  # float32 makes "extremes" infinite: wanted
        a = draw_values(rng, kind, 3000, 3, 0.0).astype(np.float64)
        b = draw_values(rng, kind, 2500, 3, 0.05).astype(np.float64)
        a[::53, 0] = np.nan
        a32, b32 = a.astype(np.float32), b.astype(np.float32)
    for x, y in ((a, b), (a32, b32)):
        got = pwd.ks_2samp(chunked(x, [1000, 0, 2000]), chunked(y, [1500, 1000]),
                           nan_policy="omit")
        one = pw.ks_2samp(x, y, nan_policy="omit")
        for field in ("statistic", "pvalue", "statistic_location", "statistic_sign", "n1",
                      "n2"):
            assert np.array_equal(getattr(got, field), getattr(one, field), equal_nan=True), field
    if kind in ("normal", "cauchy"):
        assert paths["zoomed"] > 0
    if kind == "normal" and buckets == "more":
        assert paths["deeper"] > 0  # candidates too many after one zoom: zoomed again
    if kind == "normal" and buckets == "narrow":
        assert paths["narrow"] > 0
    if kind == "integers":  # every value tied thousands of times: zooms cannot split them
        assert paths["refined"] > 0


@pytest.mark.parametrize("n", [9000, 30000])  # exact p-values; asymptotic ones
def test_ks_large_samples_with_default_cells(client, n):
    rng = np.random.default_rng(n)
    a = rng.standard_cauchy(size=(n, 3)).astype(np.float32)
    b = rng.standard_cauchy(size=(n + 1234, 3)).astype(np.float32) + np.float32(0.02)
    got = pwd.ks_2samp(chunked(a, split(n, rng, 7)), chunked(b, split(n + 1234, rng, 5)))
    peer = scipy_stats.ks_2samp(a, b)
    assert np.array_equal(got.statistic, peer.statistic)
    assert np.array_equal(got.statistic_location, peer.statistic_location)
    assert np.array_equal(got.pvalue, pw.ks_2samp(a, b).pvalue)
    job = pwd.last_job()
    assert job.n_partitions == 12 and job.passes >= 2
    # What reached the client is bounded by features x cells, whatever the rows: the first
    # cells' sample, per pass two samples' counts, min and max per cell, and the fetched values.
    bound = 8 * 3 * (2 * _cells.SAMPLE_ROWS + job.passes * 2 * 3 * (2 * _cells.CELLS + 64)
                     + _cells.FETCH)
    assert job.bytes_to_client <= bound


def test_ks_bucket_first_pass_settles_in_one_count_pass(client, monkeypatch):
    # Regression: with the one-machine statistic's buckets as first cells (counted by its
    # sweep), normal data is settled by one count pass (then its few candidate cells are
    # fetched): sample, count, fetch. With coarse first cells (one per sample quantile, the
    # old first pass) the same data needs refinement passes.
    monkeypatch.setattr(_cells, "CELLS", 128)
    monkeypatch.setattr(_cells, "FETCH", 16000)
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(20_000, 2)), rng.normal(0.02, size=(18_000, 2))
    A, B = chunked(a, [7_000, 13_000]), chunked(b, [9_000, 9_000])
    got = pwd.ks_2samp(A, B)
    assert pwd.last_job().passes == 3
    peer = scipy_stats.ks_2samp(a, b)
    assert np.array_equal(got.statistic, peer.statistic)
    assert np.array_equal(got.statistic_location, peer.statistic_location)
    coarse = lambda sample: ([_cells.first_cells(s) for s in sample.T], None)  # noqa: E731
    monkeypatch.setattr(_exact, "bucket_cells", coarse)
    again = pwd.ks_2samp(A, B)
    assert pwd.last_job().passes > 3
    assert np.array_equal(again.statistic, peer.statistic)


@pytest.mark.parametrize("scatter", [True, False])
def test_large_pass_tables_go_to_the_workers_not_into_the_graph(client, monkeypatch, scatter):
    # A zoom pass's per-bucket table (features x 65,536 int32: 1 MiB here, tens of MB on big
    # data) is scattered to the workers, so the graph stays small and Dask does not warn;
    # embedded in the graph (scatter=False, the old way) it trips the same warning lowered.
    monkeypatch.setattr(_cells, "ZOOM_OVER", 24)  # every feature zooms: the table travels
    monkeypatch.setattr(_job, "SCATTER_OVER", 256 * 1024 if scatter else 1 << 40)
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(20_000, 4)), rng.normal(0.03, size=(16_000, 4))
    A = client.persist(chunked(a, [12_000, 8_000]))  # the data itself stays out of the graph
    B = client.persist(chunked(b, [6_000, 10_000]))
    distributed.wait([A, B])
    with dask.config.set({"distributed.admin.large-graph-warning-threshold": "512kB"}):
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            got = pwd.ks_2samp(A, B)
    large = [w for w in caught if "large graph" in str(w.message)]
    assert (not large) if scatter else large
    one = pw.ks_2samp(a, b)
    assert np.array_equal(got.statistic, one.statistic)
    assert np.array_equal(got.statistic_location, one.statistic_location)
    assert np.array_equal(got.pvalue, one.pvalue)


def test_count_tables_are_int32_only_while_no_count_can_overflow():
    # Partitions send int32 count tables (half the bytes); merged tables whose rows could
    # reach 2^31 stay int64, and the sums are exact either way.
    near = np.array([[2**30 + 1, 0, 5]], dtype=np.int64)
    leaf = _cells._compact(near)
    assert leaf.dtype == np.int32 and np.array_equal(leaf, near)
    summed = _cells._merge_counts([(leaf, None, None, None), (leaf, None, None, None)])[0]
    assert summed.dtype == np.int64
    assert summed.tolist() == [[2**31 + 2, 0, 10]]
    small = _cells._merge_counts([(leaf[:, 1:], None, None, None)] * 3)[0]
    assert small.dtype == np.int32 and small.tolist() == [[0, 15]]


def test_a_pass_reads_each_partition_in_one_task(client, monkeypatch):
    # Regression (worker memory grew with the partition count out of core): a pass that both
    # counts some features and fetches others gave every block two tasks, and each block
    # waited in worker memory for its second one. Now every partition feeds one task per
    # pass, so a worker holds the blocks it is working on, not one per partition.
    monkeypatch.setattr(_cells, "CELLS", 16)
    monkeypatch.setattr(_cells, "FETCH", 2000)
    monkeypatch.setattr(_cells, "ZOOM_OVER", 50)
    monkeypatch.setattr(_cells, "SAMPLE_ROWS", 64)
    rng = np.random.default_rng(5)

    def feature(n: int, spike: bool) -> np.ndarray:  # half the values in a narrow spike
        if not spike:
            return rng.normal(size=n)
        return np.concatenate([rng.normal(size=n // 2), rng.normal(scale=1e-6, size=n - n // 2)])

    # After the bucket pass one feature has few open values (fetched) and the other more than
    # ZOOM_OVER (its open buckets zoomed, counted): one pass does both.
    a = np.column_stack([feature(6000, False), feature(6000, True)])
    b = np.column_stack([feature(5000, False) + 0.05, feature(5000, True)])
    a[::37, 0] = np.nan  # NaNs left out ("omit") in a pass that counts and fetches
    b[::41, 1] = np.nan
    A, B = chunked(a, [1000, 2500, 0, 2500]), chunked(b, [2000, 3000])
    readers: list[int] = []
    mixed = []
    compute = Job.compute

    def counting(self, *objects):
        graph = HighLevelGraph.merge(*(o.__dask_graph__() for o in objects))
        parts = {str(p.key) for p in table(A, "a").parts + table(B, "b").parts}
        users = dict.fromkeys(parts, 0)
        for deps in graph.get_all_dependencies().values():
            for dep in deps:
                if str(dep) in users:
                    users[str(dep)] += 1
        readers.append(max(users.values()))
        values = compute(self, *objects)
        # (fingerprint, counts, values, zoomed counts, zoomed values) of each sample
        mixed.append(any((v[1] is not None or v[3] is not None)
                         and (v[2] is not None or v[4] is not None)
                         for v in values if isinstance(v, tuple) and len(v) == 5))
        return values

    monkeypatch.setattr(Job, "compute", counting)
    got = pwd.ks_2samp(A, B, nan_policy="omit")
    one = pw.ks_2samp(a, b, nan_policy="omit")
    for field in ("statistic", "pvalue", "statistic_location", "statistic_sign", "n1", "n2"):
        assert np.array_equal(getattr(got, field), getattr(one, field)), field
    assert max(readers) == 1
    assert any(mixed), "the case must have a pass that counts and fetches"


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 60), st.integers(0, 400))
def test_fetch_cells_select_the_open_cells_values(seed, m, budget):
    # The fetch pass looks values up among the edges of the open runs only (after covering
    # fills cheap gaps): the values it selects are exactly those of the (covered) cells.
    from pipeward.reference import cells as reference  # noqa: PLC0415

    rng = np.random.default_rng(seed)
    x = np.round(rng.normal(size=(2, 300)), 1)
    x[:, ::29] = np.nan
    cells = [_cells.Cells(np.unique(np.round(rng.normal(size=m), 1))) for _ in range(2)]
    opens = {}
    for f, c in enumerate(cells):
        open_ = rng.random(c.edges.size + 1) < rng.random()
        counts = np.bincount(reference.cell_of(x[f][~np.isnan(x[f])], c.edges),
                             minlength=c.edges.size + 1)
        covered = _cells.covering(open_, counts, budget)
        assert (covered | ~open_).all()  # a superset
        assert counts[covered].sum() <= max(counts[open_].sum(), budget)
        opens[f] = covered
    edges, flags = _cells.fetch_cells(cells, {0: opens[0]} | ({1: opens[1]} if seed % 2 else {}))
    values, sizes = _core.drift_cell_values(x, edges, flags)
    for f, c in enumerate(cells):
        want = opens[f] if f == 0 or seed % 2 else np.zeros(c.edges.size + 1, dtype=bool)
        row = x[f][~np.isnan(x[f])]
        expected = row[want[reference.cell_of(row, c.edges)]]
        got = np.split(values, np.cumsum(sizes)[:-1])[f]
        assert np.array_equal(got, expected)


@pytest.mark.parametrize("policy", ["propagate", "omit", "raise"])
def test_ks_nan_policy_equals_one_machine(client, small_cells, policy):
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(300, 3)), rng.normal(size=(200, 3))
    a[::17, 1] = np.nan
    b[:, 2] = np.nan  # a sample left empty by "omit"
    A, B = chunked(a, [100, 0, 150, 50]), chunked(b, [120, 80])
    if policy == "raise":
        with pytest.raises(ValueError, match="data1 contains NaN"):
            pwd.ks_2samp(A, B, nan_policy=policy)
        return
    with warnings.catch_warnings(record=True) as ours:
        warnings.simplefilter("always")
        got = pwd.ks_2samp(A, B, nan_policy=policy)
    with warnings.catch_warnings(record=True) as theirs:
        warnings.simplefilter("always")
        one = pw.ks_2samp(a, b, nan_policy=policy)
    assert [str(w.message) for w in ours] == [str(w.message) for w in theirs]
    for field in ("statistic", "pvalue", "statistic_location", "statistic_sign", "n1", "n2"):
        assert np.array_equal(getattr(got, field), getattr(one, field), equal_nan=True), field


def test_ks_one_d_and_dataframes(client):
    rng = np.random.default_rng(8)
    a, b = rng.normal(size=500), rng.normal(size=400)
    got = pwd.ks_2samp(da.from_array(a, chunks=90), da.from_array(b, chunks=150))
    one = pw.ks_2samp(a, b)
    assert got.statistic == one.statistic and got.pvalue == one.pvalue
    assert type(got.statistic_location) is type(one.statistic_location)
    fa = pd.DataFrame({"x": a[:400], "k": rng.integers(0, 5, 400)})
    fb = pd.DataFrame({"x": b, "k": rng.integers(0, 6, 400)})
    got = pwd.ks_2samp(dd.from_pandas(fa, npartitions=3), dd.from_pandas(fb, npartitions=2))
    one = pw.ks_2samp(fa.to_numpy(np.float64), fb.to_numpy(np.float64))
    assert np.array_equal(got.statistic, one.statistic) and np.array_equal(got.pvalue, one.pvalue)


def test_categorical_and_string_columns_are_a_clear_error(client):
    frame = pd.DataFrame({"x": np.arange(6.0), "s": list("abcabc"),
                          "c": pd.Categorical(list("xyzxyz"))})
    ddf = dd.from_pandas(frame, npartitions=2)
    for call in (lambda: pwd.ks_2samp(ddf, ddf), lambda: pwd.psi(ddf, ddf),
                 lambda: pwd.DriftMonitor(ddf), lambda: pwd.MahalanobisDetector().fit(ddf)):
        with pytest.raises(TypeError, match=r"non-numeric column\(s\) s .*c \(category\)"):
            call()


def test_bad_inputs_are_clear_errors(client):
    x = da.from_array(np.zeros((10, 2)), chunks=5)
    with pytest.raises(TypeError, match="expected a Dask array or Dask DataFrame, got ndarray"):
        pwd.ks_2samp(np.zeros((10, 2)), x)
    with pytest.raises(TypeError, match="share a dtype"):
        pwd.ks_2samp(x, x.astype(np.float32))
    with pytest.raises(TypeError, match="float32 or float64"):
        pwd.ks_2samp(x.astype(np.int64), x.astype(np.int64))
    with pytest.raises(ValueError, match="same features"):
        pwd.ks_2samp(x, x[:, :1])
    with pytest.raises(ValueError, match="axis 0"):
        pwd.ks_2samp(x, x, axis=1)
    with pytest.raises(ValueError, match="at least one sample"):
        pwd.ks_2samp(x[:0], x)
    with pytest.raises(ValueError, match="'quantile' or 'uniform'"):
        pwd.psi(x, x, binning="evidently")


def test_data_that_changes_between_passes_is_an_error_not_an_answer(client, small_cells):
    import dask  # noqa: PLC0415

    def fresh() -> np.ndarray:  # new random values every time the task runs
        return np.random.default_rng().normal(size=(400, 1))

    flaky = da.from_delayed(dask.delayed(fresh, pure=False)(), shape=(400, 1), dtype=float)
    steady = da.from_array(np.random.default_rng(0).normal(size=(300, 1)), chunks=100)
    with pytest.raises(RuntimeError, match="changed between two passes"):
        pwd.ks_2samp(flaky, steady)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("width", [1, 2, 3, 16])
def test_partition_fingerprint_sees_any_changed_value_but_not_row_order(dtype, width):
    # float32 rows of even width take the 64-bit-word path, odd ones the per-value path
    rng = np.random.default_rng(width)
    block = rng.normal(size=(257, width)).astype(dtype)
    fp = _cells._fingerprint(block)
    assert _cells._fingerprint(block[rng.permutation(257)]) == fp
    assert _cells._fingerprint(np.asfortranarray(block)) == fp
    assert _cells._fingerprint(block[:0]) == 0
    for i, j in [(0, 0), (128, width - 1), (256, width // 2)]:
        changed = block.copy()
        changed[i, j] = np.nextafter(changed[i, j], np.inf)  # one bit of one value
        assert _cells._fingerprint(changed) != fp


def test_a_killed_worker_is_retried_or_fails_cleanly(client):
    rng = np.random.default_rng(9)
    a, b = rng.normal(size=(40_000, 2)), rng.normal(0.01, size=(30_000, 2))

    def slow(block):  # keep tasks running long enough to lose a worker under them
        time.sleep(0.05)
        return block

    A = da.from_array(a, chunks=(2000, 2)).map_blocks(slow)
    B = da.from_array(b, chunks=(2000, 2)).map_blocks(slow)
    pids = client.run(os.getpid)
    killer = threading.Timer(0.6, os.kill, (next(iter(pids.values())), signal.SIGKILL))
    killer.start()
    try:
        got = pwd.ks_2samp(A, B, client=client)
    except distributed.KilledWorker:  # Dask gave up on the task: a clean failure
        got = None
    finally:
        killer.join()
    client.wait_for_workers(2, timeout=60)
    assert set(client.run(os.getpid).values()) != set(pids.values())  # a worker was replaced
    if got is not None:
        peer = scipy_stats.ks_2samp(a, b)
        assert np.array_equal(got.statistic, peer.statistic)
        assert np.array_equal(got.statistic_location, peer.statistic_location)


def test_order_statistics_equal_a_full_sort(client, small_cells):
    rng = np.random.default_rng(10)
    x = np.round(rng.standard_cauchy(size=(1000, 2)), 0)
    x[::50, 0] = np.nan
    t = table(chunked(x, [300, 0, 450, 250]), "x")
    ranks = [np.array([0, 17, 480, 949]), np.array([999, 500, 3])]
    got = order_statistics(Job("test", client), t.parts, ranks)
    for f in range(2):
        col = np.sort(x[~np.isnan(x[:, f]), f])
        assert np.array_equal(got[f], col[ranks[f]])


# --- PSI and the monitor --------------------------------------------------------------------

@pytest.mark.parametrize("binning", ["quantile", "uniform", "edges"])
def test_psi_equals_one_machine(client, small_cells, binning):
    rng = np.random.default_rng(11)
    a, b = rng.normal(size=(2000, 3)), rng.normal(0.2, size=(1500, 3))
    a[::13, 0], a[5, 1], a[6, 1], b[::7, 2] = np.nan, np.inf, -np.inf, np.nan
    bins = np.array([-1.0, 0.0, 0.5]) if binning == "edges" else 10
    kind = "quantile" if binning == "edges" else binning
    A, B = chunked(a, [700, 0, 800, 500]), chunked(b, [1000, 500])
    assert np.array_equal(pwd.psi(A, B, bins=bins, binning=kind),
                          pw.psi(a, b, bins=bins, binning=kind))
    assert pwd.psi(A[:, 0], B[:, 0]) == pw.psi(a[:, 0], b[:, 0])


def test_drift_monitor_report_and_one_audit_record(client, tmp_path):
    rng = np.random.default_rng(12)
    a = rng.normal(size=(6000, 4)).astype(np.float32)
    b = rng.normal(size=(5000, 4)).astype(np.float32)
    b[:, 3] += 0.2
    a[::31, 2] = np.nan
    b[::19, 1] = np.nan
    monitor = pwd.DriftMonitor(chunked(a, [2500, 2500, 1000]), feature_names=list("abcd"))
    report = monitor.check(chunked(b, [1000] * 5))
    one = pw.DriftMonitor(a, feature_names=list("abcd")).check(b)
    for field in ("ks_statistic", "ks_pvalue", "ks_pvalue_adjusted", "psi", "nan_reference",
                  "nan_current", "drifted"):
        assert np.array_equal(getattr(report, field), getattr(one, field), equal_nan=True), field
    assert "d" in report.drifted_features and report.drifted_features == one.drifted_features
    with pw.AuditLog(tmp_path / "audit.db") as log:
        monitor.check(chunked(b, [1000] * 5), audit=log)
        records = list(log.records())
        assert log.verify().ok
    assert len(records) == 1 and records[0].action == "monitor.drift"
    job = records[0].payload["job"]
    assert job["job"] == "drift.check" and job["n_partitions"] == 8
    assert len(job["partitions_digest"]) == 64
    # PSI's bins ride on KS's first count pass: the check reads the data no more than KS.
    pwd.ks_2samp(chunked(a, [2500, 2500, 1000]), chunked(b, [1000] * 5), nan_policy="omit")
    assert job["passes"] == pwd.last_job().passes


@pytest.mark.parametrize("tests", [("psi",), ("ks",)])
def test_drift_monitor_with_one_test_equals_one_machine(client, tests):
    rng = np.random.default_rng(13)
    a, b = rng.normal(size=(3000, 3)), rng.normal(0.1, size=(2000, 3))
    b[::7, 0] = np.nan
    report = pwd.DriftMonitor(chunked(a, [1000] * 3), tests=tests).check(chunked(b, [700, 1300]))
    one = pw.DriftMonitor(a, tests=tests).check(b)
    for field in ("ks_statistic", "ks_pvalue", "psi", "nan_current", "drifted"):
        assert np.array_equal(getattr(report, field), getattr(one, field), equal_nan=True), field


# --- manifests ----------------------------------------------------------------------------

def test_manifest_root_equals_one_machine(client, tmp_path):
    root = tmp_path / "data"
    (root / "sub").mkdir(parents=True)
    rng = np.random.default_rng(13)
    for i in range(300):
        (root / f"f{i}.bin").write_bytes(rng.bytes(int(rng.integers(0, 5000))))
    (root / "sub" / "skip.tmp").write_text("x")
    os.symlink("f1.bin", root / "sub" / "link")
    one = pw.Manifest.build(root, exclude=["*.tmp"])
    assert pwd.build_manifest(root, exclude=["*.tmp"]).root == one.root
    assert pwd.build_manifest(f"file://{root}", exclude=["*.tmp"]).root == one.root
    (root / "f3.bin").write_bytes(b"tampered")
    (root / "f4.bin").unlink()
    (root / "new.bin").write_bytes(b"new")
    with pw.AuditLog(tmp_path / "audit.db") as log:
        got = pwd.verify_manifest(one, root, audit=log)
        records = list(log.records())
    assert got == one.verify(root) and not got.ok
    assert got.modified == ("f3.bin",) and got.removed == ("f4.bin",)
    assert len(records) == 1 and records[0].payload["job"]["job"] == "manifest.verify"


def test_manifest_of_an_fsspec_listing(client, tmp_path):
    files = []
    for i in range(5):
        p = tmp_path / "d" / f"{i}.txt"
        p.parent.mkdir(exist_ok=True)
        p.write_text("x" * i)
        files.append(str(p))
    m = pwd.build_manifest(files)
    assert [e.path for e in m.entries] == [f"{i}.txt" for i in range(5)]
    assert m.root == pw.Manifest.build(tmp_path / "d").root


# --- outliers -----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def contaminated():
    rng = np.random.default_rng(14)
    X = rng.normal(size=(5000, 4)) @ rng.normal(size=(4, 4))
    X[:50] += 12.0
    return X


@pytest.mark.parametrize("method", ["empirical", "ledoit_wolf", "oas"])
def test_detector_equals_one_machine_fit(client, contaminated, method):
    X = contaminated
    D = chunked(X, [1200, 0, 2000, 1800])
    ours = pwd.MahalanobisDetector(method).fit(D)
    one = pw.MahalanobisDetector(method).fit(X)
    scale = np.abs(one.covariance_).max()
    assert np.abs(ours.covariance_ - one.covariance_).max() <= 1e-12 * scale
    assert np.abs(ours.location_ - one.location_).max() <= 1e-12 * np.abs(one.location_).max()
    assert ours.threshold_ == pytest.approx(one.threshold_, rel=1e-12)
    assert np.array_equal(ours.predict(D).compute(), one.predict(X))
    np.testing.assert_allclose(ours.mahalanobis(D).compute(), one.mahalanobis(X), rtol=1e-10)


def test_detector_on_a_dataframe_and_float32(client, contaminated):
    frame = pd.DataFrame(contaminated.astype(np.float32), columns=list("abcd"))
    ddf = dd.from_pandas(frame, npartitions=3)
    ours = pwd.MahalanobisDetector("empirical", alpha=0.01, threshold="chi2").fit(ddf)
    one = pw.MahalanobisDetector("empirical", alpha=0.01, threshold="chi2").fit(frame)
    assert np.abs(ours.covariance_ - one.covariance_).max() <= 1e-12 * np.abs(one.covariance_).max()
    assert list(ours.feature_names_in_) == list("abcd")
    pred = ours.predict(ddf).compute()
    assert np.array_equal(pred.to_numpy(), one.predict(frame))



def test_contamination_threshold_takes_two_passes(client, contaminated):
    # Regression: the statistics pass also reads a sample of rows, whose distances guess
    # where the quantile lies, so the next pass counts and fetches it at once: statistics,
    # count + fetch (the old code took statistics, count, fetch).
    X = contaminated
    det = pwd.MahalanobisDetector("empirical").fit(chunked(X, [1500, 2000, 1500]))
    assert pwd.last_job().passes == 2
    one = pw.MahalanobisDetector("empirical").fit(X)
    assert det.threshold_ == pytest.approx(one.threshold_, rel=1e-12)  # as the fit test


@settings(max_examples=10, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), good=st.booleans(), ties=st.booleans())
def test_order_statistics_from_a_guess_equal_a_full_sort(client, seed, good, ties):
    # A sample that guesses well finishes in one pass; one that guesses badly (shifted) costs
    # passes but never changes the answer.
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(3000, 2))
    if ties:
        x = np.round(x, 1)
    x[::97, 1] = np.nan
    sizes = [int((~np.isnan(x[:, f])).sum()) for f in range(2)]
    ranks = [np.sort(rng.integers(0, s, size=2)) for s in sizes]
    sample = x[rng.choice(3000, 400, replace=False)] + (0.0 if good else 3.0)
    t = table(chunked(x, split(3000, rng, 4)), "x")
    job = Job("test", client)
    got = order_statistics(job, t.parts, ranks, sample, sizes=sizes)
    for f in range(2):
        assert np.array_equal(got[f], np.sort(x[~np.isnan(x[:, f]), f])[ranks[f]])
    if good:
        assert job.stats.passes == 1
    else:
        assert job.stats.passes >= 2


def test_distributed_mcd_is_robust(client, contaminated):
    X = contaminated
    D = chunked(X, [1500, 1500, 2000])
    ours = pwd.MahalanobisDetector("mcd", random_state=0).fit(D)
    one = pw.MahalanobisDetector("mcd", random_state=0).fit(X)
    clean = np.cov(X[50:], rowvar=False, bias=True)
    # the planted cluster is left out, and the raw support is as good as one machine's
    assert np.abs(ours.location_ - X[50:].mean(axis=0)).max() < 0.1
    assert np.abs(ours.covariance_ - clean).max() < 0.1 * np.abs(clean).max()
    ours_det = np.linalg.slogdet(ours.raw_covariance_)[1]
    one_det = np.linalg.slogdet(one.raw_covariance_)[1]
    assert ours_det <= one_det + 1e-3
    flagged = np.flatnonzero(ours.predict(D).compute() == -1)
    assert set(range(50)) <= set(flagged)


def test_c_steps_from_a_start_equal_one_machine(client, contaminated):
    from pipeward.dask.outliers import _c_steps  # noqa: PLC0415
    from pipeward.dask._job import shared  # noqa: PLC0415
    from pipeward.outliers.mcd import _c_steps as one_c_steps, _fit_rows  # noqa: PLC0415

    X = contaminated
    start = _fit_rows(X, np.arange(100, 600), None, 1e10)
    h = 2600
    one, rows = one_c_steps(X, h, start, 30, None, 1e10)
    t = table(chunked(X, [1000, 2500, 1500]), "X")
    ours = _c_steps(Job("test", client), t.parts, shared(None), start, h, X[::10], 1e10)
    assert np.abs(ours.covariance - one.covariance).max() <= 1e-12 * np.abs(one.covariance).max()
    assert ours.logdet == pytest.approx(one.logdet, rel=1e-12)


def test_screen_outliers_equal_one_machine(client, contaminated, tmp_path):
    X = contaminated
    with pw.AuditLog(tmp_path / "audit.db") as log:
        ours = pwd.screen(chunked(X, [1000, 0, 2500, 1500]), audit=log)
        records = list(log.records())
    one = pw.screen(X)
    assert np.array_equal(ours.outliers, one.outliers)
    np.testing.assert_allclose(ours.pvalues.compute(), one.pvalues, rtol=1e-9, atol=1e-300)
    assert len(records) == 1 and records[0].payload["n_outliers"] == one.outliers.size
    with pytest.raises(ValueError, match="outlier part only"):
        pwd.screen(chunked(X, [5000]), np.zeros(5000))


def test_runs_without_a_distributed_client(monkeypatch):
    import dask  # noqa: PLC0415

    def no_client():
        raise ValueError("No clients found")

    monkeypatch.setattr(distributed, "default_client", no_client)
    rng = np.random.default_rng(15)
    a, b = rng.normal(size=(300, 2)), rng.normal(size=(200, 2))
    with dask.config.set(scheduler="synchronous"):
        got = pwd.ks_2samp(da.from_array(a, chunks=100), da.from_array(b, chunks=70))
    assert np.array_equal(got.statistic, scipy_stats.ks_2samp(a, b).statistic)
    assert Job("x", None).client is None
