"""``clip_and_noise``: DP-SGD's aggregation step (clip each sample's gradient, sum, add noise).

For per-sample gradients g_i (one (B, ...) array per parameter tensor, or one (B, P) array):

    n_i   = sqrt(sum_l ||g_il||^2)                       per-sample norm over all tensors
    f_i   = min(1, C / (n_i + 1e-6))                     Opacus (default)
          = min(1, C / n_i), 1 where n_i = 0             convention="tf_privacy" / "optax"
    out   = (sum_i f_i g_i + sigma C z) / d,  z ~ N(0, I)
    d     = 1 (reduction="sum"), expected_batch_size (reduction="mean"; Opacus), or the actual
            batch size B when expected_batch_size is None and convention is tf_privacy/optax.

Per-layer clipping (``max_grad_norm`` a sequence, one C_l per tensor; Opacus'
``clipping="per_layer"``): f_il = min(1, C_l / (||g_il|| + 1e-6)) and the noise std is
sigma * ||C||_2. The C++ kernel reads the gradients twice (norms, then the fused clip-sum-noise
write) or once when ``per_sample_norms`` is given; the noise comes from Philox4x32-10 keyed by
``seed`` (or ChaCha20 keyed from the OS with ``secure=True``) at each element's index in the
flattened concatenation of the outputs, so it does not depend on thread count or on how the
parameters are split into tensors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np

from .. import _core
from .._backend import Backends
from .._validate import describe
from ..reference import privacy as reference
from . import _checks
from ._norms import rescue_overflowed_norms

Convention = Literal["opacus", "tf_privacy", "optax"]
_CONVENTIONS = ("opacus", "tf_privacy", "optax")
_GRAD_DTYPES = (np.dtype(np.float16), np.dtype(np.float32), np.dtype(np.float64))


@dataclass(frozen=True)
class ClipResult:
    """What ``clip_and_noise(..., return_stats=True)`` returns.

    ``grads``: the aggregated gradient(s), same structure as the input without the batch
    axis; ``per_sample_norms``: (B,) total norms, or (B, L) per-tensor norms with per-layer
    clipping; ``clipped_fraction``: share of samples whose gradient was scaled down (any
    layer, with per-layer clipping); ``noise_std``: sigma * C (before the mean's division).
    """

    grads: Any
    per_sample_norms: np.ndarray
    clipped_fraction: float
    noise_std: float


def clip_and_noise(
    per_sample_grads: np.ndarray | Sequence[np.ndarray],
    max_grad_norm: float | Sequence[float],
    noise_multiplier: float,
    *,
    reduction: Literal["sum", "mean"] = "sum",
    expected_batch_size: int | None = None,
    convention: Convention = "opacus",
    per_sample_norms: np.ndarray | None = None,
    seed: int | None = None,
    secure: bool = False,
    return_stats: bool = False,
    backend: str = "auto",
    workers: int | None = None,
) -> Any:
    """Clip every sample's gradient to L2 norm ``max_grad_norm``, sum, add N(0, (sigma C)^2).

    Parameters
    ----------
    per_sample_grads
        One (B, P) array, or a list of (B, ...) arrays (one per parameter tensor, like
        Opacus' ``p.grad_sample``); float16, float32 or float64, C-contiguous (never copied).
        The result has the same structure without the batch axis: float64 for float64 input,
        float32 otherwise (float16 is accumulated in float64 and written as float32).
    max_grad_norm
        C > 0; a sequence of one C_l per tensor selects per-layer clipping.
    noise_multiplier
        sigma >= 0; the noise std is sigma * C (sigma * ||C||_2 per-layer). 0 adds no noise.
    reduction
        "sum", or "mean": divide by ``expected_batch_size`` (Opacus' rule, also for an empty
        Poisson batch, which still gets noise); tf_privacy/optax fall back to the actual B.
    per_sample_norms
        Norms computed elsewhere (ghost clipping): (B,), or (B, L) per-layer. The gradients
        are then read once.
    seed
        Makes the noise reproducible (Philox4x32-10 key). None draws a key from the OS.
    secure
        Draw the noise from ChaCha20 keyed by 32 bytes from ``os.urandom`` (no seed allowed);
        see docs/privacy.md for what this does and does not protect against.
    return_stats
        Return a :class:`ClipResult` (with per-sample norms and the clipped fraction).

    Raises ``ValueError`` for NaN or infinite gradients (never aggregated silently), bad
    norms, rates or shapes; ``TypeError`` for wrong dtypes.
    """
    single = not isinstance(per_sample_grads, (list, tuple))
    grads = [per_sample_grads] if single else list(per_sample_grads)
    _check_grads(grads)
    run = CLIP_BACKENDS.choose(backend, *grads)
    b = grads[0].shape[0]
    flat = [g.reshape(b, math.prod(g.shape[1:])) for g in grads]  # views: C-contiguous
    per_layer = np.ndim(max_grad_norm) > 0
    if per_layer:
        limits = np.array([_checks.positive(c, "max_grad_norm") for c in max_grad_norm])
        if single or len(limits) != len(grads):
            raise ValueError(f"per-layer clipping needs one max_grad_norm per tensor: got "
                             f"{len(limits)} norms for {len(grads)} tensor(s)")
        noise_std = float(np.sqrt((limits ** 2).sum()))
    else:
        limits = np.array([_checks.positive(max_grad_norm, "max_grad_norm")])
        noise_std = float(limits[0])
    sigma = _checks.noise_multiplier(noise_multiplier)
    noise_std *= sigma
    if convention not in _CONVENTIONS:
        raise ValueError(f"convention must be one of {', '.join(_CONVENTIONS)}, got {convention!r}")
    denom = _denominator(reduction, expected_batch_size, convention, b)
    if secure and seed is not None:
        raise ValueError("secure=True draws its key from the OS; it cannot take a seed")
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))
                             or not 0 <= seed < 2 ** 64):
        raise ValueError(f"seed must be an integer in [0, 2**64), got {seed!r}")

    noise = {}
    if noise_std > 0:
        if secure:
            noise = {"key": os.urandom(32), "nonce": os.urandom(12)}
        else:
            noise = {"seed": int(seed) if seed is not None else int.from_bytes(os.urandom(8), "little")}

    sums, norms, clipped = run(_Aggregation(flat, limits, per_layer, convention, noise_std,
                                            denom, noise, per_sample_norms, workers, single))
    # The sums in the caller's structure, with the statistics when asked for.
    out = [s.reshape(g.shape[1:]) for s, g in zip(sums, grads)]
    result = out[0] if single else (tuple(out) if isinstance(per_sample_grads, tuple) else out)
    if not return_stats:
        return result
    return ClipResult(grads=result, per_sample_norms=norms,
                      clipped_fraction=float(clipped.mean()) if b else 0.0, noise_std=noise_std)


# ---- the three implementations: an _Aggregation in, (flat sums, norms, clipped flags) out ----

@dataclass(frozen=True)
class _Aggregation:
    """What every backend gets: (B, P_k) views of the validated gradients and the resolved
    parameters (per-tensor limits, noise std, the mean's denominator, the noise key)."""

    flat: list[Any]
    limits: np.ndarray
    per_layer: bool
    convention: str
    noise_std: float
    denom: float
    noise: dict[str, Any]
    per_sample_norms: Any
    workers: int | None
    single: bool


def _aggregate_cuda(job: _Aggregation) -> tuple[list[Any], Any, Any]:
    from .._gpu import privacy as gpu  # noqa: PLC0415 - GPU path only: cuda/privacy.cu

    return gpu.aggregate(job.flat, job.limits, per_layer=job.per_layer,
                         convention=job.convention, noise_std=job.noise_std, denom=job.denom,
                         noise=job.noise, per_sample_norms=job.per_sample_norms)


def _aggregate_host(job: _Aggregation, where: str) -> tuple[list[Any], Any, Any]:
    flat, limits, convention = job.flat, job.limits, job.convention
    norms = _norms(flat, job.per_sample_norms, job.per_layer, where, job.workers)
    if job.per_layer:
        factors = [_clip_factor(norms[:, k], limits[k], convention) for k in range(len(flat))]
        clipped = (np.any(np.stack(factors, axis=1) < 1.0, axis=1) if flat[0].shape[0]
                   else np.zeros(0, bool))
    else:
        factor = _clip_factor(norms, limits[0], convention)
        factors = [factor] * len(flat)
        clipped = factor < 1.0
    out, offset = [], 0
    for k, g in enumerate(flat):
        if where == "reference":
            summed = _reference_sum(g, factors[k], job.noise_std, job.noise, offset) / job.denom
            with np.errstate(over="ignore"):  # an overflow of float32 is reported below
                summed = summed.astype(np.float64 if g.dtype == np.float64 else np.float32)
            ok = bool(np.isfinite(summed).all())
        else:
            clip_sum = _core.privacy_clip_sum_noise(
                g, factors[k], noise_std=job.noise_std, out_scale=1.0 / job.denom,
                offset=offset, workers=job.workers, **job.noise)
            summed, ok = clip_sum.sum, clip_sum.finite
        if not ok:
            name = f"per_sample_grads{'' if job.single else f'[{k}]'}"
            if not np.isfinite(g).all():
                raise ValueError(f"{name} contains NaN or infinity (found in the clipped sum; "
                                 "nothing was aggregated)")
            raise ValueError(f"overflow: the noisy sum of {name} does not fit in {summed.dtype} "
                             f"(noise std sigma*C = {job.noise_std:.3g}, divided by {job.denom:g}; "
                             f"largest {summed.dtype}: {np.finfo(summed.dtype).max:.3g}); "
                             "nothing was aggregated")
        out.append(summed)
        offset += g.shape[1]
    return out, norms, clipped


def _aggregate_cpu(job: _Aggregation) -> tuple[list[Any], Any, Any]:
    return _aggregate_host(job, "cpu")


def _aggregate_reference(job: _Aggregation) -> tuple[list[Any], Any, Any]:
    return _aggregate_host(job, "reference")


CLIP_BACKENDS = Backends(cpu=_aggregate_cpu, cuda=_aggregate_cuda, reference=_aggregate_reference)


def _check_grads(grads: list[Any]) -> None:
    if not grads:
        raise ValueError("per_sample_grads: expected at least one array, got an empty list")
    for k, g in enumerate(grads):
        name = "per_sample_grads" if len(grads) == 1 else f"per_sample_grads[{k}]"
        if not hasattr(g, "dtype") or not hasattr(g, "shape"):
            raise TypeError(f"{name}: expected an array, got {type(g).__name__}")
        if np.dtype(g.dtype) not in _GRAD_DTYPES:
            raise TypeError(f"{name}: expected a float16, float32 or float64 array, got a {describe(g)}")
        if g.ndim < 1:
            raise ValueError(f"{name}: expected a (batch, ...) array, got a {describe(g)}")
        if g.shape[0] != grads[0].shape[0]:
            raise ValueError(f"mismatched batch sizes: per_sample_grads[0] has {grads[0].shape[0]} "
                             f"samples but {name} is a {describe(g)}")
        if not hasattr(g, "__cuda_array_interface__") and not g.flags.c_contiguous:
            raise ValueError(f"{name}: expected a C-contiguous array (it is never copied), got "
                             f"a non-contiguous {describe(g)}")


def _denominator(reduction: str, expected_batch_size: Any, convention: str, b: int) -> float:
    if reduction == "sum":
        return 1.0
    if reduction != "mean":
        raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")
    if expected_batch_size is not None:
        return float(_checks.positive(expected_batch_size, "expected_batch_size"))
    if convention == "opacus":
        raise ValueError("reduction='mean' needs expected_batch_size with the Opacus convention "
                         "(the mean divides by the expected, not the actual, batch size)")
    if b == 0:
        raise ValueError("reduction='mean' of an empty batch needs expected_batch_size")
    return float(b)


def _norms(flat: list[np.ndarray], given: Any, per_layer: bool, where: str,
           workers: int | None) -> np.ndarray:
    b = flat[0].shape[0]
    if given is not None:
        norms = np.asarray(given)
        want = (b, len(flat)) if per_layer else (b,)
        if norms.dtype.kind != "f" or norms.shape != want:
            raise ValueError(f"per_sample_norms: expected a float array of shape {want}, got a "
                             f"{describe(norms)}")
        norms = norms.astype(np.float64, copy=False)
        bad = ~np.isfinite(norms) | (norms < 0)
        if bad.any():
            raise ValueError(f"per_sample_norms must be finite and >= 0; sample(s) "
                             f"{np.flatnonzero(_by_sample(bad))[:10].tolist()} are not")
        return norms
    with np.errstate(over="ignore"):  # squares beyond DBL_MAX are redone below
        if where == "reference":
            sq = reference.per_sample_norms(flat) ** 2
        else:
            sq = np.stack([_core.privacy_sq_norms(g, workers=workers) for g in flat], axis=1)
        norms = np.sqrt(sq) if per_layer else np.sqrt(sq.sum(axis=1))
    if not np.isfinite(norms).all():
        norms = rescue_overflowed_norms(flat, norms, per_layer)
    return norms


def _by_sample(flags: np.ndarray) -> np.ndarray:
    return flags.any(axis=1) if flags.ndim == 2 else flags


def _clip_factor(norms: np.ndarray, limit: float, convention: str) -> np.ndarray:
    if convention == "opacus":
        return np.minimum(1.0, limit / (norms + 1e-6))
    safe = np.where(norms > 0, norms, 1.0)
    return np.where(norms > limit, limit / safe, 1.0)


def _reference_sum(g: np.ndarray, factor: np.ndarray, noise_std: float, noise: dict,
                   offset: int) -> np.ndarray:
    summed = factor @ g.astype(np.float64) if g.shape[0] else np.zeros(g.shape[1])
    # The float32 normals are scaled in float64, as the kernels do (sigma * C may exceed FLT_MAX).
    if "seed" in noise:
        z = reference.philox_normals(noise["seed"], g.shape[1], offset=offset)
    elif "key" in noise:
        z = reference.chacha_normals(noise["key"], noise["nonce"], g.shape[1], offset=offset)
    else:
        return summed
    return summed + noise_std * z.astype(np.float64)
