"""Real-time scheduling for the serving benchmarks' ``--rt`` option (Linux, root).

On a shared box the other users' processes preempt the servers and the load generator for
whole time slices (several ms), so a p99 measured there is the scheduler's, not the server's:
the bare server's own p99 moved between 11.5 and 22.8 ms from round to round on a "quiet"
machine. With ``--rt`` the load generator and the servers run ``SCHED_FIFO``, which no
ordinary process preempts. The kernel still leaves ordinary processes 5% of each second: the
load generator, which keeps its core busy, then stops for ~50 ms about once a second, and the
requests in flight meanwhile are slow for reasons not the server's (serve_loadgen.py marks them
by its ``client_delay``; the ``p99_ms_generator_ran`` figures leave them out).

A server's threads keep the order of CPU priority the server gives them: those it runs below
its event loop (a higher nice value, as pipeward's audit writer and monitors set for
themselves) get ``PRIORITY - 1``, the others ``PRIORITY``. Under ``SCHED_FIFO`` a thread keeps
the core until it blocks or yields, so among equals a background thread that releases only
the GIL, not the CPU, keeps the event loop waiting: the server's own behaviour, which the
measurement must show.

Keep such runs short: they starve everyone else on their cores while they run.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["PRIORITY", "realtime_process", "realtime_self"]

PRIORITY = 50


def realtime_self(priority: int = PRIORITY) -> None:
    """Run the calling process (its future threads inherit it) under ``SCHED_FIFO``."""
    os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(priority))


def realtime_process(pid: int, priority: int = PRIORITY) -> list[tuple[int, int]]:
    """Every thread of ``pid`` under ``SCHED_FIFO``: at ``priority``, or one below for a thread
    whose nice value is above the main thread's. Returns (thread id, priority) for each."""
    main = os.getpriority(os.PRIO_PROCESS, pid)
    done = []
    for task in sorted(Path(f"/proc/{pid}/task").iterdir()):
        tid = int(task.name)
        try:
            level = priority - 1 if os.getpriority(os.PRIO_PROCESS, tid) > main else priority
            os.sched_setscheduler(tid, os.SCHED_FIFO, os.sched_param(level))
        except ProcessLookupError:  # the thread ended meanwhile
            continue
        done.append((tid, level))
    return done
