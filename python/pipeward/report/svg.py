"""Small inline-SVG charts for the HTML report: bars with a threshold, histograms, lines.

No plotting library and no script: each function returns one ``<svg>`` element as a string,
styled by the report's CSS classes, with a ``<title>`` on every mark so hovering shows the
value. Inputs are plain sequences; NaN values are drawn as gaps, never as zero.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape

import numpy as np

__all__ = ["BarPanel", "bar_chart", "bar_panels", "histogram", "line_chart", "nice_ticks", "stacked_histogram"]

_FONT = 11  # px; the CSS sets the family
_SERIES = ("s0", "s1", "s2", "s3")
_GROUPS = ("g0", "g1", "g2", "g3")  # histogram groups: bar, marked, alert, violet


def nice_ticks(lo: float, hi: float, count: int = 5) -> list[float]:
    """Round tick values (1, 2, 5 x 10^k steps) covering ``[lo, hi]``."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        raise ValueError(f"tick range must be finite, got [{lo}, {hi}]")
    if hi <= lo:
        hi = lo + (abs(lo) if lo else 1.0)
    raw = (hi - lo) / max(count, 1)
    mag = 10.0 ** math.floor(math.log10(raw))
    step = next(m * mag for m in (1, 2, 2.5, 5, 10) if m * mag >= raw)
    start = math.floor(lo / step) * step
    ticks = []
    t = start
    while t <= hi + step * 1e-9:
        ticks.append(round(t, 12))
        t += step
    if ticks[-1] < hi:
        ticks.append(round(t, 12))
    return ticks


def _log_ticks(lo: float, hi: float) -> list[float]:
    """log10 positions of 1, 2, 5 x 10^k inside [lo, hi] (only the decades when they crowd)."""
    decades = range(math.floor(lo), math.ceil(hi) + 1)
    ticks = [k + math.log10(m) for k in decades for m in (1, 2, 5)]
    ticks = [t for t in ticks if lo - 1e-9 <= t <= hi + 1e-9]
    return ticks if len(ticks) <= 8 else [float(k) for k in decades if lo - 1e-9 <= k <= hi + 1e-9]


def _fmt(v: float) -> str:
    if v == 0:
        return "0"
    a = abs(v)
    if a >= 1e5 or a < 1e-3:
        return f"{v:.1e}"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def _finite(values: Sequence[float] | np.ndarray, name: str) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if arr.ndim != 1:
        raise ValueError(f"{name} must be one-dimensional, got shape {arr.shape}")
    return arr


def _open(width: int, height: int, label: str) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" role="img" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
        f'aria-label="{escape(label)}">',
        f"<title>{escape(label)}</title>",
    ]


def _legend(entries: Sequence[tuple[str, str]], right_edge: float, left_edge: float = 0.0,
            ) -> tuple[str, int]:
    """Swatch + text pairs laid out right-aligned at the top of a chart, wrapped onto more
    lines when they do not fit between the edges; returns the markup and the line count."""
    widths = [18 + 6.2 * len(text) for _, text in entries]
    lines: list[list[int]] = [[]]
    for i, w in enumerate(widths):
        if lines[-1] and sum(widths[j] for j in lines[-1]) + w > right_edge - left_edge:
            lines.append([])
        lines[-1].append(i)
    parts = []
    for k, line in enumerate(lines):
        x = right_edge - sum(widths[i] for i in line)
        y = 6 + 16 * k
        for i in line:
            cls, text = entries[i]
            parts.append(f'<rect class="{cls}" x="{x:.1f}" y="{y}" width="10" height="10"/>'
                         f'<text class="tick" x="{x + 14:.1f}" y="{y + 9}">{escape(text)}</text>')
            x += widths[i]
    return "".join(parts), len(lines)


