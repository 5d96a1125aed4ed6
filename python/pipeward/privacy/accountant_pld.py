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
"infinity" (counted in full in delta), mass below the bottom is moved up to it. T equal
steps compose in one FFT (transform, T-th power, transform back) over a window that Chernoff
bounds on the sum of T losses size to all but ``tail_mass`` (counted as infinite loss), so the
window grows like sqrt(T); histories of different steps convolve by FFT, truncating tails
below ``tail_mass`` pessimistically. Where a window would exceed ``max_bins`` the grid is
coarsened 2x by rounding every loss up. So memory stays bounded (about 64 bytes * max_bins
at the peak) and every approximation is pessimistic except floating-point round-off in the
FFTs, as in dp-accounting (the two agree to ~1e-8 relative).
epsilon(delta) = max over the two directions of the smallest e with delta(e) <= delta.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from . import _checks
from .recording import record_training


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
    """The ``times``-fold composition in one FFT: transform, raise to the power, transform back.

    The window of the result comes from Chernoff bounds on the sum of ``times`` losses, so it
    grows like sqrt(times) around the mean, not like ``times`` times one step's support (which
    repeated squaring would need, coarsening the grid to fit ``max_bins``). Everything outside
    the window is counted pessimistically: both tails' bound as infinite loss, the lower tail
    also at the window's bottom, and whatever the cyclic FFT folds into the window stays there
    (only ever adding non-negative mass).
    """
    if times == 1:
        return pmf
    finite = (1.0 - pmf.inf_mass) ** times
    inf_mass = min(1.0, 1.0 - finite + tail_mass)
    lo, hi = _chernoff_window(pmf, times, tail_mass / 2)
    while hi - lo + 1 > max_bins:
        pmf = pmf.coarsen()
        lo, hi = _chernoff_window(pmf, times, tail_mass / 2)
    n = hi - lo + 1
    size = 1 << (n - 1).bit_length()
    base = pmf.offset * times  # the sum of ``times`` smallest losses sits at cyclic index 0
    folded = np.bincount(np.arange(pmf.p.size) % size, weights=np.maximum(pmf.p, 0.0),
                         minlength=size)
    cyclic = np.fft.irfft(np.fft.rfft(folded) ** times, size)
    p = np.maximum(cyclic[(np.arange(lo, hi + 1) - base) % size], 0.0)
    p[0] += max(0.0, finite - tail_mass / 2 - p.sum())  # the lower tail, moved up
    return _Pmf(p, lo, pmf.interval, inf_mass)


def _chernoff_window(pmf: _Pmf, times: int, tail: float) -> tuple[int, int]:
    """Grid indices [lo, hi] outside which the sum of ``times`` losses has mass <= ``tail`` on
    each side: P(S >= u) <= exp(times log M(t) - t u) for t > 0 (t < 0 for the lower side),
    minimised over a log-spaced set of t; M is the step's moment generating function."""
    k = pmf.offset + np.arange(pmf.p.size)
    keep = pmf.p > 0
    k, logp = k[keep], np.log(pmf.p[keep])
    loss = k * pmf.interval
    upper, lower = math.inf, -math.inf
    for t in np.logspace(-3, 3, 61):  # one t at a time: memory stays O(support)
        for sign in (1.0, -1.0):
            z = logp + (sign * t) * loss
            top = z.max()
            log_m = top + math.log(np.exp(z - top).sum())
            u = (times * log_m - math.log(tail)) / (sign * t)
            upper, lower = (min(upper, u), lower) if sign > 0 else (upper, max(lower, u))
    hi_loss = min(upper, float(loss.max()) * times)
    lo_loss = max(lower, float(loss.min()) * times)
    return math.floor(lo_loss / pmf.interval), math.ceil(hi_loss / pmf.interval)


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
            out[inside] = q * _ndtr(-(xs - 1) / sigma) - (np.expm1(e) + q) * _ndtr(-xs / sigma)
            out[~inside] = -np.expm1(eps[~inside])
        else:
            inside = eps < -log1mq
            e = eps[inside]
            xs = s2 * (np.log(np.expm1(-e) + q) - math.log(q)) + 0.5
            out[inside] = ((1 - (1 - q) * np.exp(e)) * _ndtr(xs / sigma)
                           - q * np.exp(e) * _ndtr((xs - 1) / sigma))
    return np.clip(out, 0.0, 1.0)


_erfc = np.frompyfunc(math.erfc, 1, 1)


def _ndtr(x: np.ndarray) -> np.ndarray:
    """Standard normal CDF, 0.5 erfc(-x / sqrt 2): accurate in both tails (the core depends on
    NumPy alone, which has no vectorised erfc)."""
    return 0.5 * _erfc(-np.asarray(x, dtype=np.float64) / math.sqrt(2.0)).astype(np.float64)


def _discounted_tail(p: np.ndarray, decay: float) -> np.ndarray:
    """s[j] = sum over i > j of p[i] * decay**(i - j), for 0 < decay < 1 and p >= 0.

    Vectorised in blocks short enough that decay**(+-block length) stays inside float64's
    range; within a block it is a scaled reverse cumulative sum (all terms are non-negative,
    so the scaling loses no precision), and each block carries its neighbour's tail down.
    """
    n = p.size
    s = np.zeros(n)
    if n < 2 or decay <= 0.0:
        return s
    step = -math.log(decay)
    block = max(1, int(600.0 / step)) if step > 0 else n
    carry = 0.0  # p + s at the first index of the block above
    for b in range(n, 0, -block):
        a = max(0, b - block)
        k = np.arange(b - a, dtype=np.float64)
        up = np.exp(-step * k)                     # decay**(i - a) for i in [a, b)
        scaled = np.append(np.cumsum((p[a:b] * up)[::-1])[::-1], 0.0)  # sum_{i >= a+k} ...
        within = scaled[1:] / up                   # sum_{j < i < b} p_i decay**(i - j)
        s[a:b] = within + carry * np.exp(-step * (b - a - k))
        carry = p[a] + s[a]
    return s


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
    s = _discounted_tail(p, decay)
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

    def record(self, audit: Any, *, delta: float, max_grad_norm: float | None = None,
               model: str | None = None, dataset: str | None = None) -> float:
        """Write this run (noise multiplier, sample rate, steps, epsilon, delta) to an
        :class:`pipeward.AuditLog` as ``training.dp``; returns epsilon at ``delta``."""
        return record_training(self, audit, delta=delta, max_grad_norm=max_grad_norm,
                               model=model, dataset=dataset)

    def get_privacy_spent(self, *, delta: float) -> tuple[float, float]:
        """(epsilon, delta) -- the same shape as RDPAccountant's (epsilon, order) pair."""
        return self.get_epsilon(delta), float(delta)

    def __len__(self) -> int:
        return len(self.history)
