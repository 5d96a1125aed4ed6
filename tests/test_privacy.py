"""clip_and_noise and its noise stream: C++ (every ISA) against the NumPy reference, known-answer
vectors, the noise's distribution, conventions and bad input. No torch here (ASan re-run)."""

from __future__ import annotations

import os

import numpy as np
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from scipy import stats

import pipeward as pw
from pipeward import _core
from pipeward.reference import privacy as ref

from conftest import isa_fixture

pytestmark = pytest.mark.native

# The isa fixture is set once per parametrised test, not per example: that is intended.
per_isa = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=25)
# sha_ni adds nothing to this family (its kernels have portable, AVX2 and AVX-512 builds).
isa = isa_fixture(skip=("sha_ni",))


TOL = {np.float16: 2e-3, np.float32: 2e-5, np.float64: 1e-11}

# ---- noise stream --------------------------------------------------------------------------

PHILOX_KAT = [  # Random123 kat_vectors, philox4x32 10 rounds
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    ((0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344), (0xA4093822, 0x299F31D0),
     (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1)),
]


@pytest.mark.parametrize(("counter", "key", "expected"), PHILOX_KAT)
def test_philox_matches_random123_known_answers(counter, key, expected):
    assert _core.privacy_philox4x32_10(counter, key) == expected
    assert tuple(ref.philox4x32_10(np.array([counter], np.uint32), key)[0]) == expected


def test_chacha20_block_matches_rfc8439_and_cryptography():
    # RFC 8439 section 2.3.2 test vector.
    key = bytes(range(32))
    nonce = bytes.fromhex("000000090000004a00000000")
    block = _core.privacy_chacha20_block(key, 1, nonce)
    assert block[:16].hex() == "10f1e7e4d13b5915500fdd1fa32071c4"
    from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

    for counter in (0, 7, 2 ** 32 - 1):
        k, n = os.urandom(32), os.urandom(12)
        enc = Cipher(algorithms.ChaCha20(k, counter.to_bytes(4, "little") + n), mode=None).encryptor()
        assert _core.privacy_chacha20_block(k, counter, n) == enc.update(bytes(64))


@given(seed=st.integers(0, 2 ** 64 - 1), offset=st.integers(0, 2 ** 40), n=st.integers(1, 3000),
       stream=st.integers(0, 2 ** 32 - 1))
@per_isa
def test_philox_noise_equals_the_reference_stream(isa, seed, offset, n, stream):
    got = _core.privacy_normals(n, seed=seed, offset=offset, stream=stream)
    want = ref.philox_normals(seed, n, offset=offset, stream=stream)
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


