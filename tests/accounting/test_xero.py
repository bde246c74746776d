"""Xero: the exact requests (docs/vendors/xero.md) against recorded payloads, the three VAT cases,
per-element statuses, Idempotency-Key on every retry and a look-up once its window has passed,
tax rates read from the org, connecting to one of several orgs, a rotated refresh token."""

from __future__ import annotations

import json
import re
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from urllib.parse import parse_qs, urlsplit

import pytest
import responses
from django.utils import timezone
from responses import matchers

from accounting import sandbox as ledgers
from accounting.exporter import export_months
from accounting.models import ExportState, MonthlyExport
from accounting.providers.xero import API, TOKEN_URL
from tests.contract import ProviderContract
from tests.kernel.credential_providers import expired_credential, fresh_credential
from wedsync_integrations.integrations import outbox
from wedsync_integrations.integrations.credentials import IssuedToken
from wedsync_integrations.integrations.models import RetryState
from wedsync_integrations.integrations.registry import get_family

from .conftest import CLIENT, NOW, fixture, queue_frozen, xero_settings

pytestmark = pytest.mark.django_db

INVOICES = re.compile(re.escape(f"{API}/Invoices") + r"(\?.*)?$")
MAPPINGS = {"contact_id": ledgers.XERO_CONTACT_WEDSYNC, "expense_account_code": "463", "tax_type": "INPUT2"}


@pytest.fixture
def rsps():
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


def the_org(rsps) -> None:
    active = {"where": 'ContactStatus=="ACTIVE"', "summaryOnly": "true"}
    rsps.get(f"{API}/Contacts", json=fixture("xero", "contacts"), match=[matchers.query_param_matcher(active)])
    rsps.get(f"{API}/Accounts", json=fixture("xero", "accounts"))
    rsps.get(f"{API}/TaxRates", json=fixture("xero", "tax_rates"))


def november(add_usage, organisation):
    at = datetime(2026, 11, 14, 10, tzinfo=UTC)
    add_usage(organisation, [(at + timedelta(minutes=i), "openai", "email_template", "8.33", gbp)
                             for i, gbp in enumerate(["6.576667", "6.576667", "6.576666"])])  # fmt: skip


def puts(rsps) -> list:
    return [call for call in rsps.calls if call.request.method == "PUT"]


class TestXeroContract(ProviderContract):
    family, provider = "accounting", "xero"
    write_method, write_url, token_url = "PUT", INVOICES, TOKEN_URL

    def make(self, organisation, make_config):
        return make_config("accounting", organisation, "xero", settings=xero_settings(), secrets=dict(CLIENT),
                           credential=fresh_credential())  # fmt: skip

    def enqueue(self, config):
        return queue_frozen(config, MAPPINGS)[1]

    def mock_success(self, rsps):
        rsps.put(INVOICES, json=fixture("xero", "invoices_created"))

    def mock_health(self, rsps, ok):
        if ok:
            rsps.get(f"{API}/Organisation", json=fixture("xero", "organisation"))
        else:
            refused = {"Title": "Forbidden", "Detail": "AuthorizationUnsuccessful"}
            rsps.get(f"{API}/Organisation", status=403, json=refused)


def test_month_end_puts_one_accpay_bill_exactly_as_xero_documents(rsps, ledger_config, add_usage, organisation,
                                                                  settings):  # fmt: skip
    settings.PUBLIC_BASE_URL = "https://integrations.wedsync.example"
    config = ledger_config("xero")
    november(add_usage, organisation)
    the_org(rsps)
    rsps.put(INVOICES, json=fixture("xero", "invoices_created"))

    assert export_months(config, now=NOW).delivered == 1

    (call,) = puts(rsps)
    export = MonthlyExport.objects.get()
    assert urlsplit(call.request.url).path == "/api.xro/2.0/Invoices"
    assert parse_qs(urlsplit(call.request.url).query) == {"summarizeErrors": ["false"]}
    headers = call.request.headers
    assert headers["xero-tenant-id"] == ledgers.XERO_TENANT and headers["Accept"] == "application/json"
    assert headers["Idempotency-Key"] == export.document["idempotency_key"] and len(headers["Idempotency-Key"]) <= 128
    assert headers["Authorization"] == "Bearer fresh-access"
    assert json.loads(call.request.body) == {"Invoices": [{
        "Type": "ACCPAY",
        "Contact": {"ContactID": ledgers.XERO_CONTACT_WEDSYNC},
        "Date": "2026-11-30",
        "DueDate": "2026-12-14",
        "InvoiceNumber": f"WS-2611-{organisation.pk:06d}",
        "LineAmountTypes": "Exclusive",
        "CurrencyCode": "GBP",
        "Status": "AUTHORISED",
        "Url": f"https://integrations.wedsync.example/admin/accounting/monthlyexport/{export.pk}/change/",
        "LineItems": [{"Description": "AI usage November 2026: OpenAI (3 requests)", "Quantity": 1, "UnitAmount": 19.73,
                       "AccountCode": "463", "TaxType": "INPUT2"}],
    }]}  # fmt: skip
    assert (export.vendor_entity_type, export.vendor_entity_id) == ("Invoice", "243216c5-369e-4056-ac67-05388f86dc81")


