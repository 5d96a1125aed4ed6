"""The two questions the cell passes answer exactly: scipy's KS extremes of two samples, and
order statistics (the k-th smallest value) of one. See _cells.py for the passes."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from dask.delayed import Delayed

from .. import _core
from . import _cells
from ._cells import (BucketMaps, Cells, Merged, Passes, Zoom, bucket_cells, check_fetched,
                     edge_bounds, fetch_cells, first_cells)
from ._job import Job

# KsStatus codes of the C++ kernel (cpp/include/pipeward/drift.hpp).
OK, NAN_INPUT, EMPTY = 0, 3, 4


@dataclass
class KsExtremes:
    """Per feature what KsMerge::result gives: D+, D-, their locations, sizes, status."""

    dplus: np.ndarray
    dminus: np.ndarray
    loc_plus: np.ndarray
    loc_minus: np.ndarray
    n1: np.ndarray
    n2: np.ndarray
    status: np.ndarray
    nan1: np.ndarray = None  # type: ignore[assignment]
    nan2: np.ndarray = None  # type: ignore[assignment]
    psi_counts2: np.ndarray | None = None  # the second sample's PSI bins, when asked for


def _keys(a: np.ndarray, b: np.ndarray, n1: int, n2: int) -> tuple[np.ndarray, np.ndarray]:
    """Exact integer ECDF-gap keys i n2 - j n1 before and after each cell (Python ints once
    n1 n2 could overflow int64)."""
    dtype = np.int64 if n1 * n2 < 2**61 else object
    step = a.astype(dtype) * n2 - b.astype(dtype) * n1
    after = np.cumsum(step)
    return after - step, after


def _slack(n1: int, n2: int) -> int:
    """Key distance within which two gaps can round to the same double: the gap i/n1 - j/n2
    is off its exact value by < 2^-51, so keys closer than n1 n2 2^-50 may tie (0 while
    n1 n2 < 2^50, where distinct keys never round together)."""
    return 0 if n1 * n2 < 2**50 else (n1 * n2 >> 50) + 1


def ks_extremes(job: Job, parts1: Sequence[Delayed], parts2: Sequence[Delayed], F: int,
                nan_policy: str, psi_edges2: np.ndarray | None = None,
                names: tuple[str, str] = ("data1", "data2")) -> KsExtremes:
    """scipy's D+ / D- and their locations for every feature of two partitioned samples;
    with ``psi_edges2``, also the second sample's PSI bin counts, taken in the same read.

    The first pass is lean: the buckets of the one-machine statistic's maps (up to 65535 a
    feature, counted by its vector sweep), counts only (no per-cell extremes, whose stores
    cost more than the finer cells). Its narrow cells settle most features at once (their
    few open values are fetched next); the others are cut at their cells' edges and go on
    with ordinary passes."""
    passes = Passes(job, [parts1, parts2], [None, psi_edges2])
    sample = passes.sample()
    cells, maps = bucket_cells(sample)
    out = KsExtremes(*(np.full(F, np.nan) for _ in range(4)), np.zeros(F, np.int64),
                     np.zeros(F, np.int64), np.zeros(F, np.int32))
    pending = set(range(F))       # features without a result
    ready: dict[int, tuple] = {}  # features whose open cells are fetched in the next pass
    zooming: dict[int, tuple] = {}  # features whose open buckets are zoomed in the next pass
    zready: dict[int, tuple] = {}   # features whose open zoomed cells are fetched next
    first = True
    level = 0
    while pending:
        counting = [f for f in pending if f not in ready and f not in zooming and f not in zready]
        flags = fetch_cells(cells, {f: r[2] for f, r in ready.items()}) if ready else None
        counted, fetched = passes.run(
            cells, counting, flags, extremes=not first, maps=maps,
            bucket_cells=first and maps is not None,
            zoom_count={f: z[0] for f, z in zooming.items()},
            zoom_fetch={f: (r[0], r[1]) for f, r in zready.items()})
        if first:
            _sizes(counted, out, nan_policy, names)
            out.psi_counts2 = passes.psi_counts[1]
            pending -= {f for f in range(F) if out.status[f] != OK}
        for f, (a, b, open_, tie) in list(ready.items()):
            A, B = fetched[0][f], fetched[1][f]
            check_fetched(A, a.counts, open_)
            check_fetched(B, b.counts, open_)
            _finish(out, f, cells[f], a, b, open_, tie, A, B)
            pending.discard(f)
            del ready[f]
        for f, (zoom, _, view, a, b, open_) in list(zready.items()):
            A, B = passes.zoom_fetched[0][f], passes.zoom_fetched[1][f]
            check_fetched(A, a.counts, open_)
            check_fetched(B, b.counts, open_)
            _finish(out, f, view, a, b, open_, np.zeros_like(open_), A, B)
            pending.discard(f)
            del zready[f]
        for f, (zoom, a1, b1, before) in list(zooming.items()):
            del zooming[f]
            _zoomed_cells(f, zoom, a1, b1, before, passes, cells, maps, out, zready, zooming)
        for f in counting:
            if f not in pending:
                continue
            a, b = counted[0][f], counted[1][f]
            n1, n2 = int(out.n1[f]), int(out.n2[f])
            open_, tie, excluded = _ks_cells(cells[f], a, b, n1, n2)
            cells[f].excluded = excluded
            open_values = int(a.counts[:-1][open_].sum() + b.counts[:-1][open_].sum())
            zoom = (Zoom.fitting(open_, _cells.ZOOM_BITS, 1) if first and maps is not None
                    else None)
            if zoom is not None and open_values <= _cells.ZOOM_OVER:
                # the open buckets' values, fetched by the bucket sweep (all their sub-buckets)
                wanted = np.zeros(zoom.cells, dtype=np.uint8)
                wanted[(zoom.base[:-1][open_][:, None]
                        + np.arange(1 << zoom.bits)).ravel()] = 1
                zready[f] = (zoom, wanted, cells[f], a, b, open_)
            elif zoom is not None:  # bucket cells: split the open ones arithmetically
                zooming[f] = (zoom, a, b, open_values)
            elif open_values <= _cells.FETCH or level + 1 >= _cells.MAX_LEVELS:
                both = a.counts[:-1] + b.counts[:-1]
                open_ = _cells.covering(open_, both, _cells.FETCH) & ~tie  # ties apart
                ready[f] = (a, b, open_, tie)
            else:
                lo, hi = (edge_bounds(cells[f].edges) if a.lo is None
                          else (np.minimum(a.lo, b.lo), np.maximum(a.hi, b.hi)))
                cells[f] = cells[f].refine(a.counts[:-1] + b.counts[:-1], lo, hi, open_)
        first = False
        level += 1
    return out


@dataclass
class _EdgesView:
    """Cells for _finish: only the lower edges of its runs' first cells are ever read."""

    edges: np.ndarray


