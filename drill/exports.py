"""The exporting families in the vendor outages: how accounting, CRM and BI queue deliveries
through their own code for the drill, and what their vendors hold afterwards (read from the
sandbox's control endpoints, since a resend a vendor recognises is not a second copy).

    accounting  a month-end document per closed month (Xero bills, QuickBooks bills)
    crm         the monthly value report of each closed month (a Light Blue Inbox item, a Tave note)
    bi          a Power BI push per day of new usage (the day's metrics row)

Each `produce(config, count, run)` stores usage for the organisation as the platform would send
it, lets the family's own path queue the deliveries (its sync on the worker, or the BI refresh the
rollups trigger) and returns one marker per delivery, in the order the vendor must receive them.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta

import requests
from django.utils import timezone

from accounting.documents import reference_for
from accounting.months import Month as LedgerMonth
from accounting.sandbox import QBO_REALM, XERO_TENANT
from bi.models import Destination, scope_key_of
from crm.monthly import last_closed_month
from crm.value import report_id
from wedsync_integrations.calendar import LONDON
from wedsync_integrations.core.demo_data import example_record
from wedsync_integrations.integrations.tasks import sync_config
from wedsync_integrations.usage import rollup
from wedsync_integrations.usage.ingest import ingest_batch

from . import tenants

COST_USD = "12.500000"  # per record: a month's document must carry pence, not round to £0.00
LEDGER_CLIENT = {"client_id": "drill-ledger-client-0001", "client_secret": "drill-ledger-secret-0001"}
# the vendor's API, token endpoint and consent page under the sandbox
LEDGER_PATHS = {
    "xero": ("/xero/api.xro/2.0", "/xero/identity/connect/token", "/xero/identity/connect/authorize"),
    "quickbooks": ("/quickbooks", "/quickbooks/oauth2/v1/tokens/bearer", "/quickbooks/connect/oauth2"),
}
LEDGER_TENANTS = {"xero": {"tenant_id": XERO_TENANT}, "quickbooks": {"realm_id": QBO_REALM}}
POWERBI_WORKSPACE = "d5111a1e-0000-4000-8000-000000000001"
POWERBI_TENANT = "drill.onmicrosoft.example"
PUSH_QUEUED_WITHIN_SECONDS = 60


# -- usage ---------------------------------------------------------------------------------------------------
def store_usage(organisation, moments: list[datetime], run: str) -> None:
    """One priced usage record at each moment, ingested as the usage API does; the rate covers the
    earliest (a record without one would hold its month back)."""
    tenants.ensure_usd_rate(since=min(moments).astimezone(LONDON).date())
    records = [
        {**example_record(f"{run}-{organisation.slug}-{n}", at=moment), "cost_usd": COST_USD}
        for n, moment in enumerate(moments)
    ]
    result = ingest_batch(organisation, records)
    if result.accepted != len(records):
        raise RuntimeError(f"the drill's usage was not all accepted: {result.as_reply()}")


def mid_month(first_day: date) -> datetime:
    return datetime.combine(first_day + timedelta(days=14), datetime.min.time(), tzinfo=LONDON) + timedelta(hours=12)


def set_first_month(config, label: str) -> None:
    """As staff would in admin: the first month the configuration exports."""
    config.settings = {**config.settings, "first_month": label}
    config.full_clean()
    config.save()


# -- accounting ----------------------------------------------------------------------------------------------
def ledger_settings(vendor: str) -> Callable[[object], dict]:
    def settings(sandbox) -> dict:
        api, token, authorize = LEDGER_PATHS[vendor]
        urls = {"base_url": api, "token_url": token, "authorize_url": authorize}
        return {
            **{key: sandbox.url + path for key, path in urls.items()},
            "vat_registered": True,
            **LEDGER_TENANTS[vendor],
        }

    return settings


def ledger_secrets(vendor: str) -> Callable[[object], dict]:
    def secrets(sandbox) -> dict:
        return {**LEDGER_CLIENT, "refresh_token": playground_refresh_token(sandbox, vendor)}

    return secrets


def playground_refresh_token(sandbox, vendor: str) -> str:
    """A refresh token from the vendor's authorization server in the sandbox, issued as if the client
    had been granted consent (its "OAuth playground"): the headless connection the kernel's
    credentials accept as the `refresh_token` secret and renew at the first call."""
    body = {"issue_refresh_token": {"client_id": LEDGER_CLIENT["client_id"]}}
    response = requests.post(f"{sandbox.url}/{vendor}/__oauth", json=body, timeout=10)
    response.raise_for_status()
    return response.json()["refresh_token"]


def last_closed_ledger_months(count: int, now: datetime) -> list[LedgerMonth]:
    newest = LedgerMonth.of(now)
    while not newest.is_closed(now):
        newest = newest.previous()
    months = [newest]
    while len(months) < count:
        months.insert(0, months[0].previous())
    return months


def month_end_documents(config, count: int, run: str) -> list[str]:
    """Usage in each of the last `count` closed months, then the family's sync on the worker
    (month-end: every closed month planned, queued in order, drained). Each document's number
    (`WS-YYMM-<organisation>`: Xero's InvoiceNumber, QuickBooks' DocNumber) is the marker."""
    months = last_closed_ledger_months(count, timezone.now())
    store_usage(config.organisation, [mid_month(month.first_day) for month in months], run)
    set_first_month(config, str(months[0]))
    sync_config.apply_async(args=[config.family().name, config.pk])
    return [reference_for(config.organisation_id, month, 0) for month in months]


def ledger(vendor: str) -> Callable[[object], list[str]]:
    """The documents the vendor's sandbox ledger created, oldest first."""

    def documents(sandbox) -> list[str]:
        return [json.dumps(document) for document in _control(sandbox, f"/{vendor}/__ledger")["documents"]]

    return documents


