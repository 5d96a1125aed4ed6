"""Privacy-loss-distribution (PLD) accounting of DP-SGD: tighter than RDP, never optimistic.

For one Poisson-subsampled Gaussian step (rate q, noise multiplier sigma, sensitivity 1) and
each direction of the add/remove relation, the hockey-stick curve has a closed form:

    remove (P = (1-q) N(0, s^2) + q N(1, s^2) against Q = N(0, s^2)), x* = s^2 log((e^e - 1 + q) / q) + 1/2:
        delta(e) = q Phi_bar((x* - 1)/s) - (e^e - 1 + q) Phi_bar(x*/s)        (e > log(1-q); else 1 - e^e)
    add    (P = N(0, s^2) against the mixture),  x* = s^2 log((e^-e - 1 + q) / q) + 1/2:
        delta(e) = (1 - (1-q) e^e) Phi(x*/s) - q e^e Phi((x* - 1)/s)          (e < -log(1-q); else 0)

Discretisation is "connect the dots" (Doroshenko et al., PETS 2022): atoms on the grid
e_i = i * interval are chosen so the discrete curve interpolates delta at the grid points
linearly in e^eps, which lies above the true (convex in e^eps) curve -- a dominating,
pessimistic PLD with second-order error. The mass above the top of the grid goes to
"infinity" (counted in full in delta), mass below the bottom is moved up to it. T steps
compose by FFT convolution (numpy.fft) with repeated squaring; after every convolution the
tails below ``tail_mass`` are truncated pessimistically, and when the support would exceed
``max_bins`` the grid is coarsened 2x by rounding every loss up. So memory stays bounded
(about 64 bytes * max_bins at the peak) and epsilon is never under-reported; it is exact up
to the grid (error about ``interval`` per composition level when coarsened).
epsilon(delta) = max over the two directions of the smallest e with delta(e) <= delta.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import special
from scipy.signal import lfilter

from . import _checks


class _Pmf:
    """Atoms p[k] at loss (offset + k) * interval, plus mass at +infinity."""

    def __init__(self, p: np.ndarray, offset: int, interval: float, inf_mass: float) -> None:
        self.p, self.offset, self.interval, self.inf_mass = p, offset, interval, inf_mass

    @classmethod
    def identity(cls, interval: float) -> _Pmf:
        return cls(np.ones(1), 0, interval, 0.0)

    def coarsen(self) -> _Pmf:
        """Grid interval x2; every loss rounds up (stochastically larger: pessimistic)."""
        idx = self.offset + np.arange(self.p.size)
        new = -((-idx) // 2)  # ceil(idx / 2)
        lo = int(new[0])
        p = np.bincount(new - lo, weights=self.p)
        return _Pmf(p, lo, 2 * self.interval, self.inf_mass)

    def truncate(self, tail_mass: float) -> _Pmf:
        p = np.maximum(self.p, 0.0)  # FFT round-off
        c = np.cumsum(p)
        lo = int(np.searchsorted(c, tail_mass / 2, side="right"))
        lo = min(lo, p.size - 1)
        rc = np.cumsum(p[::-1])
        hi = p.size - 1 - int(np.searchsorted(rc, tail_mass / 2, side="right"))
        hi = max(hi, lo)
        kept = p[lo:hi + 1].copy()
        if lo > 0:
            kept[0] += c[lo - 1]  # moved up to the lowest kept loss
        inf_mass = self.inf_mass + (rc[p.size - 2 - hi] if hi < p.size - 1 else 0.0)
        return _Pmf(kept, self.offset + lo, self.interval, min(1.0, inf_mass))


def _convolve(a: _Pmf, b: _Pmf, tail_mass: float, max_bins: int) -> _Pmf:
    while a.interval < b.interval:
        a = a.coarsen()
    while b.interval < a.interval:
        b = b.coarsen()
    while a.p.size + b.p.size - 1 > max_bins:
        a, b = a.coarsen(), b.coarsen()
    n = a.p.size + b.p.size - 1
    size = 1 << (n - 1).bit_length()
    p = np.fft.irfft(np.fft.rfft(a.p, size) * np.fft.rfft(b.p, size), size)[:n]
    inf_mass = 1.0 - (1.0 - a.inf_mass) * (1.0 - b.inf_mass)
    return _Pmf(p, a.offset + b.offset, a.interval, inf_mass).truncate(tail_mass)


def _self_compose(pmf: _Pmf, times: int, tail_mass: float, max_bins: int) -> _Pmf:
    result, base = _Pmf.identity(pmf.interval), pmf
    while times:
        if times & 1:
            result = _convolve(result, base, tail_mass, max_bins)
        times >>= 1
        if times:
            base = _convolve(base, base, tail_mass, max_bins)
    return result


def _delta_curve(eps: np.ndarray, sigma: float, q: float, direction: str) -> np.ndarray:
    """The closed-form hockey-stick curve of one step (module doc)."""
    s2 = sigma * sigma
    log1mq = math.log1p(-q) if q < 1 else -math.inf
    out = np.zeros_like(eps)
    with np.errstate(divide="ignore", over="ignore", invalid="ignore"):
        if direction == "remove":
            inside = eps > log1mq
            e = eps[inside]
            xs = s2 * (np.log(np.expm1(e) + q) - math.log(q)) + 0.5
            out[inside] = q * special.ndtr(-(xs - 1) / sigma) - (np.expm1(e) + q) * special.ndtr(-xs / sigma)
            out[~inside] = -np.expm1(eps[~inside])
        else:
            inside = eps < -log1mq
            e = eps[inside]
            xs = s2 * (np.log(np.expm1(-e) + q) - math.log(q)) + 0.5
            out[inside] = ((1 - (1 - q) * np.exp(e)) * special.ndtr(xs / sigma)
                           - q * np.exp(e) * special.ndtr((xs - 1) / sigma))
    return np.clip(out, 0.0, 1.0)


def _loss_range(sigma: float, q: float, direction: str, z: float = 9.0) -> tuple[float, float]:
    """Privacy losses of all but ~1e-19 of the mass."""
    def loss(x: float) -> float:
        return float(np.logaddexp(math.log1p(-q) if q < 1 else -math.inf,
                                  math.log(q) + (2 * x - 1) / (2 * sigma * sigma)))
    if direction == "remove":
        return loss(-z * sigma), loss(1 + z * sigma)
    return -loss(z * sigma), -loss(-z * sigma)


def _step_pmf(sigma: float, q: float, direction: str, interval: float, max_bins: int) -> _Pmf:
    """Connect-the-dots PMF of one step on the grid i * interval."""
    lo, hi = _loss_range(sigma, q, direction)
    while (hi - lo) / interval + 3 > max_bins:
        interval *= 2
    i_lo, i_hi = math.floor(lo / interval), math.ceil(hi / interval)
    grid = np.arange(i_lo, i_hi + 1) * interval
    f = _delta_curve(grid, sigma, q, direction)
    t = np.exp(grid)
    slopes = np.diff(f) / np.diff(t)            # slope of the interpolant on [t_i, t_i+1]
    slopes = np.append(slopes, 0.0)             # flat (= inf mass) beyond the top
    inf_mass = float(f[-1])
    p = np.empty_like(f)
    p[1:] = (slopes[1:] - slopes[:-1]) * t[1:]  # p_k e^{-e_k} = jump of the slope at t_k
    p[1:] = np.maximum(p[1:], 0.0)
    p[0] = max(0.0, 1.0 - inf_mass - p[1:].sum())
    return _Pmf(p, i_lo, interval, inf_mass)


def _epsilon(pmf: _Pmf, delta: float) -> float:
    if pmf.inf_mass > delta:
        return math.inf
    p, d = pmf.p, pmf.interval
    # tail[j] = sum_{i > j} p_i and s[j] = sum_{i > j} p_i e^{-(e_i - e_j)}, both from the top.
    tail = np.append(np.cumsum(p[::-1])[::-1][1:], 0.0)
    decay = math.exp(-d)
    # s[j] = e^-d (p[j+1] + s[j+1]) from the top: a first-order recursion, run by lfilter on
    # the reversed input [0, p[n-1], ..., p[1]].
    rev = np.concatenate(([0.0], p[::-1][:-1]))
    s = lfilter([decay], [1.0, -decay], rev)[::-1]
    curve = pmf.inf_mass + tail - s                 # delta(e_j)
    below = np.flatnonzero(curve <= delta)
    if below.size == 0:
        return math.inf
    j = int(below[0])
    if j == 0:
        return max(0.0, pmf.offset * d)
    # On (e_{j-1}, e_j] no atom lies in between: delta(e) = inf + tail - e^{e - e_{j-1}} s.
    num = pmf.inf_mass + tail[j - 1] - delta
    eps = (pmf.offset + j - 1) * d + (math.log(num / s[j - 1]) if num > 0 and s[j - 1] > 0 else d)
    return max(0.0, min(eps, (pmf.offset + j) * d))


class PLDAccountant:
    """Privacy-loss-distribution accountant for DP-SGD (add/remove neighbours).

    ``value_discretization_interval`` is the starting grid (dp-accounting's default 1e-4);
    ``max_bins`` bounds every array (and so the memory, ~64 B per bin at the FFT peak);
    ``tail_mass`` is truncated per convolution, pessimistically (dp-accounting: 1e-15).
    """

    mechanism = "pld"

    def __init__(self, value_discretization_interval: float = 1e-4, *,
                 max_bins: int = 1 << 22, tail_mass: float = 1e-15) -> None:
        self.interval = _checks.positive(value_discretization_interval, "value_discretization_interval")
        if isinstance(max_bins, bool) or not isinstance(max_bins, int) or max_bins < 64:
            raise ValueError(f"max_bins must be an integer >= 64, got {max_bins!r}")
        self.max_bins = max_bins
        self.tail_mass = _checks.positive(tail_mass, "tail_mass")
        self.history: list[tuple[float, float, int]] = []
        self._pmfs: dict[str, _Pmf] | None = None

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        sigma = _checks.noise_multiplier(noise_multiplier)
        q = _checks.sample_rate(sample_rate)
        t = _checks.steps(steps)
        self.history.append((sigma, q, t))
        self._pmfs = None

    def _composed(self) -> dict[str, _Pmf] | None:
        if any(sigma == 0 and t for sigma, _, t in self.history):
            return None  # a noiseless step: no finite epsilon
        if self._pmfs is None:
            pmfs = {}
            for direction in ("remove", "add"):
                total = _Pmf.identity(self.interval)
                for sigma, q, t in self.history:
                    if t:
                        one = _step_pmf(sigma, q, direction, self.interval, self.max_bins)
                        total = _convolve(total, _self_compose(one, t, self.tail_mass, self.max_bins),
                                          self.tail_mass, self.max_bins)
                pmfs[direction] = total
            self._pmfs = pmfs
        return self._pmfs

    def get_epsilon(self, delta: float) -> float:
        """Smallest epsilon with delta(epsilon) <= delta for both directions (an upper bound)."""
        d = _checks.delta(delta)
        pmfs = self._composed()
        if pmfs is None:
            return math.inf
        return max(_epsilon(pmfs["remove"], d), _epsilon(pmfs["add"], d))

    def get_privacy_spent(self, *, delta: float) -> tuple[float, float]:
        """(epsilon, delta) -- the same shape as RDPAccountant's (epsilon, order) pair."""
        return self.get_epsilon(delta), float(delta)

    def __len__(self) -> int:
        return len(self.history)
