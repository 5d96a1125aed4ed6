"""Launchers for ``cuda/sha256.cu``: many independent SHA-256 digests in one launch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _backend
from . import module

_THREADS = 128


def chunks(buf: Any) -> Any:
    """Digests of the rows of a 2-D CuPy ``uint8`` array: CuPy ``(n, 32)`` ``uint8``.

    Rows may be strided (a slice of a bigger buffer); bytes within a row must be contiguous.
    """
    cp = _backend.cupy()
    n, length = buf.shape
    if length > 1 and buf.strides[1] != 1:
        raise ValueError("sha256_batch: the bytes of each row must be contiguous "
                         f"(row stride {buf.strides[0]}, byte stride {buf.strides[1]})")
    if buf.strides[0] < 0:
        raise ValueError("sha256_batch: rows with a negative stride are not supported")
    out = cp.empty((n, 32), dtype=cp.uint8)
    if n == 0:
        return out
    module.launch("sha256", "sha256_chunks", module.blocks_for(n, _THREADS), _THREADS,
                  (buf, np.uint64(n), np.uint64(length), np.uint64(buf.strides[0] if n > 1 else length),
                   out))
    return out


def messages(arrays: Sequence[Any]) -> Any:
    """Digests of the raw bytes of each C-contiguous device array (no copies): ``(n, 32)``.

    Any object with ``__cuda_array_interface__`` on the current device works (CuPy arrays,
    PyTorch CUDA tensors, ...); each digest equals ``hashlib.sha256(a.tobytes())`` of the array
    copied to the host. The caller orders the producers' streams before this one, as with any
    CUDA library.
    """
    cp = _backend.cupy()
    device = cp.cuda.Device().id
    addresses = np.empty(len(arrays), dtype=np.uint64)
    lengths = np.empty(len(arrays), dtype=np.uint64)
    for i, a in enumerate(arrays):
        view = cp.asarray(a)  # zero-copy view of __cuda_array_interface__ / CuPy itself
        if view.data.ptr != 0 and view.device.id != device:
            raise ValueError(f"sha256_batch: array {i} is on device {view.device.id}, "
                             f"the current device is {device}")
        if not view.flags.c_contiguous:
            raise ValueError(f"sha256_batch: array {i} is not C-contiguous; its bytes are not one "
                             "message (pipeward does not copy it behind your back)")
        addresses[i] = view.data.ptr
        lengths[i] = view.nbytes
    out = cp.empty((len(arrays), 32), dtype=cp.uint8)
    if len(arrays) == 0:
        return out
    # The two small tables go up explicitly (16 bytes per message); no array data moves.
    d_addresses = cp.asarray(addresses)
    d_lengths = cp.asarray(lengths)
    n = len(arrays)
    module.launch("sha256", "sha256_messages", module.blocks_for(n, _THREADS), _THREADS,
                  (d_addresses, d_lengths, np.uint64(n), out))
    return out
