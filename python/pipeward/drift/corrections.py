"""Multiple-testing corrections of per-feature p-values (statsmodels' ``multipletests``
conventions). NaN p-values are left NaN and do not count towards m."""

from __future__ import annotations

import numpy as np

CORRECTIONS = ("none", "bonferroni", "holm", "bh", "by")


def adjust_pvalues(p: np.ndarray, correction: str) -> np.ndarray:
    """Adjusted p-values: bonferroni ``min(m p, 1)``; holm step-down ``max_{j<=i} (m - j) p_(j)``;
    bh (Benjamini-Hochberg) step-up ``min_{j>=i} m p_(j) / (j + 1)``; by (Benjamini-Yekutieli)
    bh times ``sum_{k<=m} 1/k``; none returns p unchanged."""
    if correction not in CORRECTIONS:
        raise ValueError(f"correction must be one of {', '.join(CORRECTIONS)}, got {correction!r}")
    p = np.asarray(p, dtype=np.float64)
    out = np.full(p.shape, np.nan)
    ok = ~np.isnan(p)
    q = p[ok]
    m = q.size
    if m == 0 or correction == "none":
        out[ok] = q
        return out
    order = np.argsort(q, kind="stable")
    s = q[order]
    rank = np.arange(m)
    if correction == "bonferroni":
        adj = np.minimum(s * m, 1.0)
    elif correction == "holm":
        adj = np.minimum(np.maximum.accumulate((m - rank) * s), 1.0)
    else:
        adj = np.minimum.accumulate((m / (rank + 1) * s)[::-1])[::-1]
        if correction == "by":
            adj = adj * np.sum(1.0 / np.arange(1, m + 1))
        adj = np.minimum(adj, 1.0)
    back = np.empty(m)
    back[order] = adj
    out[ok] = back
    return out