@given(offset=st.integers(0, 2 ** 20), n=st.integers(1, 3000))
@per_isa
def test_chacha_noise_equals_the_reference_stream(isa, offset, n):
    key, nonce = os.urandom(32), os.urandom(12)
    got = _core.privacy_normals(n, key=key, nonce=nonce, offset=offset)
    np.testing.assert_allclose(got, ref.chacha_normals(key, nonce, n, offset=offset),
                               rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("secure", [False, True])
def test_noise_is_standard_normal(isa, secure):
    n = 200_000
    kw = {"key": os.urandom(32), "nonce": os.urandom(12)} if secure else {"seed": 20261126}
    z = _core.privacy_normals(n, **kw).astype(np.float64)
    se = 1 / np.sqrt(n)
    assert abs(z.mean()) < 5 * se
    assert abs(z.var() - 1) < 5 * np.sqrt(2) * se
    assert abs(stats.skew(z)) < 5 * np.sqrt(6) * se
    assert abs(stats.kurtosis(z)) < 5 * np.sqrt(24) * se
    assert stats.kstest(z, "norm").pvalue > 1e-4
    # tails: the 4-sigma band holds its share (Box-Muller reaches 6.6 sigma with 32-bit words)
    tail = np.mean(np.abs(z) > 4)
    assert abs(tail - 2 * stats.norm.sf(4)) < 6 * np.sqrt(2 * stats.norm.sf(4) / n)
    # neighbours are uncorrelated (the pairs share one Box-Muller draw)
    assert abs(np.corrcoef(z[:-1], z[1:])[0, 1]) < 5 * se


def test_noise_independent_of_threads_and_split():
    a = _core.privacy_normals(100_003, seed=9, workers=1)
    b = _core.privacy_normals(100_003, seed=9, workers=2)
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(a[777:], _core.privacy_normals(100_003 - 777, seed=9, offset=777))


# ---- clipping: C++ against the reference ----------------------------------------------------


@st.composite
def grad_lists(draw):
    dtype = draw(st.sampled_from([np.float16, np.float32, np.float64]))
    b = draw(st.integers(0, 9))
    shapes = draw(st.lists(st.lists(st.integers(1, 40), min_size=0, max_size=2), min_size=1, max_size=4))
    seed = draw(st.integers(0, 2 ** 32 - 1))
    scale = draw(st.sampled_from([1e-3, 0.3, 1.0, 10.0]))
    rng = np.random.default_rng(seed)
    return [(rng.standard_normal((b, *s)) * scale).astype(dtype) for s in shapes]


@given(grads=grad_lists(), c=st.floats(0.05, 20), sigma=st.sampled_from([0.0, 0.7]),
       convention=st.sampled_from(["opacus", "tf_privacy", "optax"]),
       reduction=st.sampled_from(["sum", "mean"]), seed=st.integers(0, 2 ** 64 - 1))
@per_isa
def test_cpu_matches_reference(isa, grads, c, sigma, convention, reduction, seed):
    kw = dict(reduction=reduction, expected_batch_size=7 if reduction == "mean" else None,
              convention=convention, seed=seed)
    got = pw.clip_and_noise(grads, c, sigma, **kw)
    want = pw.clip_and_noise(grads, c, sigma, backend="reference", **kw)
    noise = [ref.philox_normals(seed, int(np.prod(g.shape[1:])),
                                offset=sum(int(np.prod(h.shape[1:])) for h in grads[:k]))
             for k, g in enumerate(grads)] if sigma else None
    spec = ref.clip_and_noise(grads, c, sigma, convention=convention, noise=noise, **{
        k: v for k, v in kw.items() if k in ("reduction", "expected_batch_size")})
    for g, x, y, z in zip(grads, got, want, spec):
        assert x.dtype == (np.float64 if g.dtype == np.float64 else np.float32)
        assert x.shape == g.shape[1:]
        scale = max(1.0, float(np.abs(z).max(initial=0)))
        # the noise is float32 Box-Muller in every backend: equal to ~1e-6 of its std
        tol = TOL[g.dtype.type] * scale + 2e-5 * sigma * c
        np.testing.assert_allclose(x, y, rtol=0, atol=tol)
        np.testing.assert_allclose(x, z, rtol=0, atol=tol)


@given(grads=grad_lists(), sigma=st.sampled_from([0.0, 1.0]))
@example(grads=[np.zeros((3, 4), np.float32)], sigma=0.0)
@per_isa
def test_per_layer_clipping_matches_reference(isa, grads, sigma):
    limits = [0.1 + k for k in range(len(grads))]
    res = pw.clip_and_noise(grads, limits, sigma, seed=3, return_stats=True)
    want = ref.clip_and_noise(grads, limits, sigma, noise=None if not sigma else [
        ref.philox_normals(3, int(np.prod(g.shape[1:])),
                           offset=sum(int(np.prod(h.shape[1:])) for h in grads[:k]))
        for k, g in enumerate(grads)])
    for g, x, z in zip(grads, res.grads, want):
        scale = max(1.0, float(np.abs(z).max(initial=0)))
        np.testing.assert_allclose(x, z, atol=TOL[g.dtype.type] * scale + 2e-5 * res.noise_std)
    assert res.noise_std == pytest.approx(sigma * np.sqrt(sum(c * c for c in limits)))
    norms = ref.per_sample_norms(grads)
    np.testing.assert_allclose(res.per_sample_norms, norms, rtol=1e-3 if grads[0].dtype == np.float16 else 1e-6)


def test_clipped_rows_have_norm_at_most_c_and_small_rows_pass_unchanged(rng):
    g = rng.standard_normal((64, 1000)).astype(np.float64)
    g[:32] *= 1e-4  # well inside C
    norms = np.linalg.norm(g, axis=1)
    for i in range(64):  # aggregating one sample at a time shows its clipped vector
        one = pw.clip_and_noise(g[i:i + 1], 1.0, 0.0)
        if norms[i] < 1.0:
            np.testing.assert_allclose(one, g[i], rtol=1e-12)
        else:
            assert np.linalg.norm(one) <= 1.0
            np.testing.assert_allclose(np.linalg.norm(one), norms[i] / (norms[i] + 1e-6), rtol=1e-12)


def test_flat_array_equals_list_of_pieces(rng):
    g = rng.standard_normal((16, 300)).astype(np.float32)
    whole = pw.clip_and_noise(g, 1.0, 1.0, seed=11)
    parts = pw.clip_and_noise([g[:, :100].copy(), g[:, 100:].copy().reshape(16, 20, 10)], 1.0, 1.0, seed=11)
    np.testing.assert_allclose(whole, np.concatenate([parts[0], parts[1].ravel()]), atol=1e-6)


def test_one_pass_with_given_norms_equals_two_pass(isa, rng):
    g = rng.standard_normal((32, 5000)).astype(np.float32)
    norms = np.linalg.norm(g.astype(np.float64), axis=1)
    a = pw.clip_and_noise(g, 2.0, 1.0, seed=1)
    b = pw.clip_and_noise(g, 2.0, 1.0, seed=1, per_sample_norms=norms)
    np.testing.assert_allclose(a, b, atol=1e-5)


def test_seed_reproducible_and_thread_count_independent(rng):
    g = rng.standard_normal((20, 50_000)).astype(np.float32)
    a = pw.clip_and_noise(g, 1.0, 1.0, seed=42, workers=1)
    b = pw.clip_and_noise(g, 1.0, 1.0, seed=42, workers=2)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, pw.clip_and_noise(g, 1.0, 1.0, seed=43))
    assert not np.array_equal(pw.clip_and_noise(g, 1.0, 1.0), pw.clip_and_noise(g, 1.0, 1.0))


