"""Request records written to an ``AuditLog`` in batches, off the request path.

Records go on a bounded in-memory queue (a deque: appending takes no lock, so queueing a
record costs the event loop next to nothing); one background thread wakes every ``flush_ms``,
and appends everything queued, ``batch`` records per SQLite transaction, so a busy service
writes one transaction per interval, not per request. No record is ever dropped: when the
queue is full the caller waits for room (the event loop with ``await put(...)``, which holds
back that connection's next request; other threads with ``put_blocking``), and the number of
waits is a metric. A record is committed once its transaction is; killing the process loses
only records still in the queue, never a committed one, and the hash chain stays intact (the
log is WAL-mode SQLite).

When the log cannot be written (a full disk, a lock held past the timeout), the batch goes back
to the front of the queue and is retried with back-off; nothing is dropped. Meanwhile
``failing`` says why, and the service fails closed: it answers no prediction it cannot record
(503) and ``/healthz`` reports the fault, until a write succeeds again. A record that can never
be written (a payload outside the log's JSON subset) is isolated from its batch and replaced by
an ``audit.unwritable`` record that names the error, so it cannot stall the rest.

Preparing a record (canonical JSON, checks) holds the GIL; the writer hands the GIL and the
CPU over every ``YIELD_EVERY`` records, so an event loop waiting for them waits for that much
work (~0.1 ms), not for the interpreter's switch interval or the kernel's time slice; and the
thread runs below the loop's CPU priority (:mod:`.background`).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from typing import Any

from ..audit import AuditLog
from .background import defer_to_event_loop, hand_over

__all__ = ["AuditWriter"]

log = logging.getLogger("pipeward.serve")
ACTION = "serve.request"
YIELD_EVERY = 16
RETRY_MAX_S = 1.0  # longest wait between attempts while the log cannot be written
# What a later attempt may cure (the storage); anything else is about the record itself.
TRANSIENT = (sqlite3.Error, OSError, TimeoutError)
UNWRITABLE = "audit.unwritable"


def _yielding(entries: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    """``entries``, handing the GIL and the CPU over between every ``YIELD_EVERY`` of them."""
    for i, entry in enumerate(entries):
        if i and i % YIELD_EVERY == 0:
            hand_over()
        yield entry


class AuditWriter:
    """Background batch writer. ``offer`` (never blocks; False when full), ``await put`` (the
    event loop) and ``put_blocking`` (other threads) queue one record."""

    def __init__(self, audit: AuditLog, *, batch: int = 256, flush_ms: float = 50.0,
                 queue_size: int = 100_000):
        self.audit = audit
        self.batch, self.flush_s = max(1, int(batch)), max(0.001, flush_ms / 1000.0)
        self.capacity = max(1, int(queue_size))
        self._records: collections.deque[dict[str, Any]] = collections.deque()
        self.written = 0
        self.failed = 0  # records whose write attempt failed (each is retried, never dropped)
        self.unwritable = 0  # records replaced by an audit.unwritable record
        self.waits = 0
        self.failing: str | None = None  # why the log cannot be written now; None when it can
        self._retry_s = self.flush_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeward-audit", daemon=True)
        self._thread.start()

    def offer(self, subject: str, payload: dict[str, Any], actor: str, action: str = ACTION) -> bool:
        if len(self._records) >= self.capacity:
            return False
        self._records.append({"action": action, "subject": subject, "payload": payload, "actor": actor})
        return True

    async def put(self, subject: str, payload: dict[str, Any], actor: str, action: str = ACTION) -> None:
        """Queue a record, waiting (without blocking the loop) while the queue is full."""
        while not self.offer(subject, payload, actor, action):
            self.waits += 1
            await asyncio.sleep(self.flush_s / 4)

    def put_blocking(self, subject: str, payload: dict[str, Any], actor: str, action: str = ACTION) -> None:
        """Queue a record from a thread other than the event loop's, waiting while full."""
        while not self.offer(subject, payload, actor, action):
            self.waits += 1
            time.sleep(self.flush_s / 4)

    @property
    def queued(self) -> int:
        return len(self._records)

    def _run(self) -> None:
        defer_to_event_loop()
        while True:
            stopping = self._stop.wait(self._retry_s if self.failing else self.flush_s)
            while self._records:
                entries = []
                while self._records and len(entries) < self.batch:
                    entries.append(self._records.popleft())
                done = self._write(entries)
                if done < len(entries):
                    self._records.extendleft(reversed(entries[done:]))  # back in front, in order
                    break
            if stopping:
                if self._records:
                    log.error("audit: stopping with %d records not written (%s)",
                              len(self._records), self.failing)
                return

    def _write(self, entries: list[dict[str, Any]]) -> int:
        """Append ``entries``; returns how many of them, from the front, are now in the log
        (fewer than all when the storage failed: the rest are retried)."""
        try:
            self.audit.append_many(_yielding(entries))
        except TRANSIENT as exc:
            return self._storage_failed(exc, len(entries))
        except (TypeError, ValueError) as exc:
            if len(entries) > 1:  # find the record at fault; write the others
                half = len(entries) // 2
                done = self._write(entries[:half])
                return done if done < half else half + self._write(entries[half:])
            if entries[0]["action"] == UNWRITABLE:  # even the stand-in fails: the log itself does
                return self._storage_failed(exc, 1)
            log.error("audit: a %r record cannot be written (%s); an %s record stands in for it",
                      entries[0]["action"], exc, UNWRITABLE)
            done = self._write([{"action": UNWRITABLE, "actor": "pipeward-serve",
                                 "subject": str(entries[0].get("subject", ""))[:200],
                                 "payload": {"action": str(entries[0]["action"])[:200],
                                             "error": f"{type(exc).__name__}: {exc}"[:500]}}])
            self.unwritable += done
            return done
        if self.failing is not None:
            log.warning("audit: the log can be written again")
        self.failing, self._retry_s = None, self.flush_s
        self.written += len(entries)
        return len(entries)

    def _storage_failed(self, exc: BaseException, n: int) -> int:
        self.failed += n
        if self.failing is None:
            log.error("audit: cannot write the log (%s: %s); predictions are refused until it "
                      "can", type(exc).__name__, exc)
        self.failing = f"{type(exc).__name__}: {exc}"[:300]
        self._retry_s = min(RETRY_MAX_S, self._retry_s * 2)
        return 0

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop the thread."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout)
