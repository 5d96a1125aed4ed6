"""Prometheus metrics of one service, in its own registry (several apps can share a process)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

__all__ = ["ServeMetrics"]


class ServeMetrics:
    """Counters, gauges and a latency histogram; ``render()`` gives the exposition text."""

    def __init__(self) -> None:
        r = self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("pipeward_requests", "HTTP requests by route and status",
                                ["route", "status"], registry=r)
        self.decisions = Counter("pipeward_decisions", "Request outcomes: served, limited, "
                                 "rejected, flagged, unauthorized, forbidden, too_large, "
                                 "watermarked (rows)", ["decision"], registry=r)
        self.rows = Counter("pipeward_rows_predicted", "Rows answered", registry=r)
        self.latency = Histogram("pipeward_request_seconds", "Request latency", ["route"],
                                 buckets=(.0005, .001, .002, .005, .01, .02, .05, .1, .25, 1, 5),
                                 registry=r)
        self.audit_dropped = Gauge("pipeward_audit_dropped", "Audit records dropped (queue full)",
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

    def render(self) -> bytes:
        return generate_latest(self.registry)
