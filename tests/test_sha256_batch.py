"""pw.sha256_batch on the CPU: the native multi-buffer core, checked against hashlib on every
kernel variant (16 lanes in lock-step with AVX-512; one message at a time otherwise)."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pipeward as pw
from pipeward import _core

pytestmark = pytest.mark.native

per_isa = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None,
                   max_examples=30)


def _hashlib_rows(messages) -> np.ndarray:
    return np.array([np.frombuffer(hashlib.sha256(bytes(m)).digest(), np.uint8) for m in messages],
                    dtype=np.uint8).reshape(len(messages), 32)


@per_isa
@given(sizes=st.lists(st.integers(0, 700), min_size=0, max_size=60), seed=st.integers(0, 2**32))
def test_messages_of_mixed_sizes_match_hashlib(isa, sizes, seed):
    rng = np.random.default_rng(seed)
    messages = [rng.integers(0, 256, size, dtype=np.uint8).tobytes() for size in sizes]
    np.testing.assert_array_equal(pw.sha256_batch(messages), _hashlib_rows(messages))


@pytest.mark.parametrize("n, chunk", [(0, 64), (1, 0), (7, 64), (16, 1000), (33, 4096),
                                      (100, 63), (257, 65)])
def test_rows_of_a_chunk_array_match_hashlib(isa, n, chunk):
    rows = np.random.default_rng(n).integers(0, 256, (n, chunk), dtype=np.uint8)
    got = pw.sha256_batch(rows)
    assert got.dtype == np.uint8 and got.shape == (n, 32)
    np.testing.assert_array_equal(got, _hashlib_rows(list(rows)))


def test_row_views_and_strided_rows_hash_their_own_bytes(isa):
    table = np.random.default_rng(1).integers(0, 256, (40, 300), dtype=np.uint8)
    for rows in (table[:, 10:200], table[::3], table[:, ::2]):
        np.testing.assert_array_equal(pw.sha256_batch(rows),
                                      _hashlib_rows([r.tobytes() for r in rows]))


def test_arrays_of_any_dtype_hash_their_memory(isa):
    rng = np.random.default_rng(2)
    arrays = [rng.normal(size=(i, 3)).astype(np.float32) for i in range(30)] + [bytearray(b"ab")]
    np.testing.assert_array_equal(pw.sha256_batch(arrays),
                                  _hashlib_rows([bytes(memoryview(a)) for a in arrays]))


def test_many_messages_on_several_threads_match_hashlib():
    messages = [bytes([i % 251]) * (i * 37 % 3000) for i in range(500)]
    got = _core.sha256_batch(messages, workers=2)
    np.testing.assert_array_equal(got, _hashlib_rows(messages))


def test_the_core_refuses_what_is_not_messages():
    with pytest.raises(TypeError, match="str"):
        _core.sha256_batch(["text"])
    with pytest.raises(TypeError, match="sequence"):
        _core.sha256_batch(b"one buffer")
    with pytest.raises(ValueError, match="contiguous rows"):
        _core.sha256_batch(np.zeros((4, 8), np.uint8)[:, ::2])
    with pytest.raises(ValueError, match="non-contiguous"):
        _core.sha256_batch([np.zeros((4, 8))[:, ::2]])


def test_reset_starts_over_and_usedforsecurity_is_accepted():
    h = pw.Sha256(b"something", usedforsecurity=False)
    h.reset()
    assert h.hexdigest() == hashlib.sha256().hexdigest()
    h.update(b"abc")
    assert h.digest() == hashlib.sha256(b"abc", usedforsecurity=True).digest()


def test_the_module_is_not_shadowed_by_the_function():
    import importlib

    module = importlib.import_module("pipeward.hashing")
    assert module.sha256 is pw.sha256
    assert callable(pw.sha256) and pw.sha256(b"") == hashlib.sha256(b"").hexdigest()
