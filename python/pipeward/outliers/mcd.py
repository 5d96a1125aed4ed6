"""Minimum Covariance Determinant: FastMCD that scales, with scikit-learn's corrections.

Raw estimate (Rousseeuw & Van Driessen 1999): the h-subset whose covariance has the smallest
determinant, found by C-steps (fit mean and covariance to the h rows closest under the current
estimate; the determinant never increases). Starts:

* one feature: no search, the exact optimum (h consecutive sorted values);
* up to FULL_SEARCH_ROWS rows: random starts on all rows, half elemental (d+1)-subsets and
  half h-subsets (sklearn's kind), two C-steps each, then the best N_SEARCH converged on all
  rows in batches of BLAS products (:class:`_Products`), the best N_CONVERGE and DetMCD's
  deterministic starts in the native kernels, and the best polished by single row
  exchanges: this is what matches or beats ``MinCovDet``'s objective seed for seed;
* more rows, d small against the subsets: elemental starts on at most 5 disjoint random
  subsets of 300 rows (robustbase's capped scheme, not sklearn's n//300 subsets), the best
  10 per subset refined on their union (<= 1500 rows), the best 3 converged on a 20k-row
  subsample when n is larger, then on all rows;
* high dimension: the deterministic starts of DetMCD (Hubert, Rousseeuw & Verdonck 2012),
  computed on a subsample.

Outside the batched search, every distance pass over the full data and every support
covariance runs in the native kernels, on X in place. A support covariance that is (near) singular is shrunk towards
``tr(S)/d * I`` just enough for its condition number to reach a bound (the MRCD regulariser
of Boudt et al. 2020: 50 when h <= d, 1e10 otherwise), so no step divides by zero.

Final estimate as sklearn >= 1.8: raw covariance times c(h/n) with
``c(a) = a / F_chi2(d+2)(chi2_d quantile a)``, then reweighting on
``d2 < chi2_d.isf(0.025)`` and correction by c(0.975).
"""

from __future__ import annotations

import contextlib
import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .kernel import comoment_of_rows, squared_distances_factored
from .thresholds import chi2_cdf, chi2_isf, chi2_ppf

def _single_threaded_blas() -> contextlib.AbstractContextManager:
    """Many tiny LAPACK calls run faster on one BLAS thread (threadpoolctl when installed)."""
    controller = _blas_controller()
    return contextlib.nullcontext() if controller is None else \
        controller.limit(limits=1, user_api="blas")


@functools.cache
def _blas_controller() -> Any:
    """threadpoolctl's view of the loaded BLAS libraries, found once: finding them reads the
    process's library list, which cost 0.5-3 ms a call, as much as a whole small MCD fit."""
    try:
        from threadpoolctl import ThreadpoolController  # noqa: PLC0415 - optional
    except ImportError:
        return None
    return ThreadpoolController()


SUBSET_ROWS = 300
MAX_SUBSETS = 5
N_TRIALS = 500
N_BEST = 10
WIDE_SHARE = 0.5  # share of the starts that are h-row subsets, not elemental (full search)
N_FULL = 3  # candidates carried to the full data when n > REFINE_SAMPLE
N_CONVERGE = 10  # candidates converged on all rows when n <= REFINE_SAMPLE
FULL_SEARCH_ROWS = 2000  # up to this many rows, N_SEARCH candidates converge on all rows
N_SEARCH = 100
N_POLISH = 5  # best converged candidates polished by single exchanges (full search)
SWAP_EDGE = 128  # rows on each side of the support's edge that an exchange considers
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


@functools.lru_cache(maxsize=256)
def consistency_factor(d: int, alpha: float) -> float:
    """c(a) = a / F_chi2(d+2)(chi2_d quantile a) (Croux & Haesbroeck 1999); kept per (d, a):
    the incomplete gamma series cost about 1 ms, a third of a small one-feature fit."""
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


