"""Rules that compare whole updates: Krum, Multi-Krum and Bulyan."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._updates import (Updates, as_updates, client_weights, rank_mean, run_checked,
                       sq_distances, weighted_mean)


def _check_malicious(n_malicious: Any, k: int, need: int, rule: str) -> int:
    if isinstance(n_malicious, bool) or not isinstance(n_malicious, (int, np.integer)) \
            or n_malicious < 0:
        raise ValueError(f"n_malicious must be a non-negative integer, got {n_malicious!r}")
    if k < need:
        raise ValueError(f"{rule} with n_malicious={n_malicious} needs at least {need} clients, "
                         f"got {k}")
    return int(n_malicious)


def krum_scores(d: np.ndarray, n_malicious: int) -> np.ndarray:
    """Each client's sum of squared distances to its max(1, K - f - 2) nearest others."""
    closest = max(1, len(d) - n_malicious - 2)
    return np.sort(d, axis=1)[:, 1:closest + 1].sum(axis=1)


def _krum_pick(u: Updates, f: int, multi: int, workers: int | None) -> np.ndarray | None:
    d = sq_distances(u, workers)
    if d is None:
        return None
    return np.argsort(krum_scores(d, f), kind="stable")[:multi]


def krum(updates: Any, n_malicious: int, multi: int = 1, *, weights: Any = None,
         return_indices: bool = False, on_invalid: str = "raise",
         workers: int | None = None) -> Any:
    """Krum (Blanchard et al. 2017): score each update by the sum of squared distances to its
    K - f - 2 nearest others; return the best-scored update (``multi=1``, Flower's
    ``aggregate_krum`` with ``to_keep=0``) or the (``weights``-weighted) mean of the ``multi``
    best (Multi-Krum, ``to_keep=multi``). Ties go to the lower client index. Distances are
    formed from differences in a blocked native kernel, summed in float64.
    ``return_indices=True`` returns ``(aggregate, indices)``."""
    u = as_updates(updates)
    w = client_weights(weights, u.clients)
    if isinstance(multi, bool) or not isinstance(multi, (int, np.integer)) or not 1 <= multi:
        raise ValueError(f"multi must be a positive integer, got {multi!r}")
    f = _check_malicious(n_malicious, u.clients, max(int(multi), 1), "Krum")
    chosen, used = run_checked(u, on_invalid, lambda v: _krum_pick(v, f, int(multi), workers))
    if multi == 1:
        out = used.finish([layer[int(chosen[0])].copy() for layer in used.layers])
    else:
        sel = used.take([int(i) for i in chosen])
        sub = None if w is None else w[sel.index]
        out = sel.finish(weighted_mean(sel, sub, workers))
    indices = np.array([used.index[int(i)] for i in chosen])
    return (out, indices) if return_indices else out


def bulyan(updates: Any, n_malicious: int, *, return_indices: bool = False,
           on_invalid: str = "raise", workers: int | None = None) -> Any:
    """Bulyan (El Mhamdi et al. 2018), as Flower's ``aggregate_bulyan`` with Krum: select
    theta = K - 2f updates by repeated Krum (each pick leaves the pool), then per coordinate
    average the beta = theta - 2f selected values closest to their median. Needs K >= 4f + 3."""
    u = as_updates(updates)
    f = _check_malicious(n_malicious, u.clients, 4 * int(n_malicious) + 3
                         if isinstance(n_malicious, (int, np.integer)) else 0, "Bulyan")

    def select(v: Updates) -> list[int] | None:
        d = sq_distances(v, workers)
        if d is None:
            return None
        pool = list(range(v.clients))
        picked = []
        for _ in range(v.clients - 2 * f):
            sub = d[np.ix_(pool, pool)]
            best = int(np.argmin(krum_scores(sub, f)))
            picked.append(pool.pop(best))
        return picked

    picked, used = run_checked(u, on_invalid, select)
    sel = used.take(picked)
    beta = sel.clients - 2 * f
    med = rank_mean(sel, (sel.clients - 1) // 2, sel.clients // 2 + 1, workers)
    xp, out = sel.xp, []
    for layer, m in zip(sel.layers, med):
        stack = xp.stack(layer)  # theta selected rows of one layer: the closest-beta pick
        gaps = xp.abs(stack - m)
        # CuPy sorts stably and takes no ``kind``; NumPy needs to be told.
        order = (xp.argsort(gaps, axis=0) if sel.on_gpu
                 else np.argsort(gaps, axis=0, kind="stable"))[:beta]
        out.append(xp.take_along_axis(stack, order, axis=0).mean(axis=0, dtype=xp.float64)
                   .astype(stack.dtype))
    result = sel.finish(out)
    return (result, np.array(sel.index)) if return_indices else result
