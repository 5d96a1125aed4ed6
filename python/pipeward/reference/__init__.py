"""Pure-NumPy references for every native kernel: the readable spec, float64 accumulation.

The tests compare each backend (C++, CUDA) against these; ``backend="reference"`` in the
public functions runs them directly.
"""
