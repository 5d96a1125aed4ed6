"""Label-flip evidence for :func:`pipeward.screen`: out-of-fold class probabilities, the
neighbours' votes, confident-learning thresholds and conformal p-values for "this label is
wrong".

* **Out-of-fold probabilities.** The rows are split into stratified folds; each fold is scored
  by a model fitted on the other folds only, so a row never votes for its own label. The
  default model is the class-conditional Gaussian with a tied, OAS-shrunk covariance (linear
  discriminant analysis): its statistics are per-(fold, class) comoments from the native
  kernel, merged exactly for each fold's complement, and the held-out rows are scored by
  the linear discriminant (one product per block of rows, every fold's model at once: the
  row's own ``x^T P x`` is the same for every class and cancels). A scikit-learn classifier
  (``estimator=``) can stand in, fitted once per fold. Without ``fdr=``, where every class
  has at least 10 rows per feature out of fold (and up to 20,000 rows), the model with one
  covariance per class (QDA) is fitted from the same comoments too, and the one with the
  lower out-of-fold Brier score on the given labels is kept: classes whose shapes differ
  misspecify the tied model.
* **Neighbours.** The labels of the k nearest rows (Euclidean on unit-variance columns),
  smoothed towards the class shares, give a second, local probability that the Gaussian
  model misses on curved or multi-modal classes; the two are averaged (up to 20,000 rows).
* **Per-class thresholds** (Northcutt, Jiang & Chuang 2021, confident learning): class k's
  threshold is the mean probability of k over the rows labelled k, so a rare or hard class
  gets a lower bar; the rows confidently of another class fill the *confident joint*, which,
  calibrated to the label counts, estimates how many rows of each label came from each
  other class (the noise rates). Of the rows labelled c, the ``C[c, k]`` with the largest
  margin ``p_k - p_c`` are flagged, never a row whose most likely class is its label; so is
  every row whose label is more likely wrong than right under those noise rates. The top
  rows by that probability whose flagging maximises the expected F1 are reported too
  (``f1_cut``), but not set aside when the model is refitted.
* **P-values.** The nonconformity of row i is ``1 - p_{y_i}(x_i)``. Its conformal p-value
  counts the rows at least as nonconforming among a calibration set of rows whose labels the
  model does not doubt (posterior probability of a wrong label, from the estimated noise
  rates, at most 1/2): ``p_i = (1 + #{j in cal, j != i: s_j >= s_i}) / (|cal \\ {i}| + 1)``.
  With ``trusted`` rows (labels the user checked), :func:`trusted_label_pvalues` calibrates
  on those rows instead, after a fit that never learnt which rows they are (see there).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..reference.mahalanobis import merge_comoments
from .detector import _oas
from .kernel import comoment_of_rows
from .mcd import _single_threaded_blas

# Up to this many rows, every row's neighbours vote. Above, they are left out: a search
# among all rows costs n^2, a sampled reference is too coarse to help in many dimensions
# (measured: it lowered the recall), and so many rows pin the class model down well.
NEIGHBOUR_ALL_ROWS = 20_000
ROW_BLOCK = 8192  # rows per block of the scoring loops: a block's temporaries stay in cache
SMALL_GROUP = 65_536  # rows below which a comoment runs on one thread
_TINY = 1e-12
# The per-class covariance model is tried only where every class has this many rows per
# feature out of fold (a d x d covariance from fewer is mostly shrinkage) and on at most this
# many rows (its scoring costs K d^2 per row; above, it would add about half the screen's time
# on 1M x 50 x 10 classes).
PER_CLASS_ROWS_PER_FEATURE = 10
PER_CLASS_MAX_ROWS = NEIGHBOUR_ALL_ROWS


@dataclass
class LabelEvidence:
    """Everything the label screen concluded, per row (codes index ``classes``)."""

    probabilities: np.ndarray  # (n, K) out-of-fold class probabilities, model and neighbours
    flagged: np.ndarray  # bool: the confident-learning rule flags the row
    wrong: np.ndarray  # posterior probability that the row's label is wrong
    doubted: np.ndarray  # bool: wrong > 1/2 by the plain noise rates (no pseudo-rows)
    pvalues: np.ndarray  # conformal p-value of "the label is right"
    noise_counts: np.ndarray  # (K, K) calibrated confident joint: label c, true class k
    f1_cut: np.ndarray  # bool: among the top rows by ``wrong`` that maximise the expected F1


def stratified_folds(codes: np.ndarray, n_classes: int, folds: int,
                     rng: np.random.Generator) -> np.ndarray:
    """A fold number per row; each class is dealt round-robin over the folds in random order."""
    fold = np.empty(codes.size, dtype=np.int64)
    for k in range(n_classes):
        rows = rng.permutation(np.flatnonzero(codes == k))
        fold[rows] = np.arange(rows.size) % folds
    return fold


def gaussian_probabilities(Z: np.ndarray, codes: np.ndarray, n_classes: int, fold: np.ndarray,
                           exclude: np.ndarray, workers: int | None, *, shift: np.ndarray,
                           scale: np.ndarray, per_class: bool = False) -> np.ndarray:
    """Out-of-fold posteriors of the tied-covariance Gaussian model (LDA with OAS shrinkage)
    on the columns ``(Z - shift) / scale``; the statistics are transformed, Z is not copied.

    With the precision P and class means m_k, ``log p(k | x) = log pi_k + x^T P m_k -
    m_k^T P m_k / 2 + const(x)``: one matrix product scores a block of rows.

    ``per_class``: where every class keeps at least PER_CLASS_ROWS_PER_FEATURE x d rows in
    each fold's complement and there are at most PER_CLASS_MAX_ROWS rows, the model with one
    OAS-shrunk covariance per class (QDA) is fitted too, and whichever has the lower
    out-of-fold Brier score on the given labels is returned."""
    n, d = Z.shape
    per_fold = _fold_class_moments(Z, codes, n_classes, fold, exclude, workers, shift=shift,
                                   scale=scale)
    coefs, consts = [], []
    for per_class_stats in per_fold:
        counts = np.array([c[0] for c in per_class_stats], dtype=np.float64)
        total = counts.sum()
        present = counts > 0
        if total - present.sum() < 1:
            raise ValueError("screen: too few labelled rows to fit the class model out of fold")
        pooled = sum(c[2] for c in per_class_stats) / (total - present.sum())
        precision = np.linalg.inv(_oas(pooled, int(total)))
        means = np.stack([c[1] for c in per_class_stats])
        Pm = precision @ means.T  # (d, K)
        coef = Pm / scale[:, None]  # for raw rows: x_scaled = (x - shift) / scale
        const = (np.where(present, np.log(np.maximum(counts, 1.0) / total), -np.inf)
                 - 0.5 * np.einsum("kd,dk->k", means, Pm) - (shift / scale) @ Pm)
        coefs.append(coef)
        consts.append(const)
    P = _fold_softmax(Z, fold, np.hstack(coefs), np.stack(consts), workers)
    least = min(c[0] for per_class_stats in per_fold for c in per_class_stats)
    if not per_class or n > PER_CLASS_MAX_ROWS or least < PER_CLASS_ROWS_PER_FEATURE * d:
        return P
    Q = _per_class_probabilities(Z, fold, per_fold, shift=shift, scale=scale)
    return Q if brier_score(Q, codes) < brier_score(P, codes) else P


def _fold_class_moments(Z: np.ndarray, codes: np.ndarray, n_classes: int, fold: np.ndarray,
                        exclude: np.ndarray, workers: int | None, *, shift: np.ndarray,
                        scale: np.ndarray) -> list[list[tuple[int, np.ndarray, np.ndarray]]]:
    """Per fold, each class's (count, mean, M2) on the scaled columns over the other folds'
    rows that are not excluded, merged from per-(fold, class) comoments."""
    n, d = Z.shape
    folds = int(fold.max()) + 1
    outer = np.outer(scale, scale)
    groups = rows_by_group(fold * n_classes + codes, folds * n_classes, ~exclude)
    stats = [[_scaled(group_comoment(Z, groups[f * n_classes + k], workers), shift, scale,
                      outer) for k in range(n_classes)] for f in range(folds)]
    per_fold = []
    for f in range(folds):
        per_class_stats = []
        for k in range(n_classes):
            acc = (0, np.zeros(d), np.zeros((d, d)))
            for g in range(folds):
                if g != f and stats[g][k][0]:
                    acc = merge_comoments(acc, stats[g][k])
            per_class_stats.append(acc)
        per_fold.append(per_class_stats)
    return per_fold


def _per_class_probabilities(Z: np.ndarray, fold: np.ndarray,
                             per_fold: list[list[tuple[int, np.ndarray, np.ndarray]]], *,
                             shift: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Out-of-fold posteriors of the Gaussian model with one OAS-shrunk covariance per class:
    ``log p(k | x) = log pi_k - log det L_k - |L_k^{-1} (x - m_k)|^2 / 2 + const`` with
    ``L_k`` the Cholesky factor of class k's covariance (every class has rows: the caller
    checks)."""
    n, K = Z.shape[0], len(per_fold[0])
    P = np.empty((n, K))
    for f, per_class_stats in enumerate(per_fold):
        rows = np.flatnonzero(fold == f)
        X = (Z[rows] - shift) / scale
        total = sum(c[0] for c in per_class_stats)
        for k, (count, mean, m2) in enumerate(per_class_stats):
            L = np.linalg.cholesky(_oas(m2 / (count - 1), int(count)))
            W = (X - mean) @ np.linalg.inv(L).T
            P[rows, k] = (np.log(count / total) - np.log(np.diag(L)).sum()
                          - 0.5 * np.einsum("ij,ij->i", W, W))
    _softmax_inplace(P)
    return P


