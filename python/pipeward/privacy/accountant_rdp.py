"""Renyi-DP accounting of the Poisson-subsampled Gaussian mechanism (DP-SGD).

One step with sampling rate q and noise multiplier sigma has RDP
eps_a = log(A_a) / (a - 1) at order a (Mironov, Talwar, Zhang 2019); T steps compose to
T eps_a, and histories add. The (epsilon, delta) conversion is the improved bound of Balle
et al. 2020 (Theorem 21), as both Opacus and dp-accounting use it:

    epsilon = min_a  T eps_a + log1p(-1/a) - log(delta a) / (a - 1)

with dp-accounting's refinements (0 where the KL bound delta^2 + expm1(-eps_a) > 0 already
holds; orders a <= 1.01 skipped; result >= 0). The default order grid is dp-accounting's
(1.1 ... 10.9, 11 ... 63, 128, 256, 512, 1024), a superset of Opacus' (no 11, nothing above
63): a larger grid can only lower the bound. ``orders=OPACUS_ORDERS`` reproduces Opacus.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from .. import _core
from ..reference import privacy as reference
from . import _checks
from .recording import record_training

OPACUS_ORDERS: tuple[float, ...] = tuple([1 + x / 10.0 for x in range(1, 100)] + list(range(12, 64)))
DP_ACCOUNTING_ORDERS: tuple[float, ...] = tuple(
    [1 + x / 10.0 for x in range(1, 100)] + list(range(11, 64)) + [128, 256, 512, 1024])
DEFAULT_ORDERS = DP_ACCOUNTING_ORDERS


def _orders(orders: Sequence[float] | None) -> np.ndarray:
    o = np.array(DEFAULT_ORDERS if orders is None else orders, dtype=np.float64).reshape(-1)
    if o.size == 0 or not np.all(o > 1):
        raise ValueError(f"orders must be a non-empty sequence of numbers > 1, got {orders!r}")
    return o


def rdp_subsampled_gaussian(noise_multiplier: float, sample_rate: float, orders: np.ndarray,
                            *, backend: str = "cpu") -> np.ndarray:
    """RDP of one step at each order (C++; ``backend="reference"`` for the pure-Python spec)."""
    if backend == "reference":
        return reference.rdp_subsampled_gaussian(sample_rate, noise_multiplier, orders)
    return _core.privacy_rdp_subsampled_gaussian(sample_rate, noise_multiplier, orders)


def rdp_to_epsilon(orders: np.ndarray, rdp: np.ndarray, delta: float) -> tuple[float, float]:
    """(epsilon, optimal order) from total RDP at each order (formula in the module doc)."""
    a = np.asarray(orders, np.float64)
    r = np.asarray(rdp, np.float64)
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        eps = r + np.log1p(-1.0 / a) - np.log(delta * a) / (a - 1.0)
        eps = np.where(a > 1.01, eps, np.inf)
        eps = np.where((r < 0) | (delta ** 2 + np.expm1(-r) > 0), 0.0, eps)
    eps = np.where(np.isnan(eps), np.inf, eps)
    k = int(np.argmin(eps))
    return max(0.0, float(eps[k])), float(a[k])


class RDPAccountant:
    """Privacy spent by DP-SGD steps, Opacus-style.

    >>> acc = RDPAccountant()
    >>> acc.step(noise_multiplier=1.1, sample_rate=256 / 60000, steps=2000)
    >>> round(acc.get_epsilon(delta=1e-5), 3) > 0
    True
    """

    mechanism = "rdp"

    def __init__(self, orders: Sequence[float] | None = None) -> None:
        self.orders = _orders(orders)
        self.history: list[tuple[float, float, int]] = []  # (noise_multiplier, sample_rate, steps)

    def step(self, *, noise_multiplier: float, sample_rate: float, steps: int = 1) -> None:
        """Record ``steps`` steps at (noise_multiplier, sample_rate); repeats merge."""
        sigma = _checks.noise_multiplier(noise_multiplier)
        q = _checks.sample_rate(sample_rate)
        t = _checks.steps(steps)
        if self.history and self.history[-1][:2] == (sigma, q):
            self.history[-1] = (sigma, q, self.history[-1][2] + t)
        else:
            self.history.append((sigma, q, t))

    def rdp(self) -> np.ndarray:
        """Total RDP at each of ``self.orders``."""
        total = np.zeros_like(self.orders)
        for sigma, q, t in self.history:
            if t:
                total += t * rdp_subsampled_gaussian(sigma, q, self.orders)
        return total

    def get_privacy_spent(self, *, delta: float,
                          orders: Sequence[float] | None = None) -> tuple[float, float]:
        """(epsilon, optimal order) for ``delta``; (0.0, nan) before any step."""
        d = _checks.delta(delta)
        if orders is not None:
            return _with_orders(self.history, orders).get_privacy_spent(delta=d)
        if not any(t for _, _, t in self.history):
            return 0.0, math.nan
        return rdp_to_epsilon(self.orders, self.rdp(), d)

    def get_epsilon(self, delta: float, orders: Sequence[float] | None = None) -> float:
        """Epsilon spent so far at ``delta``."""
        return self.get_privacy_spent(delta=delta, orders=orders)[0]

    def __len__(self) -> int:
        return len(self.history)

    def record(self, audit: Any, *, delta: float, max_grad_norm: float | None = None,
               model: str | None = None, dataset: str | None = None) -> float:
        """Write this run (noise multiplier, sample rate, steps, epsilon, delta) to an
        :class:`pipeward.AuditLog` as ``training.dp``; returns epsilon at ``delta``."""
        return record_training(self, audit, delta=delta, max_grad_norm=max_grad_norm,
                               model=model, dataset=dataset)


def _with_orders(history: list[tuple[float, float, int]], orders: Sequence[float]) -> RDPAccountant:
    acc = RDPAccountant(orders)
    acc.history = list(history)
    return acc


def epsilon(noise_multiplier: float, sample_rate: float, steps: int, delta: float, *,
            accountant: str = "rdp", orders: Sequence[float] | None = None) -> float:
    """Epsilon after ``steps`` DP-SGD steps (``accountant`` "rdp" or "pld")."""
    if accountant == "pld":
        if orders is not None:
            raise ValueError("orders only applies to accountant='rdp'")
        from .accountant_pld import PLDAccountant  # noqa: PLC0415

        pld = PLDAccountant()
        pld.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=steps)
        return pld.get_epsilon(delta)
    if accountant != "rdp":
        raise ValueError(f"accountant must be 'rdp' or 'pld', got {accountant!r}")
    acc = RDPAccountant(orders)
    acc.step(noise_multiplier=noise_multiplier, sample_rate=sample_rate, steps=steps)
    return acc.get_epsilon(delta)

# Opacus gives up above this noise multiplier (opacus.accountants.utils.MAX_SIGMA).
_MAX_SIGMA = 1e6


def noise_multiplier_for(target_epsilon: float, delta: float, sample_rate: float, steps: int, *,
                         accountant: str = "rdp", tolerance: float = 0.01,
                         orders: Sequence[float] | None = None) -> float:
    """The noise multiplier Opacus' ``get_noise_multiplier`` returns: sigma with
    target - tolerance < epsilon(sigma) < target, found by the same search.

    Opacus brackets with low = 0 and high = 20, doubling high (low stays 0) until
    epsilon(high) < target, then bisects, keeping high when epsilon(mid) is strictly
    below the target; the same steps give the same sigma (to the accountant's agreement).
    """
    target = _checks.positive(target_epsilon, "target_epsilon")
    tol = _checks.positive(tolerance, "tolerance")
    _checks.delta(delta)
    _checks.sample_rate(sample_rate)
    if _checks.steps(steps) == 0:
        raise ValueError("steps must be >= 1 to calibrate noise")

    def eps(sigma: float) -> float:
        return epsilon(sigma, sample_rate, steps, delta, accountant=accountant, orders=orders)

    low, high, eps_high = 0.0, 10.0, math.inf
    while eps_high > target:
        high *= 2
        if high > _MAX_SIGMA:
            raise ValueError(f"no noise multiplier up to {_MAX_SIGMA:g} reaches epsilon {target} "
                             f"at delta {delta} with {steps} steps of rate {sample_rate}")
        eps_high = eps(high)
    while target - eps_high > tol:
        mid = (low + high) / 2
        e = eps(mid)
        if e < target:
            high, eps_high = mid, e
        else:
            low = mid
        if high - low < 1e-12 * high:  # a tolerance below the accountant's resolution
            break
    return high