@pytest.mark.parametrize(
    "settings, contact, tax_type, amounts, unit",
    [
        ({"vat_registered": True, "supply": "wedsync"}, ledgers.XERO_CONTACT_WEDSYNC, "INPUT2", "Exclusive", 19.73),
        (
            {"vat_registered": True, "supply": "overseas_provider", "contact_id": ledgers.XERO_CONTACT_OPENAI},
            ledgers.XERO_CONTACT_OPENAI,
            "REVERSECHARGES",
            "Exclusive",
            19.73,
        ),
        ({"vat_registered": False, "supply": "wedsync"}, ledgers.XERO_CONTACT_WEDSYNC, "NONE", "NoTax", 23.68),
    ],
    ids=["standard", "reverse-charge", "not-registered"],
)
def test_the_three_vat_cases_carry_the_right_tax_type_and_amounts(
    rsps, ledger_config, add_usage, organisation, settings, contact, tax_type, amounts, unit
):
    config = ledger_config("xero", **settings)
    november(add_usage, organisation)
    the_org(rsps)
    rsps.put(INVOICES, json=fixture("xero", "invoices_created"))
    export_months(config, now=NOW)
    (element,) = json.loads(puts(rsps)[0].request.body)["Invoices"]
    (line,) = element["LineItems"]
    assert (element["Contact"], element["LineAmountTypes"]) == ({"ContactID": contact}, amounts)
    assert (line["TaxType"], line["UnitAmount"]) == (tax_type, unit)
    assert "TaxAmount" not in line  # Xero works the tax out per line, half-up, as we do


def test_http_200_with_an_element_in_error_is_a_failure(rsps, ledger_config):
    config = ledger_config("xero")
    _, item = queue_frozen(config, MAPPINGS)
    rsps.put(INVOICES, json=fixture("xero", "invoices_error"))
    outcome = outbox.deliver_item(get_family("accounting"), item)
    assert outcome.state == RetryState.DEAD
    assert "The TaxType code 'INPUT2' cannot be used with account code '463'" in outcome.error


def test_a_retry_within_the_key_window_resends_the_same_idempotency_key(rsps, ledger_config):
    config = ledger_config("xero")
    export, item = queue_frozen(config, MAPPINGS)
    rsps.put(INVOICES, status=500, body="Internal Server Error")
    rsps.put(INVOICES, json=fixture("xero", "invoices_created"))
    outbox.deliver_item(get_family("accounting"), item)
    outbox.replay([item])
    first, second = puts(rsps)
    assert first.request.headers["Idempotency-Key"] == second.request.headers["Idempotency-Key"]
    assert first.request.body == second.request.body
    assert not [call for call in rsps.calls if call.request.method == "GET"]  # within Xero's window: no look-up
    export.refresh_from_db()
    assert export.state == ExportState.SENT


def test_after_the_key_window_the_bill_is_looked_up_by_contact_and_number_before_creating(rsps, ledger_config):
    config = ledger_config("xero")
    export, item = queue_frozen(config, MAPPINGS)
    rsps.put(INVOICES, body=ConnectionResetError("answer lost"))
    outbox.deliver_item(get_family("accounting"), item)
    MonthlyExport.objects.filter(pk=export.pk).update(first_attempt_at=timezone.now() - timedelta(minutes=7))
    where = f'Contact.ContactID==Guid("{ledgers.XERO_CONTACT_WEDSYNC}") AND InvoiceNumber=="{export.reference}"'
    lookup = rsps.get(f"{API}/Invoices", json=fixture("xero", "invoices_created"),
                      match=[matchers.query_param_matcher({"where": where})])  # fmt: skip

    outbox.replay([item])

    assert lookup.call_count == 1 and len(puts(rsps)) == 1  # found: not created a second time
    export.refresh_from_db()
    assert export.vendor_entity_id == "243216c5-369e-4056-ac67-05388f86dc81"