def _zoomed_cells(f: int, zoom: Zoom, a1: Merged, b1: Merged, before: int, passes: Passes,
                  cells: list[Cells], maps: BucketMaps, out: KsExtremes,
                  zready: dict[int, tuple], zooming: dict[int, tuple]) -> None:
    """After a zoom pass: the cells in order (buckets, the zoomed ones as their sub-buckets),
    the ones that can still hold an extreme, and either a fetch of those (zready); or, where
    too many values remain but the zoom at least halved them (``before``: the open values
    it started from), a deeper zoom of the buckets holding them (zooming: up to ZOOM_BITS
    more bits of their positions, counted against the same bucket counts); or else (heavy ties
    no zoom splits) the same cells with exact edges for ordinary refinement passes."""
    za, zb = passes.zoom_counted[0][f], passes.zoom_counted[1][f]
    a = Merged(zoom.combined(a1.counts, za), None, None)
    b = Merged(zoom.combined(b1.counts, zb), None, None)
    for counted, now in ((a1, a), (b1, b)):
        if int(now.counts.sum()) != int(counted.counts.sum()):
            raise RuntimeError("the data changed between two passes (the zoomed buckets hold "
                               "other values than were counted); is the Dask collection "
                               "deterministic?")
    n_cells = a.counts.size - 1
    zoomed, bucket, sub = zoom.cell_of(np.arange(n_cells))
    excluded = np.where(zoomed >= 0, False, cells[f].excluded[bucket])
    view = Cells(np.zeros(max(n_cells - 1, 1)), excluded)
    n1, n2 = int(out.n1[f]), int(out.n2[f])
    open_, tie, _ = _ks_cells(view, a, b, n1, n2)
    open_values = int(a.counts[:-1][open_].sum() + b.counts[:-1][open_].sum())
    holding = np.zeros(zoom.base.size - 1, dtype=bool)  # buckets holding open cells
    holding[bucket[open_]] = True
    if open_values <= _cells.FETCH and (zoomed[open_] >= 0).all():
        # the lower edges of the open runs' first cells, exactly; the rest are never read
        starts = np.flatnonzero(open_ & ~np.concatenate([[False], open_[:-1]]))
        edges = np.full(max(n_cells - 1, 1), np.nan)
        inner = starts[starts > 0]
        edges[inner - 1] = _core.drift_zoom_edges(
            *maps.args(), zoom.bits, np.full(inner.size, f, dtype=np.int64),
            bucket[inner].astype(np.int64), sub[inner].astype(np.int64))
        # fetched through a zoom of only the buckets holding open cells: the sweep passes
        # over every other value at once
        fetch = Zoom.of(holding, zoom.bits)
        cell = fetch.base[bucket[open_]] + sub[open_]
        wanted = np.zeros(fetch.cells, dtype=np.uint8)
        wanted[cell] = 1
        zready[f] = (fetch, wanted, _EdgesView(edges), a, b, open_)
        return
    deeper = (Zoom.fitting(holding, min(zoom.bits + _cells.ZOOM_BITS, _cells.ZOOM_MAX_BITS),
                           zoom.bits + 1)
              if 2 * open_values <= before else None)
    if deeper is not None:
        # a bucket without open cells cannot hold an extreme: excluded as a whole from here,
        # or the deeper view (its sub-buckets only where buckets hold open cells) would see
        # it as one wide cell again
        cells[f].excluded = cells[f].excluded | ~holding
        zooming[f] = (deeper, a1, b1, open_values)
        return
    # Ordinary cells from here: every edge exact (a zoomed bucket's sub-buckets past the last
    # value, in the last bucket, get +inf and stay empty).
    lower = _core.drift_zoom_edges(*maps.args(), zoom.bits,
                                   np.full(n_cells, f, dtype=np.int64), bucket.astype(np.int64),
                                   np.where(zoomed >= 0, sub, 0).astype(np.int64))
    cells[f] = Cells(lower[1:], excluded)
    lo, hi = edge_bounds(cells[f].edges)
    cells[f] = cells[f].refine(a.counts[:-1] + b.counts[:-1], lo, hi, open_ & ~tie)


