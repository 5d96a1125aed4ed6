"""Work that follows each answered request, off the request path, in one background thread:
extraction detection per key, drift over rolling windows of accepted rows, and an optional
shadow model's disagreement rate. Alarms become metrics, log lines, audit records and, when
configured, a webhook POST.

The thread wakes at most every ``interval_ms`` and treats everything queued meanwhile as one
batch. Its queue is bounded: past it, requests go unmonitored (counted in
``pipeward_monitor_skipped``); they are still answered and audited, since audit records
travel on the audit writer's own queue, which never drops one.
"""

from __future__ import annotations

import collections
import json
import logging
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import numpy as np

from ..drift import DriftMonitor
from .background import defer_to_event_loop
from .extraction import ExtractionDetector
from .metrics import ServeMetrics
from .model_file import ServedModel

__all__ = ["BackgroundMonitor"]

log = logging.getLogger("pipeward.serve")


class BackgroundMonitor:
    """``submit(key_id, numeric, table, labels)`` after each answer; the thread does the rest."""

    def __init__(self, metrics: ServeMetrics, *, extraction: ExtractionDetector | None = None,
                 drift: DriftMonitor | None = None, drift_window: int = 500,
                 shadow: ServedModel | None = None,
                 alert: Callable[[str, dict[str, Any]], None] | None = None,
                 webhook: str = "", queue_size: int = 10_000, interval_ms: float = 50.0):
        self.metrics, self.extraction, self.drift, self.shadow = metrics, extraction, drift, shadow
        self.drift_window = max(2, int(drift_window))
        self._alert_sink, self.webhook = alert, webhook
        self._window: list[np.ndarray] = []
        self._window_rows = 0
        self.drift_reports = 0
        self.shadow_rows = 0
        self.shadow_disagreements = 0
        self.alerts: list[dict[str, Any]] = []
        self.dropped = 0
        self._alarmed: set[str] = set()
        # A deque, not a queue.Queue: appending takes no lock and wakes nobody, so a request
        # pays next to nothing; the thread looks every interval.
        self._items: collections.deque[tuple[str, np.ndarray, Any, np.ndarray]] = collections.deque()
        self.capacity = max(1, int(queue_size))
        self.submitted = self.processed = 0
        self.interval_s = interval_ms / 1000.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="pipeward-monitor", daemon=True)
        # No thread when there is nothing to watch: an idle thread still takes the GIL from the
        # event loop at every wake, a stall of the request path for nothing.
        self.active = extraction is not None or drift is not None or shadow is not None
        if self.active:
            self._thread.start()

    def submit(self, key_id: str, numeric: np.ndarray, table: Any, labels: np.ndarray) -> None:
        if not self.active:
            return
        if len(self._items) >= self.capacity:
            self.dropped += 1
            self.metrics.monitor_skipped.inc()
            return
        self.submitted += 1
        self._items.append((key_id, numeric, table, labels))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Block until everything submitted so far was processed (tests, the demo)."""
        target, deadline = self.submitted, time.monotonic() + timeout
        while self.processed < target:
            if time.monotonic() > deadline or not self._thread.is_alive():
                return False
            time.sleep(0.005)
        return True

    def _run(self) -> None:
        defer_to_event_loop()  # below the event loop's CPU priority: requests come first
        # Wake every interval and take everything queued meanwhile as one batch: one native
        # search per key and one shadow call per batch, not per request.
        while not self._stop.wait(self.interval_s):
            batch = []
            while self._items:
                batch.append(self._items.popleft())
            if not batch:
                continue
            try:
                self._process(batch)
            except Exception:  # a monitor fault must never stop the service
                log.exception("monitor: failed on a batch")
            self.processed += len(batch)

    def _process(self, batch: list[tuple[str, np.ndarray, Any, np.ndarray]]) -> None:
        if self.extraction is not None:
            per_key: dict[str, list[np.ndarray]] = {}
            for key_id, numeric, _, _ in batch:
                if numeric.shape[1]:
                    per_key.setdefault(key_id, []).append(numeric)
            for key_id, parts in per_key.items():
                self._observe(key_id, np.concatenate(parts) if len(parts) > 1 else parts[0])
        if self.drift is not None:
            for _, numeric, _, _ in batch:
                if not numeric.shape[1]:
                    continue
                self._window.append(numeric)
                self._window_rows += numeric.shape[0]
                if self._window_rows >= self.drift_window:
                    self._check_drift(np.concatenate(self._window))
                    self._window, self._window_rows = [], 0
        if self.shadow is not None:
            tables = [table for _, _, table, _ in batch]
            labels = np.concatenate([np.asarray(y).reshape(-1) for _, _, _, y in batch])
            other = np.asarray(self.shadow.predict(_stack(tables))).reshape(-1)
            self.shadow_rows += len(other)
            self.shadow_disagreements += int((other != labels).sum())
            self.metrics.shadow_disagreement.set(self.shadow_disagreements / self.shadow_rows)
            self.metrics.shadow_rows.set(self.shadow_rows)

    def _observe(self, key_id: str, numeric: np.ndarray) -> None:
        h = self.extraction.observe(key_id, numeric)
        self.metrics.extraction_w.labels(key_id).set(h.w)
        self.metrics.extraction_alarm.labels(key_id).set(int(h.alarm))
        if h.alarm and key_id not in self._alarmed:
            self._alarmed.add(key_id)
            self.alert("extraction", {"key_id": key_id, "shapiro_w": round(h.w, 6),
                                      "queries": h.observed})

    def _check_drift(self, window: np.ndarray) -> None:
        report = self.drift.check(window)
        self.drift_reports += 1
        for name, p, psi in zip(report.feature_names, report.ks_pvalue_adjusted, report.psi):
            self.metrics.drift_pvalue.labels(name).set(float(p))
            self.metrics.drift_psi.labels(name).set(float(psi))
        self.metrics.drift_alarm.set(int(report.any_drift))
        if report.any_drift:
            self.alert("drift", {"features": report.drifted_features[:20], "rows": int(window.shape[0])})

    def alert(self, kind: str, payload: dict[str, Any]) -> None:
        record = {"alert": kind, **payload}
        self.alerts.append(record)
        log.warning("pipeward serve alert: %s", json.dumps(record, sort_keys=True))
        if self._alert_sink is not None:
            self._alert_sink(kind, payload)
        if self.webhook:
            try:
                req = urllib.request.Request(self.webhook, data=json.dumps(record).encode(),
                                             headers={"Content-Type": "application/json"})
                urllib.request.urlopen(req, timeout=5).close()  # noqa: S310 - the operator's URL
            except OSError as exc:
                log.warning("alert webhook %s failed: %s", self.webhook, exc)

    def close(self, timeout: float = 10.0) -> None:
        """Stop the thread; work still queued is dropped (verdicts, not records)."""
        if self._thread.is_alive():
            self._stop.set()
            self._thread.join(timeout)


def _stack(tables: list[Any]) -> Any:
    """The batch's model inputs as one: matrices stacked, DataFrames concatenated."""
    if len(tables) == 1:
        return tables[0]
    if all(isinstance(t, np.ndarray) for t in tables):
        return np.concatenate(tables)
    import pandas as pd  # noqa: PLC0415 - only categorical models are served from DataFrames

    return pd.concat(tables, ignore_index=True)
