"""Prometheus counters for the inbound endpoint and the processing of events (exposed on /metrics)."""

from prometheus_client import Counter

REQUESTS = Counter(
    "wedsync_webhook_requests",
    "Inbound webhook requests by source and outcome (accepted, duplicate, rejected, malformed, throttled, …).",
    ["source", "outcome"],
)
EVENTS = Counter(
    "wedsync_webhook_events_processed",
    "Inbound events processed by source and result (processed, unhandled, retrying, failed).",
    ["source", "result"],
)
