"""Thresholds and p-values for squared Mahalanobis distances, with no SciPy in the core.

The distributions (all for Gaussian data, with sklearn's maximum-likelihood covariance S = M2/n):

* ``chi2``: known location and covariance, ``d2 ~ chi2(d)``; badly off when d is not small
  against n (at n=2000, d=500 nearly every clean point exceeds the 1% quantile).
* ``hotelling``: a *new* point against the sample mean and S of n training rows,
  ``d2 * (n - d) / ((n + 1) d) ~ F(d, n - d)``  (Hotelling's T^2 prediction region).
* ``beta``: a training row against its own sample, ``d2 / (n - 1) ~ Beta(d/2, (n-d-1)/2)``
  (Gnanadesikan & Kettenring 1972); used to screen the data a model was fit on.
* ``conformal``: distribution-free, ``p = (1 + #{calibration scores >= s}) / (N + 1)``.

The special functions are the regularised incomplete gamma and beta functions, evaluated with
the series / Lentz continued fractions (vectorised over NumPy arrays), and inverted by
bisection for the scalar quantiles; tests check them against SciPy.
"""

from __future__ import annotations

import functools
import math

import numpy as np

from .._backend import array_module

_EPS = 1e-15
_TINY = 1e-300
_MAX_ITER = 10_000


