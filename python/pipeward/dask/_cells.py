"""Exact order statistics of data spread over many partitions, by refining value cells.

Each feature's real line is cut into cells at sorted edges. One pass counts, per partition,
the values in every cell and their smallest and largest (``_core.drift_cell_counts``); the
counts merge exactly on the workers. The client then knows, for every cell, how many values
of each sample lie below it, so a cell can only matter if the answer can lie inside it: for
the KS statistic, a cell whose ECDF gap bound reaches the best gap already attained at a cell
end; for a quantile, the cell holding the wanted rank. Cells whose values are all equal are
settled (one run of ties); the others are cut again (more passes) until few enough values
remain, and those are fetched (``_core.drift_cell_values``) and finished on the client
exactly as scipy / NumPy would on the concatenated data. Cells found not to matter are merged
and never looked at again, so each pass costs one read of the data and moves
O(features x cells) bytes, not O(rows).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from dask.delayed import Delayed, delayed

from .. import _core
from ._job import Job, tree

CELLS = 4096          # new cells per feature per refinement pass
LEAN_SPLIT = 8        # a lean first pass counts each first cell cut in this many (no extremes)
BUCKET_CELLS = 1 << 21  # KS's first pass: bucket cells of all features together, at most
MIN_BUCKETS = 4096    # ... and of each feature, at least
REFINE_SPLIT = 16     # pieces per open cell a refinement cuts, where CELLS in all are fewer
ZOOM_BITS = 3         # a zoom splits each open bucket in 2^ZOOM_BITS (drift_zoom_pass) ...
ZOOM_MAX_BITS = 12    # ... (fewer where that would pass ZOOM_CELLS) and again in ZOOM_BITS more
                      # each time, up to this many
ZOOM_CELLS = 1 << 18  # zoomed cells of one feature, at most (else cells are refined)
ZOOM_OVER = 1 << 16   # open values after the bucket pass above which they are zoomed, not fetched
FETCH = 1 << 19       # open values per feature (both samples) fetched to finish exactly
FETCH_RUNS = 8        # runs of cells a fetch is narrowed to, where the budget allows
MAX_LEVELS = 16       # refinement passes at most; then whatever is open is fetched
SAMPLE_PARTS = 16     # partitions read to place the first cells
SAMPLE_ROWS = 16384   # rows read from them in all, per sample
_DBL_MAX = float(np.finfo(np.float64).max)


# --- tasks run on the workers -----------------------------------------------------------

def _fingerprint(block: np.ndarray) -> int:
    """The sum of the block's 64-bit words (mod 2^64): the same in every pass unless the data
    changed. Row order aside (no answer here depends on it, and a shuffled collection may
    return a partition's rows in another order each time): a word never straddles two rows,
    which with float32 needs an even row length; odd ones sum each value's 32 bits instead,
    at five times the cost (the cast)."""
    x = np.ascontiguousarray(block)
    if x.itemsize * (x.shape[-1] if x.ndim > 1 else 1) % 8 == 0:
        return int(x.view(np.uint64).sum(dtype=np.uint64))
    return int(x.view(np.uint32).sum(dtype=np.uint64))


def _add(a: int, b: int) -> int:
    return (a + b) & 0xFFFF_FFFF_FFFF_FFFF


def _cell_pass(block: np.ndarray, edges: np.ndarray | None, psi_edges: np.ndarray | None,
               features: np.ndarray | None, extremes: bool, fetch_edges: np.ndarray | None,
               wanted: np.ndarray | None, maps: tuple | None = None,
               bucket_cell: np.ndarray | None = None, zoom_count: tuple | None = None,
               zoom_fetch: tuple | None = None) -> tuple:
    """Everything one pass asks of a partition, in one task: (fingerprint, counts or None,
    values or None). One task per partition means each block is read and dropped at once; a
    block wanted by two tasks of the pass (count, fetch) waited in worker memory for the
    second, so memory grew with the partition count. ``maps`` (BucketMaps.args of the
    counted features): without edges the cells are the maps' buckets, counted by the bucket
    sweep; with edges and ``bucket_cell`` (bucket_shortcuts), values of settled buckets are
    counted without a search."""
    counted = (None if edges is None and maps is None
               else _cell_counts(block, edges, psi_edges, features, extremes, maps,
                                 bucket_cell))
    fetched = (None if fetch_edges is None
               else _core.drift_cell_values(block.T, fetch_edges, wanted))
    zoom_counted = None if zoom_count is None else _zoomed(block, *zoom_count)
    zoom_fetched = None if zoom_fetch is None else _zoomed(block, *zoom_fetch)
    return _fingerprint(block), counted, fetched, zoom_counted, zoom_fetched


def _zoomed(block: np.ndarray, maps: tuple, groups: tuple, fetch: bool) -> Any:
    """Zoomed cells of some features (drift_zoom_pass), one sweep per zoom depth among them
    (``groups``: (bits, features, base, cells, wanted); base and wanted have a row for every
    feature of the block, -1 / 0 for the others, which the sweep passes over without a
    copy): their counts in feature order (int32, rows padded to the widest), or with
    ``fetch`` the values of their wanted cells (values, sizes) in feature order."""
    rows: dict[int, np.ndarray] = {}
    for bits, features, base, cells, wanted in groups:
        counts, values, sizes = _core.drift_zoom_pass(block.T, *maps, base, bits, cells,
                                                      count=not fetch, wanted=wanted)
        got = counts if not fetch else np.split(values, np.cumsum(sizes)[:-1])
        rows.update((int(f), got[f]) for f in features)
    order = sorted(rows)
    if fetch:
        return (np.concatenate([rows[f] for f in order]),
                np.array([rows[f].size for f in order], dtype=np.int64))
    out = np.zeros((len(order), max(r.size for r in rows.values())), dtype=np.int32)
    for i, f in enumerate(order):
        out[i, : rows[f].size] = rows[f]
    return out


def _cell_counts(block: np.ndarray, edges: np.ndarray | None, psi_edges: np.ndarray | None,
                 features: np.ndarray | None, extremes: bool, maps: tuple | None = None,
                 bucket_cell: np.ndarray | None = None) -> tuple:
    # One thread per task: Dask's worker threads are the parallelism. ``features``: the
    # columns still counted (edges has a row for each). Without extremes (a lean pass) lo
    # and hi are None; with ``psi_edges`` the PSI bin counts ride along (DriftMonitor.check:
    # one read of the window fewer).
    x = block.T if features is None else np.ascontiguousarray(block[:, features].T)
    if maps is not None and edges is None:  # bucket cells: every feature, counts only
        counts, lo, hi = _core.drift_bucket_counts(x, *maps), None, None
    elif maps is not None:
        counts, lo, hi = (*_core.drift_cell_counts_by_bucket(x, edges, *maps, bucket_cell,
                                                             extremes=extremes),
                          None, None)[:3]
    else:
        counts, lo, hi = (*_core.drift_cell_counts(x, edges, 1, extremes=extremes),
                          None, None)[:3]
    psi = None if psi_edges is None else _core.drift_psi_counts(block.T, psi_edges, 1)
    return _compact(counts), lo, hi, psi


def _compact(counts: np.ndarray) -> np.ndarray:
    """The count table in int32 where no count can reach 2^31 (a row of it, one feature's
    cells and NaN, sums to the partitions' rows): half the bytes to move and merge."""
    if counts.dtype == np.int32:  # a partition's bucket counts come as int32 already
        return counts
    if counts.shape[1] == 0 or int(counts.sum(axis=1).max(initial=0)) < 2**31:
        return counts.astype(np.int32)
    return counts


def _merge_pass(parts: list[tuple]) -> tuple:
    fp = 0
    for part in parts:
        fp = _add(fp, part[0])
    counted = None if parts[0][1] is None else _merge_counts([p[1] for p in parts])
    fetched = None if parts[0][2] is None else _merge_values([p[2] for p in parts])
    zoom_counted = (None if parts[0][3] is None
                    else _merge_counts([(p[3], None, None, None) for p in parts])[0])
    zoom_fetched = None if parts[0][4] is None else _merge_values([p[4] for p in parts])
    return fp, counted, fetched, zoom_counted, zoom_fetched


def _merge_counts(parts: list[tuple]) -> tuple:
    counts = parts[0][0].astype(np.int64)  # summed exactly, then compacted again if it fits
    lo, hi, psi = (None if p is None else p.copy() for p in parts[0][1:])
    for c, l, h, q in (p for p in parts[1:]):
        counts += c
        if lo is not None:
            np.minimum(lo, l, out=lo)
            np.maximum(hi, h, out=hi)
        if psi is not None:
            psi += q
    return _compact(counts), lo, hi, psi


def _merge_values(parts: list[tuple]) -> tuple:
    F = parts[0][1].shape[0]
    pieces = [np.split(v, np.cumsum(s)[:-1]) for v, s in parts]
    per_feature = [np.concatenate([p[f] for p in pieces]) for f in range(F)]
    sizes = np.array([a.size for a in per_feature], dtype=np.int64)
    return np.concatenate(per_feature), sizes


def _sorted_split(values: np.ndarray, sizes: np.ndarray) -> list[np.ndarray]:
    """Fetched values (concatenated, how many each feature gave), sorted per feature."""
    return [np.sort(v) for v in np.split(values, np.cumsum(sizes)[:-1])]


def _strided_rows(block: np.ndarray, rows: int) -> np.ndarray:
    step = max(1, block.shape[0] // rows)
    return np.asarray(block[::step][:rows], dtype=np.float64)


def _stack(parts: list[np.ndarray]) -> np.ndarray:
    return np.concatenate(parts, axis=0)


def sampled_partitions(n_parts: int) -> tuple[np.ndarray, int]:
    """The partitions a sample reads (up to SAMPLE_PARTS, evenly spaced) and the rows it
    takes from each (SAMPLE_ROWS in all)."""
    idx = np.unique(np.linspace(0, n_parts - 1, min(SAMPLE_PARTS, n_parts)).astype(int))
    return idx, max(1, SAMPLE_ROWS // idx.size)


def strided_sample(parts: Sequence[Delayed]) -> list[Delayed]:
    """Tasks that take evenly spaced rows from the sampled partitions (float64; stack them
    with ``_stack``)."""
    idx, rows = sampled_partitions(len(parts))
    return [delayed(_strided_rows, pure=True)(parts[i], rows) for i in idx]


# --- the cells of one feature, kept on the client ---------------------------------------

@dataclass
class Cells:
    """A feature's edges and, per cell, whether it was shown not to matter (``excluded``)."""

    edges: np.ndarray
    excluded: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.edges.size == 0:
            self.edges = np.zeros(1)  # at least one edge keeps the padding rule simple
        if self.excluded is None:
            self.excluded = np.zeros(self.edges.size + 1, dtype=bool)

    def refine(self, counts: np.ndarray, lo: np.ndarray, hi: np.ndarray, open_: np.ndarray
               ) -> Cells:
        """New cells: the open cells cut into about CELLS pieces in all (REFINE_SPLIT per open
        cell where that is more), in proportion to their counts (at least two each), and runs
        of excluded or empty cells merged."""
        dead = self.excluded | (counts == 0)
        cells = np.flatnonzero(open_)
        total = max(CELLS, REFINE_SPLIT * cells.size)
        pieces = np.maximum(2, np.ceil(total * counts[cells] / max(int(counts[cells].sum()), 1)))
        # Drop the edges between two dead cells (edge k lies between cells k and k + 1).
        keep = ~(dead[:-1] & dead[1:])
        edges = np.unique(np.concatenate([self.edges[keep],
                                          _cuts(lo[cells], hi[cells], pieces.astype(np.int64))]))
        lower = np.concatenate([[-np.inf], edges])  # each new cell's lower edge
        old = np.searchsorted(self.edges, lower, side="right")
        return Cells(edges, dead[old])


def _cuts(lo: np.ndarray, hi: np.ndarray, pieces: np.ndarray) -> np.ndarray:
    """Edges that cut each cell's values [lo, hi] (lo < hi) into ``pieces`` equal-width
    cells. Every cell gets at least one edge in (lo, hi]: where the cut points round onto
    lo or hi (neighbouring floats), hi itself; -DBL_MAX and +inf isolate infinities."""
    a, b = np.maximum(lo, -_DBL_MAX), np.minimum(hi, _DBL_MAX)
    owner = np.repeat(np.arange(lo.size), pieces - 1)
    first = np.repeat(np.cumsum(pieces - 1) - (pieces - 1), pieces - 1)
    t = (np.arange(owner.size) - first + 1) / pieces[owner]
    inner = a[owner] * (1.0 - t) + b[owner] * t  # no b - a: it can overflow
    good = (inner > a[owner]) & (inner < b[owner])
    lonely = np.ones(lo.size, dtype=bool)
    lonely[owner[good]] = False
    return np.concatenate([inner[good], b[lonely], a[lo < a], hi[hi > b]])


def first_cells(sample: np.ndarray, split: int = 1) -> Cells:
    """Cells of about equal mass from a sample of the feature (only speed depends on it),
    each cut into ``split`` equal-width pieces (more cells than the sample can place)."""
    finite = np.sort(sample[np.isfinite(sample)])
    if finite.size == 0:
        return Cells(np.zeros(1))
    q = np.linspace(0.0, 1.0, min(CELLS, finite.size) + 1)[1:-1]
    edges = np.unique(np.concatenate([finite[(q * (finite.size - 1)).astype(np.int64)],
                                      finite[[0, -1]]]))
    if split > 1 and edges.size > 1:
        pieces = np.full(edges.size - 1, split, dtype=np.int64)
        edges = np.unique(np.concatenate([edges, _cuts(edges[:-1], edges[1:], pieces)]))
    return Cells(edges)


@dataclass(frozen=True)
class BucketMaps:
    """Per feature, the bucketed KS statistic's top-level bucket map (equal width in the value
    or in an order-preserving log of it), fitted to a sample: its buckets are cells whose
    edges ``_core.drift_bucket_edges`` gives exactly, counted by the statistic's vector sweep
    (``_core.drift_bucket_counts``) at a fraction of the cell search's cost."""

    lo: np.ndarray
    scale: np.ndarray
    eps_bits: np.ndarray
    buckets: int
    edges: np.ndarray  # (F, buckets - 1): the buckets as cells

    def args(self, features: Sequence[int] | None = None) -> tuple:
        """(lo, scale, eps_bits, buckets) of these features (default: all), for the kernels."""
        if features is None:
            return self.lo, self.scale, self.eps_bits, self.buckets
        idx = np.asarray(features, dtype=np.intp)
        return self.lo[idx], self.scale[idx], self.eps_bits[idx], self.buckets


def bucket_shortcuts(maps: BucketMaps, f: int, cells: Cells, m: int) -> np.ndarray:
    """Feature f's (buckets + 1, 2) table for drift_cell_counts_by_bucket, its cells padded to
    m edges (_padded): per bucket the first and last cell its values can lie in, or {cell, -1}
    for a bucket inside one excluded cell (no search, no extremes wanted); the NaN bucket
    {m + 1, -1}. Cells that refine the buckets put a bucket's values among a few edges."""
    top = maps.edges[f]
    edges, m_f = cells.edges, cells.edges.size
    first = np.searchsorted(edges, np.concatenate([[-np.inf], top]), side="right")
    # a bucket's values lie below its upper edge; the last bucket's reach +inf
    last = np.concatenate([np.searchsorted(edges, top, side="left"), [m_f]])
    settled = (first == last) & cells.excluded[first]
    padded = lambda c: np.where(c < m_f, c, m)  # noqa: E731 - padding cells sit before m
    out = np.stack([padded(first), np.where(settled, -1, padded(last))], axis=1)
    return np.concatenate([out, [[m + 1, -1]]]).astype(np.int32)


@dataclass
class Zoom:
    """A feature's open buckets split in 2^bits sub-buckets (drift_zoom_pass): ``base``
    (buckets + 1,) int32 gives each bucket's first zoomed cell, or -1."""

    base: np.ndarray
    cells: int
    bits: int = ZOOM_BITS

    @staticmethod
    def of(open_: np.ndarray, bits: int = ZOOM_BITS) -> Zoom | None:
        """The zoom of a feature's open buckets (open_: one flag per bucket), or None where it
        would make more than ZOOM_CELLS cells."""
        opened = np.flatnonzero(open_)
        cells = opened.size << bits
        if cells > ZOOM_CELLS:
            return None
        base = np.full(open_.size + 1, -1, dtype=np.int32)
        base[opened] = np.arange(opened.size, dtype=np.int32) << bits
        return Zoom(base, cells, bits)

    @staticmethod
    def fitting(open_: np.ndarray, most: int, least: int) -> Zoom | None:
        """The zoom of these buckets with the most bits, from ``most`` down to ``least``,
        whose cells fit in ZOOM_CELLS (many open buckets: fewer sub-buckets each), or None."""
        for bits in range(most, least - 1, -1):
            zoom = Zoom.of(open_, bits)
            if zoom is not None:
                return zoom
        return None

    def _layout(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Per bucket: zoomed or not, its cells in the combined order, the first of them."""
        z = self.base[:-1] >= 0
        width = np.where(z, 1 << self.bits, 1)
        return z, width, np.concatenate([[0], np.cumsum(width)[:-1]])

    def combined(self, bucket_counts: np.ndarray, zoomed_counts: np.ndarray) -> np.ndarray:
        """Counts of the cells in order, each zoomed bucket replaced by its sub-buckets'
        (bucket_counts: per bucket then NaN, as a bucket pass gives them)."""
        z, width, start = self._layout()
        out = np.empty(int(width.sum()) + 1, dtype=np.int64)
        out[start[~z]] = bucket_counts[:-1][~z]
        sub = np.arange(1 << self.bits)
        out[(start[z][:, None] + sub).ravel()] = zoomed_counts[
            (self.base[:-1][z][:, None] + sub).ravel()]
        out[-1] = bucket_counts[-1]
        return out

    def cell_of(self, combined: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """For flags over the combined cells: (zoomed cell index or -1, bucket, sub-bucket) of
        each combined cell."""
        z, width, start = self._layout()
        bucket = np.repeat(np.arange(z.size), width)
        sub = np.arange(bucket.size) - np.repeat(start, width)
        zoomed = np.where(self.base[:-1][bucket] >= 0, self.base[:-1][bucket] + sub, -1)
        return zoomed[combined], bucket[combined], sub[combined]


def _zoom_task_args(job: Job, maps: BucketMaps, zooms: dict) -> Any:
    """(maps, groups, fetch) for _zoomed: the zoomed features grouped by zoom depth, each
    group (bits, features, base, cells, wanted) with a row of base (and of wanted flags, when
    fetching) for every feature. ``zooms``: feature -> Zoom (counting) or (Zoom, wanted)."""
    F = maps.lo.size
    fetch = isinstance(next(iter(zooms.values())), tuple)
    by_bits: dict[int, list[int]] = {}
    for f in sorted(zooms):
        by_bits.setdefault((zooms[f][0] if fetch else zooms[f]).bits, []).append(f)
    groups = []
    for bits, features in by_bits.items():
        zs = {f: (zooms[f][0] if fetch else zooms[f]) for f in features}
        cells = max(z.cells for z in zs.values())
        base = np.full((F, maps.buckets + 1), -1, dtype=np.int32)
        for f, z in zs.items():
            base[f] = z.base
        wanted = None
        if fetch:
            wanted = np.zeros((F, cells), dtype=np.uint8)
            for f in features:
                w = zooms[f][1]
                wanted[f, : w.size] = w
        groups.append((bits, np.asarray(features, dtype=np.intp), base, cells, wanted))
    return job.shared((maps.args(), tuple(groups), fetch))


def bucket_cells(sample: np.ndarray) -> tuple[list[Cells], BucketMaps | None]:
    """First cells of every feature (sample: (rows, F)) as the buckets of a map fitted to the
    sample, up to 65535 a feature (BUCKET_CELLS in all), and the maps; or, where a map's
    buckets are narrower than the doubles between them (edges repeat), first_cells and
    None (counted by the cell search)."""
    F = sample.shape[1]
    buckets = int(np.clip(BUCKET_CELLS // max(F, 1), MIN_BUCKETS, 65535))
    s = np.ascontiguousarray(sample[: (1 << 16) - 1].T, dtype=np.float64)
    lo, scale, eps_bits = _core.drift_bucket_maps(s, buckets)
    edges = _core.drift_bucket_edges(lo, scale, eps_bits, buckets)
    maps = BucketMaps(lo, scale, eps_bits, buckets, edges)
    if F == 0 or not (edges[:, 1:] > edges[:, :-1]).all() or not np.isfinite(edges).all():
        return [first_cells(sample[:, f], LEAN_SPLIT) for f in range(F)], None
    return [Cells(edges[f]) for f in range(F)], maps


def edge_bounds(edges: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per cell, bounds [lo, hi] of its values that refine() can cut at when a lean pass
    gave no extremes: a cell's own edges; the two unbounded cells get lo == hi (not cut)."""
    lo = np.concatenate([edges[:1], edges])
    hi = np.concatenate([edges, edges[-1:]])
    return lo, hi


def _padded(cells: Sequence[Cells]) -> np.ndarray:
    """(F, m) edges, each row padded with its last edge (empty cells; see _unpad)."""
    m = max(c.edges.size for c in cells)
    out = np.empty((len(cells), m))
    for f, c in enumerate(cells):
        out[f, : c.edges.size] = c.edges
        out[f, c.edges.size:] = c.edges[-1]
    return out


def _unpad(row: np.ndarray, m_f: int, m: int) -> np.ndarray:
    """A feature's own cells from a padded row: padding cells m_f..m-1 are empty and its
    last cell (values >= its last edge) sits at m; anything after it (the NaN count) stays."""
    return np.concatenate([row[:m_f], row[m:]])


@dataclass
class Merged:
    """One sample's merged counts for one feature, in the feature's own cells."""

    counts: np.ndarray  # cells then NaN
    lo: np.ndarray | None  # None after a lean pass (counts only)
    hi: np.ndarray | None

    @property
    def n_valid(self) -> int:
        return int(self.counts[:-1].sum())

    @property
    def n_nan(self) -> int:
        return int(self.counts[-1])


class Passes:
    """Count and fetch passes over one or more samples (lists of (rows, F) blocks)."""

    # After run() with zooms: per sample, {feature: zoomed counts} and {feature: sorted values}
    zoom_counted: list[dict[int, np.ndarray]]
    zoom_fetched: list[dict[int, np.ndarray]]

    def __init__(self, job: Job, samples: Sequence[Sequence[Delayed]],
                 psi_edges: Sequence[np.ndarray | None] | None = None):
        """``psi_edges[k]``: PSI edges whose bin counts of sample k the first count pass
        also takes (``psi_counts[k]`` after it)."""
        self.job, self.samples = job, samples
        self.fingerprints: list[int | None] = [None] * len(samples)
        self.psi_edges = list(psi_edges) if psi_edges is not None else [None] * len(samples)
        self.psi_counts: list[np.ndarray | None] = [None] * len(samples)

    def sample(self) -> np.ndarray:
        """Rows read from up to SAMPLE_PARTS partitions of each sample, stacked."""
        picks = [task for parts in self.samples for task in strided_sample(parts)]
        (rows,) = self.job.compute(delayed(_stack, pure=True)(picks))
        return rows

    def run(self, cells: Sequence[Cells], counting: Sequence[int],
            wanted: tuple[np.ndarray, np.ndarray] | None, extremes: bool = True,
            maps: BucketMaps | None = None, bucket_cells: bool = False,
            zoom_count: dict[int, Zoom] | None = None,
            zoom_fetch: dict[int, tuple[Zoom, np.ndarray]] | None = None
            ) -> tuple[list[list[Merged | None]] | None, list[list[np.ndarray]] | None]:
        """One pass: per sample, merged counts of the ``counting`` features (None for the
        others; no counts when it is empty; no lo / hi unless ``extremes``) and the values
        of the ``wanted`` cells (``fetch_cells``) sorted per feature. ``maps``: the cells
        refine these maps' buckets (values of settled buckets are counted without a
        search); with ``bucket_cells`` they are the buckets themselves (every feature
        counted, counts only). ``zoom_count``: features whose zoomed cells are counted;
        ``zoom_fetch``: features whose zoomed cells flagged (the array) are fetched; their
        results land in ``zoom_counted`` / ``zoom_fetched``."""
        counting = sorted(counting)
        count = len(counting) > 0
        every = len(counting) == len(cells)
        if bucket_cells and not (maps is not None and every and not extremes and wanted is None):
            raise ValueError("bucket cells are counted for every feature, counts only")
        features = None if every else self.job.shared(np.asarray(counting, dtype=np.intp))
        counted_cells = list(cells) if every else [cells[f] for f in counting]
        bucket_maps = table = None
        if bucket_cells:  # no edges travel: the workers count by the maps
            m, e = maps.buckets - 1, None
            bucket_maps = self.job.shared(maps.args())
        else:
            edges = _padded(counted_cells if count else cells)
            m = edges.shape[1]
            e = self.job.shared(edges)
            if maps is not None and count:
                bucket_maps = self.job.shared(maps.args(counting))
                table = self.job.shared(np.stack([bucket_shortcuts(maps, f, cells[f], m)
                                         for f in counting]))
        todo = []
        riders = [None] * len(self.samples)
        if count:  # PSI rides on the first count pass only
            riders = [None if pe is None else self.job.shared(pe) for pe in self.psi_edges]
            self.psi_edges = [None] * len(self.samples)
        fetch_edges = flags = None
        if wanted is not None:
            fetch_edges, flags = self.job.shared(wanted[0]), self.job.shared(wanted[1])
        counted_edges = e if count else None
        zc = None if not zoom_count else _zoom_task_args(self.job, maps, zoom_count)
        zf = None if not zoom_fetch else _zoom_task_args(self.job, maps, zoom_fetch)
        for parts, psi in zip(self.samples, riders):
            todo.append(tree([delayed(_cell_pass, pure=True)(p, counted_edges, psi, features,
                                                            extremes, fetch_edges, flags,
                                                            bucket_maps, table, zc, zf)
                              for p in parts], _merge_pass))
        out = list(self.job.compute(*todo))
        counted, fetched = [], []
        self.zoom_counted = [{} for _ in out]
        self.zoom_fetched = [{} for _ in out]
        for k, (fp, summed, got, z_counts, z_values) in enumerate(out):
            if zoom_count:
                self.zoom_counted[k] = {f: z_counts[row].astype(np.int64)
                                        for row, f in enumerate(sorted(zoom_count))}
            if zoom_fetch:
                self.zoom_fetched[k] = dict(zip(sorted(zoom_fetch), _sorted_split(*z_values)))
            self._same_data(k, fp)
            if count:
                c, lo, hi, psi = summed
                if psi is not None:
                    self.psi_counts[k] = psi
                merged: list[Merged | None] = [None] * len(cells)
                for row, (f, cl) in enumerate(zip(counting, counted_cells)):
                    merged[f] = Merged(_unpad(c[row].astype(np.int64), cl.edges.size, m),
                                       *(None if x is None else _unpad(x[row], cl.edges.size, m)
                                         for x in (lo, hi)))
                counted.append(merged)
            if wanted is not None:
                fetched.append(_sorted_split(*got))
        return (counted if count else None), (fetched if wanted is not None else None)

    def _same_data(self, sample: int, fingerprint: int) -> None:
        """Every pass must read the same data: a partition recomputed differently (a
        non-deterministic collection, a file rewritten mid-job) is an error, never a silently
        mixed answer."""
        first = self.fingerprints[sample]
        if first is None:
            self.fingerprints[sample] = fingerprint
        elif first != fingerprint:
            raise RuntimeError("the data changed between two passes over it; is the Dask "
                               "collection deterministic (or a file rewritten mid-job)?")


def fetch_cells(cells: Sequence[Cells], open_by_feature: dict[int, np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray]:
    """Padded (F, r) edges and (F, r + 1) uint8 flags that select the values of the open
    cells of the features to fetch: only the edges where a run of open cells starts or ends,
    so the fetch pass looks each value up among a few edges, not all the counted ones (the
    same values: each run of open cells is one interval). Other features: nothing flagged."""
    rows = [np.zeros(1)] * len(cells)
    flags_of: dict[int, np.ndarray] = {}
    for f, open_ in open_by_feature.items():
        change = np.flatnonzero(open_[:-1] != open_[1:])  # edge k lies between cells k, k + 1
        if change.size == 0:
            rows[f] = cells[f].edges[:1]
            flags_of[f] = np.full(2, open_[0], dtype=np.uint8)
            continue
        rows[f] = cells[f].edges[change]
        flags_of[f] = ((np.arange(change.size + 1) + int(open_[0])) % 2).astype(np.uint8)
    r = max(row.size for row in rows)
    edges = np.empty((len(cells), r))
    flags = np.zeros((len(cells), r + 1), dtype=np.uint8)
    for f, row in enumerate(rows):
        edges[f, : row.size] = row
        edges[f, row.size:] = row[-1]  # padding cells stay empty (see _unpad)
        if f in flags_of:
            flags[f, : row.size] = flags_of[f][:-1]
            flags[f, r] = flags_of[f][-1]
    return edges, flags


def covering(open_: np.ndarray, counts: np.ndarray, budget: int) -> np.ndarray:
    """``open_`` with the cheapest gaps between its runs filled, down to FETCH_RUNS runs
    while the values in them stay within ``budget`` and at most double: a fetch of a few intervals takes a
    straight edge count, many take the cell search. Extra cells are only extra exact
    candidates, so the answers stay the same."""
    cells = np.flatnonzero(open_)
    if cells.size == 0:
        return open_
    gap = np.flatnonzero(np.diff(cells) > 1)  # a gap after cells[gap[i]]
    if gap.size < FETCH_RUNS:
        return open_
    total = np.concatenate([[0], np.cumsum(counts)])
    cost = total[cells[gap + 1]] - total[cells[gap] + 1]  # values in each gap
    spare = min(budget - int(counts[open_].sum()), int(counts[open_].sum()))
    out = open_.copy()
    for i in np.argsort(cost, kind="stable")[: gap.size + 1 - FETCH_RUNS]:
        if cost[i] > spare:
            break
        spare -= int(cost[i])
        out[cells[gap[i]] + 1: cells[gap[i] + 1]] = True
    return out


def check_fetched(values: np.ndarray, counts: np.ndarray, open_: np.ndarray) -> None:
    """The fetch pass must see exactly the values the count pass counted; a partition that
    changed in between (recomputed differently after a lost worker) is an error, not a
    silently different answer."""
    expected = int(counts[:-1][open_].sum())
    if values.size != expected:
        raise RuntimeError(f"the data changed between two passes ({expected} values counted "
                           f"in the cells fetched, {values.size} fetched); is the Dask "
                           "collection deterministic?")
