"""Drift statistics: batched KS (scipy's numbers), PSI, and a fitted monitor."""

from __future__ import annotations

from .ks import KsResult, ks_2samp

__all__ = ["KsResult", "ks_2samp"]
