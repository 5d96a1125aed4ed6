"""Minimum Covariance Determinant: FastMCD that scales, with scikit-learn's corrections.

Raw estimate (Rousseeuw & Van Driessen 1999): the h-subset whose covariance has the smallest
determinant, found by C-steps (fit mean and covariance to the h rows closest under the current
estimate; the determinant never increases). Starts:

* d small against the subsets: random elemental (d+1)-subsets on at most 5 disjoint random
  subsets of 300 rows (robustbase's capped scheme, not sklearn's n//300 subsets), the best
  10 per subset refined on their union (<= 1500 rows), the best 3 refined on all rows (on a
  20k-row subsample to convergence first when n is larger, then on all rows);
* high dimension: the deterministic starts of DetMCD (Hubert, Rousseeuw & Verdonck 2012),
  computed on a subsample.

Every distance pass over the full data and every support covariance runs in the native
kernels, on X in place. A support covariance that is (near) singular is shrunk towards
``tr(S)/d * I`` just enough for its condition number to reach a bound (the MRCD regulariser
of Boudt et al. 2020: 50 when h <= d, 1e10 otherwise), so no step divides by zero.

Final estimate as sklearn >= 1.8: raw covariance times c(h/n) with
``c(a) = a / F_chi2(d+2)(chi2_d quantile a)``, then reweighting on
``d2 < chi2_d.isf(0.025)`` and correction by c(0.975).
"""

from __future__ import annotations

import contextlib
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .kernel import comoment_of_rows, squared_distances_factored
from .thresholds import chi2_cdf, chi2_isf, chi2_ppf

def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """Many tiny LAPACK calls run faster on one BLAS thread (threadpoolctl when installed)."""
    try:
        from threadpoolctl import threadpool_limits  # noqa: PLC0415 - optional
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


SUBSET_ROWS = 300
MAX_SUBSETS = 5
N_TRIALS = 500
N_BEST = 10
N_FULL = 3
MAX_C_STEPS = 30
DET_SAMPLE = 5000
REFINE_SAMPLE = 20_000  # above this many rows, candidates converge on a subsample first
RANDOM_STARTS_MAX_D = 30  # above this, the deterministic starts (random elemental sets get poor)


@dataclass
class MCDResult:
    location: np.ndarray
    covariance: np.ndarray
    support: np.ndarray  # bool mask of the reweighted support
    dist: np.ndarray  # squared distances of the rows to the final estimate
    raw_location: np.ndarray
    raw_covariance: np.ndarray
    raw_support: np.ndarray
    regularised: bool  # a covariance had to be shrunk to stay invertible


def support_size(n: int, d: int, support_fraction: float | None) -> int:
    """h: sklearn's ceil((n + d + 1) / 2), or int(support_fraction * n)."""
    if support_fraction is None:
        return min(int(math.ceil(0.5 * (n + d + 1))), n)
    if not 0.0 < support_fraction <= 1.0:
        raise ValueError(f"support_fraction must be in (0, 1], got {support_fraction!r}")
    return max(1, int(support_fraction * n))


def consistency_factor(d: int, alpha: float) -> float:
    """c(a) = a / F_chi2(d+2)(chi2_d quantile a) (Croux & Haesbroeck 1999)."""
    if alpha >= 1.0:
        return 1.0
    return alpha / float(chi2_cdf(chi2_ppf(alpha, d), d + 2))


class _Estimate:
    """A location/covariance pair with its log-determinant and precision factor.

    A well-conditioned covariance is factored by Cholesky (the kernel then skips the zero
    half of the triangular factor); otherwise one eigendecomposition both regularises it
    and gives the factor.
    """

    def __init__(self, location: np.ndarray, covariance: np.ndarray, max_cond: float,
                 eig: tuple[np.ndarray, np.ndarray] | None = None):
        self.location = location
        self.regularised = False
        if eig is None:
            try:
                L = np.linalg.cholesky(covariance)
                pivots = np.diag(L) ** 2
                if pivots.min() * max_cond > pivots.max():
                    self.covariance = covariance
                    self.logdet = float(np.sum(np.log(pivots)))
                    Linv = np.linalg.inv(L)
                    self.factor, self.lower = np.linalg.cholesky(Linv.T @ Linv), True
                    return
            except np.linalg.LinAlgError:
                pass
            eig = np.linalg.eigh(covariance)
        w, V = eig
        w, self.regularised = regularise_eigenvalues(w, max_cond)
        self.covariance = (V * w) @ V.T if self.regularised else covariance
        self.logdet = float(np.sum(np.log(w)))
        # W W^T = inverse covariance: V diag(1/sqrt(w)); not triangular, exact for any w > 0.
        self.factor, self.lower = np.ascontiguousarray(V / np.sqrt(w)), False

    def distances(self, X: np.ndarray, workers: int | None) -> np.ndarray:
        return squared_distances_factored(X, self.location, self.factor, self.lower,
                                          workers=workers)


