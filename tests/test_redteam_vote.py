"""The vote kernel against its NumPy reference (hypothesis), and its input checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from pipeward import _core
from pipeward.redteam.vote import count_votes

pytestmark = pytest.mark.native


@st.composite
def vote_matrices(draw):
    dtype = draw(st.sampled_from([np.uint8, np.int16, np.int32, np.int64]))
    n = draw(st.integers(0, 40))
    k = draw(st.integers(1, 70))
    c = draw(st.integers(1, 12))
    seed = draw(st.integers(0, 2**32 - 1))
    skew = draw(st.booleans())  # skewed votes make ties and wide margins both likely
    rng = np.random.default_rng(seed)
    p = rng.dirichlet(np.full(c, 0.3 if skew else 5.0))
    return rng.choice(c, size=(n, k), p=p).astype(dtype), c


@settings(deadline=None, max_examples=150)
@given(vote_matrices())
@example((np.array([[0, 1], [1, 0], [1, 1]], dtype=np.uint8), 2))  # ties go to the smaller label
@example((np.zeros((3, 5), dtype=np.int32), 1))  # one class: radius k
def test_native_equals_reference(case):
    labels, c = case
    got = count_votes(labels, c)
    want = count_votes(labels, c, backend="reference")
    for a, b in zip((got.counts, got.prediction, got.radius), (want.counts, want.prediction, want.radius)):
        np.testing.assert_array_equal(a, b)


def test_certificate_by_hand():
    # 5 votes for 1, 3 for 0, 2 for 2: top 1; vs 0 (smaller): (5-3-1)//2 = 0; vs 2: (5-2)//2 = 1
    labels = np.array([[1] * 5 + [0] * 3 + [2] * 2], dtype=np.int32)
    res = count_votes(labels, 3)
    assert res.prediction.tolist() == [1] and res.radius.tolist() == [0]
    # 6 for 0, 2 for 1: (6-2-0)//2 = 2; moving 2 votes gives 4:4 and 0 still wins the tie
    res = count_votes(np.array([[0] * 6 + [1] * 2], dtype=np.uint8), 2)
    assert res.prediction.tolist() == [0] and res.radius.tolist() == [2]


def test_workers_do_not_change_the_result():
    labels = np.random.default_rng(1).integers(0, 7, (500, 33)).astype(np.int16)
    a, b = count_votes(labels, 7, workers=1), count_votes(labels, 7, workers=2)
    np.testing.assert_array_equal(a.counts, b.counts)
    np.testing.assert_array_equal(a.radius, b.radius)


@pytest.mark.parametrize("backend", ["auto", "reference"])
def test_labels_out_of_range_are_errors(backend):
    with pytest.raises(ValueError, match="outside"):
        count_votes(np.array([[0, 3]], dtype=np.int32), 3, backend=backend)
    with pytest.raises(ValueError, match="outside"):
        count_votes(np.array([[0, -1]], dtype=np.int64), 3, backend=backend)


def test_bad_inputs():
    with pytest.raises(TypeError, match="uint8, int16"):
        count_votes(np.zeros((2, 2)), 2)
    with pytest.raises(ValueError, match="2-d"):
        count_votes(np.zeros(3, dtype=np.int32), 2)
    with pytest.raises(ValueError, match="n_classes"):
        count_votes(np.zeros((2, 2), dtype=np.int32), 0)
    with pytest.raises(ValueError, match="C-contiguous"):
        _core.vote_count(np.zeros((4, 4), dtype=np.int32)[:, ::2], 2)
    with pytest.raises(TypeError):
        _core.vote_count(np.zeros((4, 4), dtype=np.uint16), 2)
