"""Request records written to an ``AuditLog`` in batches, off the request path.

Handlers put a dict on a bounded queue (never blocking: past the bound a record is counted as
dropped, and the count is a metric); one background thread wakes on the first record, lets
``flush_ms`` pass (so a busy service writes one transaction per interval, not per request, and
the thread does not contend with the handlers on every request), then appends everything
queued, ``batch`` records per SQLite transaction. A
record is committed once its transaction is; killing the process loses only records still in
the queue, never a committed one, and the hash chain stays intact (the log is WAL-mode SQLite).
"""

from __future__ import annotations

import logging
import queue
import threading
from typing import Any

from ..audit import AuditLog

__all__ = ["AuditWriter"]

log = logging.getLogger("pipeward.serve")
ACTION = "serve.request"


class AuditWriter:
    """Background batch writer; ``submit(subject, payload, actor)`` from any thread."""

    def __init__(self, audit: AuditLog, *, batch: int = 256, flush_ms: float = 50.0,
                 queue_size: int = 100_000):
        self.audit = audit
        self.batch, self.flush_s = max(1, int(batch)), max(0.001, flush_ms / 1000.0)
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=max(1, int(queue_size)))
        self.dropped = 0
        self.written = 0
        self.failed = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeward-audit", daemon=True)
        self._thread.start()

    def submit(self, subject: str, payload: dict[str, Any], actor: str) -> None:
        try:
            self._queue.put_nowait({"action": ACTION, "subject": subject, "payload": payload,
                                    "actor": actor})
        except queue.Full:
            self.dropped += 1

    def _run(self) -> None:
        done = False
        while not done:
            first = self._queue.get()
            entries = [] if first is None else [first]
            done = first is None
            if not done:
                self._stop.wait(self.flush_s)  # gather a flush interval's worth
            while True:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    done = True
                    continue
                entries.append(item)
                if len(entries) >= self.batch:
                    self._write(entries)
                    entries = []
            if entries:
                self._write(entries)

    def _write(self, entries: list[dict[str, Any]]) -> None:
        try:
            self.audit.append_many(entries)
            self.written += len(entries)
        except Exception:  # a full disk must not take the service down; the count says so
            self.failed += len(entries)
            log.exception("audit: could not write %d records", len(entries))

    def close(self, timeout: float = 10.0) -> None:
        """Write everything queued, then stop the thread."""
        if self._thread.is_alive():
            self._stop.set()
            self._queue.put(None)
            self._thread.join(timeout)
