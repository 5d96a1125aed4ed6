"""Bootstrap intervals from counts alone.

Resampling n rows with replacement and counting them by (group, true label, prediction) draws
the cell counts from a multinomial with the observed cell frequencies. Drawing that multinomial
directly is the same bootstrap as fairlearn's row resampling (``MetricFrame(n_boot=...)``), in
distribution, without touching the rows again, so it also works on merged Dask counts.
"""

from __future__ import annotations

import warnings

import numpy as np

__all__ = ["bootstrap_cells", "percentile_interval"]


def bootstrap_cells(cells: np.ndarray, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """``n_boot`` resampled copies of ``cells`` (shape ``(n_boot, *cells.shape)``)."""
    flat = cells.reshape(-1).astype(np.float64)
    n = int(flat.sum())
    draws = rng.multinomial(n, flat / n, size=n_boot)
    return draws.reshape((n_boot, *cells.shape))


def percentile_interval(samples: np.ndarray, confidence: float) -> np.ndarray:
    """``[low, high]`` percentiles along axis 0 (NaN draws, e.g. an empty group, are skipped),
    with NumPy's default linear interpolation as fairlearn uses."""
    tail = (1.0 - confidence) / 2.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN columns stay NaN
        return np.nanquantile(samples, [tail, 1.0 - tail], axis=0)

