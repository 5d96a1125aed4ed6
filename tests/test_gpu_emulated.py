"""The GPU launchers and the public functions' CuPy dispatch, run on CPU with a NumPy stand-in
for CuPy (tests/fake_cupy.py) whose kernels are NumPy emulations.

This checks the glue on every machine: argument types against the .cu signatures (checked in
``module.launch``), shapes, dtypes, strides, the host p-value step, the return types. The CUDA
code itself is checked by nvcc/NVRTC, by running its host/device parts on the host
(test_gpu_sources.py) and on a GPU (test_gpu_*.py).
"""

from __future__ import annotations

import hashlib
import sys

import fake_cupy
import numpy as np
import pytest

import pipeward as pw
from pipeward import _backend
from pipeward._gpu import module
from pipeward.outliers import CovarianceWarning


@pytest.fixture
def cp(monkeypatch):
    fake, fake_cupyx = fake_cupy.make_cupy()
    monkeypatch.setitem(sys.modules, "cupy", fake)
    monkeypatch.setitem(sys.modules, "cupyx", fake_cupyx)
    _backend.cupy.cache_clear()
    module._modules.clear()
    fake_cupy.launches()
    yield fake
    _backend.cupy.cache_clear()
    module._modules.clear()


def _is_device(x) -> bool:
    return isinstance(x, fake_cupy.FakeArray)


def _digests(messages) -> np.ndarray:
    return np.stack([np.frombuffer(hashlib.sha256(bytes(m)).digest(), np.uint8) for m in messages])


def test_sha256_chunks_dispatch(cp, rng):
    host = rng.integers(0, 256, size=(9, 130), dtype=np.uint8)
    rows = cp.asarray(host)[:, 3:120]  # strided rows
    got = pw.sha256_batch(rows)
    assert _is_device(got) and got.shape == (9, 32)
    np.testing.assert_array_equal(got.get(), _digests(host[:, 3:120]))
    assert [name for name, _ in fake_cupy.launches()] == ["sha256_chunks"]


def test_sha256_messages_dispatch(cp, rng):
    arrays = [cp.asarray(rng.standard_normal(s)).astype(np.float32) for s in (0, 1, (4, 5), 1000)]
    got = pw.sha256_batch(arrays)
    np.testing.assert_array_equal(got.get(), _digests([a.get().tobytes() for a in arrays]))


def test_sha256_of_one_device_array(cp, rng):
    host = rng.standard_normal((5, 7))
    assert pw.sha256(cp.asarray(host)) == hashlib.sha256(host.tobytes()).hexdigest()


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_clip_and_noise_dispatch(cp, rng, dtype):
    grads = [rng.standard_normal((16, 3, 5)).astype(dtype), rng.standard_normal((16, 7)).astype(dtype)]
    for kwargs in ({}, {"reduction": "mean", "expected_batch_size": 20},
                   {"convention": "tf_privacy"}):
        want = pw.clip_and_noise(grads, 1.0, 1.3, seed=11, **kwargs)
        got = pw.clip_and_noise([cp.asarray(g) for g in grads], 1.0, 1.3, seed=11, **kwargs)
        for w, g in zip(want, got, strict=True):
            assert _is_device(g) and g.shape == w.shape and g.dtype == w.dtype
            np.testing.assert_allclose(g.get(), w, rtol=1e-6, atol=1e-6)
    per_layer = pw.clip_and_noise([cp.asarray(g) for g in grads], [0.5, 2.0], 1.0, seed=3,
                                  return_stats=True)
    want = pw.clip_and_noise(grads, [0.5, 2.0], 1.0, seed=3, return_stats=True)
    np.testing.assert_allclose(per_layer.per_sample_norms.get(), want.per_sample_norms, rtol=1e-6)
    assert per_layer.clipped_fraction == pytest.approx(want.clipped_fraction)
    secure = pw.clip_and_noise(cp.asarray(grads[1]), 1.0, 1.0, secure=True)
    assert _is_device(secure) and secure.shape == (7,)