# -- CRM -----------------------------------------------------------------------------------------------------
def monthly_reports(config, count: int, run: str) -> list[str]:
    """Usage in each of the last `count` closed months, then the family's sync on the worker (the
    reports of the closed months, queued in order, drained). The report id (Light Blue's ID, the
    reference in a Tave note's footer) is the marker."""
    newest = last_closed_month(timezone.now())
    months = [newest.shifted(n - count + 1) for n in range(count)]
    store_usage(config.organisation, [mid_month(month.first_day) for month in months], run)
    set_first_month(config, str(months[0]))
    sync_config.apply_async(args=[config.family().name, config.pk])
    return [report_id(config.organisation.slug, str(month)) for month in months]


def lightblue_inbox(sandbox) -> list[str]:
    """The Inbox items Light Blue stored (a repeated ID is refused, not stored), oldest first."""
    return [json.dumps(item) for item in _control(sandbox, "/lightblue/__inbox")["items"]]


# -- BI ------------------------------------------------------------------------------------------------------
def powerbi_settings(sandbox) -> dict:
    return {
        "base_url": sandbox.vendor_url("powerbi") + "/v1.0/myorg",
        "tenant_id": POWERBI_TENANT,
        "token_url": f"{sandbox.url}/entra/{POWERBI_TENANT}/oauth2/v2.0/token",
        "workspace_id": POWERBI_WORKSPACE,
    }


def pushed_days(config, count: int, run: str) -> list[str]:
    """A day of usage at a time (the `count` London days before yesterday), each rolled up: the
    rollup's signal queues the BI refresh on the worker, which pushes what changed to every BI
    configuration. The next day waits until that push is queued, so each is one delivery; the
    day's metrics row key (`org:<id>:day:<date>`) is the marker."""
    today = timezone.localdate()
    days = [today - timedelta(days=count + 1 - n) for n in range(count)]
    items = config.family().retry_model.objects.filter(organisation_id=config.organisation_id, provider=config.provider)
    for queued, day in enumerate(days, start=1):
        noon = datetime.combine(day, datetime.min.time(), tzinfo=LONDON) + timedelta(hours=12)
        store_usage(config.organisation, [noon], f"{run}-{day}")
        rollup.update_rollups()
        _wait_until_queued(config, items, queued, day)
    return [f"{scope_key_of(config.organisation_id)}:day:{day.isoformat()}" for day in days]


def _wait_until_queued(config, items, count: int, day: date) -> None:
    deadline = time.monotonic() + PUSH_QUEUED_WITHIN_SECONDS
    while items.count() < count:
        if time.monotonic() > deadline:
            destination = Destination.objects.filter(config=config).first()
            gates = destination.gate_failures[:3] if destination else "no push yet"
            raise RuntimeError(f"the push of {day} was not queued in {PUSH_QUEUED_WITHIN_SECONDS} s (gates: {gates})")
        time.sleep(0.2)


def powerbi_metric_rows(sandbox) -> list[str]:
    """The row key of every ExecutiveMetrics row the sandbox's push datasets hold, in arrival order
    (a batch posted twice is there twice)."""
    return [
        row.get("row_key", "")
        for dataset in _control(sandbox, "/powerbi/__state")["datasets"]
        for row in dataset["rows"].get("ExecutiveMetrics", [])
    ]


def _control(sandbox, path: str) -> dict:
    response = requests.get(sandbox.url + path, timeout=10)
    response.raise_for_status()
    return response.json()
