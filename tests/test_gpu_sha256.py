"""GPU SHA-256 (cuda/sha256.cu) against hashlib: equal-size chunks and arbitrary device arrays."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from conftest import requires_gpu
from hypothesis import given, settings
from hypothesis import strategies as st

import pipeward as pw

pytestmark = [pytest.mark.gpu, requires_gpu]


def _expected(rows) -> np.ndarray:
    return np.stack([np.frombuffer(hashlib.sha256(bytes(r)).digest(), np.uint8) for r in rows])


@pytest.mark.parametrize("chunk_len", [0, 1, 55, 56, 63, 64, 65, 1000, 65536])
def test_chunks_match_hashlib(cp, rng, chunk_len):
    host = rng.integers(0, 256, size=(37, chunk_len), dtype=np.uint8)
    got = pw.sha256_batch(cp.asarray(host))
    assert isinstance(got, cp.ndarray) and got.shape == (37, 32) and got.dtype == cp.uint8
    np.testing.assert_array_equal(got.get(), _expected(host))


@settings(max_examples=25)
@given(n=st.integers(0, 70), length=st.integers(0, 300), offset=st.integers(0, 17),
       pad=st.integers(0, 40))
def test_strided_and_unaligned_rows(cp, n, length, offset, pad):
    # Rows that start anywhere inside a wider buffer take the byte-wise load path.
    rng = np.random.default_rng(n * 1000 + length)
    wide = cp.asarray(rng.integers(0, 256, size=(n, offset + length + pad), dtype=np.uint8))
    rows = wide[:, offset:offset + length]
    np.testing.assert_array_equal(pw.sha256_batch(rows).get().reshape(n, 32),
                                  _expected(rows.get()).reshape(n, 32))


def test_device_arrays_of_any_dtype_and_size(cp, rng):
    arrays = [cp.asarray(rng.standard_normal(size)).astype(dtype)
              for size, dtype in [(0, np.float32), (1, np.float64), (1000, np.float16),
                                  ((3, 7, 5), np.float32), (1 << 16, np.int8)]]
    got = pw.sha256_batch(arrays)
    assert isinstance(got, cp.ndarray)
    np.testing.assert_array_equal(got.get(), _expected([a.get().tobytes() for a in arrays]))


def test_non_contiguous_device_array_is_refused(cp):
    with pytest.raises(ValueError, match="C-contiguous"):
        pw.sha256_batch([cp.zeros((4, 4), dtype=cp.float32)[:, ::2]])


def test_torch_cuda_tensors_are_hashed_in_place(cp):
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("PyTorch has no CUDA device")
    weights = [torch.randn(256, 128, device="cuda"), torch.arange(10, device="cuda")]
    got = pw.sha256_batch(weights)
    want = _expected([w.cpu().numpy().tobytes() for w in weights])
    np.testing.assert_array_equal(got.get(), want)


def test_runs_on_the_current_stream(cp, rng):
    host = rng.integers(0, 256, size=(64, 4096), dtype=np.uint8)
    with cp.cuda.Stream(non_blocking=True) as stream:
        got = pw.sha256_batch(cp.asarray(host))
        stream.synchronize()
    np.testing.assert_array_equal(got.get(), _expected(host))


def test_wrong_dtype_or_shape(cp):
    with pytest.raises(TypeError, match="uint8"):
        pw.sha256_batch(cp.zeros((2, 4), dtype=cp.float32))
    with pytest.raises(ValueError, match="2-D"):
        pw.sha256_batch(cp.zeros(8, dtype=cp.uint8))


def test_capabilities_report_the_gpu(cp):
    gpu = pw.capabilities()["gpu"]
    assert gpu is not None
    assert gpu["compute_capability"].replace(".", "") == cp.cuda.Device(0).compute_capability
    assert {"sha256", "drift", "privacy", "mahalanobis"} <= set(gpu["kernels"])


def test_sha256_of_one_device_array(cp, rng):
    host = rng.standard_normal((33, 17)).astype(np.float32)
    assert pw.sha256(cp.asarray(host)) == hashlib.sha256(host.tobytes()).hexdigest()