@dataclass(frozen=True)
class BarPanel:
    """One panel of :func:`bar_panels`: a value per label, an optional dashed ``threshold``,
    ``flagged`` bars in the alert colour, ``intervals`` as whiskers, and ``x_max`` to share a
    scale with other charts (default: rounded up from the data)."""

    values: Sequence[float] | np.ndarray
    value_label: str = ""
    threshold: float | None = None
    flagged: Sequence[bool] | None = None
    intervals: Sequence[Sequence[float] | None] | None = None
    x_max: float | None = None


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float] | np.ndarray,
    *,
    threshold: float | None = None,
    flagged: Sequence[bool] | None = None,
    intervals: Sequence[Sequence[float] | None] | None = None,
    title: str,
    value_label: str = "",
    x_max: float | None = None,
    width: int = 640,
) -> str:
    """Horizontal bars, one per label, with an optional dashed threshold line.

    ``flagged`` bars (e.g. drifted features) get the alert colour; ``intervals`` (``(low,
    high)`` or None per bar) draw whiskers, e.g. bootstrap confidence intervals; ``x_max`` fixes
    the scale (so two charts of the same statistic compare by eye). Bars are horizontal so long
    feature names stay readable.
    """
    return bar_panels(labels, [BarPanel(values, value_label, threshold, flagged, intervals, x_max)],
                      title=title, width=width)


def bar_panels(labels: Sequence[str], panels: Sequence[BarPanel], *, title: str,
               width: int = 640) -> str:
    """Panels of horizontal bars side by side, sharing one column of labels (e.g. PSI and KS
    per feature)."""
    if not panels:
        raise ValueError("bar_panels needs at least one panel")
    n = len(labels)
    row, top, bottom, gap = 16, 10, 34, 24
    left = min(8 + 6.2 * max((len(s) for s in labels), default=4), width * 0.45)
    right = 16
    height = int(top + row * max(n, 1) + bottom)
    panel_w = (width - left - right - gap * (len(panels) - 1)) / len(panels)
    base = top + row * n
    out = _open(width, height, title)
    for i, name in enumerate(labels):
        out.append(f'<text class="label" x="{left - 6:.1f}" y="{top + row * i + row * 0.72:.1f}" '
                   f'text-anchor="end">{escape(str(name))}</text>')
    for k, panel in enumerate(panels):
        x0 = left + k * (panel_w + gap)
        out.extend(_bar_panel(labels, panel, x0, panel_w, top, row, base, height))
    out.append("</svg>")
    return "\n".join(out)


def _bar_panel(labels: Sequence[str], panel: BarPanel, left: float, plot_w: float, top: int,
               row: int, base: int, height: int) -> list[str]:
    vals = _finite(panel.values, "values")
    if len(labels) != vals.size:
        raise ValueError(f"{len(labels)} labels for {vals.size} values")
    flags = np.zeros(vals.size, bool) if panel.flagged is None else np.asarray(panel.flagged, bool)
    if flags.shape != vals.shape:
        raise ValueError(f"flagged has shape {flags.shape}, values {vals.shape}")
    intervals = panel.intervals
    if intervals is not None and len(intervals) != vals.size:
        raise ValueError(f"{len(intervals)} intervals for {vals.size} values")
    whiskers = [None if iv is None else (float(iv[0]), float(iv[1])) for iv in (intervals or [None] * vals.size)]
    threshold = panel.threshold
    finite = vals[np.isfinite(vals)]
    tops = [hi_ for w in whiskers if w is not None for hi_ in (w[1],) if math.isfinite(hi_)]
    hi = max([0.0, *finite.tolist(), *tops, *([threshold] if threshold is not None else []),
              *([panel.x_max] if panel.x_max is not None else [])])
    ticks = nice_ticks(0.0, hi if hi > 0 else 1.0)
    x_max = ticks[-1]

    def x(v: float) -> float:
        return left + plot_w * v / x_max

    out = []
    for t in ticks:
        out.append(f'<line class="grid" x1="{x(t):.1f}" x2="{x(t):.1f}" y1="{top}" y2="{base}"/>')
        out.append(f'<text class="tick" x="{x(t):.1f}" y="{base + 13}" text-anchor="middle">'
                   f"{_fmt(t)}</text>")
    for i, (name, v, f) in enumerate(zip(labels, vals, flags)):
        y = top + row * i
        if not math.isfinite(v):
            out.append(f'<text class="tick" x="{left + 4:.1f}" y="{y + row * 0.72:.1f}">n/a</text>')
            continue
        cls = "bar alert" if f else "bar"
        out.append(f'<rect class="{cls}" x="{left:.1f}" y="{y + 2}" '
                   f'width="{max(x(v) - left, 0.5):.1f}" height="{row - 4}">'
                   f"<title>{escape(str(name))}: {_fmt(float(v))}</title></rect>")
        w = whiskers[i]
        if w is not None and math.isfinite(w[0]) and math.isfinite(w[1]):
            mid = y + row / 2
            out.append(f'<path class="whisker" d="M{x(max(w[0], 0.0)):.1f},{mid:.1f}H{x(w[1]):.1f}'
                       f'M{x(max(w[0], 0.0)):.1f},{mid - 4:.1f}v8M{x(w[1]):.1f},{mid - 4:.1f}v8">'
                       f"<title>{escape(str(name))}: interval {_fmt(w[0])} to {_fmt(w[1])}</title></path>")
    out.append(f'<line class="axis" x1="{left:.1f}" x2="{left:.1f}" y1="{top}" y2="{base}"/>')
    if threshold is not None:
        out.append(f'<line class="threshold" x1="{x(threshold):.1f}" x2="{x(threshold):.1f}" '
                   f'y1="{top - 4}" y2="{base}"><title>threshold {_fmt(threshold)}</title></line>')
    out.append(f'<text class="axis-label" x="{left + plot_w / 2:.1f}" y="{height - 4}" '
               f'text-anchor="middle">{escape(panel.value_label)}'
               f'{f" (dashed: threshold {_fmt(threshold)})" if threshold is not None else ""}'
               "</text>")
    return out


