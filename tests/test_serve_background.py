"""The service's background threads give way to the event loop: they run below its CPU
priority, and the audit writer hands the GIL and the CPU over (``sched_yield``) after every
``YIELD_EVERY`` records it prepares, not only the GIL (``time.sleep(0)`` left the loop waiting
for the kernel's time slice). Counted, never timed."""

from __future__ import annotations

import os
import sys
import threading

import pytest

from pipeward.audit import AuditLog
from pipeward.serve import audit_writer, background
from pipeward.serve.audit_writer import YIELD_EVERY, AuditWriter
from pipeward.serve.extraction import ExtractionDetector
from pipeward.serve.metrics import ServeMetrics
from pipeward.serve.monitor import BackgroundMonitor

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"),
                                reason="per-thread CPU priorities are a Linux feature")


@linux_only
def test_audit_writer_thread_runs_below_the_event_loop(tmp_path, monkeypatch):
    seen = []
    original = background.defer_to_event_loop

    def spy() -> None:  # the writer thread's own priority, read by itself once lowered
        original()
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))

    monkeypatch.setattr(audit_writer, "defer_to_event_loop", spy)
    AuditWriter(AuditLog(tmp_path / "audit.db"), flush_ms=5).close()
    main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    assert seen == [min(19, main + background.BACKGROUND_NICE)]


@linux_only
def test_monitor_thread_runs_below_the_event_loop():
    monitor = BackgroundMonitor(ServeMetrics(), extraction=ExtractionDetector(3), interval_ms=5)
    try:
        assert monitor.active
        main = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
        assert os.getpriority(os.PRIO_PROCESS, monitor._thread.native_id) == min(
            19, main + background.BACKGROUND_NICE)
    finally:
        monitor.close()


def test_audit_writer_hands_the_cpu_over_every_few_records(tmp_path, monkeypatch):
    """Records prepared between two hand-overs (the writer's longest hold of the GIL, counted
    in records): never more than YIELD_EVERY, and each hand-over is a ``sched_yield``."""
    log = AuditLog(tmp_path / "audit.db")
    slices = [0]
    yields = []
    prepare = log._prepare

    def counted_prepare(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        slices[-1] += 1
        return prepare(*args, **kwargs)

    def counted_yield() -> None:
        yields.append(threading.get_native_id())
        slices.append(0)

    monkeypatch.setattr(log, "_prepare", counted_prepare)
    if hasattr(os, "sched_yield"):
        monkeypatch.setattr(os, "sched_yield", counted_yield)
    else:
        monkeypatch.setattr(background.time, "sleep", lambda _: counted_yield())
    writer = AuditWriter(log, batch=100, flush_ms=1000)
    n = 100
    for i in range(n):
        assert writer.offer("s", {"i": i}, "a")
    writer.close()
    assert writer.written == n
    assert sum(slices) == n
    assert max(slices) <= YIELD_EVERY
    assert len(yields) == (n - 1) // YIELD_EVERY
    assert set(yields) == {writer._thread.native_id}  # the writer yields, not the caller
    assert [r.payload["i"] for r in log.records()] == list(range(n))


def test_hand_over_releases_the_cpu(monkeypatch):
    calls = []
    if not hasattr(os, "sched_yield"):
        pytest.skip("no sched_yield on this platform (time.sleep(0) is used)")
    monkeypatch.setattr(os, "sched_yield", lambda: calls.append(1))
    background.hand_over()
    assert calls == [1]


def test_defer_to_event_loop_leaves_the_calling_thread_only():
    """Lowering a thread's priority never lowers the process's main thread (the event loop)."""
    if not hasattr(os, "getpriority"):
        pytest.skip("no getpriority on this platform")
    before = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    thread = threading.Thread(target=background.defer_to_event_loop)
    thread.start()
    thread.join()
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == before
