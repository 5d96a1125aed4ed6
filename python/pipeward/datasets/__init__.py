"""Real data shipped inside pipeward, so the demo and the examples need no download.

See ``README.md`` in this folder for provenance and licence.
"""

from __future__ import annotations

import gzip
from importlib import resources

import numpy as np

__all__ = ["load_breast_cancer"]


def load_breast_cancer() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """The Breast Cancer Wisconsin (Diagnostic) data: 569 rows, 30 features, 2 classes.

    Returns ``(X, y, feature_names)``: ``X`` float64 of shape (569, 30), ``y`` int64 with
    0 = malignant and 1 = benign, and the 30 feature names. Identical to scikit-learn's
    ``load_breast_cancer()`` (same rows, order, labels and names).
    """
    raw = resources.files(__name__).joinpath("breast_cancer.csv.gz").read_bytes()
    lines = gzip.decompress(raw).decode("ascii").splitlines()
    header = lines[0].split(",")
    table = np.loadtxt(lines[1:], delimiter=",", dtype=np.float64)
    X = np.ascontiguousarray(table[:, :-1])
    y = table[:, -1].astype(np.int64)
    return X, y, header[:-1]