def regularise_eigenvalues(w: np.ndarray, max_cond: float) -> tuple[np.ndarray, bool]:
    """Eigenvalues of (1 - rho) S + rho tr(S)/d I with the smallest rho giving cond <= max_cond.

    Shrinking towards a multiple of I keeps the eigenvectors, so only the eigenvalues move.
    """
    mu = float(np.mean(w))
    lo, hi = float(w[0]), float(w[-1])
    if mu <= 0:  # every support row identical: a tiny sphere keeps the factor finite
        return np.full_like(w, 1e-300), True
    if lo > 0 and hi <= max_cond * lo:
        return w, False
    excess = hi - max_cond * lo
    rho = excess / (excess + (max_cond - 1.0) * mu)
    return (1.0 - rho) * w + rho * mu, True


def _fit_rows(X: np.ndarray, rows: np.ndarray | None, workers: int | None,
              max_cond: float) -> _Estimate:
    count, mean, m2 = comoment_of_rows(X, rows, workers)
    return _Estimate(mean, m2 / count, max_cond)


def _c_steps(X: np.ndarray, h: int, start: _Estimate, n_steps: int, workers: int | None,
             max_cond: float) -> tuple[_Estimate, np.ndarray]:
    """C-steps from `start` until the determinant stops falling (or n_steps)."""
    best, best_rows = None, None
    current = start
    for _ in range(n_steps):
        dist = current.distances(X, workers)
        rows = np.sort(np.argpartition(dist, h - 1)[:h])
        if best_rows is not None and np.array_equal(rows, best_rows):
            break
        nxt = _fit_rows(X, rows, workers, max_cond)
        if best is not None and nxt.logdet >= best.logdet - 1e-12 * max(1.0, abs(best.logdet)):
            break
        best, best_rows, current = nxt, rows, nxt
    return best, best_rows


def _batched_c_steps(S: np.ndarray, h: int, locs: np.ndarray, covs: np.ndarray,
                     n_steps: int, chunk: int = 25) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """C-steps for many small-sample candidates at once: (locations, covariances, logdets)."""
    d = S.shape[1]
    out_l, out_c, out_d = [], [], []
    for c0 in range(0, locs.shape[0], chunk):
        L, C = locs[c0:c0 + chunk], covs[c0:c0 + chunk]
        for _ in range(n_steps):
            P = np.linalg.inv(_ridge(C))
            centred = S[None, :, :] - L[:, None, :]
            dist = np.sum((centred @ P) * centred, axis=2)
            sub = S[np.argpartition(dist, h - 1, axis=1)[:, :h]]
            L = sub.mean(axis=1)
            centred = sub - L[:, None, :]
            C = np.swapaxes(centred, 1, 2) @ centred / h
        out_l.append(L)
        out_c.append(C)
        out_d.append(np.linalg.slogdet(_ridge(C))[1])
    return np.concatenate(out_l), np.concatenate(out_c).reshape(-1, d, d), np.concatenate(out_d)


def _ridge(covs: np.ndarray) -> np.ndarray:
    """Covariances plus 1e-12 of their mean variance on the diagonal, so inverses exist."""
    d = covs.shape[-1]
    scale = np.trace(covs, axis1=-2, axis2=-1) / d
    scale = np.where(scale > 0, scale, 1.0)
    return covs + (1e-12 * scale)[:, None, None] * np.eye(d)


