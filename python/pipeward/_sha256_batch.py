"""``sha256_batch``: standard SHA-256 digests of many messages at once, on CPU or GPU."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import _backend, _core
from ._validate import describe


def sha256_batch(messages: Any, /) -> Any:
    """SHA-256 digests of many independent messages, as an ``(n, 32)`` ``uint8`` array.

    ``messages`` is either a 2-D ``uint8`` array of ``n`` equal-size chunks (one message per
    row), or a sequence of arrays whose raw C-order bytes are each one message (e.g. the
    tensors of a loaded model). Digests are the standard FIPS 180-4 ones: row ``i`` equals
    ``hashlib.sha256(message_i).digest()``; ``bytes(d).hex()`` gives ``sha256sum``'s text.

    The array type decides where it runs, and the result has the same type: CuPy (or any
    ``__cuda_array_interface__`` object such as a PyTorch CUDA tensor) hashes on the GPU with
    one message per thread and never copies the data to the host; NumPy hashes on the CPU
    with the native core, 16 messages at a time in lock-step where the CPU has AVX-512
    (``_core.sha256_multibuffer_enabled()``), one at a time with SHA-NI otherwise.
    """
    if isinstance(messages, (list, tuple)):
        return _many(messages)
    if not hasattr(messages, "dtype") or not hasattr(messages, "shape"):
        raise TypeError("sha256_batch: expected a 2-D uint8 array of chunks or a sequence of "
                        f"arrays, got {type(messages).__name__}")
    if np.dtype(messages.dtype) != np.uint8:
        raise TypeError(f"sha256_batch: expected a 2-D uint8 array of chunks, got a {describe(messages)}")
    if messages.ndim != 2:
        raise ValueError(f"sha256_batch: expected a 2-D uint8 array (n, chunk_len), got a "
                         f"{describe(messages)}")
    if _backend.is_gpu_array(messages):
        _backend.cupy()
        from ._gpu import sha256 as gpu  # noqa: PLC0415 - GPU path only

        return gpu.chunks(messages)
    arr = np.asarray(messages)
    if arr.shape[1] > 1 and arr.strides[1] != 1:
        arr = np.ascontiguousarray(arr)  # rows must be contiguous to be messages (as before)
    return _core.sha256_batch(arr)


def _many(arrays: Sequence[Any]) -> Any:
    on_gpu = [_backend.is_gpu_array(a) for a in arrays]
    if on_gpu and all(on_gpu):
        _backend.cupy()
        from ._gpu import sha256 as gpu  # noqa: PLC0415 - GPU path only

        return gpu.messages(arrays)
    if any(on_gpu):
        raise TypeError("sha256_batch: the sequence mixes GPU and host arrays; pipeward never "
                        "copies between them silently")
    buffers = []
    for i, a in enumerate(arrays):
        if isinstance(a, (bytes, bytearray, memoryview)):
            buffers.append(a)
            continue
        arr = np.asarray(a)
        if not arr.flags.c_contiguous:
            raise ValueError(f"sha256_batch: array {i} is not C-contiguous ({describe(a)})")
        buffers.append(arr)
    return _core.sha256_batch(buffers)
