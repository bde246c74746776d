"""End to end against the sandbox's QuickBooks, Xero and FreshBooks: a month exported with the
ledger mappings read from each ledger, read back and confirmed; the next run spending the rotated
refresh token; the vendors' idempotency (requestid, Idempotency-Key), Xero's per-element partial
failures, a 500 retried into one document, and a tenant's 429 with Retry-After."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs

import pytest
from django.utils import timezone

from accounting import sandbox as ledgers
from accounting.exporter import export_months
from accounting.models import ExportState, MonthlyExport
from accounting.reconcile import reconcile_all
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.errors import PermanentError
from wedsync_integrations.integrations.registry import get_family

from .conftest import NOW, control

pytestmark = pytest.mark.django_db
NOV = datetime(2026, 11, 14, 10, tzinfo=UTC)
CREATE_PATHS = {
    "quickbooks": f"/quickbooks/v3/company/{ledgers.QBO_REALM}/bill",
    "xero": "/xero/api.xro/2.0/Invoices",
    "freshbooks": f"/freshbooks/accounting/account/{ledgers.FRESHBOOKS_ACCOUNT}/expenses/expenses",
}


def usage(add_usage, organisation):
    add_usage(organisation, [
        (NOV, "openai", "email_template", "8.33", "6.576667"),
        (NOV + timedelta(minutes=3), "openai", "email_template", "8.33", "6.576667"),
        (NOV + timedelta(hours=2), "openai", "content_writing", "8.33", "6.576666"),
        (NOV + timedelta(days=2), "anthropic", "contract_generation", "1.05", "0.830000"),
    ])  # fmt: skip


def documents(sandbox, vendor: str) -> list[dict]:
    return control(sandbox, "GET", f"/{vendor}/__ledger")["documents"]


@pytest.mark.parametrize("vendor", ["quickbooks", "xero", "freshbooks"])
def test_a_month_is_exported_read_back_and_confirmed(sandbox, sandbox_config, add_usage, organisation, vendor):
    config = sandbox_config(vendor)
    usage(add_usage, organisation)

    result = export_months(config, now=NOW)

    assert (result.queued, result.delivered, result.failed) == (1, 1, 0), config.last_error
    export = MonthlyExport.objects.get()
    assert (export.net_gbp, export.vat_gbp, export.gross_gbp) == (Decimal("20.56"), Decimal("4.12"), Decimal("24.68"))
    (held,) = documents(sandbox, vendor)
    if vendor == "quickbooks":
        assert (held["DocNumber"], held["VendorRef"], held["TotalAmt"]) == (export.reference, {"value": "56"}, 24.68)
        assert [line["AccountBasedExpenseLineDetail"]["TaxCodeRef"] for line in held["Line"]] == [{"value": "2"}] * 2
    elif vendor == "xero":
        assert (held["InvoiceNumber"], held["Total"], held["TotalTax"]) == (export.reference, 24.68, 4.12)
        assert {line["TaxType"] for line in held["LineItems"]} == {"INPUT2"}
    else:
        assert (held["amount"], held["taxAmount1"]) == ({"amount": "24.68", "code": "GBP"},
                                                        {"amount": "4.12", "code": "GBP"})  # fmt: skip
        assert held["staffid"] == ledgers.FRESHBOOKS_STAFF and held["categoryid"] == ledgers.FRESHBOOKS_CATEGORY

    assert reconcile_all(now=NOW)["confirmed"] == 1
    export.refresh_from_db()
    assert export.state == ExportState.CONFIRMED


@pytest.mark.parametrize("vendor", ["xero", "freshbooks", "quickbooks"])
def test_the_next_run_renews_with_the_rotated_refresh_token(sandbox, sandbox_config, add_usage, organisation,
                                                           vendor):  # fmt: skip
    config = sandbox_config(vendor)
    seeded = config.secrets["refresh_token"]
    usage(add_usage, organisation)
    export_months(config, now=NOW)
    config.refresh_from_db()
    rotated = config.credential["refresh_token"]
    assert (rotated != seeded) is (vendor != "quickbooks")  # QuickBooks keeps its refresh token

    control(sandbox, "POST", f"/{vendor}/__oauth", {"expire_access_tokens": True})  # the next day: expired
    add_usage(organisation, [(NOV + timedelta(days=9), "openai", "email_template", "1", "1.000000")])
    result = export_months(config, now=NOW + timedelta(days=1))

    assert (result.queued, result.delivered) == (1, 1), config.last_error
    state = control(sandbox, "GET", f"/{vendor}/__oauth")
    assert state["counts"]["refresh_token"] == 2 and not state["counts"].get("reuse_refused")
    grants = [parse_qs(r.text()).get("refresh_token", [None])[0] for r in sandbox.requests(f"/{vendor}/")
              if r.method == "POST" and "token" in r.path]  # fmt: skip
    assert grants == [seeded, rotated]  # the second renewal spent the token the first one stored
    assert MonthlyExport.objects.get(sequence=1).reference.endswith("-A1")


def test_a_500_is_retried_with_the_same_requestid_into_one_bill(sandbox, sandbox_config, add_usage, organisation):
    config = sandbox_config("quickbooks")
    usage(add_usage, organisation)
    sandbox.fault(CREATE_PATHS["quickbooks"], kind="status", status=500, times=1)

    assert export_months(config, now=NOW).failed == 1
    outbox.replay(list(get_family("accounting").retry_model.objects.all()))

    first, second = sandbox.requests(CREATE_PATHS["quickbooks"])
    assert (first.status, second.status) == (500, 200)
    assert first.query["requestid"] == second.query["requestid"] and first.body == second.body
    assert len(documents(sandbox, "quickbooks")) == 1


def test_quickbooks_answers_a_repeated_requestid_with_the_first_bill(sandbox, sandbox_config, add_usage, organisation):
    config = sandbox_config("quickbooks")
    usage(add_usage, organisation)
    export_months(config, now=NOW)
    export = MonthlyExport.objects.get()
    again = config.get_provider().create(export.document)  # the same request, as a lost answer would resend it
    assert again.entity_id == export.vendor_entity_id and len(documents(sandbox, "quickbooks")) == 1


def test_xero_replays_an_idempotency_key_and_refuses_it_with_another_body(sandbox, sandbox_config, add_usage,
                                                                          organisation):  # fmt: skip
    config = sandbox_config("xero")
    usage(add_usage, organisation)
    export_months(config, now=NOW)
    export = MonthlyExport.objects.get()
    provider = config.get_provider()
    assert provider.create(export.document).entity_id == export.vendor_entity_id
    assert len(documents(sandbox, "xero")) == 1
    element = {**export.document["body"]["Invoices"][0], "Date": "2026-11-29"}
    changed = {**export.document, "body": {"Invoices": [element]}}
    with pytest.raises(PermanentError, match="already been used with a different request"):
        provider.create(changed)


def test_xero_reports_each_element_of_a_batch_on_its_own(sandbox, sandbox_config, add_usage, organisation):
    config = sandbox_config("xero")
    usage(add_usage, organisation)
    export_months(config, now=NOW)
    good = MonthlyExport.objects.get().document["body"]["Invoices"][0]
    bad = {**good, "InvoiceNumber": "WS-BAD", "Contact": {"ContactID": "7b0e5d2c-9f8a-4b3c-8d1e-6f5a4b3c2d1e"}}
    provider = config.get_provider()
    answer = provider.client().request(
        "PUT", "/Invoices", params={"summarizeErrors": "false"}, json={"Invoices": [good, bad]},
        headers={"xero-tenant-id": ledgers.XERO_TENANT, "Accept": "application/json"},
    ).json()  # fmt: skip
    assert [element["StatusAttributeString"] for element in answer["Invoices"]] == ["OK", "ERROR"]
    assert "archived" in answer["Invoices"][1]["ValidationErrors"][0]["Message"]


def start_early_in_a_minute(margin: float = 25.0) -> None:
    """The sandbox's ledgers count requests per wall-clock minute and answer 429 with the rest of
    that minute as Retry-After. Started near a minute's end, the requests would straddle two
    windows (no 429) or the Retry-After would be a second or two that a loaded machine outlasts
    before the test looks; so start with at least `margin` seconds of the minute left."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.05)


def test_a_tenants_429_waits_its_retry_after_and_the_client_holds_the_tenant_back(sandbox, sandbox_config, add_usage,
                                                                                  organisation):  # fmt: skip
    config = sandbox_config("xero")
    usage(add_usage, organisation)
    start_early_in_a_minute()
    config.get_provider().check_health()  # connect: the first renewal and one API call
    control(sandbox, "POST", "/xero/__ledger", {"tenant": ledgers.XERO_TENANT, "per_minute": 1})
    before = timezone.now()

    result = export_months(config, now=NOW)

    assert result.failed == 1
    item = get_family("accounting").retry_model.objects.get()
    assert item.next_attempt_at >= before + timedelta(seconds=1) and "429" in item.last_error
    seen = len(sandbox.requests("/xero/api.xro"))
    outbox.drain_pair(get_family("accounting"), organisation.pk, "xero")  # due? not yet: nothing leaves
    outbox.deliver_item(get_family("accounting"), item, now=item.next_attempt_at)
    assert len(sandbox.requests("/xero/api.xro")) == seen  # held back client-side until Retry-After passes
