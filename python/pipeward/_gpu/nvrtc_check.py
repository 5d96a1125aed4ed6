"""Compile ``cuda/*.cu`` with NVRTC exactly as :func:`pipeward._gpu.module.module` would.

Needs only ``libnvrtc`` (the ``nvidia-cuda-nvrtc-cu12`` wheel that CuPy uses, or a CUDA
toolkit), not CuPy or a GPU: NVRTC compiles without a device. Used by the tests and by
``python -m pipeward._gpu.nvrtc_check`` to prove the run-time compile works on a machine
without a GPU.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import glob
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from . import module as _module


def find_libnvrtc() -> str | None:
    """Path of a loadable libnvrtc, or None."""
    env = os.environ.get("PIPEWARD_NVRTC")
    if env:
        return env
    for entry in sys.path:
        hits = sorted(glob.glob(os.path.join(entry, "nvidia", "cuda_nvrtc", "lib", "libnvrtc.so*")))
        hits = [h for h in hits if "builtins" not in h and ".alt." not in h]
        if hits:
            return hits[0]
    return ctypes.util.find_library("nvrtc")


def compile_source(path: Path, arch: str = "compute_90", extra: Sequence[str] = ()) -> str:
    """PTX of ``path`` compiled by NVRTC with the run-time options; raises with the log."""
    lib_path = find_libnvrtc()
    if lib_path is None:
        raise FileNotFoundError("libnvrtc not found (pip install nvidia-cuda-nvrtc-cu12)")
    lib = ctypes.CDLL(lib_path)
    prog = ctypes.c_void_p()
    src = path.read_bytes()
    rc = lib.nvrtcCreateProgram(ctypes.byref(prog), src, str(path).encode(), 0, None, None)
    if rc:
        raise RuntimeError(f"nvrtcCreateProgram failed with {rc}")
    # CuPy adds these two itself (cupy/cuda/compiler.py); mirror them.
    opts = [*_module.nvrtc_options(extra), f"-arch={arch}", "--device-as-default-execution-space",
            "-ftz=true"]
    argv = (ctypes.c_char_p * len(opts))(*[o.encode() for o in opts])
    try:
        rc = lib.nvrtcCompileProgram(prog, len(opts), argv)
        size = ctypes.c_size_t()
        lib.nvrtcGetProgramLogSize(prog, ctypes.byref(size))
        log = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetProgramLog(prog, log)
        if rc:
            raise RuntimeError(f"NVRTC failed on {path.name}:\n{log.value.decode(errors='replace')}")
        lib.nvrtcGetPTXSize(prog, ctypes.byref(size))
        ptx = ctypes.create_string_buffer(size.value)
        lib.nvrtcGetPTX(prog, ptx)
        return ptx.value.decode()
    finally:
        lib.nvrtcDestroyProgram(ctypes.byref(prog))


def main() -> int:
    failed = 0
    for path in sorted(_module.source_path("x").parent.glob("*.cu")):
        for arch in ("compute_80", "compute_90"):
            try:
                ptx = compile_source(path, arch, _module.EXTRA_OPTIONS.get(path.stem, ()))
            except RuntimeError as exc:
                print(exc)
                failed += 1
            else:
                print(f"ok {path.name} {arch} ({len(ptx)} bytes of PTX)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