def brier_score(P: np.ndarray, codes: np.ndarray) -> float:
    """Mean squared distance between the probabilities and the one-hot labels: a proper
    score that, unlike the log-likelihood, a few flipped rows cannot dominate (measured: the
    85/15 pair's flips gave the per-class model a log-likelihood twice the tied one's)."""
    sq = np.einsum("ij,ij->i", P, P) - 2.0 * P[np.arange(codes.size), codes] + 1.0
    return float(sq.mean())


def _fold_softmax(Z: np.ndarray, fold: np.ndarray, coef: np.ndarray, const: np.ndarray,
                  workers: int | None) -> np.ndarray:
    """softmax(Z[i] @ coef_f + const_f) with f = fold[i], for (d, folds * K) stacked coef.

    Row blocks score every fold's model at once and keep their own: a few more flops, but no
    gathered copy of each fold's rows, and the block's scores stay in cache."""
    n = Z.shape[0]
    folds, K = const.shape
    P = np.empty((n, K))

    def work(s: int, e: int) -> None:
        f = fold[s:e]
        scores = (Z[s:e] @ coef).reshape(e - s, folds, K)
        P[s:e] = scores[np.arange(e - s), f] + const[f]
        _softmax_inplace(P[s:e])

    for_row_blocks(n, work, workers)
    return P


