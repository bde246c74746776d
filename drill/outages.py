"""Vendor outages, one declarative entry per (family, vendor): the vendor fails in every way the
sandbox can (5xx twice, 429 with Retry-After, a held connection past the read timeout, a
connection dropped after the request was sent), then recovers; every delivery must reach it,
in the order it was queued, and only a send cut off in flight may arrive twice.

Adding a family's vendor (accounting, CRM and BI are next) is one entry in OUTAGES:

    VendorOutage(
        family="accounting", provider="xero", vendor="xero",   # the sandbox prefix of its routes
        settings=lambda sandbox: {"base_url": sandbox.vendor_url("xero")},
        secrets=lambda sandbox: {"client_secret": "drill-xero-secret-0001"},
        produce=xero_invoices,
    )

where `produce(config, count, run)` queues `count` deliveries for that configuration through the
family's own code (raising alerts, running its sync on the worker, recording the events it
exports) and returns, in the order the vendor must receive them, a marker for each: a string the
delivery's request body will contain (an alert title, an invoice number, an hour's timestamp).
The drill does the rest: the configuration, the faults, a drain every half second on the worker
(with retry backoff fast-forwarded, as the drill tests what arrives, not when), and the checks.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

from django.utils import timezone

from alerts.lifecycle import raise_alert
from monitoring.exporter import last_finished_hour
from monitoring.metrics import HOUR
from monitoring.models import MonitoringCursor
from wedsync_integrations.core.demo_data import example_record
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.tasks import drain_pair, sync_config
from wedsync_integrations.usage.ingest import ingest_batch

from . import tenants
from .report import Row
from .stack import RUN

DELIVERIES = 8
POLL_SECONDS = 0.5
DRAIN_DEADLINE_SECONDS = 90
# In the order the sandbox applies them, one request each. A held connection outlasts the
# drill's 2 s read timeout; a drop cuts the connection after the request was sent.
FAULTS = [
    {"kind": "status", "status": 503},
    {"kind": "status", "status": 503},
    {"kind": "retry_after", "retry_after": 1},
    {"kind": "timeout", "delay": 3},
    {"kind": "drop"},
]
SENDS_CUT_IN_FLIGHT = sum(1 for fault in FAULTS if fault["kind"] == "drop")


@dataclass(frozen=True)
class VendorOutage:
    family: str
    provider: str
    vendor: str  # the sandbox prefix of its routes: the configuration's base URL ends in /<vendor>
    settings: Callable[[object], dict]  # (sandbox) -> the configuration's settings
    secrets: Callable[[object], dict]  # (sandbox) -> its secrets
    produce: Callable[[object, int, str], list[str]]  # (config, count, run) -> markers, in arrival order

    @property
    def label(self) -> str:
        return f"vendor outage: {self.family} → {self.provider}"


# -- how each family queues deliveries ---------------------------------------------------------------
def raised_alerts(severity: str) -> Callable[[object, int, str], list[str]]:
    """Alerts of `severity` for the configuration's organisation, one channel item each; the
    title, which every channel's message carries, is the marker."""

    def produce(config, count: int, run: str) -> list[str]:
        titles = [f"drill {run} alert {n:03d}" for n in range(count)]
        for title in titles:
            raise_alert(
                organisation=config.organisation, title=title, severity=severity, dispatch=False, escalate=False
            )
        return titles

    return produce


def exported_hours(config, count: int, run: str) -> list[str]:
    """Usage in each of the last `count` finished hours, ingested, then rolled up and exported by
    the family's sync on the worker; each hour's block carries its start in ms (New Relic's
    `timestamp`), the marker."""
    last = last_finished_hour(timezone.now())
    hours = [last - HOUR * (count - 1 - n) for n in range(count)]
    tenants.ensure_usd_rate()
    records = [example_record(f"{run}-{n}", at=hour + HOUR / 2) for n, hour in enumerate(hours)]
    ingest_batch(config.organisation, records)
    MonitoringCursor.objects.create(config=config, last_exported_hour=hours[0] - HOUR)
    sync_config.apply_async(args=[config.family().name, config.pk])
    return [str(int(hour.timestamp() * 1000)) for hour in hours]