def test_secure_noise_has_the_right_scale_and_is_fresh(rng):
    g = np.zeros((4, 200_000), np.float32)
    a = pw.clip_and_noise(g, 0.5, 2.0, secure=True)
    b = pw.clip_and_noise(g, 0.5, 2.0, secure=True)
    assert not np.array_equal(a, b)
    assert a.std() == pytest.approx(1.0, rel=0.01)  # sigma * C
    assert stats.kstest(a / 1.0, "norm").pvalue > 1e-4
    with pytest.raises(ValueError, match="cannot take a seed"):
        pw.clip_and_noise(g, 0.5, 2.0, secure=True, seed=1)


def test_mean_divides_by_expected_batch_size_and_empty_batch_gets_noise():
    g = np.ones((3, 10), np.float64) * 0.1
    out = pw.clip_and_noise(g, 10.0, 0.0, reduction="mean", expected_batch_size=6)
    np.testing.assert_allclose(out, 0.05)
    empty = np.zeros((0, 100_000), np.float32)
    noisy = pw.clip_and_noise(empty, 1.0, 1.0, reduction="mean", expected_batch_size=4, seed=2)
    assert noisy.std() == pytest.approx(0.25, rel=0.02)
    res = pw.clip_and_noise(empty, 1.0, 1.0, seed=2, return_stats=True)
    assert res.clipped_fraction == 0.0 and res.per_sample_norms.shape == (0,)


def test_conventions_differ_only_where_documented():
    g = np.zeros((2, 4))
    g[0, 0] = 2.0  # clipped
    g[1, 1] = 0.5  # not clipped; an all-zero row would be too
    op = pw.clip_and_noise(g, 1.0, 0.0, reduction="mean", expected_batch_size=4)
    tf = pw.clip_and_noise(g, 1.0, 0.0, reduction="mean", convention="tf_privacy")
    ox = pw.clip_and_noise(g, 1.0, 0.0, reduction="mean", convention="optax")
    np.testing.assert_allclose(op, [2 / (2 + 1e-6) / 4, 0.5 / 4, 0, 0], rtol=1e-12)
    np.testing.assert_allclose(tf, [1 / 2, 0.5 / 2, 0, 0], rtol=1e-12)
    np.testing.assert_array_equal(tf, ox)
    z = pw.clip_and_noise(np.zeros((3, 2)), 1.0, 0.0, convention="tf_privacy")
    np.testing.assert_array_equal(z, 0.0)


def test_stats_report_norms_and_clipped_fraction(rng):
    g = rng.standard_normal((10, 100))
    g[:4] *= 10
    res = pw.clip_and_noise(g, 5.0, 0.0, return_stats=True)
    norms = np.linalg.norm(g, axis=1)
    np.testing.assert_allclose(res.per_sample_norms, norms, rtol=1e-12)
    assert res.clipped_fraction == pytest.approx(np.mean(norms + 1e-6 > 5.0))
    assert isinstance(res, pw.ClipResult)


def test_tuple_in_tuple_out_and_float16_accumulates_in_float32(rng):
    g16 = (rng.standard_normal((50, 8)) * 0.01).astype(np.float16)
    out = pw.clip_and_noise((g16, g16.astype(np.float32)), 100.0, 0.0)
    assert isinstance(out, tuple) and out[0].dtype == np.float32
    np.testing.assert_allclose(out[0], g16.astype(np.float64).sum(0), rtol=1e-5, atol=1e-6)


