"""CUDA launchers for the four kernel families (CuPy arrays in, CuPy arrays out).

Nothing here imports CuPy at import time: :func:`pipeward._backend.cupy` is called on the first
launch, so a CPU-only install can import this package and gets a clear
:class:`~pipeward.GPUUnavailableError` only when a GPU array actually arrives.
"""