def histogram(
    values: Sequence[float] | np.ndarray,
    *,
    marked: Sequence[bool] | None = None,
    cutoff: float | None = None,
    bins: int = 40,
    log_x: bool | None = None,
    title: str,
    value_label: str = "",
    count_label: str = "rows",
    marked_label: str = "marked",
    unmarked_label: str = "other",
    width: int = 640,
    height: int = 240,
) -> str:
    """Stacked histogram of ``values`` (``marked`` rows on top, in the marking colour) with a
    cut-off line; :func:`stacked_histogram` with two groups."""
    vals = _finite(values, "values")
    mark = np.zeros(vals.size, bool) if marked is None else np.asarray(marked, bool)
    if mark.shape != vals.shape:
        raise ValueError(f"marked has shape {mark.shape}, values {vals.shape}")
    groups = {unmarked_label: vals[~mark]}
    if mark.any():
        groups[marked_label] = vals[mark]
    return stacked_histogram(groups, cutoff=cutoff, bins=bins, log_x=log_x, title=title,
                             value_label=value_label, count_label=count_label, width=width,
                             height=height)


def stacked_histogram(
    groups: Mapping[str, Sequence[float] | np.ndarray],
    *,
    cutoff: float | None = None,
    bins: int = 40,
    log_x: bool | None = None,
    title: str,
    value_label: str = "",
    count_label: str = "rows",
    width: int = 640,
    height: int = 240,
) -> str:
    """Histogram of several named groups stacked in order, each in its own colour (up to
    four: ``bar g0`` .. ``bar g3``), with a cut-off line and a count axis named ``count_label``.

    ``log_x=None`` picks a log10 axis when the largest value passes 20x the median, as
    squared distances of out-of-distribution rows do.
    """
    if not groups:
        raise ValueError("stacked_histogram needs at least one group")
    if len(groups) > len(_GROUPS):
        raise ValueError(f"at most {len(_GROUPS)} groups, got {len(groups)}")
    names = list(groups)
    arrays = [_finite(groups[k], f"group {k!r}") for k in names]
    arrays = [a[np.isfinite(a)] for a in arrays]
    vals = np.concatenate(arrays)
    if vals.size == 0:
        raise ValueError("histogram needs at least one finite value")
    positive = vals.min() > 0
    if log_x is None:
        log_x = bool(positive and vals.max() > 20 * np.median(vals))
    if log_x and not positive:
        raise ValueError("log_x needs positive values")

    def tr(v: np.ndarray | float) -> np.ndarray | float:
        return np.log10(v) if log_x else v

    tv = tr(vals)
    lo, hi = float(tv.min()), float(tv.max())
    if cutoff is not None and (cutoff > 0 or not log_x):
        lo, hi = min(lo, float(tr(cutoff))), max(hi, float(tr(cutoff)))
    if hi <= lo:
        lo, hi = lo - 0.5, hi + 0.5
    edges = np.linspace(lo, hi, bins + 1)
    counts = [np.histogram(tr(a), edges)[0] if a.size else np.zeros(bins, np.int64) for a in arrays]
    total = np.sum(counts, axis=0)
    left, right, bottom = 56, 12, 36
    legend, legend_lines = _legend([(f"bar {_GROUPS[g]}", f"{name} ({int(c.sum())})")
                                    for g, (name, c) in enumerate(zip(names, counts))],
                                   width - right, left)
    top = 26 + 16 * (legend_lines - 1)
    height += top - 26
    plot_w, plot_h = width - left - right, height - top - bottom
    y_ticks = nice_ticks(0, max(int(total.max()), 1), 4)
    y_max = y_ticks[-1]

    def px(t: float) -> float:
        return left + plot_w * (t - lo) / (hi - lo)

    def py(c: float) -> float:
        return top + plot_h * (1 - c / y_max)

    out = _open(width, height, title)
    for t in y_ticks:
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{py(t):.1f}" y2="{py(t):.1f}"/>')
        out.append(f'<text class="tick" x="{left - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for i in range(bins):
        x0, x1 = px(edges[i]), px(edges[i + 1])
        w = max(x1 - x0 - 1, 0.5)
        rng = f"{_fmt(10 ** edges[i] if log_x else edges[i])}-{_fmt(10 ** edges[i + 1] if log_x else edges[i + 1])}"
        below = 0
        for g, (name, c) in enumerate(zip(names, counts)):
            if c[i]:
                out.append(f'<rect class="bar {_GROUPS[g]}" x="{x0:.1f}" y="{py(below + c[i]):.1f}" '
                           f'width="{w:.1f}" height="{py(below) - py(below + c[i]):.1f}">'
                           f"<title>{escape(name)} {rng}: {c[i]}</title></rect>")
            below += c[i]
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{py(0):.1f}" y2="{py(0):.1f}"/>')
    out.append(f'<line class="axis" x1="{left}" x2="{left}" y1="{top}" y2="{py(0):.1f}"/>')
    for t in _log_ticks(lo, hi) if log_x else nice_ticks(lo, hi, 6):
        if lo - 1e-9 <= t <= hi + 1e-9:
            lab = _fmt(10 ** t) if log_x else _fmt(t)
            out.append(f'<text class="tick" x="{px(t):.1f}" y="{py(0) + 13:.1f}" text-anchor="middle">{lab}</text>')
    if cutoff is not None and (cutoff > 0 or not log_x):
        cx = px(float(tr(cutoff)))
        out.append(f'<line class="threshold" x1="{cx:.1f}" x2="{cx:.1f}" y1="{top - 6}" y2="{py(0):.1f}">'
                   f"<title>cut-off {_fmt(cutoff)}</title></line>")
        # Inside the plot, beside the line, so it never meets the legend above.
        side = 'x="{:.1f}" text-anchor="end"'.format(cx - 4) if cx > left + 0.7 * plot_w else f'x="{cx + 4:.1f}"'
        out.append(f'<text class="tick" {side} y="{top + 10}">cut-off {_fmt(cutoff)}</text>')
    out.append(legend)
    axis = f"{value_label}{' (log scale)' if log_x else ''}"
    out.append(f'<text class="axis-label" x="{left + plot_w / 2:.1f}" y="{height - 4}" '
               f'text-anchor="middle">{escape(axis)}</text>')
    out.append(_y_label(count_label, top + plot_h / 2))
    out.append("</svg>")
    return "\n".join(out)


def _y_label(text: str, mid: float) -> str:
    return (f'<text class="axis-label" x="12" y="{mid:.1f}" text-anchor="middle" '
            f'transform="rotate(-90 12 {mid:.1f})">{escape(text)}</text>')


def line_chart(
    x: Sequence[float] | np.ndarray | None,
    series: Mapping[str, Sequence[float] | np.ndarray | tuple[Sequence[float], Sequence[float]]],
    *,
    title: str,
    x_label: str = "",
    y_label: str = "",
    point: tuple[float, float] | None = None,
    log_x: bool = False,
    width: int = 640,
    height: int = 240,
) -> str:
    """One polyline per named series over a shared ``x``, or over its own when the series is
    an ``(x, y)`` pair; ``point`` marks one (x, y); ``log_x`` draws x on a log10 axis (its
    non-positive x values are left out)."""
    pairs = {}
    for k, v in series.items():
        if isinstance(v, tuple) and len(v) == 2:
            xs_k, ys_k = _finite(v[0], f"{k} x"), _finite(v[1], k)
        elif x is None:
            raise ValueError(f"series {k!r} needs its own (x, y) pair when x is None")
        else:
            xs_k, ys_k = _finite(x, "x"), _finite(v, k)
        if ys_k.shape != xs_k.shape:
            raise ValueError(f"series {k!r} has {ys_k.size} values for {xs_k.size} x values")
        if log_x:
            keep = xs_k > 0
            xs_k, ys_k = np.log10(xs_k[keep]), ys_k[keep]
        pairs[k] = (xs_k, ys_k)
    if not pairs:
        raise ValueError("line_chart needs at least one series")
    allx = np.concatenate([a[np.isfinite(a)] for a, _ in pairs.values()])
    if allx.size == 0:
        raise ValueError("line_chart needs at least one finite x value")
    allv = np.concatenate([v[np.isfinite(v)] for _, v in pairs.values()] + [np.zeros(1)])
    if log_x:
        x_lo, x_hi = math.floor(float(allx.min())), math.ceil(float(allx.max()))
        x_ticks = [float(x_lo), float(max(x_hi, x_lo + 1))]
        labels = [(t, _fmt(10 ** t)) for t in _log_ticks(*x_ticks)]
    else:
        x_ticks = nice_ticks(float(allx.min()), float(allx.max()), 6)
        labels = [(t, _fmt(t)) for t in x_ticks]
    y_ticks = nice_ticks(min(0.0, float(allv.min())), float(allv.max()), 4)
    left, right, top, bottom = 48, 16, 26, 36
    plot_w, plot_h = width - left - right, height - top - bottom

    def px(v: float) -> float:
        return left + plot_w * (v - x_ticks[0]) / (x_ticks[-1] - x_ticks[0])

    def py(v: float) -> float:
        return top + plot_h * (1 - (v - y_ticks[0]) / (y_ticks[-1] - y_ticks[0]))

    out = _open(width, height, title)
    for t in y_ticks:
        out.append(f'<line class="grid" x1="{left}" x2="{width - right}" y1="{py(t):.1f}" y2="{py(t):.1f}"/>')
        out.append(f'<text class="tick" x="{left - 4}" y="{py(t) + 4:.1f}" text-anchor="end">{_fmt(t)}</text>')
    for t, text in labels:
        out.append(f'<text class="tick" x="{px(t):.1f}" y="{py(y_ticks[0]) + 13:.1f}" '
                   f'text-anchor="middle">{text}</text>')
    out.append(f'<line class="axis" x1="{left}" x2="{width - right}" y1="{py(y_ticks[0]):.1f}" '
               f'y2="{py(y_ticks[0]):.1f}"/>')
    for n, (name, (xs, v)) in enumerate(pairs.items()):
        cls = _SERIES[n % len(_SERIES)]
        ok = np.isfinite(v) & np.isfinite(xs)
        pts = " ".join(f"{px(a):.1f},{py(b):.1f}" for a, b in zip(xs[ok], v[ok]))
        out.append(f'<polyline class="line {cls}" points="{pts}"><title>{escape(name)}</title></polyline>')
        out.append(f'<line class="line {cls}" x1="{left + 8 + 120 * n}" x2="{left + 24 + 120 * n}" y1="12" y2="12"/>'
                   f'<text class="tick" x="{left + 28 + 120 * n}" y="16">{escape(name)}</text>')
    if point is not None:
        out.append(f'<circle class="point" cx="{px(math.log10(point[0]) if log_x else point[0]):.1f}" '
                   f'cy="{py(point[1]):.1f}" r="4"><title>{_fmt(point[0])}, {_fmt(point[1])}</title></circle>')
    axis = f"{x_label}{' (log scale)' if log_x else ''}"
    out.append(f'<text class="axis-label" x="{left + plot_w / 2:.1f}" y="{height - 4}" '
               f'text-anchor="middle">{escape(axis)}</text>')
    out.append(_y_label(y_label, top + plot_h / 2))
    out.append("</svg>")
    return "\n".join(out)