def for_row_blocks(n: int, work: Callable[[int, int], None], workers: int | None) -> None:
    """``work(start, stop)`` on every block of ROW_BLOCK rows, on up to ``workers`` threads
    (default: the usable CPUs) with BLAS held to one thread. NumPy releases the GIL in the
    products and ufuncs; a threaded BLAS on blocks this small spends more time waking its
    team than computing (measured on the busy 2-core box, 1M x 50 rows whitened and scored:
    4.8 s CPU with OpenBLAS's threads, 0.35 s with one)."""
    starts = range(0, n, ROW_BLOCK)
    if len(starts) <= 1:
        for s in starts:
            work(s, n)
        return
    threads = min(workers or _usable_cpus(), len(starts))
    with _single_threaded_blas():
        if threads <= 1:
            for s in starts:
                work(s, min(s + ROW_BLOCK, n))
        else:
            with ThreadPoolExecutor(threads) as pool:
                list(pool.map(lambda s: work(s, min(s + ROW_BLOCK, n)), starts))


def _usable_cpus() -> int:
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def rows_by_group(groups: np.ndarray, n_groups: int,
                  mask: np.ndarray | None = None) -> list[np.ndarray]:
    """The ascending row indices of each group 0 .. n_groups - 1 (only the ``mask`` rows), from
    one stable sort instead of one pass over all rows per group."""
    rows = np.arange(groups.size) if mask is None else np.flatnonzero(mask)
    g = groups[rows]
    # Small integer keys: NumPy's stable sort is then a radix sort.
    g = g.astype(np.int16 if n_groups <= np.iinfo(np.int16).max else np.int64)
    order = np.argsort(g, kind="stable")
    return np.split(rows[order], np.cumsum(np.bincount(g, minlength=n_groups))[:-1])


