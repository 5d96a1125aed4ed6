"""The speed paths of the privacy kernels against their references: the hand-written AVX-512
Philox normals bit for bit against the portable stream, and the one-sweep flat clipping
(rows in cache-sized groups) against the NumPy reference and the two-pass kernels, for odd
shapes, every dtype, group sizes and thread counts. No torch here (ASan re-run)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core
from pipeward.reference import privacy as ref

from conftest import ISAS, isa_fixture

pytestmark = pytest.mark.native

per_isa = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=25)
# Arrays of 8+ column chunks: fewer examples keep the file quick.
per_isa_wide = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                               HealthCheck.too_slow, HealthCheck.data_too_large],
                        max_examples=10)
isa = isa_fixture(skip=("sha_ni",))

# The one-sweep kernel shares out column chunks of 4096; below 8 chunks it takes the two-pass
# route, so these widths exercise the sweep (8+ chunks) with ragged last chunks.
SWEEP_COLS = st.integers(8 * 4096, 8 * 4096 + 4111)
TOL = {np.float16: 2e-3, np.float32: 2e-5, np.float64: 1e-11}


def _bits(x: np.ndarray) -> np.ndarray:
    return x.view(np.uint32)


# ---- noise: every ISA variant gives the portable stream's exact bits -----------------------


@given(seed=st.integers(0, 2 ** 64 - 1),
       offset=st.one_of(st.integers(0, 200), st.integers(0, 2 ** 40),
                        # the block counter's low word wraps inside the request
                        st.integers(4 * 2 ** 32 - 300, 4 * 2 ** 32 + 300)),
       n=st.integers(1, 2000), stream=st.integers(0, 2 ** 32 - 1))
@example(seed=0, offset=0, n=64, stream=0)
@example(seed=2 ** 64 - 1, offset=3, n=1, stream=2 ** 32 - 1)
@example(seed=7, offset=4 * 2 ** 32 - 5, n=131, stream=0)
@per_isa
def test_philox_normals_are_bit_identical_to_the_portable_stream(isa, seed, offset, n, stream):
    got = _core.privacy_normals(n, seed=seed, offset=offset, stream=stream)
    before = _core.isa_limit()
    _core.set_isa_limit("portable")
    try:
        want = _core.privacy_normals(n, seed=seed, offset=offset, stream=stream)
    finally:
        _core.set_isa_limit(before)
    np.testing.assert_array_equal(_bits(got), _bits(want))


KEY, NONCE = bytes(range(32)), bytes(range(12))


def test_threaded_noise_is_bit_identical_across_isas():
    n = 300_007  # threaded, with a ragged tail
    streams = {}
    before = _core.isa_limit()
    try:
        for name in ISAS:
            if name == "sha_ni":
                continue
            _core.set_isa_limit(name)
            streams[name] = (_core.privacy_normals(n, seed=123, offset=5, workers=2),
                             pw.clip_and_noise(np.zeros((0, n), np.float32), 2.0, 0.5, seed=123),
                             _core.privacy_normals(n, key=KEY, nonce=NONCE, offset=9, workers=2))
    finally:
        _core.set_isa_limit(before)
    base = streams["portable"]
    for name, got in streams.items():
        for a, b in zip(got, base):
            np.testing.assert_array_equal(_bits(a), _bits(b), err_msg=name)


# ---- one-sweep flat clipping -----------------------------------------------------------------


@st.composite
def sweep_grads(draw):
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    b = draw(st.integers(1, 13))
    p = draw(SWEEP_COLS)
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    # per-row scales around C so some rows are clipped and some pass unchanged
    scale = np.exp(rng.uniform(np.log(0.05), np.log(20), size=(b, 1))) / np.sqrt(p)
    return (rng.standard_normal((b, p)) * scale).astype(dtype)


@given(g=sweep_grads(), group_rows=st.integers(0, 5),
       convention=st.sampled_from(["opacus", "tf_privacy"]), sigma=st.sampled_from([0.0, 0.7]),
       seed=st.integers(0, 2 ** 64 - 1))
@per_isa_wide
def test_sweep_matches_reference_and_two_pass(isa, g, group_rows, convention, sigma, seed):
    c = 1.0
    noise = {"seed": seed} if sigma else {}
    kw = dict(max_grad_norm=c, convention=convention, noise_std=sigma * c, out_scale=0.5,
              group_rows=group_rows, **noise)
    out, norms, ok = _core.privacy_clip_sum_noise_flat(g, workers=1, **kw)
    assert ok
    assert out.dtype == (np.float64 if g.dtype == np.float64 else np.float32)
    # the reference: float64 norms, factors, sum and the same noise stream
    want_norms = ref.per_sample_norms([g])[:, 0]
    np.testing.assert_allclose(norms, want_norms, rtol=1e-12)
    z = [ref.philox_normals(seed, g.shape[1])] if sigma else None
    want = ref.clip_and_noise([g], c, sigma, convention=convention, noise=z)[0] * 0.5
    scale = np.abs(g.astype(np.float64)).sum(axis=0).max() + 1
    np.testing.assert_allclose(out, want, rtol=0, atol=TOL[g.dtype.type] * scale + 2e-5 * sigma)
    # the two-pass kernels, given the same factors
    f = ref.clip_factor(norms, c, convention)
    two, ok2 = _core.privacy_clip_sum_noise(g, f, noise_std=sigma * c, out_scale=0.5, **noise)
    assert ok2
    np.testing.assert_allclose(out, two, rtol=1e-6 if g.dtype == np.float64 else 1e-5,
                               atol=1e-12 * scale)
    # the same bits for any thread count
    out2, norms2, _ = _core.privacy_clip_sum_noise_flat(g, workers=2, **kw)
    np.testing.assert_array_equal(out, out2)
    np.testing.assert_array_equal(norms, norms2)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("workers", [1, 2])
def test_public_api_takes_the_sweep_and_reports_stats(isa, dtype, workers, rng):
    b, p = 19, 8 * 4096 + 15  # odd B, P not a multiple of 16
    g = (rng.standard_normal((b, p)) * np.geomspace(0.1, 10, b)[:, None] / np.sqrt(p)).astype(dtype)
    res = pw.clip_and_noise(g, 1.0, 0.0, reduction="mean", expected_batch_size=32,
                            return_stats=True, workers=workers)
    want = ref.clip_and_noise([g], 1.0, 0.0, reduction="mean", expected_batch_size=32)[0]
    np.testing.assert_allclose(res.grads, want, rtol=0,
                               atol=TOL[np.dtype(dtype).type] * np.abs(want).max())
    norms = np.linalg.norm(g.astype(np.float64), axis=1)
    np.testing.assert_allclose(res.per_sample_norms, norms, rtol=1e-12)
    assert res.clipped_fraction == np.mean(1.0 / (norms + 1e-6) < 1.0)
    # a list of one tensor takes the same path and gives the same numbers
    np.testing.assert_array_equal(pw.clip_and_noise([g], 1.0, 0.0, reduction="mean",
                                                    expected_batch_size=32, workers=workers)[0],
                                  res.grads)


def test_rows_too_wide_for_a_cached_group_take_the_two_passes(rng):
    # 3 rows of 4.8 MB float64: fewer than 4 fit the cache budget, so the kernel reads twice;
    # forcing groups of 2 gives the one-sweep numbers for the same array.
    g = (rng.standard_normal((3, 600_001)) / 300).astype(np.float64)
    kw = dict(max_grad_norm=1.0, convention="opacus", noise_std=0.3, out_scale=1.0, seed=5)
    out, norms, ok = _core.privacy_clip_sum_noise_flat(g, **kw)
    swept, norms2, ok2 = _core.privacy_clip_sum_noise_flat(g, group_rows=2, **kw)
    assert ok and ok2
    want = ref.clip_and_noise([g], 1.0, 0.3, noise=[ref.philox_normals(5, g.shape[1])])[0]
    np.testing.assert_allclose(out, want, rtol=0, atol=1e-11 * np.abs(g).sum(axis=0).max() + 6e-6)
    np.testing.assert_allclose(swept, out, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(norms2, norms, rtol=1e-13)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_sweep_refuses_nan_and_inf(bad, rng):
    g = rng.standard_normal((6, 8 * 4096 + 3)).astype(np.float32)
    g[4, 30_000] = bad
    with pytest.raises(ValueError, match=r"NaN or infinity in sample\(s\) \[4\]"):
        pw.clip_and_noise(g, 1.0, 0.5, seed=1)
    out, norms, ok = _core.privacy_clip_sum_noise_flat(g, max_grad_norm=1.0, convention="opacus",
                                                       noise_std=0.0, out_scale=1.0)
    assert not ok and not np.isfinite(norms[4]) and np.isfinite(np.delete(norms, 4)).all()


def test_sweep_binding_rejects_bad_arguments():
    g = np.zeros((2, 10), np.float32)
    kw = dict(max_grad_norm=1.0, convention="opacus", noise_std=0.0, out_scale=1.0)
    with pytest.raises(ValueError, match="convention"):
        _core.privacy_clip_sum_noise_flat(g, **{**kw, "convention": "jax"})
    with pytest.raises(ValueError, match="max_grad_norm"):
        _core.privacy_clip_sum_noise_flat(g, **{**kw, "max_grad_norm": 0.0})
    with pytest.raises(ValueError, match="at least one sample"):
        _core.privacy_clip_sum_noise_flat(np.zeros((0, 10), np.float32), **kw)
    with pytest.raises(TypeError, match="int32"):
        _core.privacy_clip_sum_noise_flat(np.zeros((2, 10), np.int32), **kw)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.privacy_clip_sum_noise_flat(np.zeros((10, 4), np.float32).T, **kw)
