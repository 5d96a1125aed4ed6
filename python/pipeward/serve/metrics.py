"""Prometheus metrics of one service, in its own registry (several apps can share a process).

The per-request counters are batched: :meth:`ServeMetrics.count` adds to plain dicts on the
event loop (no lock, no label lookup), and the batch goes into the prometheus-client series
every ``FLUSH_EVERY`` requests and before every scrape. The latency histogram is a collector of
its own, :class:`LatencyHistogram`: one bucket count added per request, the exposition made at
the scrape (prometheus-client's ``Histogram.observe``, a lock and a bucket walk per value, ran
256 times in one flush on the event loop: a stall of the requests in flight).
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, generate_latest
from prometheus_client.core import HistogramMetricFamily
from prometheus_client.registry import Collector
from prometheus_client.utils import floatToGoString

__all__ = ["LatencyHistogram", "ServeMetrics"]

FLUSH_EVERY = 256
LATENCY_BUCKETS = (.0005, .001, .002, .005, .01, .02, .05, .1, .25, 1, 5)


class LatencyHistogram(Collector):
    """A histogram by one label whose :meth:`observe` costs a bisect and an add; exposed as
    prometheus-client's ``Histogram`` exposes it (cumulative ``le`` buckets, ``+Inf``, sum)."""

    def __init__(self, name: str, documentation: str, label: str, buckets: tuple[float, ...]):
        self.name, self.documentation, self.label = name, documentation, label
        self.bounds = tuple(float(b) for b in buckets)
        self._series: dict[str, list[Any]] = {}  # label value -> [counts per bucket + inf, sum]

    def observe(self, value: str, seconds: float) -> None:
        series = self._series.get(value)
        if series is None:
            series = self._series[value] = [[0] * (len(self.bounds) + 1), 0.0]
        series[0][bisect.bisect_left(self.bounds, seconds)] += 1  # "le": a bound counts its own value
        series[1] += seconds

    def collect(self) -> Iterator[HistogramMetricFamily]:
        family = HistogramMetricFamily(self.name, self.documentation, labels=[self.label])
        for value, (counts, total) in list(self._series.items()):
            cumulative, buckets = 0, []
            for bound, n in zip((*self.bounds, float("inf")), list(counts)):
                cumulative += n
                buckets.append((floatToGoString(bound), cumulative))
            family.add_metric([value], buckets, total)
        yield family


class ServeMetrics:
    """Counters, gauges and a latency histogram; ``render()`` gives the exposition text."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("pipeward_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=r)
        self.decisions = Counter("pipeward_decisions", "Request outcomes: served, limited, "
                                 "rejected, flagged, unauthorized, forbidden, too_large, "
                                 "busy (503: the model pool was full), unaudited (503: the audit log could not be "
                                 "written), watermarked (rows)", ["decision"], registry=r)
        self.rows = Counter("pipeward_rows_predicted", "Rows answered", registry=r)
        self.latency = LatencyHistogram("pipeward_request_seconds", "Request latency", "route",
                                         LATENCY_BUCKETS)
        r.register(self.latency)
        self.audit_waits = Gauge("pipeward_audit_waits", "Times a request waited for room in the "
                                 "full audit queue (records are never dropped)", registry=r)
        self.audit_queued = Gauge("pipeward_audit_queued", "Audit records waiting to be written",
                                  registry=r)
        self.audit_written = Gauge("pipeward_audit_written", "Audit records committed", registry=r)
        self.audit_failing = Gauge("pipeward_audit_failing", "1 while the audit log cannot be "
                                   "written (predictions are refused meanwhile)", registry=r)
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

        self._pending: dict[tuple[str, int, str], int] = {}  # -> requests
        self._pending_rows = 0
        self._since_flush = 0
        self._series: dict[tuple[str, int, str], tuple[Any, Any]] = {}
        self._flush_lock = threading.Lock()

    def count(self, route: str, status: int, decision: str, seconds: float, rows: int = 0) -> None:
        """One finished request (called on the event loop)."""
        key = (route, status, decision)
        self._pending[key] = self._pending.get(key, 0) + 1
        self.latency.observe(route, seconds)
        self._pending_rows += rows
        self._since_flush += 1
        if self._since_flush >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        """Move the batch into the prometheus-client series."""
        with self._flush_lock:
            pending, rows = self._pending, self._pending_rows
            self._pending, self._pending_rows, self._since_flush = {}, 0, 0
            for key, n in pending.items():
                series = self._series.get(key)
                if series is None:  # the labelled children, looked up once per key
                    route, status, decision = key
                    series = self._series[key] = (self.requests.labels(route, str(status)),
                                                  self.decisions.labels(decision))
                series[0].inc(n)
                series[1].inc(n)
            if rows:
                self.rows.inc(rows)

    def render(self) -> bytes:
        self.flush()
        return generate_latest(self.registry)
