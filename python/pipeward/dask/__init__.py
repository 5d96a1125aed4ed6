"""pipeward on Dask: every stage on partitioned data, with the one-machine results.

Functions take Dask arrays or DataFrames and run on the workers of ``client`` (default: the
active ``distributed.Client``; without one, Dask's local scheduler). Partitions are reduced
to small mergeable summaries on the workers; only those, and the few values a summary cannot
settle, reach the client. Needs the ``dist`` extra: ``pip install 'pipeward[dist]'``.
"""

from __future__ import annotations

from ._job import JobStats, last_job
from .drift import DriftMonitor, ks_2samp, psi
from .manifest import build_manifest, verify_manifest
from .outliers import MahalanobisDetector, screen

__all__ = [
    "DriftMonitor",
    "JobStats",
    "MahalanobisDetector",
    "build_manifest",
    "ks_2samp",
    "last_job",
    "psi",
    "screen",
    "verify_manifest",
]
