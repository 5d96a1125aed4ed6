"""One distributed job: where it runs, the partitions it reads, what comes back to the client.

Every pipeward.dask function runs as passes over the partitions: each task returns a small
summary, summaries merge in a tree on the workers, and only the merged result reaches the
client. A ``Job`` counts the passes and the bytes the client received, so a function can
report them (``last_job()``) and write one audit record for the whole job.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

try:
    import dask
    from dask.delayed import Delayed, delayed
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError("pipeward.dask needs Dask: pip install 'pipeward[dist]'") from exc

FAN_IN = 8  # summaries merged per task of the reduction tree
SCATTER_OVER = 1 << 20  # shared values of this many bytes or more go to the workers directly

_last = threading.local()


@dataclass
class JobStats:
    """What a distributed job cost the client: passes over the data and bytes received."""

    name: str
    n_partitions: int = 0
    passes: int = 0
    bytes_to_client: int = 0
    partition_keys: list[str] = field(default_factory=list, repr=False)

    def partitions_digest(self) -> str:
        """SHA-256 of the partitions' Dask keys, in order: which data the job read."""
        return hashlib.sha256("\n".join(self.partition_keys).encode()).hexdigest()

    def as_record(self) -> dict[str, Any]:
        return {"job": self.name, "n_partitions": self.n_partitions, "passes": self.passes,
                "bytes_to_client": self.bytes_to_client,
                "partitions_digest": self.partitions_digest()}


def last_job() -> JobStats | None:
    """The statistics of the last pipeward.dask job run by this thread (None before any)."""
    return getattr(_last, "job", None)


def resolve_client(client: Any) -> Any:
    """The given client, else the active ``distributed.Client``, else None (Dask's local
    scheduler runs the graph in this process)."""
    if client is not None:
        return client
    try:
        from distributed import default_client  # noqa: PLC0415
    except ImportError:
        return None
    try:
        return default_client()
    except ValueError:
        return None


class Job:
    """Runs the passes of one job and keeps its :class:`JobStats`."""

    def __init__(self, name: str, client: Any):
        self.client = resolve_client(client)
        self.stats = JobStats(name)
        _last.job = self.stats

    def read(self, parts: Sequence[Delayed]) -> None:
        """Note the partitions this job reads (their keys go into the audit digest)."""
        self.stats.n_partitions += len(parts)
        self.stats.partition_keys += [str(p.key) for p in parts]

    def shared(self, value: Any) -> Any:
        """A value every task of a pass reads, as ``shared``; a large one (refinement tables,
        edges: tens of MB on big data) is scattered to every worker instead, so the graph the
        scheduler receives stays small (Dask warns of a large graph otherwise)."""
        if self.client is None or _nbytes(value) < SCATTER_OVER:
            return shared(value)
        # (in a list: a tuple would be scattered element by element)
        return self.client.scatter([value], broadcast=True, hash=True)[0]

    def compute(self, *objects: Any) -> tuple:
        """Compute Delayed objects in one pass and return their values on the client."""
        self.stats.passes += 1
        if self.client is not None:
            values = self.client.gather(self.client.compute(list(objects)))
        else:
            values = dask.compute(*objects)
        self.stats.bytes_to_client += sum(_nbytes(v) for v in values)
        return tuple(values)


def tree(parts: Sequence[Delayed], combine: Callable[[list], Any]) -> Delayed:
    """Merge per-partition summaries in a tree of ``FAN_IN``-way ``combine`` tasks."""
    level = list(parts)
    if not level:
        raise ValueError("no partitions to reduce")
    while len(level) > 1:
        level = [delayed(combine, pure=True)(level[i:i + FAN_IN])
                 for i in range(0, len(level), FAN_IN)]
    if len(parts) == 1:  # a lone summary still goes through combine, for one result type
        return delayed(combine, pure=True)(level)
    return level[0]


def shared(value: Any) -> Delayed:
    """A value every task of a pass reads (edges, a fitted estimate): one key in the graph,
    sent to each worker once rather than embedded in every task."""
    return delayed(value, pure=True)


def _nbytes(value: Any) -> int:
    if isinstance(value, np.ndarray):
        return int(value.nbytes)
    if isinstance(value, (list, tuple)):
        return sum(_nbytes(v) for v in value)
    if isinstance(value, dict):
        return sum(_nbytes(v) for v in value.values())
    if isinstance(value, (bytes, str)):
        return len(value)
    return 8
