"""Fixed-point encoding of updates into Z_2^32, sized so that the sum of every client fits.

Each coordinate is clipped to ``[-clip, clip]`` and scaled by ``floor((2^31 - 1) / n_clients) / clip``,
so an encoded value is at most ``floor((2^31 - 1) / n_clients)`` in size (the floor keeps rounding
from pushing the extreme past it) and the sum of up to ``n_clients`` of them stays inside the
signed 32-bit range: it decodes exactly (up to the rounding of each client, at most ``0.5 / scale`` per coordinate and client).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True)
class Quantizer:
    """Encodes clipped floats as uint32 words whose sum over ``n_clients`` cannot wrap."""

    clip: float
    n_clients: int

    def __post_init__(self) -> None:
        if not (isinstance(self.clip, (int, float)) and math.isfinite(self.clip) and self.clip > 0):
            raise ValueError(f"clip: expected a finite number > 0, got {self.clip!r}")
        if not isinstance(self.n_clients, int) or isinstance(self.n_clients, bool) or self.n_clients < 1:
            raise ValueError(f"n_clients: expected an integer >= 1, got {self.n_clients!r}")

    @property
    def scale(self) -> float:
        return ((2**31 - 1) // self.n_clients) / self.clip

    def encode(self, update: npt.ArrayLike) -> npt.NDArray[np.uint32]:
        """Clip to [-clip, clip], scale, round to the nearest integer, reduce mod 2^32."""
        x = np.asarray(update)
        if x.ndim != 1 or x.dtype.kind != "f":
            raise TypeError(f"update: expected a 1-d float array, got {x.dtype} of shape {x.shape}")
        if not np.isfinite(x).all():
            raise ValueError("update: contains NaN or infinity")
        q = np.rint(np.clip(x.astype(np.float64), -self.clip, self.clip) * self.scale)
        return q.astype(np.int64).astype(np.uint32)

    def decode_sum(self, total: npt.NDArray[np.uint32]) -> npt.NDArray[np.float64]:
        """The float sum that the uint32 sum of encoded updates stands for."""
        return total.view(np.int32).astype(np.float64) / self.scale