def group_comoment(Z: np.ndarray, rows: np.ndarray,
                   workers: int | None) -> tuple[int, np.ndarray, np.ndarray]:
    """(count, mean, M2) of Z[rows] from the native kernel; a small group runs on one thread
    (measured: 6,000 x 50 rows take 1 ms on one thread, 30 ms with a team's start-up and
    waits on a busy machine)."""
    return comoment_of_rows(Z, rows, 1 if rows.size < SMALL_GROUP else workers)


def _scaled(stat: tuple[int, np.ndarray, np.ndarray], shift: np.ndarray, scale: np.ndarray,
            outer: np.ndarray) -> tuple[int, np.ndarray, np.ndarray]:
    count, mean, m2 = stat
    return count, (mean - shift) / scale, m2 / outer


def distances_to_whitened(B: np.ndarray, M: np.ndarray) -> np.ndarray:
    """(n, K) squared Euclidean distances between whitened rows B and whitened locations M."""
    d2 = np.einsum("ij,ij->i", B, B)[:, None] - 2.0 * (B @ M.T) + np.einsum("ij,ij->i", M, M)
    return np.maximum(d2, 0.0)


def whitened_min_distances(Z: np.ndarray, centre: np.ndarray, factor: np.ndarray,
                           locations: np.ndarray, workers: int | None) -> np.ndarray:
    """Per row, the least squared distance between ``(z - centre) @ factor`` and the whitened
    ``locations``, block by block (no n x d temporaries)."""
    n = Z.shape[0]
    M = (locations - centre) @ factor
    d2 = np.empty(n)

    def work(s: int, e: int) -> None:
        d2[s:e] = distances_to_whitened((Z[s:e] - centre) @ factor, M).min(axis=1)

    for_row_blocks(n, work, workers)
    return d2


