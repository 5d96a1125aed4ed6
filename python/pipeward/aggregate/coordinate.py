"""Coordinate-wise rules: weighted mean, median, trimmed mean."""

from __future__ import annotations

from typing import Any

from ._updates import as_updates, client_weights, rank_mean, run_checked, weighted_mean


def mean(updates: Any, weights: Any = None, *, on_invalid: str = "raise",
         workers: int | None = None) -> Any:
    """sum_i w_i x_i / sum_i w_i (all w_i = 1 by default): Flower's ``aggregate`` with
    w_i = the client's example count. Sums in float64, rounded once."""
    u = as_updates(updates)
    w = client_weights(weights, u.clients)
    out, used = run_checked(u, on_invalid, lambda v: weighted_mean(
        v, None if w is None else w[v.index], workers))
    return used.finish(out)


def median(updates: Any, *, on_invalid: str = "raise", workers: int | None = None) -> Any:
    """Coordinate-wise median, equal to ``np.median(x, axis=0)`` (Flower's
    ``aggregate_median``) to the bit."""
    u = as_updates(updates)
    out, used = run_checked(u, on_invalid, lambda v: rank_mean(
        v, (v.clients - 1) // 2, v.clients // 2 + 1, workers))
    return used.finish(out)


def trimmed_mean(updates: Any, proportiontocut: float, *, on_invalid: str = "raise",
                 workers: int | None = None) -> Any:
    """Coordinate-wise mean after cutting ``int(proportiontocut * K)`` values from each end:
    ``scipy.stats.trim_mean(x, proportiontocut, axis=0)`` and Flower's
    ``aggregate_trimmed_avg``. ``proportiontocut`` in [0, 0.5)."""
    if not isinstance(proportiontocut, (int, float)) or not 0 <= proportiontocut < 0.5:
        raise ValueError(f"proportiontocut must be in [0, 0.5), got {proportiontocut!r}")
    u = as_updates(updates)

    def compute(v):
        cut = int(proportiontocut * v.clients)
        return rank_mean(v, cut, v.clients - cut, workers)

    out, used = run_checked(u, on_invalid, compute)
    return used.finish(out)
