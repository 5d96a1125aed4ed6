"""The service's latency histogram against prometheus-client's own ``Histogram`` (the peer):
the same values give the same exposition."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

pytest.importorskip("prometheus_client", reason="the serve extra is not installed")

from prometheus_client import CollectorRegistry, Histogram, generate_latest  # noqa: E402

from pipeward.serve.metrics import LATENCY_BUCKETS, LatencyHistogram, ServeMetrics  # noqa: E402


def _samples(text: bytes) -> dict[str, float]:
    """name{labels} -> value of the histogram's bucket, count and sum lines."""
    out = {}
    for line in text.decode().splitlines():
        if line.startswith("pipeward_request_seconds_") and "_created" not in line:
            name, value = line.rsplit(" ", 1)
            out[name] = float(value)
    return out


routes = st.sampled_from(["/v1/predict", "/healthz", "other"])
seconds = st.one_of(st.sampled_from(LATENCY_BUCKETS), st.floats(0, 10, allow_nan=False))


@settings(deadline=None, max_examples=60)
@given(st.lists(st.tuples(routes, seconds), min_size=1, max_size=300))
def test_exposition_equals_prometheus_client_histogram(observations):
    ours_registry, peer_registry = CollectorRegistry(), CollectorRegistry()
    ours = LatencyHistogram("pipeward_request_seconds", "Request latency", "route", LATENCY_BUCKETS)
    ours_registry.register(ours)
    peer = Histogram("pipeward_request_seconds", "Request latency", ["route"], buckets=LATENCY_BUCKETS,
                     registry=peer_registry)
    for route, s in observations:
        ours.observe(route, s)
        peer.labels(route).observe(s)
    mine, theirs = _samples(generate_latest(ours_registry)), _samples(generate_latest(peer_registry))
    assert mine.keys() == theirs.keys() and len(mine) > 0
    for name, value in theirs.items():
        assert mine[name] == pytest.approx(value, rel=1e-12, abs=1e-12), name


def test_service_metrics_count_every_request_in_the_histogram():
    metrics = ServeMetrics()
    latencies = np.random.default_rng(0).exponential(0.004, size=1000)
    for s in latencies:
        metrics.count("/v1/predict", 200, "served", float(s), rows=1)
    text = metrics.render().decode()
    assert 'pipeward_request_seconds_count{route="/v1/predict"} 1000.0' in text
    assert f'pipeward_request_seconds_bucket{{le="0.002",route="/v1/predict"}} {float((latencies <= 0.002).sum())}' in text
    assert 'pipeward_requests_total{route="/v1/predict",status="200"} 1000.0' in text
    assert "pipeward_rows_predicted_total 1000.0" in text
