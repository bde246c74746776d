"""Vendor outages, one declarative entry per (family, vendor): the vendor fails in every way the
sandbox can (5xx twice, 429 with Retry-After, a held connection past the read timeout, a
connection dropped after the request was sent, and one whose reply is lost after the vendor acted
on it), then recovers; every delivery must reach it, in the order it was queued, and only a send
whose reply was lost may arrive twice — none at all where the vendor's contract makes a resend
harmless (an idempotency key, a look-up before sending again).

Adding a family's vendor is one entry in OUTAGES:

    VendorOutage(
        family="crm", provider="lightblue", vendor="lightblue",   # the sandbox prefix of its routes
        settings=lambda sandbox: {"base_url": sandbox.vendor_url("lightblue") + "/api.php", ...},
        secrets=lambda sandbox: {"api_key": "drill-lightblue-key-0001"},
        produce=exports.monthly_reports,
        faults_on=Sends("/lightblue/api.php", "POST"),   # optional: only its sends, not its reads
        held=exports.lightblue_inbox,                    # optional: what the vendor holds, not what it was sent
        resend_safe=True,                                # optional: a resend never makes a second copy
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
from wedsync_integrations.integrations.breaker import CircuitBreaker, CircuitState
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.tasks import drain_pair, sync_config
from wedsync_integrations.usage.ingest import ingest_batch

from . import exports, tenants
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
    {"kind": "drop"},  # the vendor never acts on it: the resend is its only copy
    {"kind": "reply_lost"},  # the vendor acted on it: a blind resend makes a second copy
]
REPLIES_LOST = sum(1 for fault in FAULTS if fault["kind"] == "reply_lost")


@dataclass(frozen=True)
class Sends:
    """The requests that deliver (a path prefix, and a method if reads share it): the faults hit
    these, so a cut-off send is a delivery, not a read before it."""

    prefix: str
    method: str = ""


@dataclass(frozen=True)
class VendorOutage:
    family: str
    provider: str
    vendor: str  # the sandbox prefix of its routes: the configuration's base URL ends in /<vendor>
    settings: Callable[[object], dict]  # (sandbox) -> the configuration's settings
    secrets: Callable[[object], dict]  # (sandbox) -> its secrets
    produce: Callable[[object, int, str], list[str]]  # (config, count, run) -> markers, in arrival order
    faults_on: Sends | None = None  # default: every request under /<vendor>
    # (sandbox) -> one text per thing the vendor holds, in the order it took them (its ledger, inbox,
    # dataset). Default: the bodies of the requests it answered 2xx, which would count a resend the
    # vendor recognised (an idempotency key, a duplicate ID) as a second copy.
    held: Callable[[object], list[str]] | None = None
    # The vendor's contract makes a resend harmless (an idempotency key, a refused duplicate ID, or a
    # look-up before posting again): not even a send whose reply was lost may arrive twice.
    resend_safe: bool = False

    @property
    def label(self) -> str:
        return f"vendor outage: {self.family} → {self.provider}"

    @property
    def sends(self) -> Sends:
        return self.faults_on or Sends("/" + self.vendor)

    @property
    def allowed_duplicates(self) -> int:
        return 0 if self.resend_safe else REPLIES_LOST

    def arrived(self, sandbox, markers: list[str], since: int) -> list[str]:
        """The marker of each delivery the vendor holds, in the order it took them."""
        if self.held is None:
            return deliveries(sandbox, self.vendor, markers, since)
        return markers_in(self.held(sandbox), markers)


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
    # Accounting: month-end documents, one per closed month. Both ledgers are OAuth 2.0: the drill
    # connects them headlessly with a refresh token from the sandbox's authorization server (its
    # "OAuth playground"), which the worker renews at its first call. A resend is harmless: Xero
    # replays the first answer to a repeated Idempotency-Key; QuickBooks to a repeated requestid,
    # and a retry looks the document number up before posting again.
    VendorOutage(
        family="accounting",
        provider="xero",
        vendor="xero",
        settings=exports.ledger_settings("xero"),
        secrets=exports.ledger_secrets("xero"),
        produce=exports.month_end_documents,
        faults_on=Sends("/xero/api.xro/2.0/Invoices", "PUT"),
        held=exports.ledger("xero"),
        resend_safe=True,
    ),
    VendorOutage(
        family="accounting",
        provider="quickbooks",
        vendor="quickbooks",
        settings=exports.ledger_settings("quickbooks"),
        secrets=exports.ledger_secrets("quickbooks"),
        produce=exports.month_end_documents,
        faults_on=Sends(f"/quickbooks/v3/company/{exports.QBO_REALM}/bill", "POST"),
        held=exports.ledger("quickbooks"),
        resend_safe=True,
    ),
    # CRM: the monthly value report of each closed month. Light Blue refuses a repeated (Source, ID);
    # Tave has no key, so a resend first looks for the note's reference among the studio's notes.
    VendorOutage(
        family="crm",
        provider="lightblue",
        vendor="lightblue",
        settings=lambda sandbox: {
            "base_url": sandbox.vendor_url("lightblue") + "/api.php",
            "contact_email": "studio@drill.example",
        },
        secrets=lambda sandbox: {"api_key": "drill-lightblue-key-0001"},
        produce=exports.monthly_reports,
        faults_on=Sends("/lightblue/api.php", "POST"),
        held=exports.lightblue_inbox,
        resend_safe=True,
    ),
    VendorOutage(
        family="crm",
        provider="tave",
        vendor="tave",
        settings=lambda sandbox: {"base_url": sandbox.vendor_url("tave")},
        secrets=lambda sandbox: {"api_key": "drill-tave-studio-key-0001"},
        produce=exports.monthly_reports,
        faults_on=Sends("/tave/note", "POST"),
        resend_safe=True,
    ),
    # BI: Power BI push rows, one push per day of new usage. POST rows has no idempotency key: a
    # batch whose 200 was lost is sent again (its rows carry batch_id, so a report can drop them).
    VendorOutage(
        family="bi",
        provider="powerbi",
        vendor="powerbi",
        settings=exports.powerbi_settings,
        secrets=lambda sandbox: {"client_id": "drill-powerbi-client", "client_secret": "drill-powerbi-secret-0001"},
        produce=exports.pushed_days,
        faults_on=Sends(f"/powerbi/v1.0/myorg/groups/{exports.POWERBI_WORKSPACE}/datasets/", "POST"),
        held=exports.powerbi_metric_rows,
    ),
]


# -- the drill ---------------------------------------------------------------------------------------
def vendor_outages(stack) -> list[Row]:
    rows = []
    for outage in OUTAGES:
        begun = time.monotonic()
        rows.append(_outage(stack, outage))
        print(f"   {outage.label}: {time.monotonic() - begun:.0f} s", flush=True)
    return rows


def _outage(stack, outage: VendorOutage) -> Row:
    config = configure(stack, outage)
    since = last_seq(stack.sandbox)
    for fault in FAULTS:
        stack.sandbox.fault(outage.sends.prefix, method=outage.sends.method, **fault)
    markers = outage.produce(config, DELIVERIES, RUN)

    def arrived() -> list[str]:
        return outage.arrived(stack.sandbox, markers, since)

    recovered_in = drain_until_delivered(stack, config, markers, arrived)
    requests = len(vendor_requests(stack.sandbox, outage.vendor, since))
    return outage_row(
        outage.label, requests, markers, arrived(), recovered_in, allowed_duplicates=outage.allowed_duplicates
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


def drain_until_delivered(stack, config, markers: list[str], arrived: Callable[[], list[str]], *, queue=None):
    """Ask the worker to drain the configuration's pair every POLL_SECONDS, backoff fast-forwarded,
    until every marker has reached the vendor (`arrived()`) and nothing is pending. Returns the
    seconds from the end of the outage (no fault left armed) to then, or None if that never happened."""
    family = config.family()
    items = family.retry_model.objects.filter(organisation_id=config.organisation_id, provider=config.provider)
    # Backoff is fast-forwarded, the open circuit's wait is not: an item made due while the circuit
    # is open spends an attempt on the refusal, and twice a second that would use up its attempts
    # in a few seconds, which production's spaced retries never do.
    breaker = CircuitBreaker(family.name, config.organisation_id, config.provider)
    outage_over_at = None
    deadline = time.monotonic() + DRAIN_DEADLINE_SECONDS
    while time.monotonic() < deadline:
        if outage_over_at is None and not stack.sandbox.faults():
            outage_over_at = time.monotonic()
        if outage_over_at and set(markers) <= set(arrived()) and not _pending(items):
            return time.monotonic() - outage_over_at
        if breaker.state() != CircuitState.OPEN:
            items.filter(state=RetryState.PENDING).update(next_attempt_at=timezone.now())
        request_drain(config, queue)
        time.sleep(POLL_SECONDS)
    return None


def request_drain(config, queue: str | None = None) -> None:
    """What beat's drain schedule does: a drain of the configuration's pair, on a worker."""
    drain_pair.apply_async(args=[config.family().name, config.organisation_id, config.provider], queue=queue)


def _pending(items) -> bool:
    return items.filter(state=RetryState.PENDING).exists()


def vendor_requests(sandbox, vendor: str, since: int) -> list:
    """What the service sent the vendor: its requests, not the drill's reads of a fake's control
    endpoints (/<vendor>/__ledger and the like)."""
    return [request for request in sandbox.requests("/" + vendor, since=since) if "/__" not in request.path]


def deliveries(sandbox, vendor: str, markers: list[str], since: int) -> list[str]:
    """The marker of each request the vendor took, in arrival order: those its routes answered 2xx,
    including one whose reply was lost on the way back (the vendor acted on it). A request dropped
    or held before the vendor acted is not one."""
    return markers_in(
        [
            request.text()
            for request in vendor_requests(sandbox, vendor, since)
            if request.status is not None and 200 <= request.status < 300
        ],
        markers,
    )


def markers_in(texts: list[str], markers: list[str]) -> list[str]:
    """The markers each text carries, text after text."""
    return [marker for text in texts for marker in markers if marker in text]


def outage_row(
    label: str, requests: int, markers: list[str], arrived: list[str], recovered_in, *, allowed_duplicates: int
) -> Row:
    """What the vendor received (`arrived`, in order) against what was queued: lost, doubled, out of order."""
    copies = Counter(arrived)
    row = Row(
        label,
        requests=requests,
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
        missing = [marker for marker in markers if marker not in copies]
        never = f" (never arrived: {', '.join(missing)})" if missing else ""
        row.problems.append(f"not all delivered within {DRAIN_DEADLINE_SECONDS} s{never}")
    return row
