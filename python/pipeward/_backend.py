"""Array-type dispatch: NumPy runs on the C++ kernels, CuPy on the CUDA kernels.

CuPy is imported only when a GPU array actually arrives, so a CPU-only install never needs
it, and GPU memory is never copied to the host behind the user's back. Each kernel family
lists its implementations once in a :class:`Backends` registry (cpu / cuda / reference); the
public function validates its arguments and calls what ``choose`` returns.
"""

from __future__ import annotations

import functools
import importlib.resources
import os
from pathlib import Path
from collections.abc import Callable
from types import ModuleType
from typing import Any, Generic, TypeVar

import numpy as np

_BACKENDS = ("auto", "cpu", "cuda", "reference")
Impl = TypeVar("Impl", bound=Callable[..., Any])


class GPUUnavailableError(RuntimeError):
    """A GPU array or backend was asked for, but CuPy or a CUDA device is missing."""


def is_gpu_array(x: Any) -> bool:
    """True for CuPy arrays and other objects that expose ``__cuda_array_interface__``."""
    return hasattr(x, "__cuda_array_interface__")


@functools.lru_cache(maxsize=1)
def cupy() -> ModuleType:
    """Import CuPy, or explain why a GPU call cannot run."""
    try:
        import cupy as cp  # noqa: PLC0415 - optional dependency, imported on first GPU use
    except ImportError as exc:
        raise GPUUnavailableError(
            "pipeward was installed without GPU support: a CuPy array was given, but CuPy "
            "is not installed. Install it with `pip install pipeward[gpu]`."
        ) from exc
    try:
        count = cp.cuda.runtime.getDeviceCount()
    except Exception as exc:  # CUDA driver missing or broken
        raise GPUUnavailableError(f"CuPy is installed but no CUDA device is usable: {exc}") from exc
    if count < 1:
        raise GPUUnavailableError("CuPy is installed but no CUDA device was found")
    return cp


def resolve_backend(backend: str, *arrays: Any) -> str:
    """Choose 'cpu', 'cuda' or 'reference' from ``backend`` and the arrays' type."""
    if backend not in _BACKENDS:
        raise ValueError(f"backend must be one of {', '.join(_BACKENDS)}, got {backend!r}")
    on_gpu = [is_gpu_array(a) for a in arrays if a is not None]
    if any(on_gpu) and not all(on_gpu):
        raise TypeError(
            "inputs mix GPU (CuPy) and host (NumPy) arrays; move them to one device first "
            "(pipeward never copies between host and GPU silently)"
        )
    gpu = bool(on_gpu) and all(on_gpu)
    if backend == "auto":
        return "cuda" if gpu else "cpu"
    if backend == "cuda" and not gpu:
        raise TypeError("backend='cuda' needs CuPy arrays; got host arrays (use cupy.asarray)")
    if backend in ("cpu", "reference") and gpu:
        raise TypeError(
            f"backend={backend!r} needs host arrays; got CuPy arrays (use .get() to copy them)"
        )
    return backend


def choose_backend(backend: str, *arrays: Any) -> str:
    """:func:`resolve_backend`, then, for 'cuda', a clear error when CuPy or a device is
    missing (before any other check touches the arrays)."""
    chosen = resolve_backend(backend, *arrays)
    if chosen == "cuda":
        cupy()
    return chosen


class Backends(Generic[Impl]):
    """A kernel family's implementations of one operation, by backend.

    ``cpu`` runs the C++ kernels (``_core``), ``cuda`` the CUDA ones (``_gpu``, imported by the
    implementation itself so that CuPy stays optional), ``reference`` the pure-NumPy reference.
    All three take the same (validated) arguments and return the same named result.
    """

    def __init__(self, *, cpu: Impl, cuda: Impl, reference: Impl) -> None:
        self._impl = {"cpu": cpu, "cuda": cuda, "reference": reference}

    def choose(self, backend: str, *arrays: Any) -> Impl:
        """The implementation for ``backend`` ("auto": by the arrays' type; see
        :func:`choose_backend` for the errors)."""
        return self._impl[choose_backend(backend, *arrays)]


def cuda_source_dir() -> Path:
    """Folder holding the shipped ``*.cu`` sources (installed package data, or the checkout)."""
    env = os.environ.get("PIPEWARD_CUDA_DIR")
    if env:
        return Path(env)
    installed = Path(str(importlib.resources.files("pipeward"))) / "cuda"
    if installed.is_dir():
        return installed
    # Editable installs keep the sources in the repository.
    return Path(__file__).resolve().parents[2] / "cuda"


def cuda_include_dir() -> Path:
    """Folder holding ``pipeward/*.hpp``, the math shared by the C++ and CUDA kernels."""
    installed = Path(str(importlib.resources.files("pipeward"))) / "include"
    if (installed / "pipeward").is_dir():
        return installed
    return Path(__file__).resolve().parents[2] / "cpp" / "include"


def array_module(x: Any) -> ModuleType:
    """``numpy`` for host arrays, ``cupy`` for GPU arrays."""
    return cupy() if is_gpu_array(x) else np
