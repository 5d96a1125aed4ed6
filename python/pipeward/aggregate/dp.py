"""Client-level differential privacy: bounded updates and DP-FedAvg, on the privacy family's
kernels (per-row norms; the fused clip + sum + noise where the updates are one array)."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..privacy._norms import rescue_overflowed_norms
from ..privacy.clipping import _clip_factor, clip_and_noise
from ._updates import Updates, as_updates, run_checked, sq_norms, weighted_mean


def _norms(u: Updates, workers: int | None) -> np.ndarray | None:
    """|x_i| over all layers (float64); None if some client's update is not finite."""
    norms = np.sqrt(sq_norms(u, workers))
    for i in np.flatnonzero(~np.isfinite(norms)):
        rows = u.client(int(i))
        if not all(bool(u.xp.isfinite(r).all()) for r in rows):
            return None
        # Finite values whose squares overflow a double: the privacy family's rescue.
        norms[i] = float(rescue_overflowed_norms([r.reshape(1, -1) for r in rows],
                                                 u.xp.asarray(norms[i:i + 1]), False)[0])
    return norms


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def clip_updates(updates: Any, max_norm: float, *, on_invalid: str = "raise",
                 workers: int | None = None) -> Any:
    """Each client's update scaled by min(1, C / |x_i|) over all its layers (a zero update
    stays zero); returns new arrays in the input's form, one per client (NumPy or CuPy, as
    given). The norms are float64; the factor is rounded to the updates' dtype, as Flower's
    ``clip_inputs_inplace`` does (a float64 product would take twice as long for float32)."""
    c = _positive(max_norm, "max_norm")
    u = as_updates(updates)
    norms, used = run_checked(u, on_invalid, lambda v: _norms(v, workers))
    f = _clip_factor(norms, c, "tf_privacy").astype(used.dtype)
    xp = used.xp
    if used.stacked:
        out = xp.empty((used.clients, len(used.layers[0][0])), used.dtype)
        for i, row in enumerate(used.layers[0]):
            xp.multiply(row, f[i], out=out[i])
        return out
    return [[xp.multiply(row, f[i], out=xp.empty_like(row)).reshape(s)
             for row, s in zip(used.client(i), used.shapes)] for i in range(used.clients)]


def dp_mean(updates: Any, max_norm: float, noise_multiplier: float, *, expected_clients: int,
            seed: int | None = None, secure: bool = False, on_invalid: str = "raise",
            workers: int | None = None) -> Any:
    """DP-FedAvg (McMahan et al. 2018): clip each client's update to L2 norm C (factor
    min(1, C / |x_i|)), sum, add N(0, (noise_multiplier C)^2) noise from pipeward's Philox
    (or ChaCha20 with ``secure=True``), divide by ``expected_clients``. Account for it with
    ``pw.RDPAccountant`` at the client sampling rate."""
    c = _positive(max_norm, "max_norm")
    if isinstance(noise_multiplier, bool) or not isinstance(noise_multiplier, (int, float)) \
            or not noise_multiplier >= 0:
        raise ValueError(f"noise_multiplier must be >= 0, got {noise_multiplier!r}")
    if isinstance(expected_clients, bool) or not isinstance(expected_clients, (int, np.integer)) \
            or expected_clients < 1:
        raise ValueError(f"expected_clients must be a positive integer, got {expected_clients!r}")
    u = as_updates(updates)
    norms, used = run_checked(u, on_invalid, lambda v: _norms(v, workers))
    noise = dict(seed=seed, secure=secure)
    if used.matrix is not None:  # one (K, P) array: the fused kernel reads it once
        return clip_and_noise(used.matrix, c, float(noise_multiplier), reduction="mean",
                              expected_batch_size=int(expected_clients), convention="tf_privacy",
                              per_sample_norms=norms, workers=workers, **noise)
    # Layers read in place: the weighted sum on the aggregate kernel, then the same noise
    # stream (clip_and_noise of an empty batch is pure N(0, (sigma C)^2) per value).
    xp, f = used.xp, _clip_factor(norms, c, "tf_privacy")
    sums = weighted_mean(used, f, workers) if f.sum() > 0 else [
        xp.zeros(len(layer[0]), used.dtype) for layer in used.layers]
    p = sum(len(layer[0]) for layer in used.layers)
    z = clip_and_noise(xp.zeros((0, p), used.dtype), c, float(noise_multiplier),
                       reduction="sum", **noise)
    out, start = [], 0
    for s, layer in zip(sums, used.layers):
        n = len(layer[0])
        total = s.astype(xp.float64) * f.sum() + z[start:start + n]
        out.append((total / expected_clients).astype(used.dtype))
        start += n
    return used.finish(out)
