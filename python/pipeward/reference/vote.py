"""Reference for the vote kernel: plurality vote with the Deep Partition Aggregation certificate.

For each row of ``labels`` (the class index each of k partition models voted):

* ``counts[c]`` = number of votes for class c;
* ``prediction`` = the smallest label with the most votes;
* ``radius`` = min over c != top of ``(counts[top] - counts[c] - [c < top]) // 2``: the number
  of poisoned training rows (each moves at most one vote) the prediction certainly survives
  (Levine & Feizi 2021, Theorem 1); k when there is one class.
"""

from __future__ import annotations

import numpy as np


def count_votes(labels: np.ndarray, n_classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    labels = np.asarray(labels)
    n, k = labels.shape
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ValueError(f"labels: labels outside [0, {n_classes})")
    counts = np.zeros((n, n_classes), dtype=np.int32)
    for c in range(n_classes):
        counts[:, c] = (labels == c).sum(axis=1)
    prediction = counts.argmax(axis=1)  # argmax takes the first, i.e. the smallest, of ties
    radius = np.full(n, k, dtype=np.int64)
    top = counts[np.arange(n), prediction].astype(np.int64)
    for c in range(n_classes):
        gap = top - counts[:, c] - (c < prediction)
        radius = np.where(prediction == c, radius, np.minimum(radius, gap // 2))
    return counts, prediction.astype(np.int64), radius
