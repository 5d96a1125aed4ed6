"""Poisson sampling for DP-SGD: each example joins each batch independently with probability
q, which is what the subsampled-Gaussian accounting assumes (Opacus'
``UniformWithReplacementSampler``)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from . import _checks


def poisson_batches(n: int, sample_rate: float, *, steps: int | None = None,
                    seed: int | np.random.Generator | None = None, pad_to: int | None = None
                    ) -> Iterator[np.ndarray] | Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``steps`` index batches (default one epoch: ``round(1 / sample_rate)``), each
    holding every index in ``range(n)`` independently with probability ``sample_rate``:
    expected size ``n * sample_rate``; a batch may be empty (it still counts as a step and
    still gets noise).

    With ``pad_to=m`` each item is ``(indices, mask)`` of fixed length m: the batch's indices
    then zeros, and a boolean mask that is True on the real entries (for compiled or
    fixed-shape training steps). A batch larger than m is a ``ValueError`` -- truncating it
    would change the sampling the accountant assumes; choose m a few standard deviations
    above ``n q`` (``n q + 6 sqrt(n q (1 - q))`` fails with probability ~1e-9 per batch).
    """
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    q = _checks.sample_rate(sample_rate)
    t = max(1, round(1 / q)) if steps is None else _checks.steps(steps)
    if pad_to is not None and (isinstance(pad_to, bool) or not isinstance(pad_to, (int, np.integer))
                               or pad_to < 1):
        raise ValueError(f"pad_to must be a positive integer, got {pad_to!r}")
    rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
    return _batches(int(n), q, t, rng, pad_to)


def _batches(n: int, q: float, steps: int, rng: np.random.Generator, pad_to: int | None):
    for _ in range(steps):
        idx = np.flatnonzero(rng.random(n) < q)
        if pad_to is None:
            yield idx
            continue
        if idx.size > pad_to:
            raise ValueError(f"a Poisson batch of {idx.size} samples exceeds pad_to={pad_to} "
                             f"(expected size {n * q:.1f}); use a larger pad_to")
        padded = np.zeros(pad_to, dtype=idx.dtype)
        padded[:idx.size] = idx
        mask = np.zeros(pad_to, dtype=bool)
        mask[:idx.size] = True
        yield padded, mask