def test_a_429_waits_its_retry_after_for_that_tenant_only(rsps, ledger_config, make_config, make_organisation):
    config = ledger_config("xero")
    _, item = queue_frozen(config, MAPPINGS)
    rsps.put(INVOICES, status=429, headers={"Retry-After": "37", "X-Rate-Limit-Problem": "minute"}, body="")
    before = timezone.now()
    outbox.deliver_item(get_family("accounting"), item)
    item.refresh_from_db()
    assert item.next_attempt_at >= before + timedelta(seconds=37)
    # the tenant is held back client-side (no request leaves), another tenant is not
    _, again = queue_frozen(config, MAPPINGS)
    outcome = outbox.deliver_item(get_family("accounting"), again)
    assert outcome.state == RetryState.PENDING and "the vendor asked us to wait (429)" in outcome.error
    assert len(puts(rsps)) == 1
    other = make_config("accounting", make_organisation(), "xero", secrets=dict(CLIENT), credential=fresh_credential(),
                        settings=xero_settings(tenant_id=ledgers.XERO_OTHER_TENANT))  # fmt: skip
    _, theirs = queue_frozen(other, MAPPINGS)
    rsps.put(INVOICES, json=fixture("xero", "invoices_created"))
    assert outbox.deliver_item(get_family("accounting"), theirs).state == RetryState.SUCCEEDED


@pytest.mark.parametrize(
    "settings, expected",
    [({}, "INPUT2"), ({"supply": "overseas_provider", "contact_id": ledgers.XERO_CONTACT_OPENAI}, "REVERSECHARGES"),
     ({"vat_registered": False}, "NONE")],
    ids=["standard", "reverse-charge", "not-registered"],
)  # fmt: skip
def test_the_tax_rate_is_read_from_the_org(rsps, ledger_config, settings, expected):
    the_org(rsps)
    provider = ledger_config("xero", **settings).get_provider()
    assert provider.ledger_mappings(provider.treatment())["tax_type"] == expected


def test_an_org_without_the_system_rate_gets_its_own_20_percent_expense_rate_never_a_capital_one(rsps, ledger_config):
    rates = fixture("xero", "tax_rates")
    rates["TaxRates"][0]["Status"] = "DELETED"  # no INPUT2 any more
    rates["TaxRates"].append({"Name": "Standard expenses 20%", "TaxType": "TAX002", "ReportTaxType": "INPUT",
                              "CanApplyToExpenses": True, "EffectiveRate": 20.0, "Status": "ACTIVE"})  # fmt: skip
    rsps.get(f"{API}/TaxRates", json=rates)
    rsps.get(f"{API}/Contacts", json=fixture("xero", "contacts"))
    rsps.get(f"{API}/Accounts", json=fixture("xero", "accounts"))
    provider = ledger_config("xero").get_provider()
    assert provider.ledger_mappings(provider.treatment())["tax_type"] == "TAX002"


def test_connecting_lists_the_consented_orgs_for_staff_to_choose(rsps, ledger_config):
    config = ledger_config("xero")
    rsps.get("https://api.xero.com/connections", json=fixture("xero", "connections"))
    accounts = config.get_provider().connected_account(IssuedToken("fresh-access"), {})
    assert [(a.id, a.name, a.settings) for a in accounts] == [
        (ledgers.XERO_TENANT, "The Willow Barn Ltd", {"tenant_id": ledgers.XERO_TENANT}),
        (ledgers.XERO_OTHER_TENANT, "Demo Company (UK)", {"tenant_id": ledgers.XERO_OTHER_TENANT}),
    ]  # the practice-manager connection is not a ledger


def test_every_refresh_rotates_and_the_next_run_spends_the_new_refresh_token(rsps, ledger_config):
    config = ledger_config("xero", credential=expired_credential(refresh="rt-one"))
    token = fixture("xero", "token")
    rsps.post(TOKEN_URL, json=token)
    config.get_provider().credential_manager.current()
    first = rsps.calls[0].request
    assert parse_qs(first.body) == {"grant_type": ["refresh_token"], "refresh_token": ["rt-one"]}
    assert first.headers["Authorization"].startswith("Basic ")
    config.refresh_from_db()
    assert config.credential["refresh_token"] == token["refresh_token"]  # committed before use
    config.credential = {**config.credential, "expires_at": (timezone.now() - timedelta(minutes=1)).isoformat()}
    config.save()
    rsps.post(TOKEN_URL, json={**token, "refresh_token": "rt-three", "access_token": "at-three"})
    config.get_provider().credential_manager.current()
    assert parse_qs(rsps.calls[1].request.body)["refresh_token"] == [token["refresh_token"]]


def test_the_trading_income_section_is_the_taxable_turnover(rsps, ledger_config):
    config = ledger_config("xero")
    rsps.get(f"{API}/Reports/ProfitAndLoss", json=fixture("xero", "profit_and_loss"),
             match=[matchers.query_param_matcher({"fromDate": "2025-12-01", "toDate": "2026-11-30"})])  # fmt: skip
    assert config.get_provider().taxable_turnover(date(2025, 12, 1), date(2026, 11, 30)) == Decimal("85000.00")
