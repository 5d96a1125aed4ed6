"""Launchers for ``cuda/privacy.cu``: per-sample norms and the fused clip + sum + noise.

Same contract as ``_core.privacy_sq_norms`` / ``_core.privacy_clip_sum_noise`` with CuPy
arrays in and out: the gradients are read twice (norms, then the fused pass), accumulation is
float64, and the noise is the CPU kernel's Philox4x32-10 / ChaCha20 stream element for
element (same seed, same offset -> same normals up to float32 rounding of the transform).
PyTorch CUDA tensors work through ``__cuda_array_interface__`` / DLPack without copies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _backend, _core
from ..privacy._norms import rescue_overflowed_norms
from . import module

_THREADS = 256
_NORM_CHUNK = 1 << 15  # elements per partial sum: the CPU kernel's chunk
_SUFFIX = {np.dtype(np.float16): "f16", np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _as_2d(g: Any) -> Any:
    """A (B, P) C-contiguous CuPy view of a (B, ...) gradient (never a copy)."""
    cp = _backend.cupy()
    g = cp.asarray(g)  # zero-copy for CuPy arrays and __cuda_array_interface__ objects
    if np.dtype(g.dtype) not in _SUFFIX:
        raise TypeError(f"expected a float16, float32 or float64 CUDA array, got {g.dtype}")
    if not g.flags.c_contiguous:
        raise ValueError("expected a C-contiguous CUDA array (it is never copied)")
    return g.reshape(g.shape[0], math.prod(g.shape[1:]))  # not -1: an empty batch is allowed


def _key_words(key: bytes, nonce: bytes) -> Any:
    cp = _backend.cupy()
    if len(key) != 32 or len(nonce) != 12:
        raise ValueError(f"ChaCha20 needs a 32-byte key and a 12-byte nonce, got {len(key)} and {len(nonce)}")
    words = np.frombuffer(bytes(key) + bytes(nonce), dtype="<u4").astype(np.uint32)
    return cp.asarray(words)  # 44 bytes of key material go up; no gradient data moves


def sq_norms(g: Any) -> Any:
    """(B,) float64 squared L2 norms of the rows of a (B, ...) CUDA gradient."""
    cp = _backend.cupy()
    g2 = _as_2d(g)
    rows, cols = g2.shape
    out = cp.zeros(rows, dtype=cp.float64)
    if rows == 0 or cols == 0:
        return out
    chunks = -(-cols // _NORM_CHUNK)
    partial = cp.empty(rows * chunks, dtype=cp.float64)
    suffix = _SUFFIX[np.dtype(g2.dtype)]
    sm = cp.cuda.Device().attributes["MultiProcessorCount"]
    module.launch("privacy", f"privacy_sq_norm_partials_{suffix}", min(rows * chunks, 8 * sm),
                  _THREADS, (g2, np.uint64(rows), np.uint64(cols), np.uint64(_NORM_CHUNK), partial))
    module.launch("privacy", "privacy_sum_partials", module.blocks_for(rows, _THREADS), _THREADS,
                  (partial, np.uint64(rows), np.uint64(chunks), out))
    return out


def clip_sum_noise(g: Any, scale: Any, *, noise_std: float = 0.0, out_scale: float = 1.0,
                   seed: int | None = None, key: bytes | None = None, nonce: bytes | None = None,
                   stream: int = 0, offset: int = 0) -> tuple[Any, Any]:
    """``out[j] = out_scale * (sum_i scale[i] g[i, j] + noise_std * z(offset + j))``.

    Returns ``(out, ok)``: ``out`` is float64 for float64 gradients and float32 otherwise
    (shape (P,) for a (B, P) input); ``ok`` is a CuPy 0-d bool, False when a result is NaN,
    infinite or beyond the output dtype's range (reading it synchronises; nothing else is
    copied back).
    """
    cp = _backend.cupy()
    g2 = _as_2d(g)
    rows, cols = g2.shape
    scale = cp.asarray(scale, dtype=cp.float64) if _backend.is_gpu_array(scale) else None
    if scale is None or scale.shape != (rows,) or not scale.flags.c_contiguous:
        raise ValueError(f"scale: expected a C-contiguous (B,) = ({rows},) CuPy array")
    out_dtype = cp.float64 if g2.dtype == cp.float64 else cp.float32
    out = cp.empty(cols, dtype=out_dtype)
    bad = cp.zeros(1, dtype=cp.int32)
    if cols == 0:
        return out, bad[0] == 0
    suffix = _SUFFIX[np.dtype(g2.dtype)]
    if key is not None:
        if seed is not None:
            raise ValueError("give either seed (Philox) or key (ChaCha20), not both")
        groups = -(-(offset % 16 + cols) // 16)
        module.launch("privacy", f"privacy_clip_sum_noise_chacha_{suffix}",
                      module.blocks_for(groups, _THREADS), _THREADS,
                      (g2, np.uint64(rows), np.uint64(cols), scale, np.float64(noise_std),
                       np.float64(out_scale), _key_words(key, nonce or b""), np.uint64(offset),
                       out, bad))
    else:
        kind = _core.NoiseKind.none if seed is None or noise_std == 0 else _core.NoiseKind.philox
        groups = -(-(offset % 4 + cols) // 4)
        module.launch("privacy", f"privacy_clip_sum_noise_philox_{suffix}",
                      module.blocks_for(groups, _THREADS), _THREADS,
                      (g2, np.uint64(rows), np.uint64(cols), scale, np.float64(noise_std),
                       np.float64(out_scale), np.int32(int(kind)), np.uint64(seed or 0),
                       np.uint32(stream), np.uint64(offset), out, bad))
    return out, bad[0] == 0


def normals(n: int, *, offset: int = 0, seed: int | None = None, key: bytes | None = None,
            nonce: bytes | None = None, stream: int = 0) -> Any:
    """The noise stream alone: float32 ``z(offset + j)`` for ``j < n`` (CPU-identical keying)."""
    cp = _backend.cupy()
    out = cp.empty(n, dtype=cp.float32)
    if n == 0:
        return out
    grid = module.blocks_for(n, _THREADS)
    if key is not None:
        module.launch("privacy", "privacy_normals_chacha", grid, _THREADS,
                      (_key_words(key, nonce or b""), np.uint64(offset), np.uint64(n), out))
    elif seed is not None:
        module.launch("privacy", "privacy_normals_philox", grid, _THREADS,
                      (np.uint64(seed), np.uint32(stream), np.uint64(offset), np.uint64(n), out))
    else:
        raise ValueError("normals needs a seed or a key")
    return out


def aggregate(grads: Sequence[Any], limits: Sequence[float], *, per_layer: bool,
              convention: str, noise_std: float, denom: float, noise: dict,
              per_sample_norms: Any = None) -> tuple[list[Any], Any, Any]:
    """The whole GPU ``clip_and_noise`` after the public function's validation.

    Returns ``(outputs, norms, clipped)``: one CuPy output per tensor (shape without the batch
    axis), the (B,) or (B, L) CuPy norms and the (B,) CuPy bool mask of clipped samples.
    Raises ``ValueError`` when a sum is not finite (one 4-byte flag per tensor is read).
    """
    cp = _backend.cupy()
    flat = [_as_2d(g) for g in grads]
    b = flat[0].shape[0]
    if per_sample_norms is not None:
        norms = cp.asarray(per_sample_norms, dtype=cp.float64)  # host norms go up (B numbers)
        want = (b, len(flat)) if per_layer else (b,)
        if norms.shape != want:
            raise ValueError(f"per_sample_norms: expected shape {want}, got {norms.shape}")
        if not bool((cp.isfinite(norms) & (norms >= 0)).all()):
            raise ValueError("per_sample_norms must be finite and >= 0")
    else:
        sq = cp.stack([sq_norms(g) for g in flat], axis=1)
        norms = cp.sqrt(sq) if per_layer else cp.sqrt(sq.sum(axis=1))
        if not bool(cp.isfinite(norms).all()):  # one flag read; the rest on this rare path
            norms = rescue_overflowed_norms(flat, norms, per_layer)
    per = norms if per_layer else norms[:, None]
    lim = cp.asarray(np.asarray(limits, dtype=np.float64))[None, :]
    if convention == "opacus":
        factors = cp.minimum(1.0, lim / (per + 1e-6))
    else:
        factors = cp.where(per > lim, lim / cp.where(per > 0, per, 1.0), 1.0)
    clipped = (factors < 1.0).any(axis=1) if b else cp.zeros(0, dtype=bool)
    outs, oks, offset = [], [], 0
    for k, g in enumerate(flat):
        factor = cp.ascontiguousarray(factors[:, k if per_layer else 0])
        out, ok = clip_sum_noise(g, factor, noise_std=noise_std, out_scale=1.0 / denom,
                                 offset=offset, **noise)
        outs.append(out.reshape(grads[k].shape[1:]))
        oks.append(ok)
        offset += g.shape[1]
    bad = [k for k, ok in enumerate(oks) if not bool(ok)]
    if bad:
        k = bad[0]
        if not bool(cp.isfinite(flat[k]).all()):
            raise ValueError(f"per_sample_grads[{k}] contains NaN or infinity (found in the "
                             "clipped sum on the GPU; nothing was aggregated)")
        raise ValueError(f"overflow: the noisy sum of per_sample_grads[{k}] does not fit in "
                         f"{outs[k].dtype} (noise std sigma*C = {noise_std:.3g}, divided by "
                         f"{denom:g}); nothing was aggregated")
    return outs, norms, clipped