OUTAGES = [
    VendorOutage(
        family="alerts",
        provider="slack",
        vendor="slack",
        settings=lambda sandbox: {},
        secrets=lambda sandbox: {
            "webhook_url": sandbox.vendor_url("slack") + "/services/T0DRILL/B0DRILL/drill0123456789"
        },
        produce=raised_alerts("low"),
    ),
    VendorOutage(
        family="alerts",
        provider="pagerduty",
        vendor="pagerduty",
        settings=lambda sandbox: {"base_url": sandbox.vendor_url("pagerduty")},
        secrets=lambda sandbox: {"routing_key": "R0UT1NGKEYDR1LL00000000000000000"},
        produce=raised_alerts("critical"),
    ),
    VendorOutage(
        family="monitoring",
        provider="newrelic",
        vendor="newrelic",
        settings=lambda sandbox: {"base_url": sandbox.vendor_url("newrelic")},
        secrets=lambda sandbox: {"license_key": "0123456789abcdef0123456789abcdefNRAL"},
        produce=exported_hours,
    ),
]


# -- the drill ---------------------------------------------------------------------------------------
def vendor_outages(stack) -> list[Row]:
    return [_outage(stack, outage) for outage in OUTAGES]


def _outage(stack, outage: VendorOutage) -> Row:
    config = configure(stack, outage)
    since = last_seq(stack.sandbox)
    for fault in FAULTS:
        stack.sandbox.fault("/" + outage.vendor, **fault)
    markers = outage.produce(config, DELIVERIES, RUN)
    recovered_in = drain_until_delivered(stack, config, outage.vendor, markers, since)
    return outage_row(
        outage.label, stack.sandbox, outage.vendor, markers, since, recovered_in, allowed_duplicates=SENDS_CUT_IN_FLIGHT
    )


def configure(stack, outage: VendorOutage):
    org = tenants.organisation(tenants.random_slug(f"drill-{outage.provider}"))
    return tenants.configure(
        outage.family,
        org,
        outage.provider,
        settings=outage.settings(stack.sandbox),
        secrets_=outage.secrets(stack.sandbox),
    )


def last_seq(sandbox) -> int:
    recorded = sandbox.requests()
    return recorded[-1].seq if recorded else 0


def drain_until_delivered(stack, config, vendor: str, markers: list[str], since: int, *, queue: str | None = None):
    """Ask the worker to drain the configuration's pair every POLL_SECONDS, backoff fast-forwarded,
    until every marker has reached the vendor and nothing is pending. Returns the seconds from the
    end of the outage (no fault left armed) to then, or None if that never happened."""
    family = config.family()
    items = family.retry_model.objects.filter(organisation_id=config.organisation_id, provider=config.provider)
    outage_over_at = None
    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if outage_over_at is None and not stack.sandbox.faults():
            outage_over_at = time.monotonic()
        if outage_over_at and _all_arrived(stack.sandbox, vendor, markers, since) and not _pending(items):
            return time.monotonic() - outage_over_at
        items.filter(state=RetryState.PENDING).update(next_attempt_at=timezone.now())
        request_drain(config, queue)
        time.sleep(POLL_SECONDS)
    return None


def request_drain(config, queue: str | None = None) -> None:
    """What beat's drain schedule does: a drain of the configuration's pair, on a worker."""
    drain_pair.apply_async(args=[config.family().name, config.organisation_id, config.provider], queue=queue)


def _pending(items) -> bool:
    return items.filter(state=RetryState.PENDING).exists()


def deliveries(sandbox, vendor: str, markers: list[str], since: int) -> list[str]:
    """The marker of each request the vendor took, in arrival order: answered 2xx, or cut off
    after it was sent (the vendor may have it)."""
    arrived = []
    for request in sandbox.requests("/" + vendor, since=since):
        if request.fault == "drop" or (request.status is not None and 200 <= request.status < 300):
            text = request.text()
            arrived.extend(marker for marker in markers if marker in text)
    return arrived


def _all_arrived(sandbox, vendor: str, markers: list[str], since: int) -> bool:
    return set(markers) <= set(deliveries(sandbox, vendor, markers, since))


def outage_row(
    label: str, sandbox, vendor: str, markers: list[str], since: int, recovered_in, *, allowed_duplicates: int
) -> Row:
    """What the vendor received against what was queued: lost, doubled, out of order."""
    arrived = deliveries(sandbox, vendor, markers, since)
    copies = Counter(arrived)
    row = Row(
        label,
        requests=len(sandbox.requests("/" + vendor, since=since)),
        accepted=len(markers),
        stored=len(copies),
        lost=len(set(markers) - set(copies)),
        duplicated=sum(count - 1 for count in copies.values()),
        recovered_in=recovered_in,
        allowed_duplicates=allowed_duplicates,
    )
    first_arrivals = list(dict.fromkeys(arrived))
    if first_arrivals != [marker for marker in markers if marker in copies]:
        row.problems.append("delivered out of order")
    if recovered_in is None:
        row.problems.append(f"not all delivered within {DRAIN_DEADLINE_SECONDS} s")
    return row
