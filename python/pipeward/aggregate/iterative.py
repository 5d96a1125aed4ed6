"""Iterative rules: the geometric median (RFA) and centered clipping."""

from __future__ import annotations

from typing import Any

import numpy as np

from ._updates import Updates, as_updates, client_weights, run_checked, weighted_mean


def _distances_to(u: Updates, z: list[Any]) -> np.ndarray:
    """|x_i - z| for every client, over all layers, in float64 (on the host)."""
    d2 = np.zeros(u.clients)
    for layer, zl in zip(u.layers, z):
        for i, row in enumerate(layer):
            diff = row - zl  # float64, as z is
            d2[i] += float(diff @ diff)
    return np.sqrt(d2)


def geometric_median(updates: Any, weights: Any = None, *, eps: float = 1e-6,
                     max_iter: int = 100, tol: float = 1e-8, on_invalid: str = "raise",
                     workers: int | None = None) -> Any:
    """Smoothed Weiszfeld (RFA, Pillutla et al. 2022): z <- sum_i b_i x_i / sum_i b_i,
    b_i = w_i / max(eps, |z - x_i|), from the weighted mean, until |z' - z| <= tol max(1, |z|)
    or ``max_iter`` steps."""
    for name, value in (("eps", eps), ("tol", tol)):
        if not isinstance(value, (int, float)) or not value > 0:
            raise ValueError(f"{name} must be > 0, got {value!r}")
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 1:
        raise ValueError(f"max_iter must be a positive integer, got {max_iter!r}")
    u = as_updates(updates)
    w = client_weights(weights, u.clients)
    start, used = run_checked(u, on_invalid, lambda v: weighted_mean(
        v, None if w is None else w[v.index], workers))
    wu = np.ones(used.clients) if w is None else w[used.index]
    f64 = used.xp.float64
    z = [s.astype(f64) for s in start]
    for _ in range(max_iter):
        b = wu / np.maximum(eps, _distances_to(used, z))
        nxt = [m.astype(f64) for m in weighted_mean(used, b, workers)]
        step = np.sqrt(sum(float((a - c) @ (a - c)) for a, c in zip(nxt, z)))
        norm = np.sqrt(sum(float(c @ c) for c in z))
        z = nxt
        if step <= tol * max(1.0, norm):
            break
    return used.finish([zl.astype(used.dtype) for zl in z])


def centered_clip(updates: Any, center: Any, tau: float, iters: int = 1, *,
                  on_invalid: str = "raise", workers: int | None = None) -> Any:
    """Centered clipping (Karimireddy et al. 2021): v <- v + (1/K) sum_i min(1, tau /
    |x_i - v|) (x_i - v), ``iters`` times from ``center`` (the previous aggregate; same form
    as one client's update)."""
    if not isinstance(tau, (int, float)) or not tau > 0:
        raise ValueError(f"tau must be > 0, got {tau!r}")
    if isinstance(iters, bool) or not isinstance(iters, int) or iters < 1:
        raise ValueError(f"iters must be a positive integer, got {iters!r}")
    u = as_updates(updates)
    if u.stacked:
        if not isinstance(center, u.xp.ndarray) or center.ndim != 1:
            raise TypeError(f"center: expected a 1-d {u.xp.__name__} array like one row of the "
                            f"updates, got {type(center).__name__}")
        c = as_updates(center[None, :])
    elif not isinstance(center, (list, tuple)):
        raise TypeError("center: expected a list of per-layer arrays like one client's update, "
                        f"got {type(center).__name__}")
    else:
        c = as_updates([list(center)])
    if c.on_gpu != u.on_gpu:
        raise TypeError(f"center: expected {'CuPy' if u.on_gpu else 'NumPy'} arrays like the "
                        f"updates, got {'CuPy' if c.on_gpu else 'NumPy'} ones")
    if c.shapes != u.shapes:
        raise ValueError(f"center: expected one update shaped like the clients' {u.shapes}, "
                         f"got {c.shapes} for {c.clients} updates")
    _, used = run_checked(u, on_invalid, lambda v: weighted_mean(v, None, workers))
    f64 = used.xp.float64
    v = [layer[0].astype(f64) for layer in c.layers]
    for _ in range(iters):
        n = _distances_to(used, v)
        scale = np.minimum(1.0, tau / np.where(n > 0, n, np.inf))
        # v + mean_i s_i (x_i - v) = (1 - mean s) v + mean_i s_i x_i
        if not scale.any():  # every update sits on v
            break
        moved = weighted_mean(used, scale, workers)
        mean_s = scale.mean()
        v = [(1 - mean_s) * vl + mean_s * m.astype(f64) for vl, m in zip(v, moved)]
    return used.finish([vl.astype(used.dtype) for vl in v])
