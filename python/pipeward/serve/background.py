"""How the service's background threads (audit writer, monitors) give way to the event loop.

They share the process, and so the GIL, with the loop that answers requests. Two things keep
their work out of the request path:

- :func:`defer_to_event_loop`, called first in such a thread, lowers the thread's CPU
  priority (Linux: a per-thread nice value ``BACKGROUND_NICE`` above the process's), so the
  kernel's fair scheduler runs the loop first whenever it has work, and the thread gets the
  core when the loop is idle or blocked.
- :func:`hand_over`, called between small slices of Python work, releases the GIL *and* the
  CPU (``sched_yield``), so a loop that waits for either runs at once. ``time.sleep(0)`` only
  released the GIL: the kernel may let the releasing thread run on (a woken thread need not
  preempt a running one of equal standing at once), and it took the GIL back before the loop
  got to run. With all threads at one real-time priority on one core, that made the guarded
  server's p99 12 ms worse than the bare endpoint's (bench/RESULTS.md, serve14p).
"""

from __future__ import annotations

import os
import threading
import time

__all__ = ["BACKGROUND_NICE", "defer_to_event_loop", "hand_over"]

BACKGROUND_NICE = 10


def defer_to_event_loop() -> None:
    """Lower the calling thread's CPU priority below the process's (where the OS has per-thread
    priorities, as Linux has; elsewhere nothing changes)."""
    if not hasattr(os, "setpriority") or not hasattr(threading, "get_native_id"):
        return
    tid = threading.get_native_id()
    try:
        os.setpriority(os.PRIO_PROCESS, tid, min(19, os.getpriority(os.PRIO_PROCESS, tid) + BACKGROUND_NICE))
    except OSError:  # a thread id is not a process id here (macOS), or a sandbox forbids it
        pass


def hand_over() -> None:
    """Release the GIL and the CPU to whichever thread waits for them."""
    yield_cpu = getattr(os, "sched_yield", None)  # looked up per call: tests count the calls
    if yield_cpu is None:
        time.sleep(0)
    else:
        yield_cpu()
