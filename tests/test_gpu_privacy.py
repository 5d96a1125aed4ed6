"""GPU clip + sum + noise (cuda/privacy.cu) against the C++ kernel, the reference and Opacus'
conventions: same noise stream for the same seed, norms and sums within dtype tolerance."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import requires_gpu

import pipeward as pw
from pipeward import _core as core

pytestmark = [pytest.mark.gpu, requires_gpu]


@pytest.fixture(scope="module")
def gpu():
    from pipeward._gpu import privacy

    return privacy


@pytest.mark.parametrize("offset", [0, 1, 3, 4, 1_000_003])
def test_philox_stream_matches_the_cpu(gpu, offset):
    for seed in (0, 12345, 2**64 - 1):
        want = core.privacy_normals(4099, offset=offset, seed=seed)
        got = gpu.normals(4099, offset=offset, seed=seed).get()
        # Same Philox words, same transform; only float32 rounding may differ (no FMA on GPU).
        np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


@pytest.mark.parametrize("offset", [0, 5, 16, 999])
def test_chacha_stream_matches_the_cpu(gpu, rng, offset):
    key, nonce = rng.bytes(32), rng.bytes(12)
    want = core.privacy_normals(2053, offset=offset, key=key, nonce=nonce)
    got = gpu.normals(2053, offset=offset, key=key, nonce=nonce).get()
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)


def test_noise_is_standard_normal(gpu):
    stats = pytest.importorskip("scipy.stats")
    z = gpu.normals(200_000, seed=7).get().astype(np.float64)
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.mean()) < 0.01 and abs(z.std() - 1) < 0.01


TOL = {np.float16: 1e-3, np.float32: 1e-5, np.float64: 1e-12}


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(1, 1), (7, 5), (64, 70_001), (300, 33)])
def test_norms_and_fused_sum_match_the_cpu(cp, gpu, rng, dtype, shape):
    g = rng.standard_normal(shape).astype(dtype)
    d = cp.asarray(g)
    sq = gpu.sq_norms(d).get()
    np.testing.assert_allclose(sq, core.privacy_sq_norms(g), rtol=TOL[dtype])
    scale = np.minimum(1.0, 1.0 / (np.sqrt(sq) + 1e-6))
    for offset in (0, 3):
        want, ok_cpu = core.privacy_clip_sum_noise(g, scale, noise_std=0.7, out_scale=0.5,
                                                   seed=99, offset=offset)
        got, ok = gpu.clip_sum_noise(d, cp.asarray(scale), noise_std=0.7, out_scale=0.5,
                                     seed=99, offset=offset)
        assert bool(ok) and ok_cpu
        assert got.dtype == want.dtype
        np.testing.assert_allclose(got.get(), want, rtol=max(TOL[dtype], 1e-5), atol=1e-5)


def test_public_clip_and_noise_on_cupy_matches_numpy(cp, rng):
    grads = [rng.standard_normal((32, 10, 3)).astype(np.float32),
             rng.standard_normal((32, 257)).astype(np.float32)]
    want = pw.clip_and_noise(grads, 1.0, 1.1, reduction="mean", expected_batch_size=32, seed=5)
    got = pw.clip_and_noise([cp.asarray(g) for g in grads], 1.0, 1.1, reduction="mean",
                            expected_batch_size=32, seed=5)
    for w, g in zip(want, got, strict=True):
        assert isinstance(g, cp.ndarray) and g.shape == w.shape and g.dtype == w.dtype
        np.testing.assert_allclose(g.get(), w, rtol=1e-5, atol=1e-6)


def test_public_clip_and_noise_matches_the_reference_without_noise(cp, rng):
    g = rng.standard_normal((16, 100))
    want = pw.clip_and_noise(g, 0.5, 0.0, backend="reference")
    got = pw.clip_and_noise(cp.asarray(g), 0.5, 0.0)
    np.testing.assert_allclose(got.get(), want, rtol=1e-12, atol=1e-14)


def test_nan_gradient_is_refused(cp):
    g = cp.ones((4, 10), dtype=cp.float32)
    g[2, 3] = cp.nan
    with pytest.raises(ValueError, match="NaN"):
        pw.clip_and_noise(g, 1.0, 1.0, seed=1)


def test_torch_cuda_tensors_without_copies(cp, rng):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA device")
    from pipeward._gpu import privacy

    t = torch.randn(8, 1000, device="cuda")
    sq = privacy.sq_norms(t)  # __cuda_array_interface__: a view of the tensor's memory
    np.testing.assert_allclose(sq.get(), (t.double() ** 2).sum(1).cpu().numpy(), rtol=1e-6)
    via_dlpack = cp.from_dlpack(t)
    assert via_dlpack.data.ptr == t.data_ptr()
