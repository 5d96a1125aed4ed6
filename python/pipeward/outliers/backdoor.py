"""Backdoor evidence for :func:`pipeward.screen`: tabular triggers and spectral signatures.

A tabular backdoor sets a few features to fixed unusual values on a small share of rows and
gives them the attacker's target label. Three things give it away, and all three are asked:

1. **a value spike**: on each trigger feature, the poisoned rows pile up in a narrow window
   (three bins of 0.1 robust standard deviations) that holds far more rows than the
   feature's density around it (the mean of the bins 3-12 widths away on either side)
   predicts; the rows within one more bin either side belong to the spike (jitter);
2. **one label**: at least 90% of the rows in the window carry the same label;
3. **the label rests on the trigger alone**: refitted out of fold *without* the spike
   features, the rows' own label is no longer the most likely for at least a quarter of them
   (the rows were taken from other classes). A natural class-pure cluster (a zero that only
   one class shows) keeps its label without the feature and is left alone.

Per label, the features on which enough rows of that label sit in spikes are a candidate
trigger, and its rows are those in spikes on at least half of them; the trigger features are
reported.

A trigger on fewer rows than a spike needs (2 poisoned rows of a 180-row set) shows no spike,
but its rows *coincide*: they share the same unusual values (robust |z| >= 3) on several
features and carry one label. Each feature's chance that two random rows share an unusual
value, ``c_j``, is counted from the data itself; if features were independent, the expected
number of same-label pairs sharing unusual values on at least f features is at most
``sum_k C(n_k, 2) e_f(c)`` (``e_f``: the f-th elementary symmetric polynomial of the
``c_j``, a union bound over the sets of f features). Pairs rarer than that at level
COINCIDENCE_LEVEL are joined into groups, and a group is a trigger when it passes the same
relabelling check (3.) as a spike. One shared feature is never enough on small data (the
pair's own coincidence puts ``c_j`` at 1/C(n, 2) or more); correlated features that are
unusual together (the largest tumours on radius, perimeter and area) break the independence,
so features correlated at |r| >= 0.8 among the other rows count once; and the relabelling
check keeps out natural groups, which keep their label without the features.
A trigger on one feature is asked a narrower question, among the rows of a label that lose
it once that feature is left out (:func:`_single_feature_triggers`). Both run on small data
only (SMALL_SEARCH_ROWS): above it a trigger on 0.5% of the rows is large enough for a spike.

Image-like backdoors that change many features a little are what the spectral signature
(Tran, Li & Madry 2018) is for: per class, the squared projection of the whitened, centred
rows on the top singular direction; within each class,
rows whose projection has a robust z-score beyond ``spectral_z`` are flagged when they are
at least as many as a trigger needs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .labels import for_row_blocks, group_comoment, rows_by_group

BIN_WIDTH = 0.1  # robust standard deviations
MAX_BINS = 400  # bins either side of the median (values beyond are clipped: +-40 sds)
SPIKE_RATIO = 8.0  # window count over the count the surrounding density predicts
PURITY = 0.9
MIN_RELABELLED = 0.25
BIN_ROWS = 4096  # rows binned per block
UNUSUAL_Z = 3.0  # a value this many robust sds from the median is unusual
COINCIDENCE_LEVEL = 0.01  # expected number of chance same-label coincidences allowed
CORRELATED = 0.8  # features correlated this much count as one piece of coincidence evidence
# Up to this many rows the coincidence search runs (it pairs rows, and the one-feature step
# refits the model once per feature); above, a trigger on 0.5% of the rows is 10 rows or
# more, which the spike search finds.
SMALL_SEARCH_ROWS = 2_000


@dataclass(frozen=True)
class Trigger:
    """A detected tabular trigger: its features (column indices), label code and rows."""

    features: tuple[int, ...]
    label: int
    rows: np.ndarray


ROBUST_SAMPLE = 100_000  # median and MAD from at most this many evenly spaced values


def robust_z(u: np.ndarray) -> np.ndarray:
    """(u - median) / (1.4826 MAD), the standard deviation standing in when MAD is 0; on
    long inputs the median and MAD come from an evenly spaced subsample."""
    med, mad = robust_centre_spread(u[:, None])
    return (u - med[0]) / mad[0]


def robust_centre_spread(A: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per column of A: the median and 1.4826 MAD (the standard deviation when MAD is 0) of
    an evenly spaced subsample of at most ROBUST_SAMPLE rows."""
    V = A[:: max(1, A.shape[0] // ROBUST_SAMPLE)]
    med = np.median(V, axis=0)
    mad = 1.4826 * np.median(np.abs(V - med), axis=0)
    for j in np.flatnonzero(mad <= 0):
        mad[j] = float(np.std(V[:, j])) or 1.0
    return med, mad


def cluster_rows(n: int, share: float) -> int:
    """The fewest rows a backdoor cluster needs: ``share`` of the rows, and at least 5."""
    return max(5, int(np.ceil(share * n)))


def value_bins(A: np.ndarray, med: np.ndarray, mad: np.ndarray) -> np.ndarray:
    """The bin (0 .. 2 MAX_BINS) of every value: BIN_WIDTH robust sds, clipped at the ends."""
    bins = np.clip(np.floor((A - med) / mad / BIN_WIDTH), -MAX_BINS, MAX_BINS)
    return bins.astype(np.int64) + MAX_BINS


def binned_counts(Z: np.ndarray, med: np.ndarray, mad: np.ndarray) -> np.ndarray:
    """(d, 2 MAX_BINS + 1) value counts per column, a block of rows at a time (one pass over
    Z instead of one per column)."""
    d = Z.shape[1]
    width = 2 * MAX_BINS + 1
    offsets = np.arange(d) * width
    counts = np.zeros(d * width, dtype=np.int64)
    for s in range(0, Z.shape[0], BIN_ROWS):
        counts += np.bincount((value_bins(Z[s:s + BIN_ROWS], med, mad) + offsets).ravel(),
                              minlength=d * width)
    return counts.reshape(d, width)


def value_spikes(x: np.ndarray, med: float, mad: float, counts: np.ndarray,
                 codes: np.ndarray, n_classes: int, min_rows: int,
                 max_rows: int) -> np.ndarray:
    """Bool mask of the rows of one feature that sit in a label-pure value spike, given the
    feature's robust centre and spread and its ``binned_counts``."""
    counts = counts.astype(np.float64)
    width = counts.size
    window = np.convolve(counts, np.ones(3), mode="same")
    # The density around a bin: the mean count of the bins 3..12 away on both sides.
    ring = np.zeros(25)
    ring[:10], ring[-10:] = 1.0, 1.0
    expected = 3.0 * np.convolve(counts, ring / 20.0, mode="same")
    candidates = np.flatnonzero((window >= min_rows) & (window <= max_rows)
                                & (window >= SPIKE_RATIO * np.maximum(expected, 0.5)))
    if candidates.size == 0:
        return np.zeros(x.size, dtype=bool)
    bins = value_bins(x, med, mad)
    by_class = np.bincount(bins * n_classes + codes, minlength=width * n_classes)
    by_class = by_class.reshape(width, n_classes).astype(np.float64)
    by_class_window = by_class[candidates] + by_class[np.maximum(candidates - 1, 0)] \
        + by_class[np.minimum(candidates + 1, width - 1)]
    label = by_class_window.argmax(axis=1)
    pure = by_class_window[np.arange(candidates.size), label] >= PURITY * window[candidates]
    spike_label = np.full(width, -1)
    for centre, lab in zip(candidates[pure], label[pure]):
        spike_label[max(centre - 2, 0):centre + 3] = lab
    return spike_label[bins] == codes


def find_triggers(Z: np.ndarray, codes: np.ndarray, n_classes: int, *, min_share: float,
                  max_share: float,
                  relabel: Callable[[np.ndarray], np.ndarray]) -> list[Trigger]:
    """The tabular triggers in Z (see the module docstring).

    ``relabel(columns)`` returns, per row, whether its label is still the most likely class
    under the out-of-fold model refitted on Z without ``columns``."""
    n, d = Z.shape
    min_rows = cluster_rows(n, min_share)
    max_rows = max(min_rows, int(max_share * n))
    spikes: dict[int, np.ndarray] = {}  # column -> its rows in a spike (most have none)
    med, mad = robust_centre_spread(Z)
    counts = binned_counts(Z, med, mad)
    for j in range(d):
        rows = np.flatnonzero(value_spikes(Z[:, j], med[j], mad[j], counts[j], codes,
                                           n_classes, min_rows, max_rows))
        if rows.size:
            spikes[j] = rows
    # per_label[k, j]: rows labelled k in a spike of column j
    per_label = np.zeros((n_classes, d), dtype=np.int64)
    for j, rows in spikes.items():
        per_label[:, j] = np.bincount(codes[rows], minlength=n_classes)
    triggers = []
    for label in range(n_classes):
        columns = np.flatnonzero(per_label[label] >= min_rows)
        if columns.size == 0:
            continue
        own = np.zeros((n, columns.size), dtype=bool)  # row labelled `label`, in a spike
        for c, j in enumerate(columns):
            own[spikes[j], c] = True
        own &= (codes == label)[:, None]
        # The trigger's rows sit in spikes on at least half of its features.
        rows = np.flatnonzero(2 * own.sum(axis=1) >= columns.size)
        rows = rows[own[rows].any(axis=1)]
        if rows.size < min_rows:
            continue
        kept = relabel(columns)[rows]
        if 1.0 - kept.mean() >= MIN_RELABELLED:
            triggers.append(Trigger(tuple(int(f) for f in columns), label, rows))
    if n <= SMALL_SEARCH_ROWS:
        taken = np.zeros(n, dtype=bool)
        for t in triggers:
            taken[t.rows] = True
        triggers += coincident_triggers(Z, codes, n_classes, med, mad, taken, relabel)
    return triggers


def coincidence_rates(bins: np.ndarray, unusual: np.ndarray) -> np.ndarray:
    """Per column, the share of row pairs that are both unusual and within two bins of each
    other: the chance that two random rows share an unusual value there."""
    n, d = bins.shape
    rates = np.zeros(d)
    for j in np.flatnonzero(unusual.sum(axis=0) >= 2):
        b = np.sort(bins[unusual[:, j], j])
        later_within = np.searchsorted(b, b + 2, side="right") - np.arange(1, b.size + 1)
        rates[j] = later_within.sum() / (n * (n - 1) / 2.0)
    return rates


def elementary_symmetric(c: np.ndarray) -> np.ndarray:
    """e_0 .. e_d of the values c: e_f is the sum over the f-subsets of their products."""
    e = np.zeros(c.size + 1)
    e[0] = 1.0
    for value in c:
        e[1:] = e[1:] + value * e[:-1]
    return e


def coincident_triggers(Z: np.ndarray, codes: np.ndarray, n_classes: int, med: np.ndarray,
                        mad: np.ndarray, taken: np.ndarray,
                        relabel: Callable[[np.ndarray], np.ndarray]) -> list[Trigger]:
    """Triggers too small for a spike: groups of rows of one label that share unusual values
    on more features than chance allows (see the module docstring); ``taken`` rows are
    already in a trigger."""
    n, d = Z.shape
    bins = value_bins(Z, med, mad)
    unusual = np.abs(Z - med) >= UNUSUAL_Z * mad
    per_label = np.bincount(codes, minlength=n_classes).astype(np.float64)
    same_label_pairs = float((per_label * (per_label - 1.0) / 2.0).sum())
    expected = same_label_pairs * elementary_symmetric(coincidence_rates(bins, unusual))
    rare_enough = np.flatnonzero(expected[1:] <= COINCIDENCE_LEVEL)
    f_min = int(rare_enough[0]) + 1 if rare_enough.size else d + 1
    triggers: list[Trigger] = []
    for label in range(n_classes if f_min <= d else 0):
        rows = np.flatnonzero((codes == label) & ~taken & (unusual.sum(axis=1) >= f_min))
        if rows.size < 2:
            continue
        U, B = unusual[rows], bins[rows]
        # counts[a, b]: the features on which rows a and b share an unusual value
        counts = np.zeros((rows.size, rows.size), dtype=np.int32)
        for j in np.flatnonzero(U.sum(axis=0) >= 2):
            counts += _shares(U[:, j], B[:, j])
        linked = counts >= f_min
        np.fill_diagonal(linked, False)
        for group in _components(linked):
            members = rows[group]
            # the trigger's features: those shared by at least half of the group's links
            links = np.argwhere(np.triu(linked[np.ix_(group, group)]))
            votes = np.array([_shares(U[group, j], B[group, j])[links[:, 0], links[:, 1]].sum()
                              for j in range(d)])
            features = np.flatnonzero(2 * votes >= links.shape[0])
            others = np.ones(n, dtype=bool)
            others[members] = False
            if _independent_features(Z[others][:, features]) < f_min:
                continue
            kept = relabel(features)[members]
            if 1.0 - kept.mean() >= MIN_RELABELLED:
                triggers.append(Trigger(tuple(int(f) for f in features), label, members))
    if f_min > 1:
        taken = taken.copy()
        for t in triggers:
            taken[t.rows] = True
        triggers += _single_feature_triggers(bins, unusual, codes, n_classes, taken, relabel)
    return triggers


def _independent_features(A: np.ndarray) -> int:
    """How many columns of A count as separate evidence: taken in order, a column correlated
    at |r| >= CORRELATED with one already counted is the same evidence again (radius,
    perimeter and area of a tumour are one coincidence, not three). A is the other rows, so
    the group's own extreme values do not create the correlation."""
    if A.shape[1] <= 1:
        return A.shape[1]
    with np.errstate(invalid="ignore", divide="ignore"):
        r = np.abs(np.nan_to_num(np.corrcoef(A, rowvar=False)))
    counted: list[int] = []
    for j in range(A.shape[1]):
        if all(r[j, i] < CORRELATED for i in counted):
            counted.append(j)
    return len(counted)


def _single_feature_triggers(bins: np.ndarray, unusual: np.ndarray, codes: np.ndarray,
                             n_classes: int, taken: np.ndarray,
                             relabel: Callable[[np.ndarray], np.ndarray]) -> list[Trigger]:
    """Pairs of rows that share an unusual value on one feature, among the rows of one label
    that lose that label once the feature is left out (a few per feature on clean data). The
    expected number of such pairs by chance is ``sum_j c_j sum_k C(L_kj, 2)`` (L_kj: rows of
    label k relabelled without feature j); when it is at most COINCIDENCE_LEVEL, every such
    pair (and the rows linked to it) is a trigger, reported with every feature its rows
    share an unusual value on."""
    rates = coincidence_rates(bins, unusual)
    lost, expected = {}, 0.0
    for j in np.flatnonzero(rates > 0):
        lost[j] = ~relabel(np.array([j])) & ~taken
        per_label = np.bincount(codes[lost[j]], minlength=n_classes).astype(np.float64)
        expected += rates[j] * float((per_label * (per_label - 1.0) / 2.0).sum())
    if expected > COINCIDENCE_LEVEL:
        return []
    triggers = []
    used = taken.copy()  # a group found on one feature is not found again on another
    for j, rows_lost in lost.items():
        for label in range(n_classes):
            rows = np.flatnonzero(rows_lost & unusual[:, j] & (codes == label) & ~used)
            if rows.size < 2:
                continue
            linked = _shares(np.ones(rows.size, dtype=bool), bins[rows, j])
            np.fill_diagonal(linked, False)
            for group in _components(linked):
                # reported: every feature on which the rows share an unusual value (j and
                # the features correlated with it that the trigger set too)
                b = bins[rows[group]]
                shared = unusual[rows[group]].all(axis=0) & (b.max(axis=0) - b.min(axis=0) <= 2)
                triggers.append(Trigger(tuple(int(f) for f in np.flatnonzero(shared)), label,
                                        rows[group]))
                used[rows[group]] = True
    return triggers


def _shares(unusual: np.ndarray, bins: np.ndarray) -> np.ndarray:
    """(m, m) bool: rows a and b are both unusual on the column and within two bins."""
    return unusual[:, None] & unusual[None, :] & (np.abs(bins[:, None] - bins[None, :]) <= 2)


def _components(linked: np.ndarray) -> list[np.ndarray]:
    """The connected components with two or more members of a symmetric adjacency matrix
    (each member takes the least index it reaches)."""
    m = linked.shape[0]
    comp = np.arange(m)
    while True:
        reach = np.where(linked, comp[None, :], m).min(axis=1)
        new = np.minimum(comp, reach)
        if np.array_equal(new, comp):
            break
        comp = new
    return [np.flatnonzero(comp == c) for c in np.unique(comp[linked.any(axis=1)])]


def spectral_signatures(Z: np.ndarray, centre: np.ndarray, factor: np.ndarray,
                        codes: np.ndarray, z_min: float, min_rows: int,
                        workers: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(squared projection on the class's top singular direction, flagged) per row, in the
    whitened space ``w = (z - centre) @ factor``; a class flags its rows only when at least
    ``min_rows`` pass (a cluster, not a few stragglers, which the outlier test covers).

    The whitened rows are never formed: with the class's comoment M2 and mean, the scatter
    about any centre m is ``F^T M2 F + n (w_mean - m)(w_mean - m)^T``, and the projections
    come from one blocked pass over Z."""
    n_classes = int(codes.max()) + 1
    directions = np.zeros((Z.shape[1], n_classes))  # factor @ v per class
    offsets = np.zeros(n_classes)  # m . v per class
    by_class = rows_by_group(codes, n_classes)
    for label, rows in enumerate(by_class):
        if rows.size < 3:
            continue
        count, mean, m2 = group_comoment(Z, rows, workers)
        # The centre: the median of an evenly spaced sample (robust to the poisoned cluster).
        sample = (Z[rows[:: max(1, rows.size // 10_000)]] - centre) @ factor
        m = np.median(sample, axis=0)
        gap = (mean - centre) @ factor - m
        # The top right singular vector of the centred rows: the scatter's top eigenvector.
        _, V = np.linalg.eigh(factor.T @ m2 @ factor + count * np.outer(gap, gap))
        directions[:, label] = factor @ V[:, -1]
        offsets[label] = m @ V[:, -1]
    proj = np.zeros(codes.size)

    def work(s: int, e: int) -> None:
        c = codes[s:e]
        proj[s:e] = ((Z[s:e] - centre) @ directions)[np.arange(e - s), c] - offsets[c]

    for_row_blocks(codes.size, work, workers)
    flagged = np.zeros(codes.size, dtype=bool)
    for rows in by_class:
        if rows.size < 3:
            continue
        # The direction's sign is arbitrary; a poisoned cluster sits at one end of it.
        far = np.abs(robust_z(proj[rows])) > z_min
        if far.sum() >= min_rows:
            flagged[rows] = far
    return proj**2, flagged
