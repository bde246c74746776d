"""Fixtures for the accounting tests: usage records rolled up as the platform would, configurations
of the three ledgers (pointed at a vendor's documented host for `responses`, or at the sandbox), and
the vendors' recorded example payloads in fixtures/<vendor>/."""

from __future__ import annotations

import itertools
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import requests

from accounting import sandbox as ledgers
from tests.fixtures import load
from tests.kernel.credential_providers import fresh_credential
from wedsync_integrations.usage import rollup
from wedsync_integrations.usage.models import AIUsageRecord, RollupDirtyHour

CLIENT = {"client_id": "wedsync-client-id-0001", "client_secret": "wedsync-client-secret-s3cr3t-0001"}
NOW = datetime(2026, 12, 7, 9, 0, tzinfo=UTC)  # November 2026 closed on 3 December (London)
_ids = itertools.count(1)


def fixture(vendor: str, name: str):
    """A recorded vendor payload (tests/accounting/fixtures/<vendor>/<name>.json)."""
    return load("accounting", vendor, name)


@pytest.fixture
def add_usage(db):
    """add_usage(org, [(occurred_at, provider, feature, cost_usd, cost_gbp or None), ...]) stores the
    records as ingest does (GBP pending when None) and rolls their hours up."""

    def add(organisation, rows, *, roll_up: bool = True) -> list[AIUsageRecord]:
        records = []
        for occurred_at, provider, feature, usd, gbp in rows:
            gbp = None if gbp is None else Decimal(str(gbp))
            records.append(AIUsageRecord(
                organisation=organisation, request_id=f"req-{next(_ids)}-{uuid.uuid4().hex[:6]}",
                occurred_at=occurred_at, hour=occurred_at.replace(minute=0, second=0, microsecond=0),
                feature=feature, provider=provider, model=f"{provider}-model", prompt_tokens=800,
                completion_tokens=200, latency_ms=900, cost_usd=Decimal(str(usd)), cost_gbp=gbp,
                usd_gbp_rate=None if gbp is None else Decimal("0.790000"), outcome="ok",
            ))  # fmt: skip
        AIUsageRecord.objects.bulk_create(records)
        for hour in {record.hour for record in records}:
            RollupDirtyHour.objects.update_or_create(organisation=organisation, hour=hour)
        if roll_up:
            rollup.update_rollups()
        return records

    return add


def qbo_settings(**extra) -> dict:
    return {"first_month": "2026-11", "realm_id": ledgers.QBO_REALM, "vat_registered": True, **extra}


def xero_settings(**extra) -> dict:
    return {"first_month": "2026-11", "tenant_id": ledgers.XERO_TENANT, "vat_registered": True, **extra}


def freshbooks_settings(**extra) -> dict:
    return {"first_month": "2026-11", "account_id": ledgers.FRESHBOOKS_ACCOUNT, "vat_registered": True, **extra}


SETTINGS = {"quickbooks": qbo_settings, "xero": xero_settings, "freshbooks": freshbooks_settings}


@pytest.fixture
def ledger_config(make_config, organisation):
    """ledger_config(vendor, **settings): a connected configuration (a valid issued token) at the
    vendor's documented host, for `responses`."""

    def make(vendor: str, *, credential=None, **settings):
        return make_config(
            "accounting", organisation, vendor, settings=SETTINGS[vendor](**settings), secrets=dict(CLIENT),
            credential=fresh_credential() if credential is None else credential,
        )  # fmt: skip

    return make


SANDBOX_PATHS = {
    "quickbooks": ("/quickbooks", "/quickbooks/oauth2/v1/tokens/bearer", "/quickbooks/connect/oauth2"),
    "xero": ("/xero/api.xro/2.0", "/xero/identity/connect/token", "/xero/identity/connect/authorize"),
    "freshbooks": ("/freshbooks", "/freshbooks/auth/oauth/token", "/freshbooks/oauth/authorize"),
}


