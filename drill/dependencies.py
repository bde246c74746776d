"""The web server with its cache, then its broker, pointed at a port where nothing listens.

Cache: every request path degrades (issue 14, item 3): usage is stored, webhooks are stored,
a tenant's scrape answers. Broker: webhooks of sources published at once are still stored and
acknowledged; once the broker is back, the sweeper (beat's every 10 s, here the drill's every
second) publishes them and the worker processes every one."""

from __future__ import annotations

import time

import requests

from bench.common import free_port
from webhooks.models import EventStatus, InboundEvent
from webhooks.tasks import sweep
from wedsync_integrations.core.demo_data import example_record
from wedsync_integrations.usage.models import AIUsageRecord

from . import tenants
from .report import Row
from .traffic import acknowledged, pagerduty_event, post_pagerduty, post_usage

BATCHES = 5
BATCH = 20
WEBHOOKS = 10
SCRAPE_TOKEN = "drill-scrape-token-0123456789"
SWEEP_EVERY_SECONDS = 1.0
PROCESSING_DEADLINE_SECONDS = 60


def _dead_port_url() -> str:
    return f"redis://127.0.0.1:{free_port()}/0"


def cache_at_a_dead_port(stack) -> list[Row]:
    org = tenants.organisation(tenants.random_slug("drill-nocache"))
    token = tenants.usage_token(org)
    tenants.pagerduty_source(org)
    tenants.configure("monitoring", org, "prometheus", settings={}, secrets_={"bearer_token": SCRAPE_TOKEN})
    stack.restart_web(CACHE_URL=_dead_port_url())
    try:
        row = Row("cache at a dead port")
        acked = _send_usage(stack.web.base, token, org.slug, row)
        genuine = _send_webhooks(stack.web.base, org.slug, "nocache", row)
        _scrape(stack.web.base, org.slug, row)
    finally:
        stack.restart_web()
    stored_records = set(AIUsageRecord.objects.filter(organisation=org).values_list("request_id", flat=True))
    events = _events(org)
    row.stored = len(stored_records) + len(events)
    row.lost = len(acked - stored_records) + len(genuine - set(events))
    return [row]


def broker_at_a_dead_port(stack) -> list[Row]:
    org = tenants.organisation(tenants.random_slug("drill-nobroker"))
    tenants.pagerduty_source(org)  # an alert source: published as it is stored, not by the sweeper
    stack.restart_web(CELERY_BROKER_URL=_dead_port_url())
    try:
        row = Row("broker at a dead port")
        genuine = _send_webhooks(stack.web.base, org.slug, "nobroker", row)
    finally:
        stack.restart_web()
    back_at = time.monotonic()
    processed = _sweep_until_processed(org, len(genuine))
    events = _events(org)
    row.stored, row.lost = len(events), len(genuine - set(events))
    row.recovered_in = time.monotonic() - back_at if processed else None
    if not processed:
        row.problems.append(f"events not all processed within {PROCESSING_DEADLINE_SECONDS} s of the broker's return")
    return [row]


def _send_usage(base: str, token: str, slug: str, row: Row) -> set[str]:
    session, acked = requests.Session(), set()
    for batch in range(BATCHES):
        ids = [f"{slug}-{batch}-{n}" for n in range(BATCH)]
        response = post_usage(session, base, token, [example_record(request_id) for request_id in ids])
        row.requests += 1
        if response.ok and acknowledged(response) == len(ids):
            acked.update(ids)
            row.accepted += len(ids)
        else:
            row.problems.append(f"usage batch: HTTP {response.status_code}")
    return acked


def _send_webhooks(base: str, slug: str, prefix: str, row: Row) -> set[str]:
    """Genuine PagerDuty deliveries; returns the event ids acknowledged."""
    session, acked = requests.Session(), set()
    for n in range(WEBHOOKS):
        event_id = f"{prefix}-{n}"
        response = post_pagerduty(
            base, slug, pagerduty_event(event_id), signed=True, sender="203.0.113.10", session=session
        )
        row.requests += 1
        if response.ok:
            acked.add(event_id)
            row.accepted += 1
        else:
            row.problems.append(f"webhook: HTTP {response.status_code}")
    return acked


def _scrape(base: str, slug: str, row: Row) -> None:
    response = requests.get(
        f"{base}/metrics/ai/{slug}", headers={"Authorization": f"Bearer {SCRAPE_TOKEN}"}, timeout=30
    )
    row.requests += 1
    if response.status_code != 200:
        row.problems.append(f"scrape: HTTP {response.status_code}")


def _events(org) -> list[str]:
    """The vendor event ids stored for `org` (PagerDuty's event.id)."""
    return list(InboundEvent.objects.filter(organisation=org).values_list("external_id", flat=True))


def _sweep_until_processed(org, expected: int) -> bool:
    finished = InboundEvent.objects.filter(organisation=org, status__in=[EventStatus.PROCESSED, EventStatus.UNHANDLED])
    deadline = time.monotonic() + PROCESSING_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if finished.count() >= expected:
            return True
        sweep.apply_async()
        time.sleep(SWEEP_EVERY_SECONDS)
    return False