def _gammainc_pair(a: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(P(a, x), Q(a, x)), the regularised lower and upper incomplete gamma functions."""
    shape = np.shape(x)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()
    p = np.zeros_like(x)
    q = np.ones_like(x)
    pos = x > 0
    use_series = pos & (x < a + 1)
    use_cf = pos & ~use_series
    log_front = lambda xs: a * np.log(xs) - xs - math.lgamma(a)  # noqa: E731
    if use_series.any():
        xs = x[use_series]
        term = np.full_like(xs, 1.0 / a)
        total = term.copy()
        ap = a
        active = np.ones(xs.shape, dtype=bool)
        for _ in range(_MAX_ITER):
            ap += 1
            term = np.where(active, term * xs / ap, 0.0)
            total += term
            active &= np.abs(term) > np.abs(total) * _EPS
            if not active.any():
                break
        ps = np.minimum(1.0, total * np.exp(log_front(xs)))
        p[use_series] = ps
        q[use_series] = 1.0 - ps
    if use_cf.any():
        xs = x[use_cf]
        b = xs + 1.0 - a
        c = np.full_like(xs, 1.0 / _TINY)
        dd = 1.0 / b
        h = dd.copy()
        active = np.ones(xs.shape, dtype=bool)
        for i in range(1, _MAX_ITER):
            an = -i * (i - a)
            b = b + 2.0
            dd = an * dd + b
            dd = np.where(np.abs(dd) < _TINY, _TINY, dd)
            c = b + an / c
            c = np.where(np.abs(c) < _TINY, _TINY, c)
            dd = 1.0 / dd
            step = np.where(active, dd * c, 1.0)
            h *= step
            active &= np.abs(step - 1.0) > _EPS
            if not active.any():
                break
        qs = np.minimum(1.0, np.exp(log_front(xs)) * h)
        q[use_cf] = qs
        p[use_cf] = 1.0 - qs
    return p.reshape(shape), q.reshape(shape)


def _betacf(a: float, b: float, x: np.ndarray) -> np.ndarray:
    """Continued fraction of I_x(a, b) (modified Lentz), converging for x < (a+1)/(a+b+2)."""
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c = np.ones_like(x)
    dd = 1.0 - qab * x / qap
    dd = np.where(np.abs(dd) < _TINY, _TINY, dd)
    dd = 1.0 / dd
    h = dd.copy()
    active = np.ones(x.shape, dtype=bool)
    for m in range(1, _MAX_ITER):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        dd = 1.0 + aa * dd
        dd = np.where(np.abs(dd) < _TINY, _TINY, dd)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < _TINY, _TINY, c)
        dd = 1.0 / dd
        h = np.where(active, h * dd * c, h)
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        dd = 1.0 + aa * dd
        dd = np.where(np.abs(dd) < _TINY, _TINY, dd)
        c = 1.0 + aa / c
        c = np.where(np.abs(c) < _TINY, _TINY, c)
        dd = 1.0 / dd
        step = dd * c
        h = np.where(active, h * step, h)
        active &= np.abs(step - 1.0) > _EPS
        if not active.any():
            break
    return h


def _betainc_pair(a: float, b: float, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(I_x(a, b), 1 - I_x(a, b)), each computed directly so small tails keep their digits."""
    shape = np.shape(x)
    x = np.atleast_1d(np.asarray(x, dtype=np.float64)).ravel()
    lower = np.where(x >= 1, 1.0, 0.0)
    upper = 1.0 - lower
    inside = (x > 0) & (x < 1)
    if inside.any():
        xs = x[inside]
        log_front = (math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
                     + a * np.log(xs) + b * np.log1p(-xs))
        front = np.exp(log_front)
        direct = xs < (a + 1.0) / (a + b + 2.0)
        lo = np.empty_like(xs)
        up = np.empty_like(xs)
        if direct.any():
            v = front[direct] * _betacf(a, b, xs[direct]) / a
            lo[direct], up[direct] = v, 1.0 - v
        if (~direct).any():
            v = front[~direct] * _betacf(b, a, 1.0 - xs[~direct]) / b
            up[~direct], lo[~direct] = v, 1.0 - v
        lower[inside] = np.clip(lo, 0.0, 1.0)
        upper[inside] = np.clip(up, 0.0, 1.0)
    return lower.reshape(shape), upper.reshape(shape)


def chi2_sf(x: np.ndarray | float, df: float) -> np.ndarray:
    """P(chi2(df) > x) (scipy.stats.chi2.sf)."""
    return _gammainc_pair(df / 2.0, np.asarray(x, dtype=np.float64) / 2.0)[1]


def chi2_cdf(x: np.ndarray | float, df: float) -> np.ndarray:
    """P(chi2(df) <= x) (scipy.stats.chi2.cdf)."""
    return _gammainc_pair(df / 2.0, np.asarray(x, dtype=np.float64) / 2.0)[0]


def beta_sf(x: np.ndarray | float, a: float, b: float) -> np.ndarray:
    """P(Beta(a, b) > x) (scipy.stats.beta.sf)."""
    return _betainc_pair(a, b, np.asarray(x, dtype=np.float64))[1]


def f_sf(x: np.ndarray | float, dfn: float, dfd: float) -> np.ndarray:
    """P(F(dfn, dfd) > x) (scipy.stats.f.sf) = I_{dfd/(dfd + dfn x)}(dfd/2, dfn/2)."""
    x = np.maximum(np.asarray(x, dtype=np.float64), 0.0)
    return _betainc_pair(dfd / 2.0, dfn / 2.0, dfd / (dfd + dfn * x))[0]


def _invert(sf, p: float, lo: float, hi: float, *, grow: bool) -> float:
    """The x with sf(x) = p for a decreasing sf: bracket, then the Illinois false-position
    method on log(sf) (near-linear in x in the tails, so it converges in a few steps)."""
    _check_probability(p)
    target = math.log(p)
    g = lambda x: math.log(max(float(sf(x)), 1e-300)) - target  # noqa: E731
    if grow:
        while g(hi) > 0:
            lo, hi = hi, hi * 2.0
    g_lo, g_hi = g(lo), g(hi)
    side = 0
    x = 0.5 * (lo + hi)
    for _ in range(200):
        x = (lo * g_hi - hi * g_lo) / (g_hi - g_lo) if g_hi != g_lo else 0.5 * (lo + hi)
        if not lo < x < hi:
            x = 0.5 * (lo + hi)
        gx = g(x)
        if gx == 0 or hi - lo <= 1e-14 * max(1.0, abs(x)):
            break
        if gx > 0:
            lo, g_lo = x, gx
            if side == 1:
                g_hi *= 0.5
            side = 1
        else:
            hi, g_hi = x, gx
            if side == -1:
                g_lo *= 0.5
            side = -1
        if abs(gx) < 1e-13:
            break
    return x


@functools.lru_cache(maxsize=256)
def chi2_isf(p: float, df: float) -> float:
    """The chi2(df) quantile with upper tail p (scipy.stats.chi2.isf)."""
    return _invert(lambda x: chi2_sf(x, df), p, 0.0, max(1.0, 2.0 * df), grow=True)


def chi2_ppf(q: float, df: float) -> float:
    """The chi2(df) quantile with lower tail q (scipy.stats.chi2.ppf)."""
    return chi2_isf(1.0 - q, df)


@functools.lru_cache(maxsize=256)
def beta_isf(p: float, a: float, b: float) -> float:
    """The Beta(a, b) quantile with upper tail p (scipy.stats.beta.isf)."""
    return _invert(lambda x: beta_sf(x, a, b), p, 0.0, 1.0, grow=False)


@functools.lru_cache(maxsize=256)
def f_isf(p: float, dfn: float, dfd: float) -> float:
    """The F(dfn, dfd) quantile with upper tail p (scipy.stats.f.isf)."""
    return _invert(lambda x: f_sf(x, dfn, dfd), p, 0.0, 1.0, grow=True)


def _check_probability(p: float) -> None:
    if not (isinstance(p, (float, int, np.floating)) and 0.0 < float(p) < 1.0):
        raise ValueError(f"expected a probability in (0, 1), got {p!r}")


# --- the rules for squared Mahalanobis distances --------------------------------------------

def hotelling_threshold(alpha: float, n: int, d: int) -> float:
    """Squared distance a new Gaussian point exceeds with probability alpha (needs n > d)."""
    _require_rows(n, d, extra=0)
    return (n + 1) * d / (n - d) * f_isf(alpha, d, n - d)


def hotelling_pvalues(d2: np.ndarray, n: int, d: int) -> np.ndarray:
    """P-values of new points under the Hotelling prediction law."""
    _require_rows(n, d, extra=0)
    return f_sf(np.asarray(d2, dtype=np.float64) * (n - d) / ((n + 1) * d), d, n - d)


def beta_threshold(alpha: float, n: int, d: int) -> float:
    """Squared distance a training row exceeds with probability alpha (needs n > d + 1)."""
    _require_rows(n, d, extra=1)
    return (n - 1) * beta_isf(alpha, d / 2.0, (n - d - 1) / 2.0)


def beta_pvalues(d2: np.ndarray, n: int, d: int) -> np.ndarray:
    """P-values of training rows against their own sample mean and covariance."""
    _require_rows(n, d, extra=1)
    return beta_sf(np.asarray(d2, dtype=np.float64) / (n - 1), d / 2.0, (n - d - 1) / 2.0)


def chi2_pvalues(d2: np.ndarray, d: int) -> np.ndarray:
    return chi2_sf(np.asarray(d2, dtype=np.float64), d)


def chi2_threshold(alpha: float, d: int) -> float:
    return chi2_isf(alpha, d)


def conformal_pvalues(scores: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """``(1 + #{calibration >= s}) / (N + 1)`` for each score s (valid for exchangeable data)."""
    cal = np.sort(np.asarray(calibration, dtype=np.float64))
    s = np.asarray(scores, dtype=np.float64)
    at_least = cal.size - np.searchsorted(cal, s, side="left")
    return (1.0 + at_least) / (cal.size + 1.0)


def conformal_threshold(calibration: np.ndarray, alpha: float) -> float:
    """The smallest t with p(s) <= alpha for every s > t (inf when N is too small for alpha)."""
    _check_probability(alpha)
    xp = array_module(calibration)  # CuPy scores are sorted on their device; one value returns
    cal = xp.sort(xp.asarray(calibration, dtype=xp.float64))
    k = math.floor(alpha * (cal.size + 1)) - 1  # at most k calibration scores may reach s
    if k < 0:
        return math.inf
    return float(cal[cal.size - 1 - k])


def benjamini_hochberg(pvalues: np.ndarray, q: float) -> np.ndarray:
    """Boolean mask of the discoveries at false discovery rate q (BH step-up, 1995)."""
    _check_probability(q)
    p = np.asarray(pvalues, dtype=np.float64)
    m = p.size
    if m == 0:
        return np.zeros(0, dtype=bool)
    order = np.argsort(p, kind="stable")
    passed = p[order] <= q * np.arange(1, m + 1) / m
    mask = np.zeros(m, dtype=bool)
    if passed.any():
        mask[order[: np.flatnonzero(passed)[-1] + 1]] = True
    return mask


def _require_rows(n: int, d: int, *, extra: int) -> None:
    if n <= d + extra:
        raise ValueError(f"this threshold needs more than {d + extra} rows for {d} features, "
                         f"got {n}; use threshold='conformal' or 'chi2'")