# ---- bad input -------------------------------------------------------------------------------


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("given_norms", [False, True])
def test_nan_or_inf_gradient_is_an_error_never_aggregated(bad, given_norms):
    g = np.ones((4, 3000), np.float32)
    g[2, 1234] = bad
    kw = {"per_sample_norms": np.ones(4)} if given_norms else {}
    with pytest.raises(ValueError, match="NaN or infinity"):
        pw.clip_and_noise(g, 1.0, 1.0, seed=0, **kw)


@pytest.mark.parametrize(("kwargs", "err", "match"), [
    ({"max_grad_norm": 0.0}, ValueError, "max_grad_norm must be positive"),
    ({"max_grad_norm": -1.0}, ValueError, "max_grad_norm must be positive"),
    ({"max_grad_norm": float("nan")}, ValueError, "max_grad_norm"),
    ({"max_grad_norm": "1"}, TypeError, "max_grad_norm must be a real number"),
    ({"noise_multiplier": -0.1}, ValueError, "noise_multiplier must be >= 0"),
    ({"noise_multiplier": float("inf")}, ValueError, "noise_multiplier"),
    ({"reduction": "mean"}, ValueError, "expected_batch_size"),
    ({"reduction": "max"}, ValueError, "reduction must be"),
    ({"convention": "jax"}, ValueError, "convention must be"),
    ({"seed": -1}, ValueError, "seed must be"),
    ({"seed": 1.5}, ValueError, "seed must be"),
    ({"reduction": "mean", "expected_batch_size": 0}, ValueError, "expected_batch_size must be positive"),
    ({"per_sample_norms": np.ones(3)}, ValueError, r"shape \(4,\)"),
    ({"per_sample_norms": -np.ones(4)}, ValueError, "finite and >= 0"),
    ({"per_sample_norms": np.full(4, np.nan)}, ValueError, "finite and >= 0"),
    ({"max_grad_norm": [1.0, 2.0]}, ValueError, "one max_grad_norm per tensor"),
])
def test_bad_arguments(kwargs, err, match):
    args = {"max_grad_norm": 1.0, "noise_multiplier": 1.0}
    args.update(kwargs)
    with pytest.raises(err, match=match):
        pw.clip_and_noise(np.ones((4, 5), np.float32), args.pop("max_grad_norm"),
                          args.pop("noise_multiplier"), **args)


def test_bad_gradients():
    with pytest.raises(ValueError, match="mismatched batch sizes"):
        pw.clip_and_noise([np.ones((4, 2)), np.ones((5, 2))], 1.0, 0.0)
    with pytest.raises(TypeError, match="int64 array"):
        pw.clip_and_noise(np.ones((4, 2), np.int64), 1.0, 0.0)
    with pytest.raises(TypeError, match="expected an array"):
        pw.clip_and_noise([[1.0, 2.0]], 1.0, 0.0)
    with pytest.raises(ValueError, match="C-contiguous"):
        pw.clip_and_noise(np.ones((4, 6))[:, ::2], 1.0, 0.0)
    with pytest.raises(ValueError, match="at least one array"):
        pw.clip_and_noise([], 1.0, 0.0)
    with pytest.raises(ValueError, match=r"\(batch, \.\.\.\)"):
        pw.clip_and_noise(np.float64(1.0) * np.ones(()), 1.0, 0.0)


def test_core_rejects_what_the_binding_cannot_take():
    with pytest.raises(TypeError, match="float16, float32 or float64"):
        _core.privacy_sq_norms(np.ones((2, 2), np.int32))
    with pytest.raises(ValueError, match="2-d"):
        _core.privacy_sq_norms(np.ones(3))
    with pytest.raises(ValueError, match="one factor per sample"):
        _core.privacy_clip_sum_noise(np.ones((2, 2)), np.ones(3), noise_std=0.0, out_scale=1.0)
    with pytest.raises(ValueError, match="32 bytes"):
        _core.privacy_normals(4, key=b"short", nonce=bytes(12))
    with pytest.raises(ValueError, match="not both"):
        _core.privacy_normals(4, seed=1, key=bytes(32), nonce=bytes(12))
    with pytest.raises(ValueError, match="2\\^36"):
        _core.privacy_normals(4, key=bytes(32), nonce=bytes(12), offset=(1 << 36) - 2)