def test_float32_noise_beyond_flt_max_is_an_overflow_error_on_the_gpu(cp):
    """The CUDA kernel checks what it stores, as the CPU kernel does (sigma * C = 1e40)."""
    g = np.ones((3, 5), np.float32)
    for grads in (g, g[:0]):
        with pytest.raises(ValueError, match="overflow: .* float32"):
            pw.clip_and_noise(cp.asarray(grads), 1e30, 1e10, seed=1)
    got = pw.clip_and_noise(cp.asarray(g), 1e30, 1e7, seed=1)
    np.testing.assert_allclose(got.get(), pw.clip_and_noise(g, 1e30, 1e7, seed=1), rtol=1e-6)


@pytest.mark.parametrize("per_layer", [False, True])
def test_finite_huge_gradients_are_clipped_on_the_gpu(cp, per_layer):
    """Their squared norms overflow: the clip factor was 0 and the samples vanished silently."""
    g = np.full((4, 10), 1e200)
    g[1] *= -1
    h = np.full((4, 3), 3e199)
    limits = [1.0, 1.0] if per_layer else 1.0
    with np.errstate(over="ignore"):  # the NumPy stand-in warns where CuPy is silent
        got = pw.clip_and_noise([cp.asarray(g), cp.asarray(h)], limits, 0.0)
        with pytest.raises(ValueError, match="overflow: the L2 norm"):
            pw.clip_and_noise(cp.asarray(np.full((2, 10), 1e308)), 1.0, 0.0)
    want = pw.clip_and_noise([g, h], limits, 0.0)
    for a, b in zip(got, want):
        np.testing.assert_allclose(a.get(), b, rtol=1e-12)


def test_clip_and_noise_nan_is_refused(cp):
    g = np.ones((4, 6), dtype=np.float32)
    g[1, 2] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        pw.clip_and_noise(cp.asarray(g), 1.0, 1.0, seed=1)


@pytest.mark.parametrize("method", ["auto", "exact", "asymp"])
@pytest.mark.parametrize("alternative", ["two-sided", "less", "greater"])
def test_ks_2samp_dispatch(cp, rng, method, alternative):
    a = np.round(rng.standard_normal((300, 4)), 1)
    b = np.round(rng.standard_normal((200, 4)), 1) + 0.2
    a[5, 1] = np.nan
    for nan_policy in ("propagate", "omit"):
        want = pw.ks_2samp(a, b, alternative, method, nan_policy=nan_policy)
        got = pw.ks_2samp(cp.asarray(a), cp.asarray(b), alternative, method, nan_policy=nan_policy)
        for field in ("statistic", "pvalue", "statistic_location", "statistic_sign", "n1", "n2"):
            value = getattr(got, field)
            assert _is_device(value), field
            np.testing.assert_allclose(value.get(), getattr(want, field), rtol=1e-12, err_msg=field)
    one = pw.ks_2samp(cp.asarray(a[:, 0]), cp.asarray(b[:, 0]), alternative, method)
    assert _is_device(one.statistic) and one.statistic.shape == ()