class _Products:
    """The rows of S with their pairwise products ``upper(x x^T)``, so that many candidates'
    distances and many row subsets' moments are each one matrix product.

    ``(x - l)^T P (x - l) = upper(P) . upper(x x^T) - 2 (P l) . x + l^T P l`` scores every row
    under every candidate at once, and a 0/1 selection matrix M gives every subset's sums and
    sums of products as ``M @ [x, upper(x x^T)]``: a BLAS call each, where a native call per
    candidate or a (subsets, rows, features) gather cost several times more. Rows are taken
    about the column medians, so neither expansion cancels for data far from 0. Used by the
    search stage only; the final C-steps run the native kernels on the rows themselves."""

    def __init__(self, S: np.ndarray):
        self.centre = np.median(S, axis=0)
        self.S = S - self.centre
        n, d = S.shape
        self.upper = np.triu_indices(d)
        self.twice = np.where(self.upper[0] == self.upper[1], 1.0, 2.0)  # x_i x_j, i != j, twice
        # [upper(x x^T), x, 1] per row: one product gives distances, or sums and moments.
        self.features = np.hstack([self.S[:, self.upper[0]] * self.S[:, self.upper[1]],
                                   self.S, np.ones((n, 1))])
        self.sums_of = np.ascontiguousarray(self.features[:, :-1])

    def distances(self, locs: np.ndarray, factors: np.ndarray) -> np.ndarray:
        """(candidates, rows) squared distances to ``locs`` (about the centre) under the
        precisions ``factors @ factors^T``."""
        P = factors @ np.swapaxes(factors, 1, 2)
        Pl = np.einsum("kij,kj->ki", P, locs)
        weights = np.hstack([P[:, self.upper[0], self.upper[1]] * self.twice, -2.0 * Pl,
                             np.einsum("ki,ki->k", Pl, locs)[:, None]])
        return weights @ self.features.T

    def moments(self, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(locations about the centre, covariances) of the small subsets S[rows[k]]."""
        sub = self.S[rows]
        locs = sub.mean(axis=1)
        centred = sub - locs[:, None, :]
        return locs, np.einsum("kri,krj->kij", centred, centred) / rows.shape[1]

    def mask_moments(self, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The same for subsets given as a (subsets, rows) boolean mask."""
        d = self.S.shape[1]
        M = mask.astype(np.float64)
        sums = M @ self.sums_of / M.sum(axis=1, keepdims=True)
        upper, locs = sums[:, :-d], sums[:, -d:]
        covs = np.empty((mask.shape[0], d, d))
        covs[:, self.upper[0], self.upper[1]] = upper
        covs[:, self.upper[1], self.upper[0]] = upper
        return locs, covs - locs[:, :, None] * locs[:, None, :]


def _nearest(dist: np.ndarray, h: int) -> np.ndarray:
    """(candidates, rows) mask of each candidate's h nearest rows: those at or below its h-th
    smallest distance, or, where ties at that distance (duplicate rows) admit more, the h
    that a full ranking picks."""
    mask = dist <= np.partition(dist, h - 1, axis=1)[:, h - 1:h]
    tied = np.flatnonzero(mask.sum(axis=1) != h)
    if tied.size:
        exact = np.zeros((tied.size, dist.shape[1]), dtype=bool)
        np.put_along_axis(exact, np.argpartition(dist[tied], h - 1, axis=1)[:, :h], True, axis=1)
        mask[tied] = exact
    return mask


def _batched_c_steps(S: np.ndarray, h: int, locs: np.ndarray, covs: np.ndarray,
                     n_steps: int, chunk: int = 128) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """C-steps for many small-sample candidates at once: (locations, covariances, logdets).

    A candidate whose h rows no longer change has converged and leaves the batch, and so
    does one that picks the same rows as another (it would follow the same path)."""
    rows_of = _Products(S)
    L, C = locs - rows_of.centre, covs.copy()
    # A row set's key: the wrapping sum of fixed random 64-bit tags of its rows (equal sets,
    # equal keys; distinct sets collide with probability ~2^-64).
    tags = np.random.default_rng(0x5EED).integers(0, 2**63, size=S.shape[0], dtype=np.uint64)
    for c0 in range(0, L.shape[0], chunk):
        active = np.arange(c0, min(c0 + chunk, L.shape[0]))
        previous = None
        for _ in range(n_steps):
            dist = rows_of.distances(L[active], _precision_factors(C[active]))
            mask = _nearest(dist, h)
            keys = np.where(mask, tags, np.uint64(0)).sum(axis=1, dtype=np.uint64)
            keep = np.zeros(active.size, dtype=bool)
            keep[np.unique(keys, return_index=True)[1]] = True
            if previous is not None:
                keep &= keys != previous
            active, mask, keys = active[keep], mask[keep], keys[keep]
            if not active.size:
                break
            previous = keys
            L[active], C[active] = rows_of.mask_moments(mask)
    return L + rows_of.centre, C, np.linalg.slogdet(_ridge(C))[1]


def _precision_factors(covs: np.ndarray) -> np.ndarray:
    """F with F F^T = inverse of each (ridged) covariance: inverse Cholesky factors, or
    eigenvector factors when a covariance is too degenerate for Cholesky."""
    R = _ridge(covs)
    try:
        return np.ascontiguousarray(np.swapaxes(np.linalg.inv(np.linalg.cholesky(R)), 1, 2))
    except np.linalg.LinAlgError:
        w, V = np.linalg.eigh(R)
        w = np.maximum(w, np.finfo(np.float64).tiny)
        return np.ascontiguousarray(V / np.sqrt(w)[:, None, :])


def _ridge(covs: np.ndarray) -> np.ndarray:
    """Covariances plus 1e-12 of their mean variance on the diagonal, so inverses exist."""
    d = covs.shape[-1]
    scale = np.trace(covs, axis1=-2, axis2=-1) / d
    scale = np.where(scale > 0, scale, 1.0)
    return covs + (1e-12 * scale)[:, None, None] * np.eye(d)


def _subset_starts(S: np.ndarray, n: int, size: int,
                   rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Means and covariances of n random subsets of S: ``size`` distinct rows each when
    size is small (elemental starts), else each row kept with probability size / len(S)."""
    m, d = S.shape
    rows_of = _Products(S)
    if size <= 4 * d:
        rows = rng.integers(0, m, size=(n, size))
        ordered = np.sort(rows, axis=1)
        for i in np.flatnonzero((ordered[:, 1:] == ordered[:, :-1]).any(axis=1)):
            rows[i] = rng.choice(m, size=size, replace=False)  # a repeated row: draw again
        locs, covs = rows_of.moments(rows)
    else:
        mask = rng.random((n, m)) < size / m
        mask[mask.sum(axis=1) <= d] = True  # too few rows to span: (never, for size >= 4d)
        locs, covs = rows_of.mask_moments(mask)
    return locs + rows_of.centre, covs


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
    with np.errstate(invalid="ignore", divide="ignore"):  # constant columns: NaN, zeroed below
        correlations = [np.corrcoef(np.tanh(Z), rowvar=False), np.corrcoef(ranks, rowvar=False)]
    scatters = [
        *correlations,
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
    """The exact one-feature MCD: the h-subset of least variance is h consecutive sorted
    values (Rousseeuw & Leroy 1987), so every window is scored with running sums. sklearn
    takes the h values nearest the shortest half's midpoint instead, which can be worse."""
    n = X.shape[0]
    order = np.argsort(X[:, 0], kind="stable")
    x = X[order, 0].astype(np.float64)
    if h < n:
        z = x - x[(n - 1) // 2]  # centred on the median: the running sums do not cancel
        s1 = np.concatenate(([0.0], np.cumsum(z)))
        s2 = np.concatenate(([0.0], np.cumsum(z * z)))
        sums, squares = s1[h:] - s1[:-h], s2[h:] - s2[:-h]
        start = int(np.argmin(squares - sums * sums / h))
    else:
        start = 0
    rows = np.sort(order[start:start + h])
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

    def deterministic() -> list[_Estimate]:
        sample = rng.choice(n, size=DET_SAMPLE, replace=False) if n > DET_SAMPLE else None
        return deterministic_starts(X if sample is None else X[np.sort(sample)], max_cond)

    random_starts: list[_Estimate] = []
    if d <= RANDOM_STARTS_MAX_D and d + 1 <= min(SUBSET_ROWS, n) // 2:
        random_starts = _random_start_candidates(X, h, rng, workers, max_cond)
    if n > REFINE_SAMPLE:
        # Converge the candidates on a random subsample first: the full-data C-steps that
        # follow then start next to the optimum and need one to three passes, not dozens.
        sub = np.sort(rng.choice(n, size=REFINE_SAMPLE, replace=False))
        S = np.ascontiguousarray(X[sub])
        h_sub = int(math.ceil(REFINE_SAMPLE * h / n))
        candidates = (random_starts or deterministic())[:N_FULL]
        refined = [_c_steps(S, h_sub, c, MAX_C_STEPS, workers, max_cond) for c in candidates]
    else:
        # Small enough to converge every candidate on all rows; both kinds of start, since
        # their local optima differ and the deterministic ones are cheap.
        refined = [_c_steps(X, h, c, MAX_C_STEPS, workers, max_cond)
                   for c in random_starts + deterministic()]
    refined.sort(key=lambda r: r[0].logdet)
    est = refined[0][0]
    if n <= FULL_SEARCH_ROWS:
        # C-steps stop at a subset no single reassignment improves; one exchange of a row
        # in for a row out can still lower the determinant (Hawkins' feasible solutions).
        # The runners-up are polished too: the deepest optimum may sit next to one of them.
        Xf = np.asarray(X, dtype=np.float64)
        distinct = {np.sort(rows).tobytes(): (e, rows) for e, rows in reversed(refined)}
        runners = sorted(distinct.values(), key=lambda r: r[0].logdet)[:N_POLISH]
        polished = [_swap_polish(Xf, rows, max_cond) for e, rows in runners
                    if not e.regularised]
        est = min([p for p in polished if p is not None] + [est], key=lambda e: e.logdet)
    est, rows = _c_steps(X, h, est, MAX_C_STEPS, workers, max_cond)
    return est.location, est.covariance, rows, est.regularised


def _swap_polish(X: np.ndarray, rows: np.ndarray, max_cond: float,
                 max_swaps: int = 200) -> _Estimate | None:
    """Best-improvement single exchanges (one row in the support for one outside) until none
    lowers det(scatter); None when the support scatter is too ill-conditioned to update.

    With T the support scatter, u_i = x_i - mean, c = h / (h - 1): removing row i scales the
    determinant by f_i = 1 - c u_i^T T^-1 u_i (matrix determinant lemma), and adding row j
    to the remaining h - 1 rows by 1 + q_ij / c with q_ij = v^T T_(-i)^-1 v, v = x_j - mean_(-i)
    and T_(-i)^-1 from Sherman-Morrison: every pair is scored with a few matrix products.
    """
    n = X.shape[0]
    inside = np.zeros(n, dtype=bool)
    inside[rows] = True
    h = int(inside.sum())
    c = h / (h - 1.0)
    for _ in range(max_swaps):
        members, others = np.flatnonzero(inside), np.flatnonzero(~inside)
        mean = X[members].mean(axis=0)
        U, W = X[members] - mean, X[others] - mean
        T = U.T @ U
        w = np.linalg.eigvalsh(T)
        if w[0] <= w[-1] * 1e-10:
            return None
        G = np.linalg.inv(T)
        UG = U @ G
        a = np.einsum("id,id->i", UG, U)  # u_i^T G u_i
        wGw = np.einsum("jd,jd->j", W @ G, W)
        # Only the rows at the support's edge can pay: the farthest inside, nearest outside.
        if members.size > SWAP_EDGE:
            edge = np.argpartition(-a, SWAP_EDGE - 1)[:SWAP_EDGE]
            members, U, UG, a = members[edge], U[edge], UG[edge], a[edge]
        if others.size > SWAP_EDGE:
            edge = np.argpartition(wGw, SWAP_EDGE - 1)[:SWAP_EDGE]
            others, W, wGw = others[edge], W[edge], wGw[edge]
        f = 1.0 - c * a
        WGU = W @ UG.T  # (outside, inside): w_j^T G u_i
        vGu = WGU + a / (h - 1)
        vGv = wGw[:, None] + 2.0 / (h - 1) * WGU + a / (h - 1) ** 2
        with np.errstate(divide="ignore", invalid="ignore"):
            q = vGv + c * vGu**2 / f
            ratio = np.where(f > 1e-12, f * (1.0 + q / c), np.inf)
        j, i = np.unravel_index(np.argmin(ratio), ratio.shape)
        if not ratio[j, i] < 1.0 - 1e-12:
            break
        inside[members[i]], inside[others[j]] = False, True
    sel = X[inside]
    return _Estimate(sel.mean(axis=0), np.cov(sel, rowvar=False, bias=True), max_cond)


def _random_start_candidates(X: np.ndarray, h: int, rng: np.random.Generator,
                             workers: int | None, max_cond: float) -> list[_Estimate]:
    """Best estimates from elemental starts on capped random subsets, then on their union."""
    n = X.shape[0]
    n_subsets = min(MAX_SUBSETS, n // SUBSET_ROWS) if n > FULL_SEARCH_ROWS else 1
    size = min(n // n_subsets, SUBSET_ROWS) if n_subsets > 1 else n
    order = rng.permutation(n)
    subsets = [np.sort(order[i * size:(i + 1) * size]) for i in range(n_subsets)]
    trials = max(10, N_TRIALS // n_subsets)
    locs, covs, dets = [], [], []
    for rows in subsets:
        S = np.asarray(X[rows], dtype=np.float64)
        h_sub = max(S.shape[1] + 1, int(math.ceil(S.shape[0] * h / n)))
        # Elemental (d+1)-row starts find clean subsets among outliers; a share of random
        # h-row starts (sklearn's) reach the optima that lie near the whole-data estimate.
        n_wide = int(trials * WIDE_SHARE) if n <= FULL_SEARCH_ROWS else 0
        L1, C1 = _subset_starts(S, trials - n_wide, S.shape[1] + 1, rng)
        L2, C2 = _subset_starts(S, n_wide, h_sub, rng)
        L, C, D = _batched_c_steps(S, h_sub, np.concatenate([L1, L2]),
                                   np.concatenate([C1, C2]), 2)
        best = np.argsort(D)[:N_SEARCH if n <= FULL_SEARCH_ROWS else N_BEST]
        locs.append(L[best])
        covs.append(C[best])
        dets.append(D[best])
    L, C, D = np.concatenate(locs), np.concatenate(covs), np.concatenate(dets)
    if n_subsets > 1:
        union = np.asarray(X[np.sort(np.concatenate(subsets))], dtype=np.float64)
        L, C, D = _batched_c_steps(union, int(math.ceil(union.shape[0] * h / n)), L, C, 2)
    if n <= FULL_SEARCH_ROWS:
        # Few rows: converge many candidates on all of them. Neighbouring local optima
        # differ by a few rows, and two C-steps do not tell which of them is deepest.
        S = np.asarray(X, dtype=np.float64)
        top = np.argsort(D)[:N_SEARCH]
        L, C, D = _batched_c_steps(S, h, L[top], C[top], MAX_C_STEPS)
    best = np.argsort(D)[:N_CONVERGE]
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
