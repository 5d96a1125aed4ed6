"""The nearest-distance kernel against its NumPy reference and SciPy's cdist, on every CPU path."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, strategies as st
from hypothesis.extra import numpy as hnp

from pipeward import _core
from pipeward.nearest import nearest_distances
from pipeward.reference import nearest as reference

from conftest import isa_fixture

pytestmark = pytest.mark.native

isa = isa_fixture(skip=("sha_ni",))

TOL = {np.float64: 1e-12, np.float32: 2e-5}


@st.composite
def problems(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    d = draw(st.integers(1, 40))
    m = draw(st.integers(1, 40))  # past one block of 16 queries
    n = draw(st.integers(1, 70))
    elements = st.floats(-100, 100, allow_nan=False, width=32)
    X = draw(hnp.arrays(dtype, (m, d), elements=elements))
    Y = draw(hnp.arrays(dtype, (n, d), elements=elements))
    if draw(st.booleans()):  # exact duplicates: distance 0 and ties on the first index
        X[0] = Y[n // 2]
        if n > 2:
            Y[-1] = Y[n // 2]
    return X, Y


def check_against_reference(X, Y, d2, index):
    ref_d2, ref_index = reference.nearest_sq_distances(X, Y)
    scale = np.maximum(1.0, ((X.astype(np.float64)[:, None] - Y.astype(np.float64)[None]) ** 2)
                       .sum(axis=2).max(axis=1))
    tol = TOL[X.dtype.type]
    assert d2.dtype == X.dtype and index.dtype == np.int64
    assert np.all(np.abs(d2 - ref_d2) <= tol * scale)
    # The chosen row is a nearest one (a different index only on a tie within rounding).
    chosen = ((X.astype(np.float64) - Y.astype(np.float64)[index]) ** 2).sum(axis=1)
    assert np.all(np.abs(chosen - ref_d2) <= tol * scale)
    # Where a row is an exact duplicate, the first index whose distance is 0 in the input's
    # own arithmetic (a float32 square can underflow to 0 where float64's does not; which rows
    # do is independent of summation order, every term being >= 0).
    exact = ref_d2 == 0
    zero = ((X[:, None, :] - Y[None, :, :]) ** 2).sum(axis=2) == 0
    assert np.array_equal(index[exact], zero.argmax(axis=1)[exact])


@given(problems())
@example((np.zeros((1, 1)), np.zeros((1, 1))))
@example((np.zeros((1, 1), np.float32), np.array([[1.1754944e-38], [0]], np.float32)))  # 1e-76 -> 0
def test_matches_reference_on_every_path(problem):
    X, Y = problem
    before = _core.isa_limit()
    try:
        for name in _core.enabled_isas():
            _core.set_isa_limit(name)
            d2, index = nearest_distances(X, Y)
            check_against_reference(X, Y, d2, index)
    finally:
        _core.set_isa_limit(before)


def test_matches_scipy_cdist(isa):
    from scipy.spatial.distance import cdist

    rng = np.random.default_rng(1)
    X, Y = rng.normal(size=(40, 30)), rng.normal(size=(3001, 30))
    d2, index = nearest_distances(X, Y)
    D = cdist(X, Y, "sqeuclidean")
    np.testing.assert_allclose(d2, D.min(axis=1), rtol=1e-12)
    np.testing.assert_array_equal(index, D.argmin(axis=1))


def test_query_blocks_over_reference_chunks_keep_the_first_index(isa):
    # Many queries: blocks of queries scan Y chunk by chunk; a duplicate in a later chunk
    # must not replace the first.
    rng = np.random.default_rng(5)
    Y = rng.normal(size=(5000, 9))
    Y[4000] = Y[3]
    X = np.vstack([rng.normal(size=(37, 9)), Y[3:4]])
    d2, index = nearest_distances(X, Y, workers=1)
    assert d2[-1] == 0.0 and index[-1] == 3
    check_against_reference(X, Y, d2, index)


def test_threaded_split_over_references_keeps_the_first_index(isa):
    # Few queries, many references: the kernel splits Y across threads and merges in order.
    Y = np.random.default_rng(2).normal(size=(200_000, 12))
    Y[150_000] = Y[7]
    d2, index = nearest_distances(Y[7:8].copy(), Y, workers=2)
    assert d2[0] == 0.0 and index[0] == 7


def test_strided_rows_read_in_place_and_column_strides_copied(isa):
    rng = np.random.default_rng(3)
    big = rng.normal(size=(50, 20))
    X, Y = big[::3, :7], big[1::2, :7]
    d2, index = nearest_distances(X, Y)
    check_against_reference(np.ascontiguousarray(X), np.ascontiguousarray(Y), d2, index)
    d2t, indext = nearest_distances(np.asfortranarray(X), np.asfortranarray(Y))
    np.testing.assert_array_equal(d2t, d2)
    np.testing.assert_array_equal(indext, index)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_row_tail_read_back_over_an_infinity_stays_infinite(isa, dtype):
    # The portable path loads a row's last partial vector as the full vector ending there and
    # clears the lanes summed already: an inf in a cleared lane must give +0 there (the row's
    # sum inf, as in the reference), not inf * 0 = NaN.
    X = np.zeros((1, 5), dtype)
    Y = np.array([[0, np.inf, 0, 0, 1], [0, 1, np.inf, 0, 0]], dtype)
    for row in range(2):
        d2, index = nearest_distances(X, Y[row:row + 1], check_finite=False)
        ref_d2, _ = reference.nearest_sq_distances(X, Y[row:row + 1])
        assert np.isposinf(d2[0]) and np.isposinf(ref_d2[0]) and index[0] == 0


def test_reference_backend():
    X, Y = np.eye(3), np.eye(3)[::-1].copy()
    d2, index = nearest_distances(X, Y, backend="reference")
    np.testing.assert_array_equal(d2, [0, 0, 0])
    np.testing.assert_array_equal(index, [2, 1, 0])


@pytest.mark.parametrize("X, Y, error, match", [
    (np.zeros((2, 3), np.float32), np.zeros((2, 3)), TypeError, "share a dtype"),
    (np.zeros((2, 3), np.int64), np.zeros((2, 3), np.int64), TypeError, "float32 or float64"),
    (np.zeros((2, 3)), np.zeros((2, 4)), ValueError, "same number of columns"),
    (np.zeros(3), np.zeros((2, 3)), ValueError, "2-d"),
    (np.zeros((2, 3)), np.zeros((0, 3)), ValueError, "non-empty"),
    (np.full((1, 3), np.nan), np.zeros((2, 3)), ValueError, "NaN"),
    (np.zeros((1, 3)), np.full((2, 3), np.inf), ValueError, "NaN or infinity"),
])
def test_bad_input_is_a_clear_error(X, Y, error, match):
    with pytest.raises(error, match=match):
        nearest_distances(X, Y)


def test_native_binding_checks_outputs():
    X = np.zeros((2, 3))
    with pytest.raises(ValueError, match="shape"):
        _core.nearest_sq_distances(X, X, np.empty(3), np.empty(2, np.int64))
    with pytest.raises(TypeError, match="int64"):
        _core.nearest_sq_distances(X, X, np.empty(2), np.empty(2, np.int32))
    with pytest.raises(TypeError, match="dtype of X"):
        _core.nearest_sq_distances(X, X.astype(np.float32), np.empty(2), np.empty(2, np.int64))


# -- the extraction detector's one-call step: scale, nearest earlier query, store -------------

@st.composite
def history_pushes(draw):
    dtype = draw(st.sampled_from([np.float64, np.float32]))
    d = draw(st.integers(1, 40))
    capacity = draw(st.integers(1, 70))
    count = draw(st.integers(0, capacity))
    slot = count if count < capacity else draw(st.integers(0, capacity - 1))
    elements = st.floats(-100, 100, allow_nan=False, width=32)
    history = draw(hnp.arrays(dtype, (capacity, d), elements=elements))
    x = draw(hnp.arrays(np.float64, d, elements=elements))
    low = draw(hnp.arrays(np.float64, d, elements=elements))
    scale = draw(hnp.arrays(np.float64, d, elements=st.floats(1e-3, 10)))
    return x, low, scale, history, count, slot


@given(history_pushes())
def test_history_push_matches_reference_on_every_path(problem):
    x, low, scale, history, count, slot = problem
    row = ((x - low) * scale).astype(history.dtype)  # NumPy's scaling, bit for bit
    before = _core.isa_limit()
    try:
        for name in _core.enabled_isas():
            _core.set_isa_limit(name)
            ring = history.copy()
            d2 = _core.nearest_history_push(x, low, scale, ring, count, slot)
            if count:
                check_against_reference(row[None], history[:count], np.array([d2], history.dtype),
                                        reference.nearest_sq_distances(row[None], history[:count])[1])
            else:
                assert d2 == np.inf
            expected = history.copy()
            expected[slot] = row
            np.testing.assert_array_equal(ring, expected)  # the row stored, nothing else touched
    finally:
        _core.set_isa_limit(before)


def test_history_push_reads_strided_rows_in_place(isa):
    rng = np.random.default_rng(3)
    wide = rng.normal(size=(20, 12))
    ring = wide[:, :5]  # rows 12 apart, columns contiguous: the view is updated in place
    x, zero, one = rng.normal(size=5), np.zeros(5), np.ones(5)
    expected = ((wide[:, :5] - x) ** 2).sum(axis=1).min()
    after = wide.copy()
    after[7, :5] = x  # that row's first 5 columns, nothing between the rows
    d2 = _core.nearest_history_push(x, zero, one, ring, 20, 7)
    assert d2 == pytest.approx(expected, rel=1e-12)
    np.testing.assert_array_equal(wide, after)


@pytest.mark.parametrize("args, error, match", [
    ((np.zeros(3, np.float32), np.zeros(3), np.ones(3), np.zeros((4, 3), np.float32), 0, 0),
     TypeError, "x: expected a float64"),
    ((np.zeros(2), np.zeros(3), np.ones(3), np.zeros((4, 3), np.float32), 0, 0),
     ValueError, "x: expected 3 values"),
    ((np.zeros(3), np.zeros(4), np.ones(3), np.zeros((4, 3)), 0, 0), ValueError, "low: expected 3"),
    ((np.zeros(3), np.zeros(3), np.ones(6)[::2], np.zeros((4, 3)), 0, 0), ValueError, "C-contiguous"),
    ((np.zeros(3), np.zeros(3), np.ones(3), np.zeros((4, 3), np.int32), 0, 0), TypeError, "float32 or float64"),
    ((np.zeros(3), np.zeros(3), np.ones(3), np.zeros(3), 0, 0), ValueError, "2-d"),
    ((np.zeros(0), np.zeros(0), np.ones(0), np.zeros((4, 0)), 0, 0), ValueError, "one column"),
    ((np.zeros(3), np.zeros(3), np.ones(3), np.zeros((4, 3)), 5, 0), ValueError, "count, slot"),
    ((np.zeros(3), np.zeros(3), np.ones(3), np.zeros((4, 3)), 2, 3), ValueError, "count, slot"),
    ((np.zeros(3), np.zeros(3), np.ones(3), np.zeros((4, 3)), 4, 4), ValueError, "count, slot"),
    ((np.zeros(3), np.zeros(3), np.ones(3), np.zeros((4, 3)), -1, 0), ValueError, "count, slot"),
    ((np.array([0, np.nan, 0]), np.zeros(3), np.ones(3), np.zeros((4, 3)), 1, 1), ValueError, "NaN or infinity"),
    ((np.array([0, 1e300, 0]), np.zeros(3), np.ones(3), np.zeros((4, 3), np.float32), 1, 1),
     ValueError, "float32 range once scaled"),
])
def test_history_push_bad_input_is_a_clear_error_and_changes_nothing(args, error, match):
    history = args[3]
    kept = history.copy()
    with pytest.raises(error, match=match):
        _core.nearest_history_push(*args)
    np.testing.assert_array_equal(history, kept)


def test_history_push_refuses_a_read_only_history():
    history = np.zeros((4, 3))
    history.flags.writeable = False
    with pytest.raises(ValueError, match="read-only"):
        _core.nearest_history_push(np.zeros(3), np.zeros(3), np.ones(3), history, 1, 1)
