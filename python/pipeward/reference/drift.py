"""Pure-NumPy reference for the drift kernels: the readable spec, one feature at a time.

KS follows ``scipy.stats.ks_2samp`` 1.17: the ECDF difference is taken at every pooled value
with ``searchsorted(side="right")`` (the end of each tie run), the first arg-extreme of
``concat(sorted1, sorted2)`` gives the location, D- wins only when strictly larger. p-values:
exact lattice-path recursions (Hodges 1958; Viehmann 2021's 1 - p form), asymptotic
``kstwo.sf(D, round(n1 n2 / (n1 + n2)))`` (Simard & L'Ecuyer 2011), one-sided Hodges eq. 5.3.
"""

from __future__ import annotations

import math

import numpy as np

_ALTS = ("two-sided", "less", "greater")


# ---- KS statistic ------------------------------------------------------------------------

def ks_statistic(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float, float]:
    """(D+, D-, location of D+, location of D-) for NaN-free samples."""
    a, b = np.sort(a), np.sort(b)
    pooled = np.concatenate([a, b])
    gap = np.searchsorted(a, pooled, side="right") / a.size - \
        np.searchsorted(b, pooled, side="right") / b.size
    imax, imin = int(np.argmax(gap)), int(np.argmin(gap))
    return (float(gap[imax]), float(np.clip(-gap[imin], 0, 1)), float(pooled[imax]),
            float(pooled[imin]))


# ---- exact p-values ----------------------------------------------------------------------

