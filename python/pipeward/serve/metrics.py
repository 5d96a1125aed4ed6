"""Prometheus metrics of one service, in its own registry (several apps can share a process).

The per-request counters and the latency histogram are batched: :meth:`ServeMetrics.count`
adds to plain dicts on the event loop (no lock, no label lookup), and the batch goes into the
prometheus-client series every ``FLUSH_EVERY`` requests and before every scrape.
"""

from __future__ import annotations

import threading
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServeMetrics"]

FLUSH_EVERY = 256


class ServeMetrics:
    """Counters, gauges and a latency histogram; ``render()`` gives the exposition text."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("pipeward_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=r)
        self.decisions = Counter("pipeward_decisions", "Request outcomes: served, limited, "
                                 "rejected, flagged, unauthorized, forbidden, too_large, "
                                 "busy (503: the model pool was full), watermarked (rows)", ["decision"], registry=r)
        self.rows = Counter("pipeward_rows_predicted", "Rows answered", registry=r)
        self.latency = Histogram("pipeward_request_seconds", "Request latency", ["route"],
                                 buckets=(.0005, .001, .002, .005, .01, .02, .05, .1, .25, 1, 5),
                                 registry=r)
        self.audit_waits = Gauge("pipeward_audit_waits", "Times a request waited for room in the "
                                 "full audit queue (records are never dropped)", registry=r)
        self.audit_queued = Gauge("pipeward_audit_queued", "Audit records waiting to be written",
                                  registry=r)
        self.audit_written = Gauge("pipeward_audit_written", "Audit records committed", registry=r)
        self.drift_pvalue = Gauge("pipeward_drift_pvalue", "Adjusted KS p-value of the last "
                                  "drift window", ["feature"], registry=r)
        self.drift_psi = Gauge("pipeward_drift_psi", "PSI of the last drift window", ["feature"],
                               registry=r)
        self.drift_alarm = Gauge("pipeward_drift_alarm", "1 when the last window drifted", registry=r)
        self.extraction_alarm = Gauge("pipeward_extraction_alarm", "1 when a key's queries look "
                                      "like model extraction (PRADA)", ["key"], registry=r)
        self.extraction_w = Gauge("pipeward_extraction_shapiro_w", "Shapiro-Wilk W of a key's "
                                  "minimum query distances", ["key"], registry=r)
        self.shadow_disagreement = Gauge("pipeward_shadow_disagreement", "Share of rows the "
                                         "shadow model labels differently", registry=r)
        self.shadow_rows = Gauge("pipeward_shadow_rows", "Rows the shadow model has scored", registry=r)
        self.monitor_skipped = Counter("pipeward_monitor_skipped", "Answered requests the "
                                       "monitors skipped (their queue was full)", registry=r)

        self._pending: dict[tuple[str, int, str], list[Any]] = {}  # -> [count, latencies]
        self._pending_rows = 0
        self._since_flush = 0
        self._series: dict[tuple[str, int, str], tuple[Any, Any, Any]] = {}
        self._flush_lock = threading.Lock()

    def count(self, route: str, status: int, decision: str, seconds: float, rows: int = 0) -> None:
        """One finished request (called on the event loop)."""
        entry = self._pending.get((route, status, decision))
        if entry is None:
            entry = self._pending[(route, status, decision)] = [0, []]
        entry[0] += 1
        entry[1].append(seconds)
        self._pending_rows += rows
        self._since_flush += 1
        if self._since_flush >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Move the batch into the prometheus-client series."""
        with self._flush_lock:
            pending, rows = self._pending, self._pending_rows
            self._pending, self._pending_rows, self._since_flush = {}, 0, 0
            for key, (n, latencies) in pending.items():
                series = self._series.get(key)
                if series is None:  # the labelled children, looked up once per key
                    route, status, decision = key
                    series = self._series[key] = (self.requests.labels(route, str(status)),
                                                  self.latency.labels(route),
                                                  self.decisions.labels(decision))
                series[0].inc(n)
                series[2].inc(n)
                for seconds in latencies:
                    series[1].observe(seconds)
            if rows:
                self.rows.inc(rows)

    def render(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)
