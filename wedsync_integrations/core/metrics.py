"""The service's own Prometheus metrics (exposed on /metrics).

Counters are process-local; under gunicorn with several workers set PROMETHEUS_MULTIPROC_DIR
(the run scripts do) and the view aggregates every worker's files. Queue depths are read from
the database at scrape time (collectors other apps register here), so every process reports the
same truth.
"""

from __future__ import annotations

import os
import time

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest, multiprocess
from prometheus_client.registry import REGISTRY, Collector

HTTP_REQUESTS = Counter(
    "wedsync_http_requests", "HTTP requests served, by view and status.", ["view", "method", "status"]
)
HTTP_LATENCY = Histogram(
    "wedsync_http_request_duration_seconds",
    "HTTP request duration.",
    ["view"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
USAGE_RECORDS = Counter("wedsync_usage_records", "AI-usage records received, by result.", ["result"])
VENDOR_CALLS = Counter(
    "wedsync_vendor_calls", "Outbound vendor calls, by family, provider and outcome.", ["family", "provider", "outcome"]
)


class RequestMetricsMiddleware:
    """Counts every request by view name (not raw path: unbounded label values would explode)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        match = getattr(request, "resolver_match", None)
        view = match.view_name if match and match.view_name else "unmatched"
        HTTP_REQUESTS.labels(
            view, request.method if request.method in _METHODS else "OTHER", response.status_code
        ).inc()
        HTTP_LATENCY.labels(view).observe(time.perf_counter() - started)
        return response


_METHODS = {"GET", "POST", "PUT", "PATCH", "DELETE", "HEAD", "OPTIONS"}
# Collectors that read the database at scrape time (the kernel's outbox depths, registered by the
# integrations app): in multiprocess mode each scrape builds a fresh registry and adds them again.
_database_collectors: list[Collector] = []


def register_collector(collector: Collector) -> None:
    """Expose a scrape-time collector on /metrics (once, whatever the process mode)."""
    if collector not in _database_collectors:
        _database_collectors.append(collector)
        REGISTRY.register(collector)


def render() -> bytes:
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        for collector in _database_collectors:
            registry.register(collector)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
