"""Per-sample norms whose squares overflow a double, for the host and the GPU alike."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._backend import array_module

__all__ = ["rescue_overflowed_norms"]


def _scaled_row_norms(x: Any) -> Any:
    """Row norms of a (B, P) array as ``m * ||x / m||`` with ``m = max |x|`` (BLAS nrm2's way):
    finite rows whose squares overflow get their norm; NaN or infinity stays non-finite."""
    xp = array_module(x)
    a = xp.abs(x.astype(xp.float64))
    m = a.max(axis=1) if a.shape[1] else xp.zeros(a.shape[0])
    safe = xp.where((m > 0) & xp.isfinite(m), m, 1.0)
    with np.errstate(over="ignore", invalid="ignore"):  # a norm beyond DBL_MAX is reported
        return xp.where(xp.isfinite(m), safe * xp.sqrt(((a / safe[:, None]) ** 2).sum(axis=1)), m)


def rescue_overflowed_norms(flat: list[Any], norms: Any, per_layer: bool) -> Any:
    """``norms`` ((B,), or (B, L) per layer) with the non-finite ones recomputed from the
    (B, P) gradients ``flat`` without squaring large values. A sample whose norm is still not
    finite is a ``ValueError`` (its gradients hold NaN or infinity, or the norm overflows),
    never a clip factor of 0 that would drop it silently."""
    xp = array_module(norms)
    layers = xp.stack([_scaled_row_norms(g) for g in flat], axis=1)
    norms = xp.where(xp.isfinite(norms), norms, layers if per_layer else _scaled_row_norms(layers))
    bad = ~xp.isfinite(norms)
    bad = bad.any(axis=1) if per_layer else bad
    if bool(bad.any()):
        finite_rows = xp.stack([xp.isfinite(g).all(axis=1) for g in flat], axis=1).all(axis=1)
        nonfinite = bad & ~finite_rows
        if bool(nonfinite.any()):
            rows = [int(i) for i in xp.flatnonzero(nonfinite)[:10].tolist()]
            raise ValueError(f"per_sample_grads contains NaN or infinity in sample(s) {rows}; "
                             "nothing was aggregated")
        rows = [int(i) for i in xp.flatnonzero(bad)[:10].tolist()]
        raise ValueError(f"overflow: the L2 norm of sample(s) {rows} exceeds the largest "
                         "float64 (finite gradients too large to clip); nothing was aggregated")
    return norms