def _elemental_starts(S: np.ndarray, n: int, rng: np.random.Generator) -> tuple[np.ndarray,
                                                                                np.ndarray]:
    """Means and covariances of n random (d+1)-row subsets of S."""
    m, d = S.shape
    rows = np.argsort(rng.random((n, m)), axis=1)[:, : d + 1]
    sub = S[rows]
    locs = sub.mean(axis=1)
    centred = sub - locs[:, None, :]
    return locs, np.swapaxes(centred, 1, 2) @ centred / (d + 1)


def _robust_scale(Z: np.ndarray) -> np.ndarray:
    """Column MAD * 1.4826, falling back to the standard deviation, then to 1."""
    med = np.median(Z, axis=0)
    mad = 1.4826 * np.median(np.abs(Z - med), axis=0)
    std = Z.std(axis=0)
    return np.where(mad > 0, mad, np.where(std > 0, std, 1.0))


def deterministic_starts(X: np.ndarray, max_cond: float) -> list[_Estimate]:
    """DetMCD's starting estimates from transformed correlation matrices (in X's units)."""
    n, d = X.shape
    X = np.asarray(X, dtype=np.float64)
    med = np.median(X, axis=0)
    scale = _robust_scale(X)
    Z = (X - med) / scale
    norms = np.linalg.norm(Z, axis=1)
    signs = Z / np.where(norms > 0, norms, 1.0)[:, None]
    ranks = np.argsort(np.argsort(Z, axis=0), axis=0).astype(np.float64)
    h0 = int(math.ceil(n / 2))
    nearest = Z[np.argsort(norms)[:h0]]
    scatters = [
        np.corrcoef(np.tanh(Z), rowvar=False),
        np.corrcoef(ranks, rowvar=False),
        signs.T @ signs / n,
        np.cov(nearest, rowvar=False, bias=True),
    ]
    starts = []
    for S in scatters:
        S = np.nan_to_num(np.atleast_2d(S))  # constant columns give NaN correlations
        _, E = np.linalg.eigh(S)
        B = Z @ E
        lam = _robust_scale(B) ** 2
        order = np.argsort(lam)
        centre_z = E @ np.median(B, axis=0)
        est = _Estimate(centre_z, None, max_cond, eig=(lam[order], E[:, order]))
        rows = np.argsort(est.distances(Z, None))[:h0]
        # Back to X's units: mean and covariance of those h0 rows.
        sel = X[rows]
        starts.append(_Estimate(sel.mean(axis=0), np.cov(sel, rowvar=False, bias=True)
                                .reshape(d, d), max_cond))
    return starts