def prob_outside_square(n: int, h: int) -> float:
    """P(D_{n,n} >= h/n): 2 sum_k (-1)^(k-1) C(2n, n-kh)/C(2n, n) in nested (Horner) form."""
    P = 0.0
    for k in range(n // h, -1, -1):
        ratio = 1.0
        for j in range(h):
            ratio = (n - k * h - j) * ratio / (n + k * h + j + 1)
        P = ratio * (1.0 - P)
    return 2 * P


def _lattice(m: int, n: int, g: int, h: int, two_sided: bool) -> float:
    """Share of the C(m+n, n) paths that touch i*n/g - j*m/g >= h (or <= -h when two-sided):
    R(i, j) = (i R(i-1, j) + j R(i, j-1)) / (i + j), R = 1 on the boundary."""
    if m < n:
        m, n = n, m
    mg, ng = m // g, n // g
    R = np.zeros((m + 1, n + 1))
    for i in range(m + 1):
        for j in range(n + 1):
            t = ng * i - mg * j
            if t >= h or (two_sided and t <= -h):
                R[i, j] = 1.0
            elif i or j:
                R[i, j] = ((R[i - 1, j] * i if i else 0.0) + (R[i, j - 1] * j if j else 0.0)) / (i + j)
    return float(R[m, n])


def exact_pvalue(n1: int, n2: int, h: int, alternative: str) -> tuple[bool, float]:
    """(success, p) for P(D >= h / lcm(n1, n2)), as scipy's _attempt_exact_2kssamp."""
    if h == 0:
        return True, 1.0
    g = math.gcd(n1, n2)
    if alternative == "two-sided":
        p = prob_outside_square(n1, h) if n1 == n2 else _lattice(n1, n2, g, h, True)
    elif n1 == n2:
        p = float(np.prod([(n1 - j) / (n1 + j + 1.0) for j in range(h)]))
    else:
        if math.lgamma(n1 + n2 + 1) - math.lgamma(n1 + 1) - math.lgamma(n2 + 1) >= math.log(np.finfo(float).max):
            return False, math.nan  # scipy's binomial overflows: it falls back
        p = _lattice(n1, n2, g, h, False)
    return 0.0 <= p <= 1.0, p


# ---- asymptotic p-values -----------------------------------------------------------------

def smirnov_sf(n: int, x: float) -> float:
    """P(D+_n >= x) = x sum_{j < n(1-x)} C(n,j) (1-x-j/n)^(n-j) (x+j/n)^(j-1) (Birnbaum-Tingey)."""
    if x <= 0:
        return 1.0
    if x >= 1:
        return 0.0
    if -2 * n * x * x < -708.3964185322641:
        return 0.0
    terms = []
    for j in range(n - math.floor(n * x)):
        lo, hi = 1 - x - j / n, x + j / n
        if lo <= 0:
            break
        terms.append(math.exp(math.lgamma(n + 1) - math.lgamma(j + 1) - math.lgamma(n - j + 1)
                              + (n - j) * math.log(lo) + (j - 1) * math.log(hi)))
    return min(max(x * math.fsum(terms), 0.0), 1.0)


def _durbin_cdf(n: int, d: float) -> float:
    """P(D_n <= d) = n!/n^n [H^n]_{kk} (Durbin 1968; Marsaglia, Tsang & Wang 2003)."""
    k = math.ceil(n * d)
    h = k - n * d
    m = 2 * k - 1
    H = np.zeros((m, m))
    for i in range(m):
        for j in range(m):
            if i - j + 1 >= 0:
                H[i, j] = 1.0 / math.factorial(i - j + 1)
    for i in range(m):
        H[i, 0] -= h ** (i + 1) / math.factorial(i + 1)
        H[m - 1, i] -= h ** (m - i) / math.factorial(m - i)
    H[m - 1, 0] += max(2 * h - 1, 0) ** m / math.factorial(m)
    # H^n with a running power-of-two scale, then n!/n^n in logs.
    P, e, base, be, nn = np.eye(m), 0, H.copy(), 0, n
    while nn:
        if nn & 1:
            P, e = P @ base, e + be
            s = math.frexp(float(np.abs(P).max()))[1]
            P, e = P * 2.0 ** -s, e + s
        base, be = base @ base, 2 * be
        s = math.frexp(float(np.abs(base).max()))[1]
        base, be = base * 2.0 ** -s, be + s
        nn >>= 1
    val = P[k - 1, k - 1]
    if val <= 0:
        return 0.0
    return min(max(math.exp(math.log(val) + e * math.log(2) + math.lgamma(n + 1) - n * math.log(n)), 0.0), 1.0)


def _pelz_good_cdf(n: int, x: float) -> float:
    """Pelz & Good (1976) series for P(D_n <= x) (Simard & L'Ecuyer's large-n branch)."""
    z = math.sqrt(n) * x
    pi2 = math.pi ** 2
    q = math.exp(-pi2 / 8 / z ** 2)
    maxk = math.ceil(16 * z / math.pi)
    K = [0.0, 0.0, 0.0, 0.0]
    for k in range(1, maxk + 1):
        m = 2 * k - 1
        w = q ** (m * m)
        K[0] += w
        K[1] += w * (pi2 * m * m / 4 - z ** 2)
        K[2] += w * (6 * z ** 6 + 2 * z ** 4 + pi2 * m * m * (2 * z ** 4 - 5 * z ** 2) / 4
                     + math.pi ** 4 * m ** 4 * (1 - 2 * z ** 2) / 16)
        K[3] += w * (-30 * z ** 6 - 90 * z ** 8 + pi2 * m * m * (135 * z ** 4 - 96 * z ** 6) / 4
                     + math.pi ** 4 * m ** 4 * (-60 * z ** 2 + 212 * z ** 4) / 16
                     + math.pi ** 6 * m ** 6 * (5 - 30 * z ** 2) / 64)
    c = math.sqrt(2 * math.pi)
    K = [K[0] * c / z, K[1] * c / (6 * z ** 4), K[2] * c / (72 * z ** 7), K[3] * c / (6480 * z ** 10)]
    q2 = math.exp(-pi2 / 2 / z ** 2)
    K[2] -= c * pi2 / (36 * z ** 3) * sum(k * k * q2 ** (k * k) for k in range(1, maxk + 1))
    K[3] += c * pi2 / (216 * z ** 6) * sum((3 * z * z - (math.pi * k) ** 2) * k * k * q2 ** (k * k)
                                            for k in range(1, maxk + 1))
    return sum(K[t] / n ** (t / 2) for t in range(4))


def kstwo_sf(n: float, x: float) -> float:
    """P(D_n >= x) with scipy's choice of method by region (Simard & L'Ecuyer 2011)."""
    if math.isnan(x) or math.isnan(n) or n < 1 or n != round(n):
        return math.nan
    n = int(n)
    if x <= 0.5 / n:
        return 1.0
    if x >= 1.0:
        return 0.0
    t = n * x
    if t <= 1.0:
        prob = math.exp(math.lgamma(n + 1) - n * math.log(n) + n * math.log(2 * t - 1))
        return min(max(1 - prob, 0.0), 1.0)
    if t >= n - 1:
        return min(2 * (1 - x) ** n, 1.0)
    if x >= 0.5:
        return min(2 * smirnov_sf(n, x), 1.0)
    nxsq = t * x
    if n <= 140:
        if nxsq <= 4:
            return min(max(1 - _durbin_cdf(n, x), 0.0), 1.0)
        return min(2 * smirnov_sf(n, x), 1.0)
    if nxsq >= 370:
        return 0.0
    if nxsq >= 2.2:
        return min(2 * smirnov_sf(n, x), 1.0)
    cdf = _durbin_cdf(n, x) if n <= 100000 and n * x ** 1.5 <= 1.4 else _pelz_good_cdf(n, x)
    return min(max(1 - cdf, 0.0), 1.0)


def asymp_pvalue(n1: int, n2: int, d: float, alternative: str) -> float:
    m, n = max(n1, n2), min(n1, n2)
    en = m * n / (m + n)
    if alternative == "two-sided":
        return kstwo_sf(float(np.round(en)), d)
    z = math.sqrt(en) * d
    return min(max(math.exp(-2 * z * z - 2 * z * (m + 2 * n) / math.sqrt(m * n * (m + n)) / 3.0), 0.0), 1.0)


# ---- batched driver (same outputs as _core.drift_ks_2samp) -------------------------------

def ks_2samp_features(x1: np.ndarray, x2: np.ndarray, alternative: str, method: str,
                      omit_nan: bool):
    """Per feature row of (features, samples) views: (statistic, pvalue, location, sign, n1,
    n2, status) with status 0 ok, 1 lcm too large, 2 exact failed, 3 NaN, 4 empty."""
    F = x1.shape[0]
    out = [np.full(F, np.nan) for _ in range(4)] + [np.zeros(F, np.int64), np.zeros(F, np.int64),
                                                    np.zeros(F, np.int32)]
    stat, pval, loc, sign, N1, N2, status = out
    for f in range(F):
        a, b = x1[f], x2[f]
        nan = np.isnan(a).any() or np.isnan(b).any()
        a, b = a[~np.isnan(a)], b[~np.isnan(b)]
        N1[f], N2[f] = a.size, b.size
        if nan and not omit_nan:
            status[f] = 3
            continue
        if a.size == 0 or b.size == 0:
            status[f] = 4
            continue
        dplus, dminus, lplus, lminus = ks_statistic(a, b)
        minus = alternative == "less" or (alternative == "two-sided" and dminus > dplus)
        d = dminus if minus else dplus
        loc[f], sign[f] = (lminus, -1.0) if minus else (lplus, 1.0)
        n1, n2 = a.size, b.size
        g = math.gcd(n1, n2)
        mode = method
        if mode == "auto":
            mode = "exact" if max(n1, n2) <= 10000 else "asymp"
        elif mode == "exact" and n1 // g >= np.iinfo(np.int32).max / (n2 // g):
            mode, status[f] = "asymp", 1
        if mode == "exact":
            lcm = (n1 // g) * n2
            h = int(np.round(d * lcm))
            d = h / lcm
            ok, p = exact_pvalue(n1, n2, h, alternative)
            if ok:
                stat[f], pval[f] = d, p
                continue
            status[f] = 2
        stat[f], pval[f] = d, asymp_pvalue(n1, n2, d, alternative)
    return tuple(out)


# ---- PSI -----------------------------------------------------------------------------------

def psi_counts(x: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """(features, k + 2) counts: bins (-inf, e0), [e0, e1), ..., [e_{k-1}, inf), NaN."""
    F, k = edges.shape
    counts = np.zeros((F, k + 2), dtype=np.int64)
    for f in range(F):
        v = x[f]
        nan = np.isnan(v)
        counts[f, : k + 1] = np.bincount(np.searchsorted(edges[f], v[~nan], side="right"),
                                         minlength=k + 1)
        counts[f, k + 1] = nan.sum()
    return counts