@pytest.mark.parametrize("binning", ["quantile", "uniform"])
def test_psi_dispatch(cp, rng, binning):
    ref = rng.standard_normal((2000, 5))
    cur = rng.standard_normal((1000, 5)) + 0.3
    ref[3, 2] = np.nan
    for data in ((ref, cur), (np.asfortranarray(ref), cur)):
        want = pw.psi(*data, binning=binning)
        got = pw.psi(*(cp.asarray(d) for d in data), binning=binning)
        assert _is_device(got)
        np.testing.assert_allclose(got.get(), want, rtol=1e-12)
    edges = np.array([-1.0, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(pw.psi(cp.asarray(ref), cp.asarray(cur), bins=edges).get(),
                               pw.psi(ref, cur, bins=edges), rtol=1e-12)


@pytest.mark.parametrize("d", [3, 40])
def test_mahalanobis_dispatch(cp, rng, d):
    if not hasattr(pw, "mahalanobis"):
        pytest.skip("pw.mahalanobis is not exported in this tree (outliers family not merged)")
    A = rng.standard_normal((d, d))
    prec = np.linalg.inv(A @ A.T + d * np.eye(d))
    X = rng.standard_normal((500, d))
    loc = X.mean(axis=0)
    want = pw.mahalanobis(X, loc, prec)
    got = pw.mahalanobis(cp.asarray(X), cp.asarray(loc), cp.asarray(prec))
    assert _is_device(got)
    np.testing.assert_allclose(got.get(), want, rtol=1e-10)
    from pipeward._gpu import mahalanobis

    count, mean, m2 = mahalanobis.comoment(cp.asarray(np.asfortranarray(X)))
    c = X - X.mean(axis=0)
    assert count == 500
    np.testing.assert_allclose(m2.get(), c.T @ c, rtol=1e-10)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_feature_sort_keys_order_like_numpy(cp, rng, dtype):
    from pipeward._gpu import drift

    x = np.round(rng.standard_normal((6, 777)), 1).astype(dtype)
    x[rng.random(x.shape) < 0.05] = np.nan
    x[0, :3], x[1, :3] = np.inf, -np.inf
    x[2, :2] = [-0.0, 0.0]
    x[3, :4] = [np.finfo(dtype).max, -np.finfo(dtype).max, np.finfo(dtype).tiny, -np.finfo(dtype).tiny]
    for view in (cp.asarray(x), cp.asarray(np.asfortranarray(x)), cp.asarray(x.T.copy()).T):
        got = drift.sort_features(view)
        assert got.dtype == dtype and got.flags.c_contiguous
        np.testing.assert_array_equal(got.get(), np.sort(x, axis=1))


def test_device_edges_follow_numpy_rounding(cp, rng):
    from pipeward._gpu import drift

    x = rng.standard_normal((5, 1001)) * 1e3
    x[0, :10], x[1, :5], x[2, :5], x[3] = np.nan, np.inf, -np.inf, np.nan
    for bins in (1, 2, 7, 10, 64):
        got_q = drift.quantile_edges(cp.asarray(x), bins).get()
        got_u = drift.uniform_edges(cp.asarray(x), bins).get()
        for f in range(5):
            finite = x[f][np.isfinite(x[f])]
            if finite.size == 0:
                assert not got_q[f].any() and not got_u[f].any()
                continue
            np.testing.assert_array_equal(got_q[f], np.quantile(finite, np.arange(1, bins) / bins))
            np.testing.assert_array_equal(
                got_u[f], np.linspace(finite.min(), finite.max(), bins + 1)[1:-1])
    wide = np.array([[-np.finfo(np.float64).max, 0.0, np.finfo(np.float64).max]])
    from pipeward.drift.psi import uniform_interior

    got = drift.uniform_edges(cp.asarray(wide), 10).get()[0]  # hi - lo overflows
    assert np.all(np.isfinite(got)) and np.all(np.diff(got) > 0)
    np.testing.assert_array_equal(got, uniform_interior(wide[0, 0], wide[0, 2], 10))


def test_psi_evidently_dispatch(cp, rng):
    ref = rng.standard_normal((3000, 4)) * [1.0, 1e-3, 5.0, 1.0]
    cur = rng.standard_normal((500, 4)) + 0.4
    ref[:, 3], cur[:, 3] = 7.0, 7.0  # a constant feature: one Sturges bin
    ref[4, 0], cur[2, 2] = np.nan, np.inf
    for dtype in (np.float64, np.float32):
        r, c = ref.astype(dtype), cur.astype(dtype)
        want = pw.psi(r, c, binning="evidently")
        got = pw.psi(cp.asarray(r), cp.asarray(c), binning="evidently")
        assert _is_device(got) and got.dtype == np.float64
        np.testing.assert_allclose(got.get(), want, rtol=1e-12)
    one = pw.psi(cp.asarray(ref[:, 0]), cp.asarray(cur[:, 0]), binning="evidently")
    assert _is_device(one) and one.shape == ()
    assert float(one) == pytest.approx(pw.psi(ref[:, 0], cur[:, 0], binning="evidently"), rel=1e-12)


def test_sturges_edges_from_the_range_match_numpy(rng):
    from pipeward._gpu import drift

    for size in (1, 2, 3, 7, 100, 1000, 12345):
        for scale in (1.0, 1e-300, 1e300, 3.0):
            v = rng.standard_normal(size) * scale
            try:
                want = np.histogram_bin_edges(v, "sturges")[1:-1]
            except ValueError as exc:  # a range below float resolution: the same refusal
                with pytest.raises(ValueError, match=str(exc)):
                    drift._sturges_interior(float(v.min()), float(v.max()), v.size)
                continue
            got = drift._sturges_interior(float(v.min()), float(v.max()), v.size)
            np.testing.assert_array_equal(got, want)
    assert drift._sturges_interior(0.0, 0.0, 0).size == 0


@pytest.mark.parametrize("binning", ["quantile", "uniform"])
def test_psi_profile_dispatch(cp, rng, binning):
    ref = rng.standard_normal((2000, 6)).astype(np.float32)
    cur = rng.standard_normal((700, 6)).astype(np.float32) * 1.3
    ref[7, 1] = cur[3, 4] = np.nan
    want = pw.PsiProfile.fit(ref, binning=binning, bins=8)
    got = pw.PsiProfile.fit(cp.asarray(ref), binning=binning, bins=8)
    assert _is_device(got.edges) and _is_device(got.counts) and got.counts.dtype == np.int64
    np.testing.assert_array_equal(got.edges.get(), want.edges)
    np.testing.assert_array_equal(got.counts.get(), want.counts)
    counts = got.count(cp.asarray(cur))
    assert _is_device(counts)
    np.testing.assert_array_equal(counts.get(), want.count(cur))
    value = got.psi(cp.asarray(cur))
    assert _is_device(value)
    np.testing.assert_allclose(value.get(), want.psi(cur), rtol=1e-12)
    parts = [pw.PsiProfile.fit(cp.asarray(p), edges=got.edges) for p in np.array_split(ref, 3)]
    merged = parts[0].merge(parts[1]).merge(parts[2])
    np.testing.assert_array_equal(merged.counts.get(), want.counts)
    given = pw.PsiProfile.fit(cp.asarray(ref), edges=want.edges)  # host edges: sent up
    np.testing.assert_array_equal(given.counts.get(), want.counts)
    with pytest.raises(TypeError, match="fitted on CuPy arrays"):
        got.psi(cur)
    with pytest.raises(TypeError, match="fitted on NumPy arrays"):
        want.count(cp.asarray(cur))
    with pytest.raises(TypeError, match="cannot merge"):
        got.merge(want)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_drift_monitor_dispatch(cp, rng, dtype, tmp_path):
    ref = np.round(rng.standard_normal((400, 5)), 2).astype(dtype)
    cur = (np.round(rng.standard_normal((300, 5)), 2) + [0, 0.5, 0, 0, 1]).astype(dtype)
    ref[3, 0] = cur[7, 2] = cur[8, 2] = np.nan
    for kwargs in ({}, {"method": "asymp", "binning": "uniform"}, {"tests": ("ks",)},
                   {"tests": ("psi",), "bins": np.array([-1.0, 0.0, 1.0])}):
        want = pw.DriftMonitor(ref, **kwargs).check(cur)
        monitor = pw.DriftMonitor(cp.asarray(ref), **kwargs)
        assert _is_device(monitor._sorted) and _is_device(monitor._edges)
        got = monitor.check(cp.asarray(cur))
        for field in ("ks_statistic", "ks_pvalue", "ks_pvalue_adjusted", "psi"):
            value = getattr(got, field)
            assert type(value) is np.ndarray, field  # the report is host data
            np.testing.assert_allclose(value, getattr(want, field), rtol=1e-12, err_msg=field)
        for field in ("nan_reference", "nan_current", "drifted"):
            np.testing.assert_array_equal(getattr(got, field), getattr(want, field), field)
    one = pw.DriftMonitor(cp.asarray(ref[:, 1])).check(cp.asarray(cur[:, 1]))
    assert one.ks_pvalue.shape == (1,) and one.any_drift
    with pytest.raises(TypeError, match="fitted on CuPy data"):
        monitor.check(cur)
    with pytest.raises(TypeError, match="fitted on host data"):
        pw.DriftMonitor(ref).check(cp.asarray(cur))
    with pytest.raises(TypeError, match="same dtype"):
        monitor.check(cp.asarray(cur.astype(np.float64 if dtype == np.float32 else np.float32)))
    bad = ref.copy()
    bad[:, 4] = np.nan
    with pytest.raises(ValueError, match="no non-NaN value"):
        pw.DriftMonitor(cp.asarray(bad))
    path = tmp_path / "profile.npz"
    monitor.save(path)  # writes the GPU profile through an explicit read-back
    loaded = pw.DriftMonitor.load(path)
    np.testing.assert_array_equal(loaded.check(cur).psi, want.psi)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_covariance_stats_dispatch(cp, rng, dtype):
    X = (rng.standard_normal((300, 7)) * 4 + 100).astype(dtype)
    want = pw.CovarianceStats.from_data(X)
    got = pw.CovarianceStats.from_data(cp.asarray(np.asfortranarray(X)))
    assert _is_device(got.mean) and _is_device(got.comoment) and got.count == 300
    np.testing.assert_allclose(got.mean.get(), want.mean, rtol=1e-12)
    np.testing.assert_allclose(got.comoment.get(), want.comoment, rtol=1e-9)
    parts = [pw.CovarianceStats.from_data(cp.asarray(p)) for p in np.array_split(X, 3)]
    merged = parts[0] + parts[1] + parts[2]
    assert _is_device(merged.comoment)
    np.testing.assert_allclose(merged.covariance().get(), want.covariance(), rtol=1e-9)
    assert (pw.CovarianceStats.empty(7) + got).count == 300  # an empty host start merges
    with pytest.raises(TypeError, match="cannot merge GPU"):
        got.merge(want)
    bad = X.copy()
    bad[5, 2] = np.inf
    # CuPy computes with the infinity silently; the NumPy stand-in's operators would warn.
    with np.errstate(all="ignore"), pytest.raises(ValueError, match="NaN or infinity"):
        pw.CovarianceStats.from_data(cp.asarray(bad))


@pytest.mark.parametrize("method", ["empirical", "ledoit_wolf", "oas"])
@pytest.mark.parametrize("kwargs", [{}, {"alpha": 0.05}, {"alpha": 0.05, "threshold": "chi2"},
                                    {"alpha": 0.1, "threshold": "conformal", "random_state": 3}])
def test_detector_fit_dispatch(cp, rng, method, kwargs):
    if method != "empirical" and kwargs.get("alpha") and "threshold" not in kwargs:
        kwargs = {**kwargs, "threshold": "chi2"}  # hotelling is for the empirical covariance
    A = rng.standard_normal((6, 6))
    X = rng.standard_normal((400, 6)) @ A + 3.0
    X[:4] += 15.0
    new = rng.standard_normal((50, 6)) @ A
    want = pw.MahalanobisDetector(method, **kwargs).fit(X)
    det = pw.MahalanobisDetector(method, **kwargs).fit(cp.asarray(X))
    for name in ("location_", "covariance_", "precision_", "dist_"):
        value = getattr(det, name)
        assert _is_device(value), name
        np.testing.assert_allclose(value.get(), getattr(want, name), rtol=1e-9, atol=1e-12,
                                   err_msg=name)
    assert det.threshold_ == pytest.approx(want.threshold_, rel=1e-9)
    got = det.mahalanobis(cp.asarray(new))
    assert _is_device(got)
    np.testing.assert_allclose(got.get(), want.mahalanobis(new), rtol=1e-9)
    labels = det.predict(cp.asarray(new))
    assert _is_device(labels)
    np.testing.assert_array_equal(labels.get(), want.predict(new))
    np.testing.assert_allclose(det.decision_function(cp.asarray(new)).get(),
                               want.decision_function(new), rtol=1e-9, atol=1e-9)
    with pytest.raises(TypeError, match="fitted on CuPy data"):
        det.mahalanobis(new)
    with pytest.raises(TypeError, match="fitted on host data"):
        want.predict(cp.asarray(new))
    with pytest.raises(TypeError, match="pvalues runs on host arrays"):
        det.pvalues(cp.asarray(new))


@pytest.mark.parametrize("method", ["empirical", "ledoit_wolf", "oas"])
def test_detector_partial_fit_dispatch(cp, rng, method):
    X = rng.standard_normal((600, 4)) * [1.0, 2.0, 0.5, 3.0] + 5.0
    want, got = pw.MahalanobisDetector(method), pw.MahalanobisDetector(method)
    for part in np.array_split(X, 3):
        want.partial_fit(part)
        got.partial_fit(cp.asarray(part))
    assert _is_device(got.covariance_) and got.n_samples_fit_ == 600
    np.testing.assert_allclose(got.covariance_.get(), want.covariance_, rtol=1e-9)
    assert got.threshold_ == pytest.approx(want.threshold_, rel=1e-9)
    with pytest.raises(TypeError, match="fitted on CuPy data"):
        got.partial_fit(X[:10])


def test_detector_gpu_input_rules(cp, rng):
    X = rng.standard_normal((100, 3))
    with pytest.raises(ValueError, match="method='empirical'.*FastMCD"):
        pw.MahalanobisDetector().fit(cp.asarray(X))  # the default method is mcd
    labelled = pw.MahalanobisDetector("empirical").fit(cp.asarray(X), np.arange(100) % 2)
    np.testing.assert_array_equal(labelled.covariance_.get(),  # y is ignored
                                  pw.MahalanobisDetector("empirical").fit(cp.asarray(X))
                                  .covariance_.get())
    with pytest.raises(ValueError, match="ClassConditionalDetector runs on host arrays"):
        pw.ClassConditionalDetector("empirical").fit(cp.asarray(X), np.arange(100) % 2)
    bad = X.copy()
    bad[[3, 9], 1] = np.nan
    with pytest.raises(ValueError, match=r"2 row\(s\) \(first: row 3\)"):
        pw.MahalanobisDetector("empirical").fit(cp.asarray(bad))
    ints = pw.MahalanobisDetector("empirical").fit(cp.asarray((X * 10).astype(np.int64)))
    host = pw.MahalanobisDetector("empirical").fit((X * 10).astype(np.int64))
    np.testing.assert_allclose(ints.covariance_.get(), host.covariance_, rtol=1e-9)
    with pytest.raises(ValueError, match="2-d"):
        pw.MahalanobisDetector("empirical").fit(cp.asarray(X[:, 0]))
    singular = np.column_stack([X, X[:, 0]])  # rank 3 of 4: the eigen factor
    with pytest.warns(CovarianceWarning, match="singular"):
        det = pw.MahalanobisDetector("empirical").fit(cp.asarray(singular))
    with pytest.warns(CovarianceWarning, match="singular"):
        want = pw.MahalanobisDetector("empirical").fit(singular)
    np.testing.assert_allclose(det.dist_.get(), want.dist_, rtol=1e-8, atol=1e-8)


# ---- aggregate ----------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_aggregate_dispatch(cp, rng, dtype):
    x = rng.standard_normal((9, 70)).astype(dtype)
    x[:, 3] = np.round(x[:, 3])  # ties
    d = cp.asarray(x)
    suffix = "f32" if dtype == np.float32 else "f64"
    got = pw.aggregate.median(d)
    assert _is_device(got) and got.dtype == dtype
    assert np.array_equal(got.get(), np.median(x, axis=0))
    assert [name for name, _ in fake_cupy.launches()] == [f"aggregate_rank_mean_{suffix}"]
    tol = dict(rtol=1e-6) if dtype == np.float32 else dict(rtol=1e-12)
    np.testing.assert_allclose(pw.aggregate.trimmed_mean(d, 0.2).get(),
                               pw.aggregate.trimmed_mean(x, 0.2), **tol)
    w = rng.integers(1, 50, len(x))
    np.testing.assert_allclose(pw.aggregate.mean(d, w).get(), pw.aggregate.mean(x, w), **tol)
    assert [name for name, _ in fake_cupy.launches()] == [
        f"aggregate_rank_mean_{suffix}", f"aggregate_weighted_mean_{suffix}"]
    for multi in (1, 3):
        got, idx = pw.aggregate.krum(d, 2, multi, return_indices=True)
        want, want_idx = pw.aggregate.krum(x, 2, multi, return_indices=True)
        assert _is_device(got) and np.array_equal(idx, want_idx)
        np.testing.assert_allclose(got.get(), want, **tol)
    assert fake_cupy.launches()[0][0] == f"aggregate_pairwise_sq_distances_{suffix}"


def test_aggregate_layers_on_the_device_are_read_in_place(cp, rng):
    layers = [[rng.standard_normal((3, 4)).astype(np.float32), rng.standard_normal(5).astype(np.float32)]
              for _ in range(6)]
    device = [[cp.asarray(a) for a in client] for client in layers]
    got = pw.aggregate.median(device)
    want = pw.aggregate.median(layers)
    assert [g.shape for g in got] == [(3, 4), (5,)] and all(_is_device(g) for g in got)
    for g, w in zip(got, want):
        assert np.array_equal(g.get(), w)
    # The address table names the callers' own buffers: nothing was stacked or copied.
    (_, args), _ = fake_cupy.launches()
    table = np.asarray(args[0])
    assert list(table) == [client[0].data.ptr for client in device]


def test_aggregate_non_finite_device_updates_are_named_or_dropped(cp, rng):
    x = rng.standard_normal((7, 20)).astype(np.float32)
    x[2, 5] = np.nan
    d = cp.asarray(x)
    for rule, args in [(pw.aggregate.median, ()), (pw.aggregate.mean, ()),
                       (pw.aggregate.krum, (1,))]:
        with pytest.raises(ValueError, match=r"clients \[2\] hold NaN"):
            rule(d, *args)
    with pytest.warns(pw.aggregate.AggregationWarning, match=r"dropped clients \[2\]"):
        kept = pw.aggregate.median(d, on_invalid="drop")
    assert np.array_equal(kept.get(), np.median(np.delete(x, 2, axis=0), axis=0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_aggregate_every_rule_takes_device_updates(cp, rng, dtype):
    """Bulyan, the geometric median, centered clipping, clip_updates and DP-FedAvg on CuPy
    updates (one array or per-layer arrays) equal the host results, on the device kernels."""
    x = rng.standard_normal((12, 40)).astype(dtype)
    x[9:] *= 30  # three far clients
    layers = [[row[:15].reshape(3, 5), row[15:].copy()] for row in x]
    suffix = "f32" if dtype == np.float32 else "f64"
    tol = dict(rtol=2e-5, atol=1e-5) if dtype == np.float32 else dict(rtol=1e-10, atol=1e-12)
    rules = [(pw.aggregate.bulyan, lambda c: (2,), {}, "aggregate_pairwise_sq_distances"),
             (pw.aggregate.geometric_median, lambda c: (), {}, "aggregate_weighted_mean"),
             (pw.aggregate.centered_clip, lambda c: (c, 5.0, 3), {}, "aggregate_weighted_mean"),
             (pw.aggregate.clip_updates, lambda c: (4.0,), {}, "privacy_sq_norm_partials"),
             (pw.aggregate.dp_mean, lambda c: (4.0, 1.0), {"expected_clients": 12, "seed": 3},
              "privacy_sq_norm_partials")]
    for host, device, center in [(x, cp.asarray(x), cp.asarray(x[0])),
                                 (layers, [[cp.asarray(a) for a in c] for c in layers],
                                  [cp.asarray(a) for a in layers[0]])]:
        host_center = center.get() if hasattr(center, "get") else [a.get() for a in center]
        for rule, args, kwargs, kernel in rules:
            fake_cupy.launches()
            got = rule(device, *args(center), **kwargs)
            names = {name for name, _ in fake_cupy.launches()}
            assert f"{kernel}_{suffix}" in names, (rule.__name__, names)
            want = rule(host, *args(host_center), **kwargs)
            flat_got = _flatten(got)
            assert all(_is_device(g) and g.dtype == dtype for g in flat_got), rule.__name__
            for g, w in zip(flat_got, _flatten(want)):
                assert g.shape == w.shape
                np.testing.assert_allclose(g.get(), w, **tol, err_msg=rule.__name__)
    with pytest.raises(TypeError, match="center: expected a 1-d cupy array"):
        pw.aggregate.centered_clip(cp.asarray(x), x[0], 1.0)
    with pytest.raises(TypeError, match="center: expected CuPy arrays like the updates"):
        pw.aggregate.centered_clip([[cp.asarray(a) for a in c] for c in layers], layers[0], 1.0)


def _flatten(result):
    """A rule's result (an array, a list of layers, or clients' lists of layers) as arrays."""
    if isinstance(result, list):
        return [a for item in result for a in _flatten(item)]
    return [result]


def test_aggregate_device_input_rules(cp, rng):
    x = rng.standard_normal((12, 8)).astype(np.float32)
    mixed = [[cp.asarray(x[0])], [x[1]]]
    with pytest.raises(TypeError, match="client 1 layer 0: expected a CuPy array"):
        pw.aggregate.median(mixed)
    with pytest.raises(TypeError, match="float32 or float64, got int32"):
        pw.aggregate.median(cp.asarray(np.ones((3, 4), np.int32)))
    with pytest.raises(ValueError, match="C-contiguous"):
        pw.aggregate.median(cp.asarray(x).T)
