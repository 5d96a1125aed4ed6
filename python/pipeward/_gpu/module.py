"""Load ``cuda/*.cu`` with ``cupy.RawModule`` (NVRTC), cache per device, launch with checks.

The ``.cu`` files are the same ones CI compiles with nvcc for sm_80 and sm_90. At run time NVRTC
compiles them for the current device with the shared headers (``pipeward/*.hpp``) on its include
path, plus ``cuda/nvrtc_std`` (minimal ``<cstdint>``-style headers NVRTC lacks).

Every launch runs on the current device and the current CuPy stream; its arguments are checked
against the kernel's parameters before the launch (CuPy passes raw bytes: a wrong width would
be read as garbage), and the launch status is checked by CuPy. The parameters come from the
kernel tables the family headers declare (``PIPEWARD_<FAMILY>_CUDA_KERNELS`` in
``pipeward/<family>.hpp``), which the ``.cu`` files ``static_assert`` their kernels against and
``_core.cuda_kernels()`` exports: nothing here reads the CUDA source text. Asynchronous kernel
faults surface at the next synchronising call, as usual for CUDA.
"""

from __future__ import annotations

import functools
import hashlib
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import _backend, _core

# Per-module NVRTC options beyond the common ones. privacy: no FMA contraction, so the noise
# transform rounds like the portable C++ code (same stream for the same seed).
EXTRA_OPTIONS: dict[str, tuple[str, ...]] = {"privacy": ("-fmad=false",)}

_lock = threading.Lock()
_modules: dict[tuple[str, int, tuple[str, ...]], Any] = {}


def source_path(name: str) -> Path:
    """Path of ``cuda/<name>.cu``."""
    return _backend.cuda_source_dir() / f"{name}.cu"


def kernel_signatures(name: str) -> dict[str, tuple[str, ...]]:
    """Kernels of ``cuda/<name>.cu`` and their parameter kinds (no CuPy needed): ``"ptr"`` for
    a device array, else the C scalar type (``"int64_t"``, ``"double"``...), as declared in
    ``pipeward/<name>.hpp``."""
    tables = _kernel_tables()
    if name not in tables:
        raise ValueError(f"no CUDA kernel family {name!r}; the families are {', '.join(tables)}")
    return tables[name]


@functools.lru_cache(maxsize=1)
def _kernel_tables() -> dict[str, dict[str, tuple[str, ...]]]:
    return _core.cuda_kernels()


_NUMPY_FOR_C = {"int64_t": np.int64, "uint64_t": np.uint64, "double": np.float64,
                "int32_t": np.int32, "uint32_t": np.uint32, "float": np.float32}


def check_args(name: str, kernel: str, args: Sequence[Any]) -> None:
    """Refuse a launch whose arguments do not match the kernel's C parameters one for one.

    CuPy passes each argument's raw bytes, so a Python int where the kernel reads a uint64_t,
    or an array where it reads a double, would be garbage on the device, not an error.
    """
    signature = kernel_signatures(name).get(kernel)
    if signature is None:
        raise ValueError(f"cuda/{name}.cu has no kernel {kernel!r}")
    if len(args) != len(signature):
        raise TypeError(f"{kernel} takes {len(signature)} arguments, got {len(args)}")
    for i, (arg, ctype) in enumerate(zip(args, signature)):
        if ctype == "ptr":
            if not _backend.is_gpu_array(arg):
                raise TypeError(f"{kernel}: argument {i} must be a device array (a {ctype} "
                                f"parameter), got {type(arg).__name__}")
        elif type(arg) is not _NUMPY_FOR_C.get(ctype):
            want = _NUMPY_FOR_C.get(ctype)
            raise TypeError(f"{kernel}: argument {i} is a C {ctype}; pass "
                            f"{'numpy.' + want.__name__ if want else 'a matching scalar'}, "
                            f"got {type(arg).__name__}")


def kernel_names(name: str) -> set[str]:
    """The ``extern "C" __global__`` kernels that ``cuda/<name>.cu`` defines (its table)."""
    return set(kernel_signatures(name))


def nvrtc_options(extra: Sequence[str] = ()) -> tuple[str, ...]:
    """NVRTC options for every module: C++17, the shared headers, the NVRTC std stand-ins."""
    cuda_dir = _backend.cuda_source_dir()
    return (
        "-std=c++17",
        f"-I{_backend.cuda_include_dir()}",
        f"-I{cuda_dir}",
        f"-I{cuda_dir / 'nvrtc_std'}",
        *extra,
    )


@functools.lru_cache(maxsize=1)
def _sources_stamp() -> str:
    """Digest of every file a kernel may include (shared headers, .cuh, NVRTC stand-ins)."""
    digest = hashlib.sha256()
    roots = (_backend.cuda_include_dir() / "pipeward", _backend.cuda_source_dir())
    for root in roots:
        for f in sorted(p for p in root.rglob("*") if p.is_file() and p.suffix != ".cu"):
            digest.update(f.name.encode() + b"\0" + f.read_bytes())
    return digest.hexdigest()[:16]


def module(name: str, extra_options: Sequence[str] | None = None) -> Any:
    """The compiled ``cupy.RawModule`` for ``cuda/<name>.cu`` on the current device (cached)."""
    if extra_options is None:
        extra_options = EXTRA_OPTIONS.get(name, ())
    cp = _backend.cupy()
    device = cp.cuda.Device().id
    key = (name, device, tuple(extra_options))
    with _lock:
        mod = _modules.get(key)
        if mod is None:
            path = source_path(name)
            if not path.is_file():
                raise _backend.GPUUnavailableError(f"CUDA source {path} is missing from this install")
            # `code=`, not `path=` (which loads a compiled cubin/PTX). CuPy's disk cache keys on
            # the code text, not on included headers: the stamp makes any header edit a miss.
            code = f"// pipeward sources {_sources_stamp()}\n" + path.read_text(encoding="utf-8")
            mod = cp.RawModule(code=code, options=nvrtc_options(extra_options))
            _modules[key] = mod
    return mod


def launch(
    name: str,
    kernel: str,
    grid: int | tuple[int, ...],
    block: int | tuple[int, ...],
    args: Sequence[Any],
    *,
    shared_mem: int = 0,
    extra_options: Sequence[str] | None = None,
) -> None:
    """Launch ``kernel`` of ``cuda/<name>.cu`` on the current stream.

    ``args`` are CuPy arrays or NumPy scalars whose dtype matches the kernel's parameter type
    exactly (``np.int64``, ``np.uint64``, ``np.float64``, ...), checked against the ``.cu``
    signature before anything is launched (:func:`check_args`).
    """
    check_args(name, kernel, args)
    fn = module(name, extra_options).get_function(kernel)
    grid = grid if isinstance(grid, tuple) else (int(grid),)
    block = block if isinstance(block, tuple) else (int(block),)
    if any(g < 1 for g in grid) or any(b < 1 for b in block):
        raise ValueError(f"{kernel}: empty launch grid={grid} block={block}")
    # RawKernel launches on CuPy's current stream (it has no stream argument) and raises on a
    # failed cuLaunchKernel; device-side faults surface at the next synchronising call.
    fn(grid, block, tuple(args), shared_mem=shared_mem)


def blocks_for(n: int, threads: int, *, per_thread: int = 1, cap: int = 65535 * 8) -> int:
    """Grid size for a grid-stride loop over ``n`` items (at least 1, at most ``cap``)."""
    return max(1, min(cap, -(-n // (threads * per_thread))))


def u64(x: int) -> np.uint64:
    return np.uint64(x)


def i64(x: int) -> np.int64:
    return np.int64(x)
