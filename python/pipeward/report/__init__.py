"""The self-contained HTML report: plain results in, one HTML file out (inline SVG charts)."""

from __future__ import annotations

from .html import CSP, build_report, write_report

__all__ = ["CSP", "build_report", "write_report"]
