"""The speed paths of the privacy kernels against their references: the hand-written AVX-512
Philox normals bit for bit against the portable stream (and every ISA build against the
others), and the clipping kernels' blocked, prefetching float32 loops against the NumPy
reference on wide rows with ragged tails, every dtype and thread count. No torch here (ASan
re-run)."""

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
# Arrays up to 19 x 65576: fewer examples keep the file quick.
per_isa_wide = settings(suppress_health_check=[HealthCheck.function_scoped_fixture,
                                               HealthCheck.too_slow, HealthCheck.data_too_large],
                        max_examples=10)
isa = isa_fixture(skip=("sha_ni",))

TOL = {np.float16: 2e-3, np.float32: 2e-5, np.float64: 1e-11}


def _bits(x: np.ndarray) -> np.ndarray:
    return x.view(np.uint32)


def _on_portable(draw):
    """draw() with the kernels limited to the portable build (the reference stream)."""
    before = _core.isa_limit()
    _core.set_isa_limit("portable")
    try:
        return draw()
    finally:
        _core.set_isa_limit(before)


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
    draw = lambda: _core.privacy_normals(n, seed=seed, offset=offset, stream=stream)  # noqa: E731
    np.testing.assert_array_equal(_bits(draw()), _bits(_on_portable(draw)))


@given(key=st.binary(min_size=32, max_size=32), nonce=st.binary(min_size=12, max_size=12),
       offset=st.one_of(st.integers(0, 600), st.integers(0, 2 ** 30),
                        # the 32-bit block counter's last blocks (2^36 elements per key)
                        st.integers(2 ** 36 - 9000, 2 ** 36 - 6001)),
       n=st.integers(1, 6000))
@example(key=bytes(32), nonce=bytes(12), offset=0, n=256)
@example(key=bytes(range(32)), nonce=bytes(12), offset=15, n=257)
@per_isa
def test_chacha_normals_are_bit_identical_to_the_portable_stream(isa, key, nonce, offset, n):
    draw = lambda: _core.privacy_normals(n, key=key, nonce=nonce, offset=offset)  # noqa: E731
    np.testing.assert_array_equal(_bits(draw()), _bits(_on_portable(draw)))


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


# ---- the clipping kernels on wide rows -------------------------------------------------------
#
# The weighted sum works in blocks of 32768 columns, eight rows at a time (then four, then
# one); the AVX-512 float32 loops take 16 or 32 columns per step. These widths cross block
# boundaries with ragged tails, and B from 1 to 19 takes every row step.


@st.composite
def wide_grads(draw):
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    b = draw(st.integers(1, 19))
    p = draw(st.one_of(st.integers(1, 100), st.integers(32768 - 40, 2 * 32768 + 40)))
    rng = np.random.default_rng(draw(st.integers(0, 2 ** 32 - 1)))
    # per-row scales around C = 1 so some rows are clipped and some pass unchanged
    scale = np.exp(rng.uniform(np.log(0.05), np.log(20), size=(b, 1))) / np.sqrt(p)
    return (rng.standard_normal((b, p)) * scale).astype(dtype)


@given(g=wide_grads(), sigma=st.sampled_from([0.0, 0.7]), seed=st.integers(0, 2 ** 64 - 1))
@example(g=np.ones((19, 32768 + 17), np.float32), sigma=0.0, seed=0)
@per_isa_wide
def test_wide_kernels_match_the_reference(isa, g, sigma, seed):
    g64 = g.astype(np.float64)
    sq = _core.privacy_sq_norms(g, workers=1)
    np.testing.assert_allclose(sq, (g64 ** 2).sum(axis=1), rtol=1e-12)
    f = np.minimum(1.0, 1.0 / (np.sqrt(sq) + 1e-6))
    noise = {"seed": seed} if sigma else {}
    out, ok = _core.privacy_clip_sum_noise(g, f, noise_std=sigma, out_scale=0.5, workers=1, **noise)
    assert ok
    assert out.dtype == (np.float64 if g.dtype == np.float64 else np.float32)
    want = f @ g64
    if sigma:
        want = want + sigma * ref.philox_normals(seed, g.shape[1])
    scale = np.abs(g64).sum(axis=0).max() + 1
    np.testing.assert_allclose(out, 0.5 * want, rtol=0,
                               atol=TOL[g.dtype.type] * scale + 2e-5 * sigma)
    # the same bits for any thread count
    np.testing.assert_array_equal(_core.privacy_sq_norms(g, workers=2), sq)
    out2, _ = _core.privacy_clip_sum_noise(g, f, noise_std=sigma, out_scale=0.5, workers=2, **noise)
    np.testing.assert_array_equal(out2, out)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("workers", [1, 2])
def test_public_api_on_odd_wide_shapes(isa, dtype, workers, rng):
    b, p = 19, 3 * 32768 + 15  # odd B, P not a multiple of 16, three blocks and a tail
    g = (rng.standard_normal((b, p)) * np.geomspace(0.1, 10, b)[:, None] / np.sqrt(p)).astype(dtype)
    res = pw.clip_and_noise(g, 1.0, 0.3, reduction="mean", expected_batch_size=32, seed=4,
                            return_stats=True, workers=workers)
    z = [ref.philox_normals(4, p)]
    want = ref.clip_and_noise([g], 1.0, 0.3, reduction="mean", expected_batch_size=32, noise=z)[0]
    np.testing.assert_allclose(res.grads, want, rtol=0,
                               atol=TOL[np.dtype(dtype).type] * np.abs(want).max() + 1e-6)
    norms = np.linalg.norm(g.astype(np.float64), axis=1)
    np.testing.assert_allclose(res.per_sample_norms, norms, rtol=1e-12)
    assert res.clipped_fraction == np.mean(1.0 / (norms + 1e-6) < 1.0)