def residual_fourth_moment(Z: np.ndarray, codes: np.ndarray, keep: np.ndarray,
                           locations: np.ndarray, workers: int | None) -> float:
    """``sum_i ||Z[i] - locations[codes[i]]||^4`` over the ``keep`` rows (Ledoit-Wolf's
    shrinkage needs it), block by block: no gathered copy of each class's rows."""
    n = Z.shape[0]
    starts = np.arange(0, n, ROW_BLOCK)
    partial = np.zeros(starts.size)

    def work(s: int, e: int) -> None:
        r = Z[s:e] - locations[codes[s:e]]
        norms = np.einsum("ij,ij->i", r, r)
        partial[s // ROW_BLOCK] = float((norms[keep[s:e]] ** 2).sum())

    for_row_blocks(n, work, workers)
    return float(partial.sum())


def estimator_probabilities(estimator: Any, X: np.ndarray, codes: np.ndarray,
                            n_classes: int, fold: np.ndarray, exclude: np.ndarray) -> np.ndarray:
    """Out-of-fold ``predict_proba`` of a scikit-learn classifier, refitted per fold."""
    from sklearn.base import clone  # noqa: PLC0415 - only with a user's estimator

    P = np.zeros((codes.size, n_classes))
    for f in range(int(fold.max()) + 1):
        train = (fold != f) & ~exclude
        test = np.flatnonzero(fold == f)
        model = clone(estimator).fit(X[train], codes[train])
        cols = np.asarray(model.classes_, dtype=np.int64)
        P[np.ix_(test, cols)] = model.predict_proba(X[test])
    return P / np.maximum(P.sum(axis=1, keepdims=True), _TINY)


def neighbour_probabilities(points: np.ndarray, codes: np.ndarray, n_classes: int, k: int,
                            rows: np.ndarray) -> np.ndarray:
    """(len(rows), K) label shares of each row's k nearest neighbours (itself excluded),
    smoothed by one pseudo-neighbour spread over the class shares."""
    n = points.shape[0]
    reference = np.arange(n)
    k = max(1, min(k, reference.size - 1))
    # float32 is plenty to rank neighbours and halves the traffic of the distance blocks.
    points = points.astype(np.float32)
    ref_points = points[reference]
    ref_sq = np.einsum("ij,ij->i", ref_points, ref_points)
    prior = np.bincount(codes, minlength=n_classes) / n
    votes = np.zeros((rows.size, n_classes))
    block = max(1, 4_000_000 // max(reference.size, 1))
    for s in range(0, rows.size, block):
        r = rows[s:s + block]
        dist = ref_sq[None, :] - 2.0 * points[r] @ ref_points.T
        # A row is not its own neighbour.
        pos = np.searchsorted(reference, r)
        own = (pos < reference.size) & (reference[np.minimum(pos, reference.size - 1)] == r)
        dist[np.flatnonzero(own), pos[own]] = np.inf
        nn = np.argpartition(dist, k - 1, axis=1)[:, :k]
        np.add.at(votes[s:s + r.size], (np.repeat(np.arange(r.size), k),
                                        codes[reference[nn]].ravel()), 1.0)
    return (votes + prior[None, :]) / (k + 1.0)


def confident_joint(codes: np.ndarray, P: np.ndarray) -> np.ndarray:
    """(K, K) counts: label c (row), true class k (column), calibrated to the label counts.

    A row counts for class k when ``P[i, k]`` reaches k's threshold (the mean of ``P[:, k]``
    over rows labelled k), taking the most probable such k; rows reaching none do not count.
    """
    n, K = P.shape
    counts = np.bincount(codes, minlength=K).astype(np.float64)
    thresholds = np.array([P[rows, k].mean() if rows.size else 1.0
                           for k, rows in enumerate(rows_by_group(codes, K))])
    above = P >= thresholds[None, :] - 1e-12
    assigned = np.where(above, P, -1.0).argmax(axis=1)
    confident = above.any(axis=1)
    C = np.bincount(codes[confident] * K + assigned[confident],
                    minlength=K * K).reshape(K, K).astype(np.float64)
    return C / np.maximum(C.sum(axis=1, keepdims=True), 1.0) * counts[:, None]


def prune_by_noise_rate(codes: np.ndarray, P: np.ndarray, C: np.ndarray) -> np.ndarray:
    """Of the rows labelled c, flag the round(C[c, k]) with the largest ``P[:, k] - P[:, c]``
    for each k != c (each row at most once); a row whose argmax is its label is kept."""
    n, K = P.shape
    flagged = np.zeros(n, dtype=bool)
    best = P.argmax(axis=1)
    for c, rows in enumerate(rows_by_group(codes, K)):
        if rows.size <= 1:
            continue
        budget = np.rint(C[c]).astype(np.int64)
        budget[c] = 0
        # Keep at least one row of every label.
        budget = np.minimum(budget, max(rows.size - 1, 0))
        for k in np.flatnonzero(budget):
            margin = P[rows, k] - P[rows, c]
            take = rows[np.argpartition(-margin, budget[k] - 1)[: budget[k]]]
            flagged[take[best[take] == k]] = True
    flagged[best == codes] = False
    return flagged


def wrong_label_posterior(codes: np.ndarray, P: np.ndarray, C: np.ndarray,
                          prior: float = 0.0) -> np.ndarray:
    """P(label wrong | x, label) with the noise rates ``T[c, k] = P(label c | class k)`` from
    the confident joint: ``1 - p_c T[c, c] / sum_k p_k T[c, k]``.

    ``prior`` pseudo-rows are added to every cell of the joint (Laplace's rule of succession
    for each class's column of T). Without it, a pair of classes that no row confidently
    crossed gets the rate 0, and a flip between them gets ``label_wrong`` 0 however clearly
    the model places it in the other class: at 1% flips most pairs are such (wine: 2 flips,
    and the ones that fall just under the class's threshold left the joint diagonal)."""
    C = C + prior
    T = C / np.maximum(C.sum(axis=0, keepdims=True), _TINY)
    joint = P * T[codes]
    own = joint[np.arange(codes.size), codes]
    return 1.0 - own / np.maximum(joint.sum(axis=1), _TINY)


def expected_f1_flags(wrong: np.ndarray) -> np.ndarray:
    """The rows whose flagging maximises the expected F1 against the true flips, given each
    row's probability ``wrong`` of a wrong label: the set is a top set by probability (Lipton,
    Elkan & Naryanaswamy 2014), and for the top m the plug-in F1 is ``2 S_m / (m + W)`` (S_m:
    their summed probabilities, W: the expected number of flips). Its cut sits near F1/2 < 1/2,
    so it keeps the flips whose probability the noisy fit holds just under a half (a minority
    class read through its own flipped rows), and at low noise it cuts off early."""
    total = wrong.sum()
    # Adding a row raises the F1 only if its probability exceeds F1 / 2; the rows above 1/2
    # already reach some F1, so only the rows above half of it need sorting.
    sure = wrong > 0.5
    floor = wrong[sure].sum() / (sure.sum() + total) if total > 0 else 0.0
    candidates = np.flatnonzero(wrong > floor)
    order = candidates[np.argsort(-wrong[candidates], kind="stable")]
    f1 = 2.0 * np.cumsum(wrong[order]) / (np.arange(1, order.size + 1) + total)
    flagged = np.zeros(wrong.size, dtype=bool)
    if order.size:
        flagged[order[: int(f1.argmax()) + 1]] = True
    return flagged


def conformal_label_pvalues(scores: np.ndarray, calibration: np.ndarray) -> np.ndarray:
    """``(1 + #{j in cal, j != i: s_j >= s_i}) / (|cal \\ {i}| + 1)`` for every row i."""
    cal = np.sort(scores[calibration])
    at_least = cal.size - np.searchsorted(cal, scores, side="left")
    own = calibration.astype(np.int64)  # a calibration row does not count itself
    return np.minimum(1.0, (1.0 + at_least - own) / (cal.size - own + 1.0))


def label_evidence(Z: np.ndarray, codes: np.ndarray, n_classes: int, *, shift: np.ndarray,
                   scale: np.ndarray, exclude: np.ndarray,
                   neighbours: np.ndarray | None, estimator: Any,
                   X_estimator: np.ndarray | None, fold: np.ndarray,
                   workers: int | None, noise_prior: float = 0.0,
                   per_class: bool = False) -> LabelEvidence:
    """Out-of-fold probabilities fitted without the ``exclude`` rows (averaged with the
    ``neighbours``' probabilities when given), then the rules above; ``noise_prior``: the
    pseudo-rows per cell of the confident joint behind ``wrong`` (see
    :func:`wrong_label_posterior`); ``per_class``: see :func:`gaussian_probabilities`."""
    if estimator is None:
        P = gaussian_probabilities(Z, codes, n_classes, fold, exclude, workers, shift=shift,
                                   scale=scale, per_class=per_class)
    else:
        P = estimator_probabilities(estimator, X_estimator, codes, n_classes, fold, exclude)
    if neighbours is not None:
        P = 0.5 * (P + neighbours)
    C = confident_joint(codes, P)
    plain = wrong_label_posterior(codes, P, C)
    # The pseudo-rows only add rows to the expected-F1 cut (reported, not set aside): the
    # rows they newly put over 1/2 sit where the model is least sure, and setting them aside
    # too moved a natural digits class past the spectral signature's threshold (measured).
    wrong = wrong_label_posterior(codes, P, C, noise_prior) if noise_prior else plain
    doubted = plain > 0.5
    flagged = prune_by_noise_rate(codes, P, C) | doubted
    scores = 1.0 - P[np.arange(codes.size), codes]
    pvalues = conformal_label_pvalues(scores, ~doubted)
    return LabelEvidence(P, flagged, wrong, doubted, pvalues, C, expected_f1_flags(wrong))


def trusted_label_pvalues(probabilities: np.ndarray, codes: np.ndarray,
                          trusted: np.ndarray) -> np.ndarray:
    """Conformal p-values of "this label is right" calibrated on the ``trusted`` rows alone
    (1 on those rows: they are no hypothesis).

    Exact when the probabilities were computed without knowing which rows are trusted, the
    trusted rows are a random sample of the rows (labels checked) and the flips hit every
    class alike: then, whatever the data, the trusted rows are a uniformly random subset of
    the correctly labelled rows, so
    a correctly labelled untrusted row's score ranks uniformly among the trusted scores
    (ties only make it conservative). The scores are exchangeable rather than independent
    (every row shared the fits); Benjamini-Hochberg on such p-values still holds its rate
    (Marandon, Lei, Mary & Roquain 2024, "Adaptive novelty detection with false discovery
    rate guarantee"; Bates et al. 2023 prove the split case, a score fitted apart)."""
    scores = 1.0 - probabilities[np.arange(codes.size), codes]
    pvalues = conformal_label_pvalues(scores, trusted)
    pvalues[trusted] = 1.0
    return pvalues


def _softmax_inplace(log_post: np.ndarray) -> None:
    log_post -= log_post.max(axis=1, keepdims=True)
    np.exp(log_post, out=log_post)
    log_post /= log_post.sum(axis=1, keepdims=True)
