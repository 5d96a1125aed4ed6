"""The bundled data set is scikit-learn's Breast Cancer Wisconsin, byte for byte in value."""

from __future__ import annotations

import numpy as np
import pytest

from pipeward.datasets import load_breast_cancer


def test_shape_dtype_and_classes():
    X, y, names = load_breast_cancer()
    assert X.shape == (569, 30) and X.dtype == np.float64 and X.flags.c_contiguous
    assert y.dtype == np.int64 and np.bincount(y).tolist() == [212, 357]  # malignant, benign
    assert len(names) == 30 and names[0] == "mean radius" and names[-1] == "worst fractal dimension"
    assert np.isfinite(X).all()


def test_matches_scikit_learn():
    datasets = pytest.importorskip("sklearn.datasets")
    ref = datasets.load_breast_cancer()
    X, y, names = load_breast_cancer()
    np.testing.assert_array_equal(X, ref.data)
    np.testing.assert_array_equal(y, ref.target)
    assert names == list(ref.feature_names)