def test_poisson_batches_sizes_padding_and_empties():
    batches = list(pw.poisson_batches(1000, 0.05, steps=400, seed=0))
    sizes = np.array([b.size for b in batches])
    assert abs(sizes.mean() - 50) < 5 * np.sqrt(1000 * 0.05 * 0.95 / 400)
    assert all(np.all(np.diff(b) > 0) and (b.size == 0 or (b[0] >= 0 and b[-1] < 1000)) for b in batches)
    membership = np.zeros(1000)
    for b in batches:
        membership[b] += 1
    assert stats.chisquare(membership.reshape(10, 100).sum(1)).pvalue > 1e-4
    tiny = list(pw.poisson_batches(10, 0.01, steps=200, seed=1))
    assert any(b.size == 0 for b in tiny)
    assert len(list(pw.poisson_batches(10, 0.25))) == 4  # one epoch by default
    for idx, mask in pw.poisson_batches(100, 0.1, steps=50, seed=2, pad_to=40):
        assert idx.shape == mask.shape == (40,)
        assert np.all(idx[~mask] == 0) and mask.sum() == np.count_nonzero(mask)
    with pytest.raises(ValueError, match="exceeds pad_to"):
        list(pw.poisson_batches(100, 0.9, steps=5, seed=0, pad_to=10))
    with pytest.raises(ValueError, match=r"sample_rate must be in \(0, 1\]"):
        pw.poisson_batches(10, 0.0)
    with pytest.raises(ValueError, match="n must be"):
        pw.poisson_batches(0, 0.5)


class _FakeGpuArray:
    """Looks like a CuPy array to the dispatcher (never touched as memory)."""

    __cuda_array_interface__ = {"shape": (4, 3), "typestr": "<f4", "data": (0, False), "version": 3}
    dtype = np.dtype(np.float32)
    shape = (4, 3)
    ndim = 2


def test_gpu_arrays_are_a_clear_error_never_a_silent_copy():
    # Without CuPy (or a device) the GPU path explains itself; it never copies to the host.
    with pytest.raises(pw.GPUUnavailableError, match="installed without GPU support|CUDA device"):
        pw.clip_and_noise(_FakeGpuArray(), 1.0, 1.0)
    with pytest.raises(TypeError, match="mix GPU"):
        pw.clip_and_noise([_FakeGpuArray(), np.ones((4, 3), np.float32)], 1.0, 1.0)


# ---- fail closed: overflow is named, finite inputs get their answer ------------------------

@pytest.mark.parametrize("backend", ["cpu", "reference"])
def test_float32_noise_beyond_flt_max_is_an_overflow_error(backend, isa):
    """sigma * C = 1e40 overflows float32: the native path once returned +-inf (the reference
    raised); both now raise, naming the overflow, also for an empty batch (noise only)."""
    g = np.ones((3, 5), np.float32)
    with pytest.raises(ValueError, match="overflow: .* float32"):
        pw.clip_and_noise(g, 1e30, 1e10, seed=1, backend=backend)
    with pytest.raises(ValueError, match="overflow: .* float32"):
        pw.clip_and_noise(g[:0], 1e30, 1e10, seed=1, backend=backend)
    out = pw.clip_and_noise(g, 1e30, 1e7, seed=1, backend=backend)  # 1e37 fits
    assert out.dtype == np.float32 and np.isfinite(out).all()
    np.testing.assert_allclose(out, pw.clip_and_noise(g, 1e30, 1e7, seed=1, backend="reference"),
                               rtol=1e-6)


@pytest.mark.parametrize("backend", ["cpu", "reference"])
@pytest.mark.parametrize("per_layer", [False, True])
def test_finite_huge_gradients_are_clipped_not_rejected(backend, per_layer, isa):
    """|g| = 1e200 squares past DBL_MAX; the gradients are finite, so they get clipped (they
    were rejected as "NaN or infinity")."""
    g = np.full((4, 10), 1e200)
    g[1] *= -1
    h = np.full((4, 3), 3e199)
    limits = [1.0, 1.0] if per_layer else 1.0
    got = pw.clip_and_noise([g, h], limits, 0.0, backend=backend, return_stats=True)
    small = pw.clip_and_noise([g / 1e190, h / 1e190], limits, 0.0, backend=backend,
                              return_stats=True)  # the same directions, norms that square
    for a, b in zip(got.grads, small.grads):
        np.testing.assert_allclose(a, b, rtol=1e-12)
    np.testing.assert_allclose(got.per_sample_norms, small.per_sample_norms * 1e190, rtol=1e-12)


def test_gradients_beyond_the_float64_norm_are_an_overflow_error(isa):
    g = np.full((2, 10), 1e308)  # norm sqrt(10) * 1e308 > DBL_MAX
    with pytest.raises(ValueError, match="overflow: the L2 norm of sample"):
        pw.clip_and_noise(g, 1.0, 0.0)
    g[0, 0] = np.nan
    with pytest.raises(ValueError, match=r"NaN or infinity in sample\(s\) \[0\]"):
        pw.clip_and_noise(g, 1.0, 0.0)