def _sizes(counted: list[list[Merged]], out: KsExtremes, nan_policy: str,
           names: tuple[str, str]) -> None:
    """n1, n2 (values that are not NaN) and the status per feature, as the C++ kernel."""
    for name, merged in zip(names, counted):
        if nan_policy == "raise" and any(m.n_nan for m in merged):
            raise ValueError(f"{name} contains NaN (nan_policy='raise')")
    out.nan1 = np.array([m.n_nan for m in counted[0]], dtype=np.int64)
    out.nan2 = np.array([m.n_nan for m in counted[1]], dtype=np.int64)
    for f, (a, b) in enumerate(zip(*counted)):
        if a.n_valid + a.n_nan == 0 or b.n_valid + b.n_nan == 0:
            name = names[0] if a.n_valid + a.n_nan == 0 else names[1]
            raise ValueError(f"{name}: expected at least one sample along axis 0, got none "
                             "(scipy returns NaN here; an empty sample is an error)")
        out.n1[f], out.n2[f] = a.n_valid, b.n_valid
        if (a.n_nan or b.n_nan) and nan_policy == "propagate":
            out.status[f] = NAN_INPUT
        elif a.n_valid == 0 or b.n_valid == 0:
            out.status[f] = EMPTY


def _ks_cells(cells: Cells, a: Merged, b: Merged, n1: int, n2: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(open, tie, excluded) cells: a cell can hold an extreme when its gap bound, all of
    sample 1's values first (or all of sample 2's), reaches the largest (smallest) gap
    attained at a cell end; ``>=`` because an equal gap further left is scipy's location.
    After a lean pass (no extremes) no cell is known to be a run of ties."""
    ca, cb = a.counts[:-1], b.counts[:-1]
    before, after = _keys(ca, cb, n1, n2)
    nonempty = (ca + cb) > 0
    lb_plus, lb_minus = after[nonempty].max(), after[nonempty].min()
    slack = _slack(n1, n2)
    reach = ((before + ca.astype(before.dtype) * n2 >= lb_plus - slack)
             | (before - cb.astype(before.dtype) * n1 <= lb_minus + slack))
    kept = nonempty & ~cells.excluded & reach.astype(bool)
    if a.lo is None:
        tie = np.zeros_like(kept)
    else:
        tie = kept & (np.minimum(a.lo, b.lo) == np.maximum(a.hi, b.hi))
    return kept & ~tie, tie, cells.excluded | (nonempty & ~kept)


def _finish(out: KsExtremes, f: int, cells: Cells, a: Merged, b: Merged, open_: np.ndarray,
            tie: np.ndarray, A: np.ndarray, B: np.ndarray) -> None:
    """scipy's extremes from the fetched values of the open cells (sorted A, B) and the tied
    cells, with the counts below each cell: the gap ``i/n1 - j/n2`` after every run of ties,
    computed as NumPy computes it, the first argmax over sample 1's values before sample 2's."""
    n1, n2 = int(out.n1[f]), int(out.n2[f])
    ca, cb = a.counts[:-1], b.counts[:-1]
    below_a = np.concatenate([[0], np.cumsum(ca)[:-1]])
    below_b = np.concatenate([[0], np.cumsum(cb)[:-1]])
    # Every fetched value lies in a run of open cells; below a run, each sample's count of
    # the values not fetched is one number (the counts of the cells before it, less the
    # open ones). So a value's ECDF ranks are that number plus its rank among the fetched.
    starts = np.flatnonzero(open_ & ~np.concatenate([[False], open_[:-1]]))
    run_lower = np.concatenate([[-np.inf], cells.edges])[starts]  # a run's first cell's edge
    closed_a = below_a[starts] - np.concatenate([[0], np.cumsum(np.where(open_, ca, 0))])[starts]
    closed_b = below_b[starts] - np.concatenate([[0], np.cumsum(np.where(open_, cb, 0))])[starts]

    def gaps(v: np.ndarray, i_open: np.ndarray, j_open: np.ndarray) -> np.ndarray:
        run = np.searchsorted(run_lower, v, side="right") - 1
        i = closed_a[run] + i_open
        j = closed_b[run] + j_open
        return i.astype(np.int64) / n1 - j.astype(np.int64) / n2

    own_a = gaps(A, _ranks_right(A), np.searchsorted(B, A, side="right"))
    own_b = gaps(B, np.searchsorted(A, B, side="right"), _ranks_right(B))

    t = np.flatnonzero(tie)
    tie_v = np.minimum(a.lo, b.lo)[t] if t.size else np.zeros(0)  # a tied cell: one value
    tie_gap = (below_a[t] + ca[t]).astype(np.int64) / n1 - (below_b[t] + cb[t]).astype(np.int64) / n2
    sides = []
    for values, own, tied in ((A, own_a, ca[t] > 0), (B, own_b, cb[t] > 0)):
        v = np.concatenate([values.astype(np.float64), tie_v[tied]])
        g = np.concatenate([own, tie_gap[tied]])
        if g.size == 0:
            sides.append((-np.inf, 0.0, np.inf, 0.0))
            continue
        hi_g, lo_g = g.max(), g.min()
        sides.append((hi_g, v[g == hi_g].min(), lo_g, v[g == lo_g].min()))
    (max_a, lmax_a, min_a, lmin_a), (max_b, lmax_b, min_b, lmin_b) = sides
    if max_a >= max_b:
        out.dplus[f], out.loc_plus[f] = max_a, lmax_a
    else:
        out.dplus[f], out.loc_plus[f] = max_b, lmax_b
    if min_a <= min_b:
        mn, out.loc_minus[f] = min_a, lmin_a
    else:
        mn, out.loc_minus[f] = min_b, lmin_b
    out.dminus[f] = min(max(-mn, 0.0), 1.0)


def _ranks_right(v: np.ndarray) -> np.ndarray:
    """``np.searchsorted(v, v, side="right")`` for sorted v, in one pass: each value's rank is
    the end of its run of equal values."""
    if v.size == 0:
        return np.zeros(0, dtype=np.int64)
    ends = np.flatnonzero(np.concatenate([v[1:] != v[:-1], [True]])) + 1
    return np.repeat(ends, np.diff(np.concatenate([[0], ends])))


def order_statistics(job: Job, parts: Sequence[Delayed], ranks: Sequence[np.ndarray],
                     sample: np.ndarray | None = None, sizes: Sequence[int] | None = None
                     ) -> list[np.ndarray]:
    """The values of 0-based ``ranks[f]`` among feature f's non-NaN values (ascending), as
    ``np.sort(x)[ranks]`` on the concatenated data would give them.

    With ``sizes`` (each feature's number of non-NaN values, when the caller knows it) and a
    ``sample`` of the data, the first pass also fetches the cells around each rank's place in
    the sample when few enough values lie there: the ranks found in them are done in one pass
    instead of two (count, then fetch). A poor sample only costs the usual passes."""
    F = len(ranks)
    passes = Passes(job, [parts])
    if sample is None:
        sample = passes.sample()
    cells = [first_cells(sample[:, f]) for f in range(F)]
    out = [np.full(len(r), np.nan) for r in ranks]
    pending = {f for f in range(F) if len(ranks[f])}
    guessed = {} if sizes is None else _likely_cells(cells, sample, ranks, sizes, pending)
    ready: dict[int, tuple] = {}
    level = 0
    while pending:
        counting = [f for f in pending if f not in ready]
        wanted = {f: r[1] for f, r in ready.items()} | guessed
        flags = fetch_cells(cells, wanted) if wanted else None
        counted, fetched = passes.run(cells, counting, flags)
        for f, (merged, open_, where) in list(ready.items()):
            _pick(out[f], fetched[0][f], merged.counts, open_, where)
            pending.discard(f)
            del ready[f]
        for f in counting:
            merged = counted[0][f]
            r = np.asarray(ranks[f], dtype=np.int64)
            if r.size and (r.min() < 0 or r.max() >= merged.n_valid):
                raise ValueError(f"rank out of range for a feature of {merged.n_valid} values")
            counts = merged.counts[:-1]
            cum = np.cumsum(counts)
            cell_of = np.searchsorted(cum, r, side="right")
            start = cum[cell_of] - counts[cell_of]
            tie = merged.lo[cell_of] == merged.hi[cell_of]
            out[f][tie] = merged.lo[cell_of][tie]
            open_ = np.zeros(counts.size, dtype=bool)
            open_[cell_of[~tie]] = True
            if not open_.any():
                pending.discard(f)
                continue
            where = {k: (int(cell_of[k]), int(r[k] - start[k])) for k in np.flatnonzero(~tie)}
            if f in guessed and not (open_ & ~guessed[f]).any():  # fetched in this pass
                _pick(out[f], fetched[0][f], merged.counts, guessed[f], where)
                pending.discard(f)
                continue
            if counts[open_].sum() <= _cells.FETCH or level + 1 >= _cells.MAX_LEVELS:
                open_ = _cells.covering(open_, counts, _cells.FETCH)
                ready[f] = (merged, open_, where)
            else:
                holding = np.zeros(counts.size, dtype=bool)
                holding[cell_of] = True  # others merge: ranks are counted past them
                cells[f].excluded = ~holding
                cells[f] = cells[f].refine(counts, merged.lo, merged.hi, open_)
        guessed = {}
        level += 1
    return out


def _pick(out: np.ndarray, values: np.ndarray, counts: np.ndarray, open_: np.ndarray,
          where: dict[int, tuple[int, int]]) -> None:
    """Ranks from the fetched (sorted) values of the open cells: ``where[k]`` is rank k's
    cell and its place among that cell's values."""
    check_fetched(values, counts, open_)
    below = np.concatenate([[0], np.cumsum(np.where(open_, counts[:-1], 0))])
    for k, (cell, offset) in where.items():
        out[k] = values[below[cell] + offset]


SPREAD = 6.0  # standard errors of a sample quantile the guessed cells reach either side


def _likely_cells(cells: Sequence[Cells], sample: np.ndarray, ranks: Sequence[np.ndarray],
                  sizes: Sequence[int], features: set[int]) -> dict[int, np.ndarray]:
    """Per feature, the cells that likely hold its ranks: the sample's quantiles at the
    ranks' fractions, SPREAD standard errors (sqrt(p (1 - p) / m)) wide either side; only
    where the values expected in them fit half the fetch budget (the guess can be short)."""
    out = {}
    for f in features:
        s = np.sort(sample[:, f][~np.isnan(sample[:, f])])
        m, n = s.size, int(sizes[f])
        if m == 0 or n == 0:
            continue
        p = np.asarray(ranks[f], dtype=np.float64) / max(n - 1, 1)
        margin = SPREAD * np.sqrt(p * (1.0 - p) / m) + 2.0 / m
        lo = int(np.clip(np.floor((p - margin).min() * (m - 1)), 0, m - 1))
        hi = int(np.clip(np.ceil((p + margin).max() * (m - 1)), 0, m - 1))
        edges = cells[f].edges
        first, last = np.searchsorted(edges, [s[lo], s[hi]], side="right")
        # sample values in cells first..last: those in [edges[first - 1], edges[last])
        inside = ((np.searchsorted(s, edges[last], side="left") if last < edges.size else m)
                  - (np.searchsorted(s, edges[first - 1], side="left") if first > 0 else 0))
        if inside / m * n > _cells.FETCH / 2:
            continue
        open_ = np.zeros(edges.size + 1, dtype=bool)
        open_[first:last + 1] = True
        out[f] = open_
    return out
