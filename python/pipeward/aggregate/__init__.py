"""Federated aggregation that survives Byzantine clients (the ``aggregate`` kernel family).

Updates are a (K, P) float32/float64 array, or a list of K clients' lists of per-layer arrays
(Flower's ``NDArrays``), read in place; the result has the input's form. A NaN or infinity in
an update is an error naming the client, or with ``on_invalid="drop"`` that client is left
out with an :class:`AggregationWarning`.
"""

from __future__ import annotations

from ._updates import AggregationWarning
from .coordinate import mean, median, trimmed_mean
from .distance import bulyan, krum
from .dp import clip_updates, dp_mean
from .iterative import centered_clip, geometric_median

__all__ = ["AggregationWarning", "bulyan", "centered_clip", "clip_updates", "dp_mean",
           "geometric_median", "krum", "mean", "median", "trimmed_mean"]
