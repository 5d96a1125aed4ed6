"""Client-level differential privacy: bounded updates and DP-FedAvg."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..privacy.clipping import clip_and_noise
from ._updates import Updates, as_updates, run_checked, weighted_mean


def _norms(u: Updates) -> np.ndarray:
    """|x_i| over all layers, in float64."""
    n2 = np.zeros(u.clients)
    for layer in u.layers:
        for i, row in enumerate(layer):
            r = row.astype(np.float64)
            n2[i] += r @ r
    return np.sqrt(n2)


def _factors(u: Updates, max_norm: float) -> np.ndarray:
    n = _norms(u)
    return np.minimum(1.0, max_norm / np.where(n > 0, n, np.inf))


def _positive(value: Any, name: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.floating)) \
            or not np.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def clip_updates(updates: Any, max_norm: float, *, on_invalid: str = "raise") -> Any:
    """Each client's update scaled by min(1, C / |x_i|) over all its layers (a zero update
    stays zero); returns new arrays in the input's form, one per client."""
    c = _positive(max_norm, "max_norm")
    u = as_updates(updates)
    u.require_host("clip_updates")
    _, used = run_checked(u, on_invalid, lambda v: None if v.non_finite_clients() else True)
    f = _factors(used, c)
    if used.stacked:
        return np.stack(used.layers[0]) * f[:, None].astype(used.dtype)
    return [[(row * f[i]).astype(used.dtype).reshape(s)
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
    u.require_host("dp_mean")
    _, used = run_checked(u, on_invalid, lambda v: None if v.non_finite_clients() else True)
    f = _factors(used, c)
    sums = weighted_mean(used, f, workers) if f.sum() > 0 else [
        np.zeros(len(layer[0]), used.dtype) for layer in used.layers]
    p = sum(len(layer[0]) for layer in used.layers)
    # Pure noise: pipeward's clip_and_noise on an empty batch is N(0, (sigma C)^2) per value.
    noise = clip_and_noise(np.zeros((0, p), used.dtype), c, float(noise_multiplier),
                           reduction="sum", seed=seed, secure=secure)
    out, start = [], 0
    for s, layer in zip(sums, used.layers):
        n = len(layer[0])
        total = np.asarray(s, np.float64) * f.sum() + noise[start:start + n]
        out.append((total / expected_clients).astype(used.dtype))
        start += n
    return used.finish(out)