def _univariate(X: np.ndarray, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sklearn's exact one-feature MCD: the shortest half, then its h nearest rows."""
    n = X.shape[0]
    x = np.sort(X[:, 0].astype(np.float64))
    if h < n:
        width = x[h:] - x[: n - h]
        starts = np.flatnonzero(width == width.min())
        centre = 0.5 * (x[h + starts] + x[starts]).mean()
        rows = np.sort(np.argsort(np.abs(X[:, 0] - centre), kind="stable")[:h])
    else:
        rows = np.arange(n)
    sel = X[rows, 0].astype(np.float64)
    return np.array([sel.mean()]), np.array([[sel.var()]]), rows


def raw_mcd(X: np.ndarray, h: int, rng: np.random.Generator,
            workers: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, bool]:
    """(location, covariance, support rows, regularised) of the raw MCD with support h."""
    n, d = X.shape
    if d == 1:
        loc, cov, rows = _univariate(X, h)
        return loc, cov, rows, False
    max_cond = 50.0 if h <= d else 1e10
    if h >= n:
        est = _fit_rows(X, None, workers, max_cond)
        return est.location, est.covariance, np.arange(n), est.regularised
    if d <= RANDOM_STARTS_MAX_D and d + 1 <= min(SUBSET_ROWS, n) // 2:
        candidates = _random_start_candidates(X, h, rng, workers, max_cond)
    else:
        sample = rng.choice(n, size=DET_SAMPLE, replace=False) if n > DET_SAMPLE else None
        candidates = deterministic_starts(X if sample is None else X[np.sort(sample)],
                                          max_cond)
    if n > REFINE_SAMPLE:
        # Converge the candidates on a random subsample first: the full-data C-steps that
        # follow then start next to the optimum and need one to three passes, not dozens.
        sub = np.sort(rng.choice(n, size=REFINE_SAMPLE, replace=False))
        S = np.ascontiguousarray(X[sub])
        h_sub = int(math.ceil(REFINE_SAMPLE * h / n))
        refined = [_c_steps(S, h_sub, c, MAX_C_STEPS, workers, max_cond)
                   for c in candidates[:N_FULL]]
    else:
        refined = [_c_steps(X, h, c, 2, workers, max_cond) for c in candidates[:N_FULL]]
    est, rows = min(refined, key=lambda r: r[0].logdet)
    est, rows = _c_steps(X, h, est, MAX_C_STEPS, workers, max_cond)
    return est.location, est.covariance, rows, est.regularised


def _random_start_candidates(X: np.ndarray, h: int, rng: np.random.Generator,
                             workers: int | None, max_cond: float) -> list[_Estimate]:
    """Best estimates from elemental starts on capped random subsets, then on their union."""
    n = X.shape[0]
    n_subsets = min(MAX_SUBSETS, n // SUBSET_ROWS) if n >= 2 * SUBSET_ROWS else 1
    size = min(n // n_subsets, SUBSET_ROWS) if n_subsets > 1 else n
    order = rng.permutation(n)
    subsets = [np.sort(order[i * size:(i + 1) * size]) for i in range(n_subsets)]
    trials = max(10, N_TRIALS // n_subsets)
    locs, covs, dets = [], [], []
    for rows in subsets:
        S = np.asarray(X[rows], dtype=np.float64)
        h_sub = max(S.shape[1] + 1, int(math.ceil(S.shape[0] * h / n)))
        L, C, D = _batched_c_steps(S, h_sub, *_elemental_starts(S, trials, rng), 2)
        best = np.argsort(D)[:N_BEST]
        locs.append(L[best])
        covs.append(C[best])
        dets.append(D[best])
    L, C, D = np.concatenate(locs), np.concatenate(covs), np.concatenate(dets)
    if n_subsets > 1:
        union = np.asarray(X[np.sort(np.concatenate(subsets))], dtype=np.float64)
        L, C, D = _batched_c_steps(union, int(math.ceil(union.shape[0] * h / n)), L, C, 2)
    best = np.argsort(D)[:N_FULL]
    return [_Estimate(L[i], C[i], max_cond) for i in best]


def min_cov_det(X: np.ndarray, *, support_fraction: float | None = None,
                random_state: int | np.random.Generator | None = None,
                workers: int | None = None) -> MCDResult:
    """sklearn ``MinCovDet(support_fraction, random_state).fit(X)``'s estimates, scalably."""
    # The native kernels carry the heavy work; the many small LAPACK calls run faster on one
    # BLAS thread than with a team that must wake for each of them.
    with _single_threaded_blas():
        return _min_cov_det(X, support_fraction, random_state, workers)


def _min_cov_det(X: np.ndarray, support_fraction: float | None, random_state: Any,
                 workers: int | None) -> MCDResult:
    n, d = X.shape
    h = support_size(n, d, support_fraction)
    rng = np.random.default_rng(random_state)
    raw_loc, raw_cov, raw_rows, regularised = raw_mcd(X, h, rng, workers)
    raw_support = np.zeros(n, dtype=bool)
    raw_support[raw_rows] = True
    if h < n and np.allclose(raw_cov, 0):
        raise ValueError("the covariance of the support data is 0: more than h rows are "
                         "identical; increase support_fraction")
    # Consistency at the normal model, then reweighting on the 97.5% chi2 quantile.
    raw_est = _Estimate(raw_loc, raw_cov * consistency_factor(d, h / n), 1e14)
    dist = raw_est.distances(X, workers).astype(np.float64)
    mask = dist < chi2_isf(0.025, d)
    rows = np.flatnonzero(mask)
    count, loc, m2 = comoment_of_rows(X, rows, workers)
    cov = m2 / count * consistency_factor(d, 0.975)
    final = _Estimate(loc, cov, 1e14)
    return MCDResult(loc, cov, mask, final.distances(X, workers).astype(np.float64),
                     raw_loc, raw_cov, raw_support, regularised)
