"""What this installation can run: CPU instruction sets, threads, GPU."""

from __future__ import annotations

from typing import Any

from . import _core
from ._backend import cuda_source_dir


def capabilities() -> dict[str, Any]:
    """Describe the kernel paths available in this process.

    ``isa`` lists the CPU variants the kernels may use now, best first (the environment
    variable ``PIPEWARD_ISA=portable`` forces the portable C++ code); ``cpu_features`` is what
    the processor supports; ``gpu`` is ``None`` without CuPy or a CUDA device, otherwise device
    0's name, compute capability, multiprocessors and memory, and the CUDA kernel families
    shipped. Nothing here imports CuPy unless it is installed.
    """
    info: dict[str, Any] = {
        "version": _core.__version__,
        "isa": list(_core.enabled_isas()),
        "isa_limit": _core.isa_limit(),
        "cpu_features": dict(_core.cpu_features()),
        "threads": _core.omp_max_threads(),
        "gpu": None,
    }
    try:
        import cupy as cp  # noqa: PLC0415 - optional

        if cp.cuda.runtime.getDeviceCount() > 0:
            props = cp.cuda.runtime.getDeviceProperties(0)
            name = props["name"]
            info["gpu"] = {
                "name": name.decode() if isinstance(name, bytes) else str(name),
                "compute_capability": f"{props['major']}.{props['minor']}",
                "multiprocessors": int(props["multiProcessorCount"]),
                "memory_bytes": int(props["totalGlobalMem"]),
                "cupy": cp.__version__,
                # kernel families whose CUDA sources ship with this install (cuda/*.cu)
                "kernels": sorted(p.stem for p in cuda_source_dir().glob("*.cu")),
            }
    except Exception:  # noqa: BLE001 - no CuPy, no driver or no device: report no GPU
        info["gpu"] = None
    return info