def sandbox_settings(sandbox, vendor: str, **extra) -> dict:
    api, token, authorize = SANDBOX_PATHS[vendor]
    urls = {"base_url": sandbox.url + api, "token_url": sandbox.url + token, "authorize_url": sandbox.url + authorize}
    return SETTINGS[vendor](**urls, **extra)


def control(sandbox, method: str, path: str, body: dict | None = None) -> dict:
    """A vendor fake's own control endpoint (/<vendor>/__oauth, /<vendor>/__ledger)."""
    response = requests.request(method, sandbox.url + path, json=body, timeout=10)
    response.raise_for_status()
    return response.json()


def playground_refresh_token(sandbox, vendor: str) -> str:
    """A refresh token the sandbox's authorization server issued (its OAuth playground)."""
    return control(sandbox, "POST", f"/{vendor}/__oauth", {"issue_refresh_token": {"client_id": CLIENT["client_id"]}})[
        "refresh_token"
    ]


@pytest.fixture
def sandbox_config(sandbox, make_config, organisation):
    """sandbox_config(vendor, **settings): a configuration connected headlessly to the sandbox's
    ledger (a refresh token from its playground, renewed at the first call)."""

    def make(vendor: str, organisation=organisation, **settings):
        secrets = {**CLIENT, "refresh_token": playground_refresh_token(sandbox, vendor)}
        return make_config("accounting", organisation, vendor, settings=sandbox_settings(sandbox, vendor, **settings),
                           secrets=secrets)  # fmt: skip

    return make


def november_line(net: str = "19.73", provider: str = "openai", *, treatment=None, supply="wedsync"):
    from accounting.documents import provider_label
    from accounting.models import Treatment
    from accounting.vat import priced_line

    treatment = treatment or Treatment.STANDARD
    description = f"AI usage November 2026: {provider_label(provider)} (3 requests)"
    return priced_line(provider, description, 3, Decimal(net), treatment=treatment, supply=supply,
                       percent=Decimal("20"))  # fmt: skip


def queue_frozen(config, mappings: dict, *, lines=None):
    """An export of November 2026 queued for `config` and already frozen with `mappings` (what its
    first delivery attempt would have read from the ledger): delivering it only creates it."""
    from accounting.documents import Document, Outcome, Plan
    from accounting.exporter import queue_document
    from accounting.models import MonthlyExport
    from accounting.months import Month
    from accounting.report import MonthlyCostReport

    provider = config.get_provider()
    month = Month(2026, 11)
    sequence = MonthlyExport.objects.filter(organisation=config.organisation, provider=config.provider).count()
    lines = lines or [november_line(treatment=provider.treatment(), supply=provider.supply())]
    report = MonthlyCostReport(config.organisation_id, config.organisation.name, "Photographer", month)
    plan = Plan(month, report, Outcome.EXPORT, sequence=sequence, lines=lines,
                exact={line.key: line.net for line in lines})  # fmt: skip
    export = queue_document(config, provider, plan, NOW)
    item = config.family().retry_model.objects.get(pk=export.retry_item_id)
    document = Document.from_json(item.payload["document"])
    MonthlyExport.objects.filter(pk=export.pk).update(document=provider.frozen_request(document, mappings))
    export.refresh_from_db()
    return export, item


class Notices(list):
    """What the family told staff (kernel signal attention_needed), with `.cleared`: the keys of
    the conditions it said are over (attention_cleared)."""

    def __init__(self):
        super().__init__()
        self.cleared: list[str] = []


@pytest.fixture
def notices():
    from wedsync_integrations.integrations.signals import attention_cleared, attention_needed

    seen = Notices()

    def raised(sender, notice, **kwargs):
        seen.append(notice)

    def cleared(sender, key, organisation=None, **kwargs):
        seen.cleared.append(key)

    attention_needed.connect(raised, dispatch_uid="tests.accounting.notices")
    attention_cleared.connect(cleared, dispatch_uid="tests.accounting.notices.cleared")
    yield seen
    attention_needed.disconnect(dispatch_uid="tests.accounting.notices")
    attention_cleared.disconnect(dispatch_uid="tests.accounting.notices.cleared")
