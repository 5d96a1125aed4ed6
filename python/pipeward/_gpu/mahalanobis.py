"""Launchers for ``cuda/mahalanobis.cu``: batched squared distances, covariance statistics.

``d2_i = ||(x_i - mu)^T W||^2`` with ``P = W W^T``: the factor W is computed on the device
(cuSOLVER Cholesky, an eigen square root when P is only semi-definite, as the CPU path), rows
are centred block by block into a scratch buffer, multiplied by W with cuBLAS (CuPy's matmul)
and their squares summed by a row kernel; for small d one kernel evaluates the formula per row
without a GEMM. float32 input computes in float32 (the sums of squares in float64), as the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import _backend
from . import module

_THREADS = 256
_DIRECT_MAX_D = 16           # up to here one thread per row beats a GEMM
_BLOCK_ELEMENTS = 1 << 25    # scratch rows per block: about 128 MiB of float32
_SUFFIX = {np.dtype(np.float32): "f32", np.dtype(np.float64): "f64"}


def _suffix(x: Any) -> str:
    try:
        return _SUFFIX[np.dtype(x.dtype)]
    except KeyError:
        raise TypeError(f"expected a float32 or float64 CuPy array, got {x.dtype}") from None


def _strides(x: Any) -> tuple[int, int]:
    item = x.dtype.itemsize
    return x.strides[0] // item, x.strides[1] // item


def precision_factor(precision: Any) -> tuple[Any, bool]:
    """(W, lower) with W W^T = precision, on the device (float64); see the CPU path's rule."""
    cp = _backend.cupy()
    P = cp.asarray(precision, dtype=cp.float64)
    P = 0.5 * (P + P.T)
    import cupyx  # noqa: PLC0415 - CuPy is there: _backend.cupy() succeeded

    try:
        # By default CuPy does not check cuSOLVER's status (it would synchronise); here one
        # flag read decides between the Cholesky and the eigen factor, as on the CPU.
        with cupyx.errstate(linalg="raise"):
            L = cp.linalg.cholesky(P)
        if bool(cp.isfinite(L).all()):
            return L, True
    except np.linalg.LinAlgError:
        pass
    w, V = cp.linalg.eigh(P)
    w_min, w_absmax = (float(v) for v in (w.min(), cp.abs(w).max()))
    scale = max(w_absmax, np.finfo(np.float64).tiny)
    if w_min < -1e-8 * scale:
        raise ValueError("precision: expected a symmetric positive semi-definite matrix, got "
                         f"one with eigenvalue {w_min:.3g}")
    return cp.ascontiguousarray(V * cp.sqrt(cp.clip(w, 0.0, None))), False


def squared_distances(X: Any, location: Any, factor: Any, lower: bool) -> Any:
    """Squared distances of the rows of CuPy ``X`` (n, d), any strides, given the factor."""
    cp = _backend.cupy()
    suffix = _suffix(X)
    n, d = X.shape
    out = cp.empty(n, dtype=X.dtype)
    if n == 0:
        return out
    loc = cp.ascontiguousarray(cp.asarray(location).astype(X.dtype, copy=False))
    W = cp.ascontiguousarray(cp.asarray(factor).astype(X.dtype, copy=False))
    rs, cs = _strides(X)
    if d <= _DIRECT_MAX_D:
        module.launch("mahalanobis", f"mahalanobis_direct_{suffix}",
                      module.blocks_for(n, _THREADS), _THREADS,
                      (X, np.int64(n), np.int64(d), np.int64(rs), np.int64(cs), loc, W,
                       np.int32(bool(lower)), out))
        return out
    block = max(1, min(n, _BLOCK_ELEMENTS // max(d, 1)))
    scratch = cp.empty((block, d), dtype=X.dtype)
    z = cp.empty((block, d), dtype=X.dtype)
    for row0 in range(0, n, block):
        rows = min(block, n - row0)
        xc, zb = scratch[:rows], z[:rows]
        module.launch("mahalanobis", f"mahalanobis_centre_{suffix}",
                      module.blocks_for(rows * d, _THREADS, per_thread=4), _THREADS,
                      (X, np.int64(row0), np.int64(rows), np.int64(d), np.int64(rs),
                       np.int64(cs), loc, xc))
        cp.matmul(xc, W, out=zb)  # cuBLAS GEMM on the current stream
        module.launch("mahalanobis", f"mahalanobis_row_sq_sums_{suffix}",
                      module.blocks_for(rows, _THREADS // 32), _THREADS,
                      (zb, np.int64(rows), np.int64(d), out[row0:row0 + rows]))
    return out


def mahalanobis(X: Any, location: Any, precision: Any) -> Any:
    """``pw.mahalanobis`` on CuPy arrays (validated by the public function)."""
    factor, lower = precision_factor(precision)
    return squared_distances(X, location, factor, lower)


def comoment(X: Any) -> tuple[int, Any, Any]:
    """(count, mean (d,), M2 (d, d)) of the rows of CuPy ``X`` in float64 on the device,
    ``M2 = sum_i (x_i - mean)(x_i - mean)^T`` (centred blocks, cuBLAS ``Xc^T Xc``)."""
    cp = _backend.cupy()
    suffix = _suffix(X)
    n, d = X.shape
    mean = X.sum(axis=0, dtype=cp.float64) / max(n, 1)
    m2 = cp.zeros((d, d), dtype=cp.float64)
    if n == 0:
        return 0, cp.zeros(d, dtype=cp.float64), m2
    rs, cs = _strides(X)
    block = max(1, min(n, _BLOCK_ELEMENTS // (2 * max(d, 1))))
    scratch = cp.empty((block, d), dtype=cp.float64)
    for row0 in range(0, n, block):
        rows = min(block, n - row0)
        xc = scratch[:rows]
        module.launch("mahalanobis", f"mahalanobis_centre_{suffix}_to_f64",
                      module.blocks_for(rows * d, _THREADS, per_thread=4), _THREADS,
                      (X, np.int64(row0), np.int64(rows), np.int64(d), np.int64(rs),
                       np.int64(cs), mean, xc))
        m2 += xc.T @ xc
    return n, mean, 0.5 * (m2 + m2.T)
