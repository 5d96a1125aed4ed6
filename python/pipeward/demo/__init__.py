"""``pipeward demo``: a complete secured pipeline on real data, ending in an HTML report."""

from __future__ import annotations

from .pipeline import DemoResult, Settings, run_demo

__all__ = ["DemoResult", "Settings", "run_demo"]
